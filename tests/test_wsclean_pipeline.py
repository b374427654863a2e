"""From visibilities to photometry with the real WSClean: DSA-110 sub-band UVH5 files dropped
into the watched directory are converted, imaged, registered and measured; the fluxes are the
sky's (primary beam of a drift scan applied once); bad observations fail with their reasons;
a killed stream images each observation once after its restart.

These tests need the ``wsclean`` program (Debian/Ubuntu package ``wsclean``); without it they
skip, or fail when ``CONTIMG_REQUIRE_WSCLEAN`` is set (as in CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from astropy.time import Time
from conftest import require_wsclean
from sqlalchemy import func, select
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import WSCleanSettings, get_settings
from dsa110_contimg.conversion.streaming.ledger import Ledger
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.models import (
    BatchJobItem,
    CatalogSource,
    DataRegistry,
    Photometry,
    Product,
)
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.database.spectra import product_spectral_indices
from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.simulate import make_sky
from dsa110_contimg.imaging.simulate_visibilities import (
    ObservationSpec,
    injected_flux,
    pointing_track,
    simulate_observation,
)
from dsa110_contimg.imaging.wsclean import WSCleanImager
from dsa110_contimg.photometry.adaptive import alpha_error_limit

CATALOG = "vis-sky"
SIDEREAL_DAY_S = 86164.0905
FIRST_START = Time("2026-11-24T06:00:00", scale="utc")
#: The acceptance array: small enough for CI, large enough for a PSF that CLEAN handles well
#: (with 32 antennas and 10 integrations, sidelobe confusion biases bright sources by 1–3 %).
ARRAY = dict(
    dec_deg=45.0,
    n_antennas=48,
    ew_length_m=500.0,
    ns_length_m=300.0,
    n_integrations=20,
    channels_per_subband=4,
    noise_jy=0.4,
)
#: A tiny array for the failure and restart tests (seconds per observation).
TINY = dict(
    dec_deg=45.0,
    n_antennas=10,
    ew_length_m=300.0,
    ns_length_m=200.0,
    n_integrations=3,
    channels_per_subband=1,
    noise_jy=0.3,
)
TINY_WSCLEAN = {
    "CONTIMG_STREAM__WSCLEAN__SIZE": "256",
    "CONTIMG_STREAM__WSCLEAN__SCALE_ARCSEC": "60",
    "CONTIMG_STREAM__WSCLEAN__NITER": "200",
}


def _start(epoch: int) -> str:
    """Start of the ``epoch``-th observation: the same field, one sidereal day later each."""
    return (FIRST_START + epoch * SIDEREAL_DAY_S * u.s).isot[:19]


@pytest.fixture
def field(tmp_path: Path, isolated_settings) -> Table:
    """30 sources (80 mJy–1 Jy at 1.4 GHz, spectral indices around −0.7) within 2° of the
    beam's mid-observation centre, ingested as the catalogue ``vis-sky``; one of them dips by
    40 % around the second epoch.

    Brighter sources are left out on purpose: a 1.6 Jy source at the half-power edge, whose
    response changes by tens of per cent as it drifts through the beam during the 5 minutes,
    leaves deconvolution errors that CLEAN (which assumes a constant sky) cannot remove —
    with this 48-antenna array about −5 mJy (−2.5 %) on a 0.2 Jy source 1.3° away.
    """
    require_wsclean()
    upgrade()
    centre = pointing_track(ObservationSpec(start=_start(0), **ARRAY)).centre
    sky = make_sky(
        *centre,
        2.0,
        seed=11,
        n_sources=30,
        min_flux_jy=0.08,
        max_flux_jy=1.0,
        extended_fraction=0.0,
    )
    sky["spectral_index"] = np.random.default_rng(11).normal(-0.7, 0.2, len(sky))
    bright = int(np.argmax(sky["flux_jy"]))
    sky["dip_depth"] = np.where(np.arange(len(sky)) == bright, 0.4, 0.0)
    sky["dip_mjd"] = Time(_start(1)).mjd + 150 / 86400.0
    sky["dip_days"] = 0.05
    csv = tmp_path / "sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(csv, format="ascii.csv")
    ingest_catalog(csv, CATALOG)
    return sky


def _deliver(
    staging: Path,
    incoming: Path,
    *,
    drop: str | None = None,
    truncate: str | None = None,
    age_s: float = 0.0,
) -> None:
    """Move an observation's files into the watched directory (renamed into place), optionally
    without one sub-band or with one cut short, aged by ``age_s`` seconds."""
    incoming.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.glob("*.hdf5")):
        if drop and path.name.endswith(drop):
            continue
        if truncate and path.name.endswith(truncate):
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        target = incoming / path.name
        shutil.move(path, target)
        if age_s:
            old = time.time() - age_s
            os.utime(target, (old, old))


def test_three_epochs_from_visibilities_are_measured_with_the_sky_fluxes(
    tmp_path, field, isolated_settings, monkeypatch
):
    incoming = isolated_settings.stream.input_dir
    truths = []
    for epoch in range(3):
        observation = simulate_observation(
            tmp_path / f"raw{epoch}",
            field,
            ObservationSpec(start=_start(epoch), seed=epoch, **ARRAY),
        )
        truths.append(observation.truth)
        _deliver(tmp_path / f"raw{epoch}", incoming)
    tiny = [ObservationSpec(start=_start(epoch), seed=epoch, **TINY) for epoch in (3, 4)]
    for spec in tiny:
        simulate_observation(tmp_path / spec.start, field, spec)
    _deliver(tmp_path / tiny[0].start, incoming, drop="_sb03.hdf5", age_s=120)
    _deliver(tmp_path / tiny[1].start, incoming, truncate="_sb07.hdf5")
    monkeypatch.setenv("CONTIMG_STREAM__INCOMPLETE_AFTER_S", "60")
    monkeypatch.setenv("CONTIMG_STREAM__WSCLEAN__FOV_PB_FWHM", "1.3")
    get_settings.cache_clear()

    result = CliRunner().invoke(
        app,
        [
            "stream",
            "--once",
            "--imager",
            "wsclean",
            "--settle",
            "0",
            "--photometry-catalog",
            CATALOG,
            "--no-photometry-normalize",
        ],
    )
    assert "5 observation(s) processed, 2 failed" in result.output, result.output
    assert "photometry: 3 completed, 0 failed, 0 waiting" in result.output
    assert result.exit_code == 1  # two observations failed

    failed = {r.key: r.error for r in _ledger().records() if r.status == "failed"}
    assert failed[tiny[0].start] == ("incomplete: 15 of 16 files; missing sb03 after 60 s")
    assert f"{tiny[1].start}_sb07.hdf5: not a readable UVH5 file" in failed[tiny[1].start]

    with session_scope() as session:
        images = session.execute(
            select(
                DataRegistry.data_id,
                DataRegistry.photometry_status,
                DataRegistry.metadata_json,
                Product.mjd_mid,
                Product.freq_hz,
                Product.pb_corrected,
            )
            .join(Product, Product.data_id == DataRegistry.data_id)
            .order_by(Product.mjd_mid)
        ).all()
    assert len(images) == 3
    for (data_id, status, metadata, mjd_mid, freq_hz, pb_corrected), truth in zip(images, truths):
        assert status == "completed" and not pb_corrected
        assert abs(mjd_mid - truth.meta["mjd_mid"]) * 86400 < 1.0
        subbands = json.loads(metadata)["subband_images"]
        assert len(subbands) == 16 and all(Path(p).is_file() for p in subbands)
        _assert_fluxes_are_the_skys(data_id, truth, freq_hz)
    assert not list(isolated_settings.stream.output_dir.rglob("*.ms"))  # removed after imaging

    for (data_id, _, metadata, *_), truth in zip(images, truths):
        _assert_subband_spectra(data_id, json.loads(metadata)["subband_images"], truth)

    dipper = int(np.argmax(field["dip_depth"]))
    light = [_flux(data_id, field["name"][dipper]) for data_id, *_ in images]
    injected = [truth["flux_ref_jy"][dipper] for truth in truths]
    assert injected[1] / injected[0] == pytest.approx(0.6, abs=0.01)
    assert light[1] / light[0] == pytest.approx(injected[1] / injected[0], rel=0.02)


def _assert_fluxes_are_the_skys(data_id: str, truth: Table, freq_hz: float) -> None:
    """S/N > 100 inside the half-power circle within 2 %; S/N > 20 within 3σ for ≥ 90 %."""
    with session_scope() as session:
        rows = session.execute(
            select(
                CatalogSource.name,
                Photometry.peak_jyb,
                Photometry.peak_err_jyb,
                Photometry.snr,
                Photometry.pb_response,
            )
            .join(Photometry, Photometry.source_id == CatalogSource.id)
            .join(Product, Product.id == Photometry.product_id)
            .where(Product.data_id == data_id)
        ).all()
    measured = {name: (peak, err, snr, pb) for name, peak, err, snr, pb in rows}
    ratios, pulls = [], []
    for row, expected in zip(truth, injected_flux(truth, freq_hz)):
        peak, err, snr, pb = measured[row["name"]]
        assert pb == pytest.approx(row["pb_response"], rel=1e-3)
        if pb < 0.5:
            continue
        if snr > 100:
            ratios.append(peak / expected)
        if snr > 20:
            pulls.append((peak - expected) / err)
    assert len(ratios) >= 5, f"only {len(ratios)} sources with S/N > 100 in the field"
    assert np.all(np.abs(np.array(ratios) - 1) < 0.02), np.round(ratios, 4)
    assert np.mean(np.abs(pulls) < 3) >= 0.9, np.round(pulls, 2)


def _assert_subband_spectra(data_id: str, subbands: list[str], truth: Table) -> None:
    """The worker measured the 16 WSClean sub-band images (primary-beam corrected with each
    one's band) after the MFS photometry: the stored spectral indices of the bright sources
    inside the half-power circle are the injected ones, with errors at the band's limit."""
    stored = product_spectral_indices(data_id)
    with session_scope() as session:
        names = dict(
            session.execute(
                select(CatalogSource.id, CatalogSource.name).where(
                    CatalogSource.id.in_([int(s) for s in stored["source_id"]])
                )
            ).all()
        )
    by_name = {names[int(row["source_id"])]: row for row in stored}
    assert len(by_name) == len(truth)
    freq = np.array([load_image(path).freq_hz for path in subbands])
    checked = 0
    for row in truth:
        if row["pb_response"] < 0.5:
            continue
        fit = by_name[row["name"]]
        snr = fit["ref_flux_jy"] / fit["ref_flux_err_jy"]
        if snr < 100:
            continue
        checked += 1
        assert abs(fit["alpha"] - row["spectral_index"]) < 3 * fit["alpha_err"], (
            row["name"],
            fit["alpha"],
            fit["alpha_err"],
            row["spectral_index"],
        )
        assert fit["alpha_err"] < 1.3 * alpha_error_limit(snr, freq)
    assert checked >= 4


def _flux(data_id: str, name: str) -> float:
    with session_scope() as session:
        return session.scalar(
            select(Photometry.peak_jyb)
            .join(CatalogSource, CatalogSource.id == Photometry.source_id)
            .join(Product, Product.id == Photometry.product_id)
            .where(Product.data_id == data_id, CatalogSource.name == name)
        )


def _ledger() -> Ledger:
    return Ledger(Path(os.environ["CONTIMG_STATE_DIR"]) / "stream" / "ledger")


@pytest.mark.parametrize(
    "settings, reason",
    [
        (
            WSCleanSettings(size=256, scale_arcsec=60, extra_args=["-no-such-option"]),
            "WSClean exited with status 255: Unknown parameter: no-such-option",
        ),
        (WSCleanSettings(size=4096, scale_arcsec=5), "WSClean timed out after 0.5 s"),
    ],
)
def test_a_failing_wsclean_fails_the_observation_with_its_reason(tmp_path, field, settings, reason):
    spec = ObservationSpec(start=_start(0), **TINY)
    simulate_observation(tmp_path / "incoming", field, spec)
    converter = StreamingConverter(
        WSCleanImager(settings, timeout_s=0.5),
        tmp_path / "incoming",
        tmp_path / "images",
        None,
        settle_s=0.0,
        ledger=Ledger(tmp_path / "ledger"),
    )
    (record,) = converter.run_once()
    assert record.status == "failed"
    assert re.search(reason, record.error), record.error
    assert not list((tmp_path / "images").iterdir())  # the work directory is gone


def test_a_stream_killed_during_imaging_images_each_observation_once(
    tmp_path, field, isolated_settings, monkeypatch
):
    incoming = isolated_settings.stream.input_dir
    starts = [_start(epoch) for epoch in range(2)]
    for epoch, start in enumerate(starts):
        simulate_observation(
            tmp_path / start, field, ObservationSpec(start=start, seed=epoch, **TINY)
        )
        _deliver(tmp_path / start, incoming)
    env = {**os.environ, **TINY_WSCLEAN, "CONTIMG_STREAM__WSCLEAN__NITER": "100000"}
    command = [
        sys.executable,
        "-m",
        "dsa110_contimg.cli",
        "stream",
        "--imager",
        "wsclean",
        "--settle",
        "0",
        "--photometry-catalog",
        CATALOG,
        "--no-photometry-normalize",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = str(isolated_settings.stream.output_dir)
    deadline = time.monotonic() + 120
    while not _wsclean_pids(marker):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "WSClean never started"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while _wsclean_pids(marker):  # WSClean dies with its parent
        assert time.monotonic() < deadline, "WSClean outlived the killed stream"
        time.sleep(0.05)
    assert sum(r.status == "done" for r in _ledger().records()) < 2

    for key, value in TINY_WSCLEAN.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(
        app,
        [
            "stream",
            "--once",
            "--settle",
            "0",
            "--imager",
            "wsclean",
            "--photometry-catalog",
            CATALOG,
            "--no-photometry-normalize",
        ],
    )
    assert result.exit_code == 0, result.output
    records = _ledger().records()
    assert sorted(r.key for r in records) == starts and all(r.status == "done" for r in records)
    with session_scope() as session:
        registered = session.scalars(select(DataRegistry.data_id)).all()
        items = session.execute(
            select(BatchJobItem.data_id, func.count()).group_by(BatchJobItem.data_id)
        ).all()
    assert len(registered) == 2 and len(items) == 2 and all(n == 1 for _, n in items)
    leftovers = [p.name for p in isolated_settings.stream.output_dir.iterdir()]
    assert sorted(leftovers) == starts  # no work directory of the killed attempt is left


def _wsclean_pids(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"wsclean .*{marker}"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]
