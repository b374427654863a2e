"""Helpers of the HTTP API tests: a real app on a real database, with simulated FITS images
inside a data root and their sky ingested as the catalogue ``sim``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from astropy.table import Table
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.config import Settings
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2
TOKEN = "s3cret-token"
DATES = ("2026-04-02T01:00:00", "2026-04-01T01:00:00", "2026-04-03T01:00:00")


@dataclass
class ApiEnv:
    """A running app (``client``), its settings and database, the data root and the truth."""

    client: TestClient
    settings: Settings
    url: str
    root: Path
    sky: Table
    images: list[Path]


def simulated_sky(tmp_path: Path, url: str) -> Table:
    """A 0.15°-radius sky of 25 point sources, ingested as catalogue ``sim``."""
    sky = make_sky(RA0, DEC0, 0.15, seed=11, n_sources=25, min_flux_jy=0.03, max_flux_jy=0.3)
    sky["major_arcsec"] = 0.0
    sky["minor_arcsec"] = 0.0
    catalogue = tmp_path / "sim-sky.csv"
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(catalogue, format="ascii.csv", overwrite=True)
    ingest_catalog(catalogue, "sim", url=url)
    return sky


@contextmanager
def api_env(
    tmp_path: Path, url: str, *, n_images: int = 1, npix: int = 320, token: str | None = None, **api
) -> Iterator[ApiEnv]:
    """Simulate ``n_images`` epochs of one field under ``<tmp>/data`` and serve the API."""
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    sky = simulated_sky(tmp_path, url)
    images = [
        simulate_image(
            root / "images" / f"epoch{k}-image-pb.fits",
            sky,
            center_ra_deg=RA0,
            center_dec_deg=DEC0,
            npix=npix,
            pb=None,
            date_obs=DATES[k % len(DATES)],
            seed=k,
        ).path
        for k in range(n_images)
    ]
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=url,
        data_roots=[root],
        publish={"published_dir": root / "published"},
        photometry={"catalog": "sim"},
        api={"token": token, **api},
    )
    with TestClient(create_app(settings)) as client:
        yield ApiEnv(client, settings, url, root, sky, images)


def auth() -> dict[str, str]:
    """The header that carries `TOKEN`."""
    return {"Authorization": f"Bearer {TOKEN}"}
