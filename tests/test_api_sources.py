"""``/api/sources``: cone searches, source records and light curves (JSON, CSV, VOTable,
PNG) over HTTP equal what the products database gives."""

from __future__ import annotations

import io
from urllib.parse import quote

import numpy as np
from api_support import DEC0, RA0, api_env
from astropy.table import Table

from dsa110_contimg.catalog.sources import sources_in_cone
from dsa110_contimg.database.products import light_curve
from dsa110_contimg.jobs.worker import run_worker


def test_cone_source_and_light_curves(tmp_path, db_url):
    with api_env(tmp_path, db_url, n_images=3) as env:
        client = env.client
        client.post("/api/batch/photometry", json={"images": [str(p) for p in env.images]})
        run_worker(stop_when_idle=True, url=db_url)

        cone = sources_in_cone("sim", RA0, DEC0, 0.1, url=db_url)
        page = client.get(
            "/api/sources", params={"ra": RA0, "dec": DEC0, "radius": 0.1, "limit": 4, "offset": 1}
        ).json()
        assert page["count"] == len(cone) > 5
        assert [s["source_id"] for s in page["data"]] == list(cone["source_id"][1:5])
        np.testing.assert_allclose(
            [s["latest_peak_jyb"] for s in page["data"]], cone["latest_peak_jyb"][1:5]
        )
        response = client.get(
            "/api/sources", params={"ra": RA0, "dec": DEC0, "radius": 0.1, "catalog": "nope"}
        )
        assert response.status_code == 404 and "unknown catalogue" in response.json()["detail"]

        source_id, name = int(cone["source_id"][0]), str(cone["name"][0])
        detail = client.get(f"/api/sources/{source_id}").json()
        assert (detail["name"], detail["catalog"], detail["n_measurements"]) == (name, "sim", 3)
        assert client.get(f"/api/sources/{quote(name)}").json()["source_id"] == source_id

        curve = light_curve(source_id, url=db_url)
        got = client.get(f"/api/sources/{quote(name)}/lightcurve").json()
        assert (got["source_id"], got["name"], got["count"]) == (source_id, name, 3)
        mjd = [p["mjd_mid"] for p in got["data"]]
        assert mjd == sorted(mjd) and mjd == list(curve["mjd_mid"])  # by MJD, not file order
        assert [p["peak_jyb"] for p in got["data"]] == list(curve["peak_jyb"])
        assert [p["data_id"] for p in got["data"]] == list(curve["data_id"])
        assert all(isinstance(p["flag_names"], list) for p in got["data"])
        second = client.get(
            f"/api/sources/{source_id}/lightcurve", params={"limit": 1, "offset": 1}
        ).json()
        assert [p["mjd_mid"] for p in second["data"]] == mjd[1:2]

        response = client.get(f"/api/sources/{source_id}/lightcurve", params={"format": "csv"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        table = Table.read(response.text, format="ascii.csv")
        np.testing.assert_allclose(table["peak_jyb"], curve["peak_jyb"])
        response = client.get(f"/api/sources/{source_id}/lightcurve", params={"format": "votable"})
        assert response.headers["content-type"] == "application/x-votable+xml"
        table = Table.read(io.BytesIO(response.content), format="votable")
        np.testing.assert_allclose(table["mjd_mid"], curve["mjd_mid"])

        response = client.get(f"/api/sources/{source_id}/lightcurve.png")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content[:8] == b"\x89PNG\r\n\x1a\n" and len(response.content) > 5000

        for path in (
            "/api/sources/999999",
            "/api/sources/NVSS%20J000000+000000/lightcurve",
            "/api/sources/99999999999999999999999/lightcurve.png",
            "/api/sources/%C2%B2",
        ):
            response = client.get(path)
            assert response.status_code == 404, path
        response = client.get("/api/sources", params={"ra": RA0, "dec": 95, "radius": 0.1})
        assert response.status_code == 422 and "query.dec" in response.json()["detail"]
