"""Helpers of the normalization / variability tests: a simulated multi-epoch field measured by
the real pipeline (FITS files, registry, batch job, worker, database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.master import build_master
from dsa110_contimg.config import VariabilitySettings
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job
from dsa110_contimg.jobs.worker import run_worker
from dsa110_contimg.variability.store import read_stats, recompute

RA0, DEC0 = 150.0, 37.2
NOISE_JY = 1e-3
#: Master-catalogue settings for simulated fields (denser than the real sky).
MASTER_SETTINGS = VariabilitySettings(confusion_radius_arcsec=60.0)
PARAMS = PhotometryParams(catalog="sim")
#: Observation date of the first epoch; one epoch a day.
START = datetime(2026, 3, 1, 10)


@dataclass
class Field:
    """A simulated field: its sky, the images' truth (constant part) and the image paths."""

    sky: Table
    truth: Table
    paths: list[Path]
    gains: np.ndarray
    factors: np.ndarray


def make_field(
    tmp_path: Path,
    url: str,
    *,
    n_epochs: int,
    n_sources: int,
    npix: int,
    radius_deg: float,
    seed: int,
    gain_sigma: float = 0.05,
    factors: Callable[[Table], np.ndarray] | None = None,
    catalogue_scatter: float = 0.03,
    extended_fraction: float = 0.1,
    min_flux_jy: float = 2.5e-3,
    gradient: float = 0.0,
    master: bool = True,
) -> Field:
    """Simulate ``n_epochs`` images of one sky, ingest the sky as catalogue ``sim`` (fluxes
    with a ``catalogue_scatter`` fractional error, as a survey of another epoch) and build its
    master catalogue (unless ``master`` is false).

    The images are primary-beam corrected (as the pipeline's ``-image-pb.fits``). Each epoch
    has a random global gain ``1 + gain_sigma·N(0, 1)`` and its own thermal
    noise; ``factors(sky)[k, i]`` multiplies source ``i``'s flux in epoch ``k`` (injected
    variability). With ``gradient`` each epoch's gain also varies linearly across the image,
    by up to ± ``gradient`` at the edges, in a random direction (a position-dependent error).
    Images are sums of one noiseless rendering of the sky and, per epoch, a
    simulated image of the sources whose flux changed (with the noise): the simulator is
    linear in flux, and this keeps 30 epochs of 600 sources fast.
    """
    rng = np.random.default_rng(seed)
    sky = make_sky(
        RA0,
        DEC0,
        radius_deg,
        seed=seed,
        n_sources=n_sources,
        min_flux_jy=min_flux_jy,
        extended_fraction=extended_fraction,
    )
    flux = np.asarray(sky["flux_jy"])
    survey = flux * (1 + catalogue_scatter * rng.standard_normal(flux.size))
    catalogue = tmp_path / "sim-sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": 1e3 * survey,
            "flux_err_mjy": np.hypot(1e3 * catalogue_scatter * survey, 0.45),
            "major_arcsec": sky["major_arcsec"],
            "minor_arcsec": sky["minor_arcsec"],
            "pa_deg": sky["pa_deg"],
        }
    ).write(catalogue, format="ascii.csv", overwrite=True)
    ingest_catalog(catalogue, "sim", url=url)
    if master:
        build_master("sim", settings=MASTER_SETTINGS, url=url)
    common = {"center_ra_deg": RA0, "center_dec_deg": DEC0, "npix": npix, "pb_corrected": True}
    constant = simulate_image(tmp_path / "constant.fits", sky, noise_jy=0.0, seed=0, **common)
    base = fits.getdata(constant.path)
    constant.path.unlink()
    gains = 1 + gain_sigma * rng.standard_normal(n_epochs)
    factors = np.ones((n_epochs, len(sky))) if factors is None else factors(sky)
    paths = []
    for k in range(n_epochs):
        changed = np.flatnonzero(factors[k] != 1)
        delta = sky[changed]
        delta["flux_jy"] = gains[k] * flux[changed] * (factors[k, changed] - 1)
        date = (START + timedelta(days=k)).isoformat(timespec="seconds")
        sim = simulate_image(
            tmp_path / f"epoch{k:02d}-image-pb.fits",
            delta,
            noise_jy=NOISE_JY,
            seed=1000 + k,
            date_obs=date,
            **common,
        )
        angle = rng.uniform(0, 2 * np.pi)
        y, x = np.mgrid[-1 : 1 : npix * 1j, -1 : 1 : npix * 1j]
        tilt = 1 + gradient * (np.cos(angle) * x + np.sin(angle) * y) / np.sqrt(2)
        with fits.open(sim.path, mode="update") as hdul:
            data = hdul[0].data
            data[...] = ((data + gains[k] * base) * tilt).astype(data.dtype)
        paths.append(sim.path)
    return Field(sky, constant.truth, paths, gains, factors)


def run_photometry(paths: list[Path], url: str) -> int:
    """Measure (and normalize) ``paths`` through a batch job and a worker; the job id."""
    job_id = create_batch_photometry_job(paths, params=PARAMS, url=url)
    run_worker(stop_when_idle=True, url=url)
    return job_id


def _snapshot(url: str):
    with get_engine(url).connect() as conn:
        stored = read_stats(conn)
    return stored.source_id, stored.stats


def assert_equal_to_batch(url: str) -> np.ndarray:
    """Check that the stored (incremental) statistics equal a batch recomputation to 1e-9
    (relative); returns the per-source counts."""
    ids, incremental = _snapshot(url)
    with get_engine(url).begin() as conn:
        assert recompute(conn) == ids.size
    batch_ids, batch = _snapshot(url)
    np.testing.assert_array_equal(ids, batch_ids)
    np.testing.assert_array_equal(incremental.n, batch.n)
    for name in (
        "sum_w",
        "sum_ws",
        "sum_ws2",
        "sum_s",
        "sum_s2",
        "shift",
        "max_flux",
        "min_flux",
        "max_err",
        "min_err",
    ):
        np.testing.assert_allclose(
            getattr(incremental, name), getattr(batch, name), rtol=1e-9, atol=0, err_msg=name
        )
    for name, values in incremental.metrics().items():  # every metric of every source
        np.testing.assert_allclose(values, batch.metrics()[name], rtol=1e-9, err_msg=name)
    return incremental.n
