"""Helpers of the reliability tests of synchronous measurements: a simulated field image under
``<tmp>/data`` and an in-process client of an app whose only data root is that directory."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from dsa110_contimg.api.app import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2


def field_image(
    tmp_path: Path,
    *,
    npix: int,
    radius_deg: float,
    n_sources: int,
    sky_seed: int,
    noise_seed: int,
    name: str = "field-image-pb.fits",
) -> Path:
    """A simulated PB-corrected image of 2″ pixels centred on (`RA0`, `DEC0`), written to
    ``<tmp_path>/data/<name>``.

    Parameters
    ----------
    tmp_path : Path
        The test's directory; ``data`` below it is created when missing.
    npix : int
        Side of the image in pixels.
    radius_deg, n_sources, sky_seed : float, int, int
        The simulated sky (`make_sky`).
    noise_seed : int
        Seed of the image noise.
    name : str
        File name.
    """
    root = tmp_path / "data"
    root.mkdir(exist_ok=True)
    sky = make_sky(RA0, DEC0, radius_deg, seed=sky_seed, n_sources=n_sources)
    return simulate_image(
        root / name,
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=npix,
        pb=None,
        seed=noise_seed,
        date_obs="2026-05-01T00:00:00",
    ).path


def measurement_client(tmp_path: Path, url: str, **api) -> TestClient:
    """A client of the app on ``url`` with ``<tmp_path>/data`` as its data root and the API
    settings ``api`` (e.g. ``request_timeout_s``); use it as a context manager."""
    settings = Settings(
        state_dir=tmp_path / "state", database_url=url, data_roots=[tmp_path / "data"], api=api
    )
    return TestClient(create_app(settings))
