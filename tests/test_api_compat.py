"""The original DSA-110 clients' request bodies, replayed against the current API.

Each old shape must give what the current shape gives (same measurement, same job), the old
field names must be in the answer where the old clients read them, and the OpenAPI document
must mark the old shapes as deprecated.
"""

from __future__ import annotations

import numpy as np
import pytest
from api_support import TOKEN, api_env, auth
from fastapi.testclient import TestClient
from variability_support import make_field, run_photometry

from dsa110_contimg.api import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.jobs.service import get_job
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.variability.candidates import detect, list_candidates

IMAGE = "images/epoch0-image-pb.fits"


def _central_sources(env, n: int) -> list[dict]:
    """The ``n`` brightest sources within 0.1° of the field centre."""
    sky = env.sky
    near = np.hypot((sky["ra_deg"] - 150.0) * np.cos(np.radians(37.2)), sky["dec_deg"] - 37.2) < 0.1
    order = np.argsort(-np.where(near, sky["flux_jy"], 0.0))[:n]
    return [
        {
            "ra_deg": float(sky["ra_deg"][k]),
            "dec_deg": float(sky["dec_deg"][k]),
            "name": str(sky["name"][k]),
        }
        for k in order
    ]


def test_measure_accepts_fits_path_and_answers_with_the_old_result(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        target = _central_sources(env, 1)[0]
        position = {"ra_deg": target["ra_deg"], "dec_deg": target["dec_deg"]}
        new = env.client.post("/api/photometry/measure", json={"image": IMAGE, **position})
        old = env.client.post("/api/photometry/measure", json={"fits_path": IMAGE, **position})
        assert new.status_code == old.status_code == 200, old.text
        new, old = new.json(), old.json()
        assert old["peak_jyb"] == new["peak_jyb"] and old["snr"] > 10
        result = old["result"]
        assert result == {
            "ra_deg": new["ra_deg"],
            "dec_deg": new["dec_deg"],
            "peak_jyb": new["peak_jyb"],
            "peak_err_jyb": new["peak_err_jyb"],
            "local_rms_jy": new["local_rms_jyb"],
            "success": True,
            "error_message": None,
            "method": new["method"],
        }
        off = env.client.post(
            "/api/photometry/measure", json={"fits_path": IMAGE, "ra_deg": 152.0, "dec_deg": 37.2}
        )
        assert off.status_code == 200
        assert off.json()["result"]["success"] is False
        assert "off_image" in off.json()["result"]["error_message"]
        both = env.client.post(
            "/api/photometry/measure", json={"fits_path": IMAGE, "image": IMAGE, **position}
        )
        assert both.status_code == 422 and "fits_path" in both.json()["detail"]
        outside = env.client.post(
            "/api/photometry/measure", json={"fits_path": "/etc/passwd", **position}
        )
        assert outside.status_code == 403


def test_measure_batch_accepts_fits_path_and_coordinates(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        targets = _central_sources(env, 3)
        coordinates = [{"ra_deg": t["ra_deg"], "dec_deg": t["dec_deg"]} for t in targets]
        new = env.client.post(
            "/api/photometry/measure-batch", json={"image": IMAGE, "positions": coordinates}
        )
        old = env.client.post(
            "/api/photometry/measure-batch", json={"fits_path": IMAGE, "coordinates": coordinates}
        )
        assert new.status_code == old.status_code == 200, old.text
        assert [m["peak_jyb"] for m in old.json()["measurements"]] == [
            m["peak_jyb"] for m in new.json()["measurements"]
        ]
        assert old.json()["count"] == 3
        both = env.client.post(
            "/api/photometry/measure-batch",
            json={"fits_path": IMAGE, "coordinates": coordinates, "positions": coordinates},
        )
        assert both.status_code == 422


def test_batch_photometry_old_shape_measures_the_matched_sources(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, n_images=2, token=TOKEN) as env:
        targets = _central_sources(env, 2)
        # Old clients send positions, a few arcsec off the catalogue.
        coordinates = [
            {"ra_deg": t["ra_deg"] + 2 / 3600, "dec_deg": t["dec_deg"] - 1 / 3600} for t in targets
        ]
        body = {
            "fits_paths": [IMAGE, "images/epoch1-image-pb.fits"],
            "coordinates": coordinates,
            "normalize": False,
        }
        assert env.client.post("/api/batch/photometry", json=body).status_code == 401
        response = env.client.post("/api/batch/photometry", json=body, headers=auth())
        assert response.status_code == 201, response.text
        job = response.json()
        assert (job["n_items"], job["params"]["normalize"]) == (2, False)
        assert run_worker(stop_when_idle=True, url=sqlite_url) == 2
        done = get_job(job["id"], url=sqlite_url)
        assert done.status == "completed"
        for item in done.items:
            rows = photometry_for_product(item["data_id"], url=sqlite_url)
            assert sorted(rows["name"]) == sorted(t["name"] for t in targets)
        # A position with no catalogue source near it is refused, naming it.
        lost = env.client.post(
            "/api/batch/photometry",
            headers=auth(),
            json={
                "fits_paths": [IMAGE],
                "coordinates": [*coordinates, {"ra_deg": 10.0, "dec_deg": -30.0}],
            },
        )
        assert lost.status_code == 422
        assert "#2 (10.000000, -30.000000)" in lost.json()["detail"]


def test_batch_with_job_type_and_params(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, token=TOKEN) as env:
        body = {"job_type": "photometry", "params": {"fits_paths": [IMAGE]}}
        assert env.client.post("/api/batch", json=body).status_code == 401
        response = env.client.post("/api/batch", json=body, headers=auth())
        assert response.status_code == 201, response.text
        job = response.json()
        assert response.headers["location"] == f"/api/batch/{job['id']}"
        # The same job as the current endpoint makes for the same image.
        again = env.client.post("/api/batch/photometry", json={"images": [IMAGE]}, headers=auth())
        assert again.json()["id"] == job["id"]
        other = env.client.post(
            "/api/batch",
            headers=auth(),
            json={"job_type": "imaging", "params": {"images": [IMAGE]}},
        )
        assert other.status_code == 422 and "job_type" in other.json()["detail"]
        assert run_worker(stop_when_idle=True, url=sqlite_url) == 1
        assert env.client.get(f"/api/batch/{job['id']}").json()["status"] == "completed"


def test_old_shapes_are_marked_deprecated_in_the_openapi_document(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        document = env.client.get("/openapi.json").json()
        schemas = document["components"]["schemas"]
        assert schemas["MeasureRequest"]["properties"]["fits_path"]["deprecated"] is True
        assert schemas["MeasureBatchRequest"]["properties"]["coordinates"]["deprecated"] is True
        batch = schemas["BatchPhotometryRequest"]["properties"]
        assert batch["fits_paths"]["deprecated"] is True
        assert batch["coordinates"]["deprecated"] is True
        assert document["paths"]["/api/batch"]["post"]["deprecated"] is True
        assert document["paths"]["/api/ese/candidates"]["get"]["deprecated"] is True
        assert "deprecated" not in document["paths"]["/api/batch/photometry"]["post"]


@pytest.fixture
def dipping_field(tmp_path, sqlite_url):
    """Six measured epochs of a field in which the brightest central source halves for two
    epochs, detected with the sensitive preset."""

    def dip(sky):
        near = np.hypot(sky["ra_deg"] - 150.0, sky["dec_deg"] - 37.2) < 0.1
        factors = np.ones((6, len(sky)))
        factors[2:4, int(np.argmax(np.where(near, sky["flux_jy"], 0.0)))] = 0.5
        return factors

    make_field(
        tmp_path,
        sqlite_url,
        n_epochs=6,
        n_sources=60,
        npix=512,
        radius_deg=0.2,
        seed=3,
        factors=dip,
        extended_fraction=0.0,
        min_flux_jy=0.01,
    )
    run_photometry(sorted(tmp_path.glob("epoch*-image-pb.fits")), sqlite_url)
    return detect(preset="sensitive", url=sqlite_url)


def test_ese_candidates_and_review_decisions(tmp_path, sqlite_url, dipping_field):
    flagged = dipping_field
    ese = [c for c in flagged if c["kind"] == "ese"]
    assert ese, "the dip was not detected"
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=sqlite_url,
        data_roots=[tmp_path],
        api={"token": TOKEN},
    )
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/ese/candidates", params={"min_sigma": 2}).json()
        expected = [c for c in ese if abs(c["deviation_sigma"]) >= 2]
        assert body["total"] == len(expected) >= 1
        top = body["candidates"][0]
        assert (top["id"], top["source_id"], top["status"]) == (
            expected[0]["source_id"],
            expected[0]["name"],
            "active",
        )
        assert top["max_sigma_dev"] == pytest.approx(abs(expected[0]["deviation_sigma"]))
        assert top["baseline_flux_jy"] == pytest.approx(expected[0]["weighted_mean_jy"])
        assert top["current_flux_jy"] > 0 and top["first_detection_at"]
        huge = client.get("/api/ese/candidates", params={"min_sigma": 1e5}).json()
        assert huge == {"candidates": [], "total": 0}

        # Review decisions: token required, status changed in the database.
        target = f"/api/variability/candidates/{top['id']}/status"
        assert client.post(target, json={"status": "dismissed"}).status_code == 401
        response = client.post(target, json={"status": "dismissed"}, headers=auth())
        assert response.status_code == 200 and response.json()["status"] == "dismissed"
        stored, _ = list_candidates(source_id=top["id"], url=sqlite_url)
        assert stored[0]["status"] == "dismissed"
        assert (
            client.post(
                "/api/variability/candidates/999999/status",
                headers=auth(),
                json={"status": "dismissed"},
            ).status_code
            == 404
        )
        assert client.post(target, headers=auth(), json={"status": "maybe"}).status_code == 422
        by_kind = client.get(
            "/api/variability/candidates",
            params={"kind": "ese", "order": "name", "descending": False},
        )
        names = [c["name"] for c in by_kind.json()["data"]]
        assert names == sorted(names) and len(names) == len(ese)
