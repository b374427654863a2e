"""Paths outside the data roots are refused (403) however they are written, write endpoints
need the token when one is configured (401), and an open server stays on loopback."""

from __future__ import annotations

import logging

import pytest
from api_support import TOKEN, api_env, auth
from typer.testing import CliRunner

from dsa110_contimg.api.security import InsecureBindError, check_bind
from dsa110_contimg.cli import app as cli
from dsa110_contimg.config import ApiSettings
from dsa110_contimg.database.registry import register_data

AT = {"ra_deg": 150.0, "dec_deg": 37.2}


def test_paths_outside_the_data_roots_are_refused(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        outside = tmp_path / "outside"
        outside.mkdir()
        secret = outside / "secret-image-pb.fits"
        secret.write_bytes(env.images[0].read_bytes())  # a readable image, but not ours
        (env.root / "images" / "link-out.fits").symlink_to(secret)
        (env.root / "images" / "dir-out").symlink_to(outside, target_is_directory=True)
        (env.root / "images" / "link-in.fits").symlink_to(env.images[0])
        refused = [
            "../outside/secret-image-pb.fits",
            "images/../../outside/secret-image-pb.fits",
            str(secret),
            "/etc/passwd",
            "images/link-out.fits",
            "images/dir-out/secret-image-pb.fits",
        ]
        for path in refused:
            for endpoint, body in (
                ("/api/photometry/measure", {"image": path, **AT}),
                ("/api/photometry/measure-batch", {"image": path, "positions": [AT]}),
                ("/api/batch/photometry", {"images": [path]}),
            ):
                response = env.client.post(endpoint, json=body)
                assert response.status_code == 403, (endpoint, path, response.text)
                assert "outside the data roots" in response.json()["detail"]
        # "~" is an ordinary name inside the root; over-long names are simply missing.
        for path in ("~/secret-image-pb.fits", "images/" + "a" * 300 + ".fits"):
            response = env.client.post("/api/photometry/measure", json={"image": path, **AT})
            assert response.status_code == 404 and "no such file" in response.json()["detail"]
        # A symlink that stays inside the roots is followed.
        response = env.client.post(
            "/api/photometry/measure", json={"image": "images/link-in.fits", **AT}
        )
        assert response.status_code == 200
        # Nothing outside was registered.
        assert env.client.get("/api/data").json()["count"] == 0


def test_write_endpoints_need_the_token_and_reads_stay_open(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, token=TOKEN) as env:
        client = env.client
        data_id = register_data(env.images[0], url=sqlite_url)
        writes = [
            ("/api/batch/photometry", {"data_ids": [data_id]}),
            ("/api/batch/1/cancel", None),
            (f"/api/data/{data_id}/finalize", None),
            (f"/api/data/{data_id}/publish", None),
        ]
        for path, body in writes:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Basic {TOKEN}"},
            ):
                response = client.post(path, json=body, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
        assert client.get("/api/data").json()["count"] == 1
        assert client.get(f"/api/data/{data_id}").json()["photometry_status"] is None
        created = client.post("/api/batch/photometry", json={"data_ids": [data_id]}, headers=auth())
        assert created.status_code == 201
        assert (
            client.post(f"/api/batch/{created.json()['id']}/cancel", headers=auth()).status_code
            == 200
        )
        for path in (
            "/health",
            "/api/data",
            "/api/batch",
            f"/api/data/{data_id}/lineage",
            "/api/sources?ra=150&dec=37.2&radius=0.1",
        ):
            assert client.get(path).status_code == 200, path
        security = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert security["token"] == {
            "type": "http",
            "scheme": "bearer",
            "description": security["token"]["description"],
        }


def test_open_server_warns_and_binds_only_loopback(tmp_path, sqlite_url, caplog):
    with caplog.at_level(logging.WARNING, logger="dsa110_contimg.api"):
        with api_env(tmp_path, sqlite_url):
            pass
    assert "API running without a token" in caplog.text
    check_bind(ApiSettings(), "127.0.0.1")
    check_bind(ApiSettings(), "::1")
    check_bind(ApiSettings(token=TOKEN), "0.0.0.0")
    with pytest.raises(InsecureBindError, match="no API token is configured"):
        check_bind(ApiSettings(), "0.0.0.0")
    with pytest.raises(InsecureBindError):
        check_bind(ApiSettings(token="  "), "192.168.1.5")  # a blank token is no token
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8765"])
    assert result.exit_code == 2
    assert "refusing to bind 0.0.0.0" in result.output
