"""Mosaics from simulated drift-scan images: weights, noise map, beam, photometry before publish."""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS
from sqlalchemy import select
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import JobSettings, Settings, get_settings
from dsa110_contimg.database.models import DataRegistry
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.database.registry import (
    get_data,
    get_data_lineage,
    get_photometry_status,
    link_data,
    list_data,
    register_data,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.fits_io import ImageReadError, load_image, load_plane
from dsa110_contimg.imaging.primary_beam import PrimaryBeam
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.triggers import trigger_photometry_for_mosaic
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.mosaic.builder import MosaicError, build_mosaic
from dsa110_contimg.mosaic.orchestrator import INPUT_RELATIONSHIP, run_once
from dsa110_contimg.photometry.forced import measure_many

RA0, DEC0 = 150.0, 37.2
NPIX, PIXEL_ARCSEC = 512, 2.0
NOISE_JY = 1e-3
PB_FWHM_DEG = 3.2


def _beam_response(separation_deg):
    """The simulated images' Gaussian primary beam (FWHM ``PB_FWHM_DEG``)."""
    return PrimaryBeam.with_fwhm("gaussian", PB_FWHM_DEG, 1.4e9).response(separation_deg, 1.4e9)


#: Drift-scan pointings one third of an image width apart in RA, five minutes apart.
STEP_DEG = NPIX * PIXEL_ARCSEC / 3600.0 / 3.0 / math.cos(math.radians(DEC0))
N_IMAGES = 5
CATALOG = "sim"


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    """One NVSS-like sky of point sources, imaged in five overlapping drift-scan pointings
    (PB-corrected WSClean-style ``-image-pb.fits``; two of them with an rms map beside)."""
    root = tmp_path_factory.mktemp("drift")
    centre_ra = RA0 + STEP_DEG * (N_IMAGES - 1) / 2
    sky = make_sky(
        centre_ra,
        DEC0,
        0.55,
        seed=11,
        n_sources=300,
        min_flux_jy=5e-3,
        max_flux_jy=1.0,
        extended_fraction=0.0,
    )
    catalogue = root / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv")
    paths = []
    for k in range(N_IMAGES):
        sim = simulate_image(
            root / f"drift{k}-image-pb.fits",
            sky,
            center_ra_deg=RA0 + k * STEP_DEG,
            center_dec_deg=DEC0,
            npix=NPIX,
            pixel_arcsec=PIXEL_ARCSEC,
            noise_jy=NOISE_JY,
            pb="gaussian",
            pb_fwhm_deg=PB_FWHM_DEG,
            pb_corrected=True,
            date_obs=f"2026-03-01T06:{5 * k:02d}:00",
            write_rms_map=k in (1, 3),
            seed=100 + k,
        )
        paths.append(sim.path)
    # An image an hour later in the same declination strip closes the first window.
    later = simulate_image(
        root / "later-image-pb.fits",
        sky,
        center_ra_deg=RA0 + 15.0,
        center_dec_deg=DEC0,
        npix=128,
        pb="gaussian",
        pb_corrected=True,
        date_obs="2026-03-01T07:10:00",
        seed=99,
    ).path
    return {"root": root, "sky": sky, "catalogue": catalogue, "paths": paths, "later": later}


def _settings(tmp_path, url, **mosaic) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        database_url=url,
        photometry={"catalog": CATALOG},
        mosaic={"poll_s": 0.1, "photometry_timeout_s": 120.0, **mosaic},
    )


def _register(paths, url) -> list[str]:
    return [register_data(p, "image", url=url) for p in paths]


class _Workers:
    """A real worker claiming job items in a thread while the orchestrator runs."""

    def __init__(self, url: str) -> None:
        self.url, self.stop = url, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            run_worker(stop_when_idle=True, settings=JobSettings(lease_s=60), url=self.url)
            self.stop.wait(0.1)

    def __enter__(self) -> _Workers:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()


def _expected_noise(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """σ/√Σ PB_i² over the pointings whose image holds the position (PB ≥ 0.1)."""
    total = np.zeros(ra.size)
    for k in range(N_IMAGES):
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
        wcs.wcs.crval = [RA0 + k * STEP_DEG, DEC0]
        wcs.wcs.crpix = [NPIX / 2 + 1, NPIX / 2 + 1]
        wcs.wcs.cdelt = [-PIXEL_ARCSEC / 3600.0, PIXEL_ARCSEC / 3600.0]
        x, y = wcs.world_to_pixel_values(ra, dec)
        inside = (x > 1) & (x < NPIX - 2) & (y > 1) & (y < NPIX - 2)
        sep = np.degrees(
            np.arccos(
                np.clip(
                    np.sin(np.radians(dec)) * math.sin(math.radians(DEC0))
                    + np.cos(np.radians(dec))
                    * math.cos(math.radians(DEC0))
                    * np.cos(np.radians(ra - RA0 - k * STEP_DEG)),
                    -1,
                    1,
                )
            )
        )
        total += np.where(inside, _beam_response(sep) ** 2, 0.0)
    with np.errstate(divide="ignore"):
        return NOISE_JY / np.sqrt(total)


def test_mosaic_is_measured_then_published(drift, tmp_path, db_url):
    ingest_catalog(drift["catalogue"], CATALOG, url=db_url)
    settings = _settings(tmp_path, db_url)
    image_ids = _register(drift["paths"], db_url)

    # The window (06:00-07:00) is still open and holds 5 < 12 images: nothing is built early.
    summary = run_once(settings=settings, url=db_url)
    assert summary.built == [] and list_data(data_type="mosaic", url=db_url)[1] == 0

    register_data(drift["later"], "image", url=db_url)  # 07:10 closes the window
    with _Workers(db_url):
        summary = run_once(settings=settings, url=db_url)
    assert len(summary.built) == 1 and summary.skipped == []
    assert [o.data_id for o in summary.published] == [summary.built[0].data_id]
    outcome = summary.published[0]
    record = get_data(outcome.data_id, url=db_url)

    # Photometry completed and linked to the mosaic's data_id before it was published.
    status = get_photometry_status(outcome.data_id, url=db_url)
    assert status.status == "completed" and status.job_id == outcome.job_id is not None
    assert record["photometry_job_id"] == outcome.job_id
    assert record["status"] == "published"
    assert status.updated_at <= record["published_at"]
    assert record["path"] == str(outcome.published_path) and outcome.published_path.is_file()
    assert not (settings.mosaic.output_dir / outcome.published_path.name).exists()
    assert status.n_measured > 40 and outcome.median_snr > 5

    # Lineage: every input image → the mosaic.
    parents = get_data_lineage(outcome.data_id, url=db_url)["parents"]
    assert sorted(p["data_id"] for p in parents) == sorted(image_ids)
    assert {p["relationship"] for p in parents} == {INPUT_RELATIONSHIP}

    # Header: 4 axes, the beam, start / weighted mid / end times, frequency.
    mosaic = load_image(outcome.published_path)
    header = fits.getheader(outcome.published_path)
    assert header["NAXIS"] == 4 and header["CTYPE3"] == "FREQ" and header["CTYPE4"] == "STOKES"
    assert (header["BMAJ"] * 3600, header["BMIN"] * 3600, header["BPA"]) == pytest.approx(
        (58.0, 18.0, 110.0)
    )
    assert mosaic.freq_hz == pytest.approx(1.405e9)
    first, last = load_image(drift["paths"][0]), load_image(drift["paths"][-1])
    assert mosaic.mjd_start == pytest.approx(first.mjd_start)
    assert mosaic.mjd_end == pytest.approx(last.mjd_end)
    assert mosaic.mjd_mid == pytest.approx((first.mjd_mid + last.mjd_mid) / 2, abs=2e-4)
    assert record["mjd_mid"] == pytest.approx(mosaic.mjd_mid)
    history = "\n".join(str(h) for h in header["HISTORY"])
    assert history.count("rms-map weights") == 2 and history.count("pb-model weights") == 3

    # Noise map: 1/√Σw matches the injected noise and the mosaic's own scatter, and is
    # below a single image's noise where images overlap.
    noise_path = json.loads(_metadata(outcome.data_id, db_url))["noise_map"]
    noise = load_plane(noise_path, mosaic)
    assert np.array_equal(np.isnan(noise), np.isnan(mosaic.data))
    ny, nx = mosaic.shape
    yy, xx = np.mgrid[5 : ny - 5 : 23, 5 : nx - 5 : 23]
    ra, dec = mosaic.pixel_to_sky(xx.ravel(), yy.ravel())
    expected = _expected_noise(np.asarray(ra), np.asarray(dec))
    sampled = noise[yy.ravel(), xx.ravel()]
    ok = np.isfinite(expected) & np.isfinite(sampled)
    assert ok.sum() > 500
    assert np.median(sampled[ok] / expected[ok]) == pytest.approx(1.0, abs=0.05)
    assert np.percentile(np.abs(sampled[ok] / expected[ok] - 1), 95) < 0.10
    z = (mosaic.data / noise)[np.isfinite(noise)]
    clipped_rms = sigma_clipped_stats(z, sigma=3.0, maxiters=10, stdfunc="mad_std")[2]
    assert clipped_rms == pytest.approx(1.0, abs=0.05)
    single_noise_at_overlap = NOISE_JY / _beam_response(STEP_DEG / 2 * math.cos(math.radians(DEC0)))
    x_mid, y_mid = mosaic.sky_to_pixel(np.array([RA0 + STEP_DEG * 1.5]), np.array([DEC0]))
    assert noise[int(y_mid[0]), int(x_mid[0])] < 0.75 * single_noise_at_overlap

    # Forced fluxes on the mosaic (stored rows) agree with the injected fluxes.
    rows = photometry_for_product(outcome.data_id, url=db_url)
    truth = dict(zip(drift["sky"]["name"], drift["sky"]["flux_jy"]))
    injected = np.array([truth[n] for n in rows["name"]])
    ratio = np.asarray(rows["peak_jyb"], dtype=float) / injected
    clean = (np.asarray(rows["flags"]) & ~8) == 0
    snr = np.asarray(rows["snr"], dtype=float)
    bright = clean & (snr > 50)
    assert bright.sum() >= 10
    assert np.median(ratio[bright]) == pytest.approx(1.0, abs=0.02)
    very_bright = clean & (snr > 150)
    assert very_bright.sum() >= 4
    assert np.all(np.abs(ratio[very_bright] - 1) < 0.02)
    # The worker measured with the noise map as rms map (the registry metadata names it).
    x, y = mosaic.sky_to_pixel(np.asarray(rows["ra_deg"]), np.asarray(rows["dec_deg"]))
    at_source = noise[np.rint(y).astype(int), np.rint(x).astype(int)]
    assert np.nanmedian(np.asarray(rows["local_rms_jyb"]) / at_source) == pytest.approx(
        1.0, abs=0.02
    )


def _metadata(data_id: str, url: str) -> str:
    with session_scope(url) as session:
        return session.scalar(
            select(DataRegistry.metadata_json).where(DataRegistry.data_id == data_id)
        )


def test_cli_pass_is_idempotent_and_publishes_without_photometry_when_disabled(
    drift, tmp_path, sqlite_url, monkeypatch, caplog
):
    monkeypatch.setenv("CONTIMG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__ENABLED", "false")
    get_settings.cache_clear()
    _register(drift["paths"], sqlite_url)
    runner = CliRunner()
    with caplog.at_level(logging.INFO, logger="dsa110_contimg.mosaic"):
        first = runner.invoke(app, ["mosaic", "--once", "--flush"])
    assert first.exit_code == 0, first.output
    mosaics, total = list_data(data_type="mosaic", url=sqlite_url)
    assert total == 1 and mosaics[0]["status"] == "published"
    assert mosaics[0]["photometry_status"] is None and mosaics[0]["photometry_job_id"] is None
    assert mosaics[0]["data_id"] in first.output
    assert "photometry disabled" in caplog.text
    second = runner.invoke(app, ["mosaic", "--once", "--flush"])
    assert second.exit_code == 0, second.output
    assert "no mosaic to build or publish" in second.output
    assert list_data(data_type="mosaic", url=sqlite_url)[1] == 1


def test_unreadable_inputs_are_left_out_with_reasons(drift, tmp_path, sqlite_url, caplog):
    ingest_catalog(drift["catalogue"], CATALOG, url=sqlite_url)
    paths = [shutil.copy(p, tmp_path / p.name) for p in drift["paths"]]
    ids = _register(paths, sqlite_url)
    (tmp_path / drift["paths"][1].name).write_bytes(b"SIMPLE  = T" + b"\0" * 100)  # corrupt
    (tmp_path / drift["paths"][3].name).unlink()  # missing
    settings = _settings(tmp_path, sqlite_url, min_images=3)
    with caplog.at_level(logging.WARNING), _Workers(sqlite_url):
        summary = run_once(settings=settings, url=sqlite_url, flush=True)
    assert len(summary.published) == 1
    parents = get_data_lineage(summary.published[0].data_id, url=sqlite_url)["parents"]
    assert sorted(p["data_id"] for p in parents) == sorted([ids[0], ids[2], ids[4]])
    assert "not a readable FITS image" in caplog.text and "no such file" in caplog.text
    assert get_photometry_status(summary.published[0].data_id, url=sqlite_url).status == "completed"

    # The two left-out images alone are fewer than min_images: skipped with the reason.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = run_once(settings=settings, url=sqlite_url, flush=True)
    assert again.built == [] and len(again.skipped) == 1
    assert "fewer than mosaic.min_images = 3" in again.skipped[0][1]
    assert "fewer than mosaic.min_images" in caplog.text


def test_photometry_timeout_leaves_the_mosaic_unpublished_until_a_later_pass(
    drift, tmp_path, sqlite_url, caplog
):
    ingest_catalog(drift["catalogue"], CATALOG, url=sqlite_url)
    _register(drift["paths"][:4], sqlite_url)
    settings = _settings(tmp_path, sqlite_url, photometry_timeout_s=0.0)
    with caplog.at_level(logging.WARNING):
        first = run_once(settings=settings, url=sqlite_url, flush=True)  # no worker running
    assert len(first.built) == 1 and first.published == [] and len(first.waiting) == 1
    data_id = first.waiting[0].data_id
    assert "photometry still pending" in first.waiting[0].reason
    assert "not published yet" in caplog.text
    record = get_data(data_id, url=sqlite_url)
    assert record["status"] == "staging" and record["photometry_status"] == "pending"
    run_worker(stop_when_idle=True, url=sqlite_url)
    second = run_once(settings=settings, url=sqlite_url, flush=True)
    assert second.built == [] and [o.data_id for o in second.published] == [data_id]
    assert get_data(data_id, url=sqlite_url)["status"] == "published"


def test_a_mosaic_registered_before_a_crash_is_measured_and_published_by_the_next_pass(
    drift, tmp_path, sqlite_url
):
    ingest_catalog(drift["catalogue"], CATALOG, url=sqlite_url)
    ids = _register(drift["paths"][:4], sqlite_url)
    settings = _settings(tmp_path, sqlite_url)
    # A pass that stopped right after registering the mosaic and its lineage.
    result = build_mosaic(drift["paths"][:4], settings.mosaic.output_dir / "crashed-pb.fits")
    data_id = register_data(
        result.path, "mosaic", metadata={"noise_map": str(result.noise_path)}, url=sqlite_url
    )
    for image_id in ids:
        link_data(image_id, data_id, INPUT_RELATIONSHIP, url=sqlite_url)
    with _Workers(sqlite_url):
        summary = run_once(settings=settings, url=sqlite_url, flush=True)
    assert summary.built == [] and [o.data_id for o in summary.published] == [data_id]
    assert get_photometry_status(data_id, url=sqlite_url).status == "completed"
    assert list_data(data_type="mosaic", url=sqlite_url)[1] == 1


def test_failed_photometry_keeps_its_reason_and_the_mosaic_is_published_after_it(
    drift, tmp_path, sqlite_url, caplog
):
    _register(drift["paths"][:4], sqlite_url)
    settings = _settings(tmp_path, sqlite_url)
    settings.photometry.catalog = "not-ingested"
    with caplog.at_level(logging.WARNING), _Workers(sqlite_url):
        summary = run_once(settings=settings, url=sqlite_url, flush=True)
    [outcome] = summary.published
    status = get_photometry_status(outcome.data_id, url=sqlite_url)
    assert status.status == "failed" and "not-ingested" in status.error
    assert outcome.photometry_error == status.error
    assert status.updated_at <= get_data(outcome.data_id, url=sqlite_url)["published_at"]
    assert f"{outcome.data_id}: photometry failed" in caplog.text


def test_missing_noise_map_fails_the_item_with_its_reason(drift, tmp_path, sqlite_url):
    ingest_catalog(drift["catalogue"], CATALOG, url=sqlite_url)
    path = shutil.copy(drift["paths"][0], tmp_path / "mosaic-x-pb.fits")
    job_id = trigger_photometry_for_mosaic(
        path,
        params=PhotometryParams(catalog=CATALOG),
        metadata={"noise_map": str(tmp_path / "gone-noise.fits")},
        url=sqlite_url,
    )
    run_worker(stop_when_idle=True, url=sqlite_url)
    status = get_photometry_status(register_data(path, "mosaic", url=sqlite_url), url=sqlite_url)
    assert status.status == "failed" and status.job_id == job_id
    assert "gone-noise.fits named in the registry metadata does not exist" in status.error


def test_different_beams_are_convolved_to_the_common_beam(tmp_path):
    sky = make_sky(
        RA0,
        DEC0,
        0.2,
        seed=4,
        n_sources=60,
        min_flux_jy=0.05,
        max_flux_jy=0.5,
        extended_fraction=0.0,
    )
    beams = [(58.0, 18.0, 110.0), (58.0, 18.0, 110.0), (50.0, 15.0, 95.0), (52.0, 20.0, 120.0)]
    paths = [
        simulate_image(
            tmp_path / f"b{k}-image-pb.fits",
            sky,
            center_ra_deg=RA0 + (k - 1.5) * 0.05,
            center_dec_deg=DEC0,
            npix=320,
            beam_major_arcsec=b[0],
            beam_minor_arcsec=b[1],
            beam_pa_deg=b[2],
            pb="gaussian",
            pb_corrected=True,
            noise_jy=NOISE_JY,
            date_obs=f"2026-03-01T06:{5 * k:02d}:00",
            seed=k,
        ).path
        for k, b in enumerate(beams)
    ]
    result = build_mosaic(paths, tmp_path / "m-pb.fits")
    assert result.convolved == (True, True, True, True)
    beam = result.beam
    for major, minor, _ in beams:  # the common beam encloses every input beam
        assert beam.major_arcsec >= major - 1e-6 and beam.minor_arcsec >= minor - 1e-6
    mosaic = load_image(result.path)
    assert mosaic.beam == pytest.approx(beam)
    noise = load_plane(result.noise_path, mosaic)
    table = measure_many(mosaic, sky["ra_deg"], sky["dec_deg"], rms_map=noise)
    good = ((np.asarray(table["flags"]) & ~8) == 0) & (np.asarray(table["snr"]) > 50)
    assert good.sum() >= 8
    ratio = np.asarray(table["peak_jyb"])[good] / np.asarray(sky["flux_jy"])[good]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    # Without convolution (a tolerance above the beam differences) the fluxes would be biased.
    unconvolved = build_mosaic(paths, tmp_path / "u-pb.fits", beam_tolerance=10.0)
    assert unconvolved.convolved == (False,) * 4
    biased = measure_many(load_image(unconvolved.path), sky["ra_deg"], sky["dec_deg"])
    assert np.median(np.asarray(biased["peak_jyb"])[good] / np.asarray(sky["flux_jy"])[good]) < 0.97


def test_build_refuses_too_few_inputs_and_bad_options(drift, tmp_path):
    with pytest.raises(MosaicError, match="1 usable input image"):
        build_mosaic(drift["paths"][:1], tmp_path / "m.fits", min_inputs=2)
    with pytest.raises(ImageReadError, match="no such file"):
        build_mosaic([tmp_path / "absent-image-pb.fits"], tmp_path / "m.fits")
    with pytest.raises(ValueError, match="on_bad_input"):
        build_mosaic(drift["paths"], tmp_path / "m.fits", on_bad_input="ignore")
