"""``/api/photometry``: measurements over HTTP equal the engine's, bad input is refused
precisely, and normalization uses the stored or the given factor (never a silent 1.0)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from api_support import api_env
from astropy.io import fits
from sqlalchemy import select

from dsa110_contimg.database.models import ImageCorrection, PhotometryParamSet, Product
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.photometry.forced import measure_forced_peak, measure_many
from dsa110_contimg.photometry.sources import measure_catalog_sources
from dsa110_contimg.variability.normalize import normalize_measurement

IMAGE = "images/epoch0-image-pb.fits"


def _brightest_on_image(env) -> dict:
    truth = env.sky[np.argsort(-np.asarray(env.sky["flux_jy"]))]
    for row in truth:
        result = measure_forced_peak(env.images[0], row["ra_deg"], row["dec_deg"])
        if result.success and result.edge_dist_pix > 20:
            return {
                "ra_deg": float(row["ra_deg"]),
                "dec_deg": float(row["dec_deg"]),
                "flux_jy": float(row["flux_jy"]),
            }
    raise AssertionError("no source on the simulated image")


def test_measure_one_position_equals_the_engine(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        target = _brightest_on_image(env)
        body = {"image": IMAGE, "ra_deg": target["ra_deg"], "dec_deg": target["dec_deg"]}
        response = env.client.post("/api/photometry/measure", json=body)
        assert response.status_code == 200, response.text
        got = response.json()
        engine = measure_forced_peak(
            env.images[0],
            target["ra_deg"],
            target["dec_deg"],
            options=env.settings.photometry.fitting,
        )
        for key in ("peak_jyb", "peak_err_jyb", "local_rms_jyb", "snr", "chisq"):
            assert got[key] == pytest.approx(getattr(engine, key), rel=1e-9), key
        assert got["flags"] == engine.flags and got["method"] == "forced-beam-fit"
        assert got["peak_jyb"] > 0.5 * target["flux_jy"] and got["snr"] > 20
        # The same image by data_id, and an absolute path inside the root.
        data_id = register_data(env.images[0], url=sqlite_url)
        by_id = env.client.post(
            "/api/photometry/measure",
            json={"data_id": data_id, "ra_deg": target["ra_deg"], "dec_deg": target["dec_deg"]},
        ).json()
        by_abs = env.client.post(
            "/api/photometry/measure", json={**body, "image": str(env.images[0])}
        ).json()
        assert by_id["peak_jyb"] == by_abs["peak_jyb"] == got["peak_jyb"]
        # Off the image: a null peak and a flag, not an error.
        off = env.client.post(
            "/api/photometry/measure", json={"image": IMAGE, "ra_deg": 152.0, "dec_deg": 37.2}
        ).json()
        assert off["peak_jyb"] is None and off["flag_names"] == ["off_image"]


def test_measure_batch_keeps_input_order_and_matches_the_engine(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        sky = env.sky[::-1]
        positions = [
            {"ra_deg": float(r["ra_deg"]), "dec_deg": float(r["dec_deg"]), "name": str(r["name"])}
            for r in sky
        ]
        response = env.client.post(
            "/api/photometry/measure-batch", json={"image": IMAGE, "positions": positions}
        )
        assert response.status_code == 200, response.text
        got = response.json()
        engine = measure_many(
            env.images[0],
            sky["ra_deg"],
            sky["dec_deg"],
            names=list(sky["name"]),
            options=env.settings.photometry.fitting,
        )
        assert got["count"] == len(positions) == len(got["measurements"])
        assert [m["name"] for m in got["measurements"]] == list(sky["name"])
        peaks = np.array(
            [np.nan if m["peak_jyb"] is None else m["peak_jyb"] for m in got["measurements"]]
        )
        np.testing.assert_allclose(peaks, engine["peak_jyb"], rtol=1e-9, equal_nan=True)
        assert [m["flags"] for m in got["measurements"]] == list(engine["flags"])
        assert got["error_scale"] == pytest.approx(engine.meta["error_scale"])
        measured = np.isfinite(peaks)
        assert 5 <= measured.sum() < len(peaks)  # some catalogue sources are off this image

        # Catalogue mode: the catalogue's sources in the field, fitted jointly.
        response = env.client.post(
            "/api/photometry/measure-batch", json={"image": IMAGE, "catalog": "sim"}
        )
        assert response.status_code == 200, response.text
        catalogue = measure_catalog_sources(
            env.images[0], "sim", url=sqlite_url, options=env.settings.photometry.fitting
        )
        got = response.json()["measurements"]
        assert [m["source_id"] for m in got] == list(catalogue["source_id"])
        np.testing.assert_allclose([m["peak_jyb"] for m in got], catalogue["peak_jyb"], rtol=1e-9)
        # Fitted jointly, the point sources' peaks are their injected fluxes within errors.
        injected = dict(zip(env.sky["name"], env.sky["flux_jy"]))
        pulls = [(m["peak_jyb"] - injected[m["name"]]) / m["peak_err_jyb"] for m in got]
        assert len(pulls) >= 5 and np.max(np.abs(pulls)) < 5


def test_measure_batch_refuses_more_than_the_synchronous_limit(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, max_sync_positions=3) as env:
        positions = [{"ra_deg": 150.0, "dec_deg": 37.2 + 0.01 * k} for k in range(4)]
        response = env.client.post(
            "/api/photometry/measure-batch", json={"image": IMAGE, "positions": positions}
        )
        assert response.status_code == 422
        assert "4 targets exceed the synchronous limit of 3" in response.json()["detail"]
        response = env.client.post(
            "/api/photometry/measure-batch", json={"image": IMAGE, "catalog": "sim"}
        )
        assert response.status_code == 422 and "synchronous limit" in response.json()["detail"]
        assert (
            env.client.post(
                "/api/photometry/measure-batch", json={"image": IMAGE, "positions": positions[:3]}
            ).status_code
            == 200
        )


def test_bad_images_and_requests_get_precise_errors(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        post = env.client.post
        (env.root / "corrupt.fits").write_bytes(b"SIMPLE  = T" + b"\0" * 100)
        beamless = env.root / "beamless.fits"
        beamless.write_bytes(env.images[0].read_bytes())
        with fits.open(beamless, mode="update") as hdul:
            for key in ("BMAJ", "BMIN", "BPA"):
                del hdul[0].header[key]
        at = {"ra_deg": 150.0, "dec_deg": 37.2}
        response = post("/api/photometry/measure", json={"image": "corrupt.fits", **at})
        assert response.status_code == 422
        assert "not a readable FITS image" in response.json()["detail"]
        response = post("/api/photometry/measure", json={"image": "beamless.fits", **at})
        assert response.status_code == 422 and "no restoring beam" in response.json()["detail"]
        beam = {"major_arcsec": 58.0, "minor_arcsec": 18.0, "pa_deg": 110.0}
        response = post(
            "/api/photometry/measure", json={"image": "beamless.fits", "beam": beam, **at}
        )
        assert response.status_code == 200 and response.json()["peak_jyb"] is not None
        response = post("/api/photometry/measure", json={"image": "nothere.fits", **at})
        assert response.status_code == 404 and "no such file" in response.json()["detail"]
        response = post("/api/photometry/measure", json={"data_id": "image-nope", **at})
        assert response.status_code == 404 and "image-nope" in response.json()["detail"]
        response = post(
            "/api/photometry/measure", json={"image": IMAGE, "ra_deg": 400, "dec_deg": 37.2}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "ra_deg"]
        assert "body.ra_deg" in response.json()["detail"]
        response = post("/api/photometry/measure", json={"image": IMAGE, "data_id": "x", **at})
        assert response.status_code == 422
        assert "exactly one of 'image'" in response.json()["detail"]
        response = post("/api/photometry/measure-batch", json={"image": IMAGE, "catalog": "nope"})
        assert response.status_code == 404 and "unknown catalogue" in response.json()["detail"]
        response = post(
            "/api/photometry/measure",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422)


def _measured_product(env) -> str:
    created = env.client.post("/api/batch/photometry", json={"images": [IMAGE]})
    assert created.status_code == 201, created.text
    run_worker(stop_when_idle=True, url=env.url)
    return created.json()["items"]["data"][0]["data_id"]


def test_normalize_with_a_given_factor_and_the_stored_one(tmp_path, db_url):
    with api_env(tmp_path, db_url) as env:
        data_id = _measured_product(env)
        stored = photometry_for_product(data_id, url=db_url)
        body = {"data_id": data_id, "factor": 1.25, "factor_err": 0.05}
        response = env.client.post("/api/photometry/normalize?limit=4&offset=2", json=body)
        assert response.status_code == 200, response.text
        got = response.json()
        assert (got["count"], got["limit"], got["offset"]) == (len(stored), 4, 2)
        assert got["factor_source"] == "request" and got["n_references"] is None
        page = stored[2:6]
        flux, err = normalize_measurement(page["peak_jyb"], page["peak_err_jyb"], 1.25, 0.05)
        assert [m["source_id"] for m in got["data"]] == list(page["source_id"])
        np.testing.assert_allclose([m["peak_norm_jyb"] for m in got["data"]], flux)
        np.testing.assert_allclose([m["peak_norm_err_jyb"] for m in got["data"]], err)

        # No stored factor: refused with the reason, never a silent 1.0.
        response = env.client.post("/api/photometry/normalize", json={"data_id": data_id})
        assert response.status_code == 409
        assert "no stored correction factor" in response.json()["detail"]

        refs = [int(s) for s in stored["source_id"][:3]]
        with session_scope(db_url) as session:
            product_id = session.scalar(select(Product.id).where(Product.data_id == data_id))
            params_id = session.scalar(select(PhotometryParamSet.id))
            session.add(
                ImageCorrection(
                    product_id=product_id,
                    params_id=params_id,
                    value=0.9,
                    error=0.02,
                    n_references=3,
                    reference_source_ids=refs,
                    method="test",
                    created_at=datetime.now(UTC),
                )
            )
        one = int(stored["source_id"][0])
        response = env.client.post(
            "/api/photometry/normalize", json={"data_id": data_id, "source_id": one}
        )
        assert response.status_code == 200, response.text
        got = response.json()
        assert (got["factor"], got["factor_err"], got["factor_source"]) == (0.9, 0.02, "stored")
        assert got["n_references"] == 3 and got["reference_source_ids"] == refs
        assert got["count"] == 1 and got["data"][0]["source_id"] == one
        expected = normalize_measurement(
            stored["peak_jyb"][0], stored["peak_err_jyb"][0], 0.9, 0.02
        )
        assert got["data"][0]["peak_norm_jyb"] == pytest.approx(expected[0])
        assert got["data"][0]["peak_norm_err_jyb"] == pytest.approx(expected[1])

        response = env.client.post(
            "/api/photometry/normalize", json={"data_id": data_id, "factor": 1.1}
        )
        assert response.status_code == 422 and "together" in response.json()["detail"]
        response = env.client.post("/api/photometry/normalize", json={"data_id": "image-nope"})
        assert response.status_code == 404
