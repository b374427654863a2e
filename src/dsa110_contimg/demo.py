"""The demonstration run behind ``make demo``: the whole pipeline on a simulated drift scan.

It builds a self-contained state in ``<state_dir>/demo`` (removed first, so every run starts
clean): an NVSS-like sky over a DSA-110 declination strip with a few sources that undergo an
extreme-scattering-event-like dip and, in every image, at least `MIN_REFERENCES_PER_IMAGE`
bright isolated compact sources to normalize against, ingested as the catalogue ``demo-sky``;
one observation description per 5-minute drift-scan image (the same stretch of sky transiting
on several days, each image with a small random gain error); then
`dsa110_contimg.runner.run_pipeline` images them with the simulated imager, registers them,
measures them with worker processes, builds, measures and publishes one mosaic per day, and the
demo writes light-curve plots of the dipping sources and one steady source. The catalogue's
master catalogue is built first, so each product's fluxes are normalized against stable
reference sources; at the end the variability candidates are detected with the moderate preset.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from astropy.time import Time

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.master import build_master
from dsa110_contimg.catalog.sources import resolve_source
from dsa110_contimg.config import Settings, derived_dir, get_settings
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.products import light_curve
from dsa110_contimg.imaging.simulate import make_sky
from dsa110_contimg.photometry.plots import plot_light_curve
from dsa110_contimg.runner import RunSummary, run_pipeline
from dsa110_contimg.variability.candidates import PRESETS, count_tested, detect

__all__ = [
    "DEMO_CATALOG",
    "DEMO_PRESET",
    "DemoReport",
    "demo_environment",
    "run_demo",
    "settings_environment",
]

DEMO_CATALOG = "demo-sky"
#: Detection preset of the demo.
DEMO_PRESET = "moderate"
DEC0 = 37.23  # the array's latitude: sources transit overhead
RA_START = 202.5
IMAGE_MINUTES = 5.0
SIDEREAL_DAY = 0.99726957
RA_STEP_DEG = IMAGE_MINUTES / (24 * 60) * 360 / SIDEREAL_DAY
#: Normalization references each image's inner part holds at least: compact sources of
#: `REFERENCE_FLUX_JY` with no other source within `REFERENCE_ISOLATION_ARCSEC` (twice the
#: master catalogue's default confusion radius), so that every image passes the image's S/N
#: cut (30) and ``variability.min_references`` (5) with a margin, whatever the seed.
MIN_REFERENCES_PER_IMAGE = 10
REFERENCE_FLUX_JY = (0.03, 0.2)
REFERENCE_ISOLATION_ARCSEC = 240.0
#: Fraction of an image's half-width and half-height counted as its inner part.
INNER_FRACTION = 0.7


@dataclass
class DemoReport:
    """The run's summary, the dipping sources, the plots written and the candidates found."""

    summary: RunSummary
    state_dir: Path
    variables: list[str]
    plots: list[Path] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)
    #: Sources tested by the detection and the number of false candidates expected among them.
    tested: int = 0
    expected_false: float = 0.0


def demo_environment(settings: Settings, *, images_per_day: int) -> dict[str, str]:
    """Settings of the demo's own state, as ``CONTIMG_*`` variables (worker processes started
    by the pipeline read them too): simulated imager, demo catalogue, daily mosaics."""
    values = {
        "STATE_DIR": settings.state_dir / "demo",
        "LOG_LEVEL": settings.log_level,
        "DATA_ROOTS": settings.state_dir / "demo" / "data",
        "STREAM__IMAGER": "simulated",
        "STREAM__SETTLE_S": 0,
        "STREAM__POLL_S": 1,
        "PHOTOMETRY__CATALOG": DEMO_CATALOG,
        "PHOTOMETRY__FITTING__SOURCE_SHAPES": "catalog",
        "MOSAIC__IMAGES_PER_MOSAIC": images_per_day,
        "MOSAIC__MIN_IMAGES": 2,
        "MOSAIC__WINDOW_MINUTES": 120,
        "JOBS__WORKERS": settings.jobs.workers,
        "JOBS__POLL_S": 0.2,
        "JOBS__RETRY_BACKOFF_S": 1,
    }
    return {f"CONTIMG_{key}": str(value) for key, value in values.items()}


@contextmanager
def settings_environment(environment: dict[str, str]) -> Iterator[Settings]:
    """Make ``environment`` (``CONTIMG_*`` variables) this process's (and its children's)
    settings for the duration, without the caller's config file or database URL."""
    saved = dict(os.environ)
    os.environ.pop("CONTIMG_CONFIG", None)
    os.environ.pop("CONTIMG_DATABASE_URL", None)
    os.environ.update(environment)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def run_demo(
    settings: Settings,
    *,
    days: int = 6,
    images_per_day: int = 3,
    npix: tuple[int, int] = (1024, 2560),
    seed: int = 2026,
    n_variables: int = 3,
    progress=None,
) -> DemoReport:
    """Simulate ``days`` × ``images_per_day`` drift-scan images and run the pipeline on them."""
    with settings_environment(demo_environment(settings, images_per_day=images_per_day)) as demo:
        return _run(demo, days, images_per_day, npix, seed, n_variables, progress)


def _run(
    demo: Settings,
    days: int,
    images_per_day: int,
    npix: tuple[int, int],
    seed: int,
    n_variables: int,
    progress,
) -> DemoReport:
    if demo.state_dir.exists():
        shutil.rmtree(demo.state_dir)
    incoming = derived_dir(demo.stream.input_dir)
    incoming.mkdir(parents=True)
    upgrade(demo.database_url)
    rng = np.random.default_rng(seed)
    first_mjd = Time("2026-11-20T07:00:00", scale="utc").mjd
    sky = _sky(rng, images_per_day, npix, first_mjd, days, n_variables, seed)
    sky_path = demo.state_dir / "demo-sky.ecsv"
    sky.write(sky_path, format="ascii.ecsv")
    catalogue = demo.state_dir / "demo-sky.csv"
    flux_mjy = np.asarray(sky["flux_jy"]) * 1e3
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": flux_mjy,
            "flux_err_mjy": np.hypot(0.45, 0.03 * flux_mjy),  # NVSS-like
            "major_arcsec": sky["major_arcsec"],
            "minor_arcsec": sky["minor_arcsec"],
            "pa_deg": sky["pa_deg"],
        }
    ).write(catalogue, format="ascii.csv")
    ingest_catalog(
        catalogue,
        DEMO_CATALOG,
        url=demo.database_url,
        description="simulated NVSS-like sky of the demo",
    )
    build_master(DEMO_CATALOG, url=demo.database_url)  # reference sources for normalization
    for day in range(days):
        for k in range(images_per_day):
            start = first_mjd + day * SIDEREAL_DAY + k * IMAGE_MINUTES / 1440
            spec = {
                "sky": str(sky_path),
                "ra_deg": RA_START + k * RA_STEP_DEG,
                "dec_deg": DEC0,
                "npix": list(npix),
                "noise_jy": 0.5e-3,
                "date_obs": Time(start, format="mjd", scale="utc").isot,
                "gain": float(rng.normal(1.0, 0.03)),
                "seed": seed + 100 * day + k,
            }
            (incoming / f"day{day}-{k:02d}.obs.json").write_text(json.dumps(spec))
    summary = run_pipeline(demo, until_idle=True, progress=progress)
    variables = [str(n) for n in sky["name"][sky["dip_depth"] > 0]]
    steady = _steady_source(sky)
    plots = []
    for name in [*variables, steady]:
        source_id, _ = resolve_source(name, catalog=DEMO_CATALOG, url=demo.database_url)
        curve = light_curve(source_id, url=demo.database_url)
        if len(curve):
            plots.append(
                plot_light_curve(
                    curve, demo.state_dir / f"lightcurve-{_slug(name)}.png", title=name
                )
            )
    candidates = detect(preset=DEMO_PRESET, url=demo.database_url)
    tested = count_tested(PRESETS[DEMO_PRESET], url=demo.database_url)
    return DemoReport(
        summary,
        demo.state_dir,
        variables,
        plots,
        candidates,
        tested,
        tested * PRESETS[DEMO_PRESET].false_alarm,
    )


def _sky(
    rng: np.random.Generator,
    images_per_day: int,
    npix: tuple[int, int],
    first_mjd: float,
    days: int,
    n_variables: int,
    seed: int,
) -> Table:
    """The sky over the strip (with enough references in every image, see
    `MIN_REFERENCES_PER_IMAGE`), with ``n_variables`` bright sources given a dip mid-run."""
    ny, nx = npix
    half_width = nx * 2.0 / 3600 / 2
    half_height = ny * 2.0 / 3600 / 2
    ra_mid = RA_START + (images_per_day - 1) * RA_STEP_DEG / 2
    radius = (images_per_day - 1) * RA_STEP_DEG * np.cos(np.radians(DEC0)) / 2 + half_width
    sky = make_sky(ra_mid, DEC0, radius + 0.1, seed=seed, min_flux_jy=2.5e-3)
    centres = RA_START + RA_STEP_DEG * np.arange(images_per_day)
    sky = _with_references(sky, centres, half_width, half_height, seed)
    sky["dip_depth"] = 0.0
    sky["dip_mjd"] = first_mjd + days / 2
    sky["dip_days"] = 0.7
    east_west = (sky["ra_deg"] - ra_mid) * np.cos(np.radians(DEC0))
    imaged = (
        (np.abs(sky["dec_deg"] - DEC0) < INNER_FRACTION * half_height)
        & (np.abs(east_west) < radius - half_width / 2)
        & (sky["major_arcsec"] == 0)
        & (sky["flux_jy"] > 0.02)
        & (sky["flux_jy"] < 0.3)
    )
    chosen = rng.choice(np.flatnonzero(imaged), size=min(n_variables, imaged.sum()), replace=False)
    sky["dip_depth"][chosen] = rng.uniform(0.3, 0.5, chosen.size)
    return sky


def _with_references(
    sky: Table, centres: np.ndarray, half_width: float, half_height: float, seed: int
) -> Table:
    """``sky`` plus compact isolated sources, drawn from the bright end of the counts, until the
    inner part of each image centred at RA ``centres`` holds `MIN_REFERENCES_PER_IMAGE`."""
    cos_dec = np.cos(np.radians(DEC0))
    pool = make_sky(
        float(np.mean(centres)),
        DEC0,
        float(np.ptp(centres)) * cos_dec / 2 + half_width,
        seed=seed + 1,
        min_flux_jy=REFERENCE_FLUX_JY[0],
        max_flux_jy=REFERENCE_FLUX_JY[1],
        n_sources=50 * MIN_REFERENCES_PER_IMAGE * centres.size,
        extended_fraction=0.0,
    )
    isolation = REFERENCE_ISOLATION_ARCSEC / 3600

    def offsets(table: Table, ra: float) -> tuple[np.ndarray, np.ndarray]:
        east = ((np.asarray(table["ra_deg"]) - ra + 180.0) % 360.0 - 180.0) * cos_dec
        return east, np.asarray(table["dec_deg"]) - DEC0

    def inner(east: np.ndarray, north: np.ndarray) -> np.ndarray:
        return (np.abs(east) < INNER_FRACTION * half_width) & (
            np.abs(north) < INNER_FRACTION * half_height
        )

    added: list[int] = []
    for ra in centres:
        east, north = offsets(vstack([sky, pool[added]]), ra)
        separation = np.hypot(east[:, None] - east, north[:, None] - north)
        np.fill_diagonal(separation, np.inf)
        held = int(
            np.sum(
                inner(east, north)
                & (np.r_[sky["major_arcsec"], pool["major_arcsec"][added]] == 0)
                & (np.r_[sky["flux_jy"], pool["flux_jy"][added]] >= REFERENCE_FLUX_JY[0])
                & (separation.min(axis=1) > isolation)
            )
        )
        pool_east, pool_north = offsets(pool, ra)
        for k in np.flatnonzero(inner(pool_east, pool_north)):
            if held >= MIN_REFERENCES_PER_IMAGE:
                break
            if np.hypot(east - pool_east[k], north - pool_north[k]).min() > isolation:
                added.append(int(k))
                east, north = np.r_[east, pool_east[k]], np.r_[north, pool_north[k]]
                held += 1
    combined = vstack([sky, pool[added]])
    combined["source_id"] = np.arange(1, len(combined) + 1, dtype=np.int64)
    return combined


def _steady_source(sky: Table) -> str:
    """The brightest compact non-variable source near the strip's centre line."""
    steady = (
        (sky["dip_depth"] == 0) & (sky["major_arcsec"] == 0) & (np.abs(sky["dec_deg"] - DEC0) < 0.1)
    )
    index = np.flatnonzero(steady)[np.argmax(sky["flux_jy"][steady])]
    return str(sky["name"][index])


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "+-" else "_" for c in name)
