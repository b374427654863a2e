"""The first part of ``make demo``: the chain from raw visibilities, with the real WSClean.

Two 5-minute DSA-110 observations of one field, a sidereal day apart, are simulated as 16
UVH5 sub-band files each (`dsa110_contimg.imaging.simulate_visibilities`: 48 antennas, the
beam fixed in azimuth/elevation, spectral indices, one source dipping by 40 % in the second
epoch) and dropped into a watched directory. The streaming converter with the ``wsclean``
imager converts each to a Measurement Set, images it with WSClean, registers the MFS image and
queues its photometry, which a worker measures. The report compares the stored
(primary-beam-corrected) fluxes with the injected ones and the products' times with the
simulated observations'. It keeps its own state in ``<state_dir>/demo-visibilities``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.config import Settings, derived_dir
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.products import photometry_for_product
from dsa110_contimg.demo import settings_environment
from dsa110_contimg.imaging.fits_io import load_image
from dsa110_contimg.imaging.simulate import make_sky
from dsa110_contimg.imaging.simulate_visibilities import (
    ObservationSpec,
    injected_flux,
    pointing_track,
    simulate_observation,
)
from dsa110_contimg.imaging.wsclean import wsclean_available
from dsa110_contimg.jobs.worker import run_worker

__all__ = ["EpochReport", "VisibilityDemoReport", "run_visibility_demo"]

CATALOG = "demo-vis-sky"
SIDEREAL_DAY_S = 86164.0905
ARRAY = ObservationSpec(
    start="2026-11-24T06:00:00",
    dec_deg=45.0,
    n_antennas=48,
    ew_length_m=500.0,
    ns_length_m=300.0,
    n_integrations=20,
    channels_per_subband=4,
    noise_jy=0.6,
)


@dataclass
class EpochReport:
    """One observation: where it went and how well its fluxes came back."""

    key: str
    status: str
    data_id: str | None
    error: str | None
    timings_s: dict[str, float]
    mjd_offset_s: float | None = None
    n_bright: int = 0
    median_ratio: float | None = None
    worst_ratio: float | None = None
    dipper_ratio: float | None = None


@dataclass
class VisibilityDemoReport:
    """The epochs, or why the chain did not run."""

    state_dir: Path
    epochs: list[EpochReport]
    skipped: str | None = None


def run_visibility_demo(
    settings: Settings,
    *,
    epochs: int = 2,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
) -> VisibilityDemoReport:
    """Simulate ``epochs`` observations and take them from visibilities to photometry."""
    state = settings.state_dir / "demo-visibilities"
    if wsclean_available(settings.stream.wsclean.binary) is None:
        return VisibilityDemoReport(
            state,
            [],
            "WSClean is not installed (Debian/Ubuntu "
            "package 'wsclean'); the demo uses simulated "
            "images only",
        )
    environment = {
        "CONTIMG_STATE_DIR": str(state),
        "CONTIMG_DATA_ROOTS": str(state / "data"),
        "CONTIMG_STREAM__IMAGER": "wsclean",
        "CONTIMG_STREAM__SETTLE_S": "0",
        "CONTIMG_PHOTOMETRY__CATALOG": CATALOG,
        "CONTIMG_PHOTOMETRY__NORMALIZE": "false",
        "CONTIMG_LOG_LEVEL": settings.log_level,
    }
    with settings_environment(environment) as demo:
        return _run(demo, epochs, seed, progress or (lambda _line: None))


def _run(
    demo: Settings,
    epochs: int,
    seed: int,
    progress: Callable[[str], None],
) -> VisibilityDemoReport:
    if demo.state_dir.exists():
        shutil.rmtree(demo.state_dir)
    upgrade(demo.database_url)
    first = Time(ARRAY.start, scale="utc")
    starts = [(first + k * SIDEREAL_DAY_S * u.s).isot[:19] for k in range(epochs)]
    centre = pointing_track(replace(ARRAY, start=starts[0])).centre
    sky = make_sky(
        *centre,
        2.0,
        seed=seed,
        n_sources=40,
        min_flux_jy=0.03,
        max_flux_jy=1.0,
        extended_fraction=0.0,
    )
    sky["spectral_index"] = np.random.default_rng(seed).normal(-0.7, 0.2, len(sky))
    dipper = int(np.argsort(sky["flux_jy"])[-3])
    sky["dip_depth"] = np.where(np.arange(len(sky)) == dipper, 0.4, 0.0)
    sky["dip_mjd"] = Time(starts[-1]).mjd + 150 / 86400.0
    sky["dip_days"] = 0.05
    csv = demo.state_dir / f"{CATALOG}.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(csv, format="ascii.csv")
    ingest_catalog(csv, CATALOG, url=demo.database_url)
    truths = {}
    for k, start in enumerate(starts):
        progress(f"simulating observation {start}: 16 UVH5 sub-band files…")
        observation = simulate_observation(
            derived_dir(demo.stream.input_dir), sky, replace(ARRAY, start=start, seed=seed + k)
        )
        truths[start] = observation.truth
    converter = StreamingConverter.from_settings(demo)
    records = converter.drain(lambda record: progress(f"{record.key}: {record.status}"))
    progress("measuring…")
    run_worker(stop_when_idle=True, settings=demo.jobs, url=demo.database_url)
    reports = [_epoch(record, truths[record.key], sky["name"][dipper], demo) for record in records]
    return VisibilityDemoReport(demo.state_dir, reports)


def _epoch(record, truth: Table, dipper: str, demo: Settings) -> EpochReport:
    report = EpochReport(
        record.key, record.status, record.data_id, record.error, dict(record.timings_s)
    )
    if record.data_id is None:
        return report
    table = photometry_for_product(record.data_id, url=demo.database_url)
    report.mjd_offset_s = (float(np.nanmedian(table["mjd_mid"])) - truth.meta["mjd_mid"]) * 86400
    measured = {str(n): i for i, n in enumerate(table["name"])}
    freq = load_image(record.image).freq_hz or 1.4e9
    expected = injected_flux(truth, freq)
    undipped = injected_flux(truth, freq, column="flux_jy")
    ratios = []
    for k, row in enumerate(truth):
        i = measured.get(str(row["name"]))
        if i is None:
            continue
        if row["name"] == dipper:
            report.dipper_ratio = float(table["peak_jyb"][i]) / undipped[k]
        if table["snr"][i] > 100 and row["pb_response"] >= 0.5:
            ratios.append(float(table["peak_jyb"][i]) / expected[k])
    if ratios:
        report.n_bright = len(ratios)
        report.median_ratio = float(np.median(ratios))
        report.worst_ratio = float(max(ratios, key=lambda r: abs(r - 1)))
    return report
