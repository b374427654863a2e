"""``GET /api/variability/candidates`` over a real app and database, after a dip was measured
by the pipeline and detected."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from variability_support import DEC0, RA0, make_field, run_photometry

from dsa110_contimg.api import create_app
from dsa110_contimg.catalog.zones import angular_separation_deg
from dsa110_contimg.config import Settings
from dsa110_contimg.variability.candidates import detect, set_candidate_status

N_EPOCHS, N_SOURCES = 6, 60


def _brightest_central(sky) -> int:
    separation = angular_separation_deg(RA0, DEC0, sky["ra_deg"], sky["dec_deg"])
    return int(np.argmax(np.where(separation < 0.1, sky["flux_jy"], 0.0)))


def test_candidates_are_listed_paged_and_filtered(tmp_path, db_url):
    def dip(sky):  # the brightest source near the centre halves in the third and fourth epochs
        factors = np.ones((N_EPOCHS, len(sky)))
        factors[2:4, _brightest_central(sky)] = 0.5
        return factors

    field = make_field(
        tmp_path,
        db_url,
        n_epochs=N_EPOCHS,
        n_sources=N_SOURCES,
        npix=512,
        radius_deg=0.2,
        seed=3,
        factors=dip,
        extended_fraction=0.0,
        min_flux_jy=0.01,
    )
    dipper = _brightest_central(field.sky)
    run_photometry(field.paths, db_url)
    flagged = detect(preset="sensitive", url=db_url)
    assert flagged[0]["name"] == field.sky["name"][dipper] and flagged[0]["kind"] == "ese"
    assert "dip" in flagged[0]["driver"] and flagged[0]["false_alarm"] < 1e-6
    # the dip spans the third and fourth epochs, a day apart
    assert flagged[0]["dip_end_mjd"] - flagged[0]["dip_start_mjd"] == pytest.approx(1.0)
    settings = Settings(state_dir=tmp_path / "state", database_url=db_url, data_roots=[tmp_path])
    with TestClient(create_app(settings)) as client:
        page = client.get("/api/variability/candidates", params={"limit": 1})
        assert page.status_code == 200
        body = page.json()
        assert (body["count"], body["limit"], body["offset"]) == (len(flagged), 1, 0)
        top = body["data"][0]
        assert (top["name"], top["status"], top["preset"]) == (
            flagged[0]["name"],
            "active",
            "sensitive",
        )
        assert top["score"] >= 1 and top["n_epochs"] == N_EPOCHS
        set_candidate_status(top["source_id"], "dismissed", url=db_url)
        dismissed = client.get("/api/variability/candidates", params={"status": "dismissed"})
        assert [c["source_id"] for c in dismissed.json()["data"]] == [top["source_id"]]
        active = client.get("/api/variability/candidates", params={"status": "active"}).json()
        assert active["count"] == len(flagged) - 1
        assert (
            client.get("/api/variability/candidates", params={"status": "maybe"}).status_code == 422
        )
