"""Refuse what is not an image: blank, zero or constant pixels and images without an observation
time fail with a reason — never rows of 0.0 Jy, never rows without a time."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from dsa110_contimg.api.app import create_app
from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.cli import app
from dsa110_contimg.config import Settings
from dsa110_contimg.conversion.streaming.ledger import Ledger
from dsa110_contimg.conversion.streaming.streaming_converter import StreamingConverter
from dsa110_contimg.database.models import Photometry
from dsa110_contimg.database.registry import get_photometry_status, list_data, register_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.imaging.fits_io import MissingTimeError, NotAnImageError
from dsa110_contimg.imaging.imager import ExternalImager
from dsa110_contimg.imaging.simulate import make_sky, simulate_image
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.jobs.worker import run_worker

RA0, DEC0 = 150.0, 37.2
#: What each bad image gets, and the reason it fails with.
BAD = {
    "zero": (0.0, "every pixel is zero"),
    "constant": (0.25, "every valid pixel has the same value (0.25)"),
    "blank": (np.nan, "every pixel is blank"),
}


@pytest.fixture
def sky(tmp_path, sqlite_url):
    sky = make_sky(RA0, DEC0, 0.1, seed=4, n_sources=8, min_flux_jy=0.05, max_flux_jy=0.2)
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(tmp_path / "sky.csv", format="ascii.csv")
    ingest_catalog(tmp_path / "sky.csv", "sim", url=sqlite_url)
    return sky


def _image(directory, name: str, sky, value: float | None = None, *, dated: bool = True):
    """A simulated image; its pixels all set to ``value`` when given; without DATE-OBS."""
    path = simulate_image(
        directory / f"{name}-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=160,
        pb=None,
        seed=1,
        date_obs="2026-05-01T00:00:00",
    ).path
    _spoil(path, value, dated=dated)
    return path


def _spoil(path, value: float | None = None, *, dated: bool = True) -> None:
    with fits.open(path, mode="update") as hdul:
        if value is not None:
            hdul[0].data[...] = value
        if not dated:
            for key in ("DATE-OBS", "MJD-OBS", "DATE-END", "MJD-END", "MJD-AVG", "DATE-AVG"):
                hdul[0].header.remove(key, ignore_missing=True)


def _rows(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Photometry))


def test_bad_images_are_never_registered_and_the_stream_goes_on(tmp_path, sky, sqlite_url):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for name, (value, _reason) in BAD.items():
        _image(incoming, name, sky, value)
    _image(incoming, "undated", sky, dated=False)
    _image(incoming, "good", sky)
    converter = StreamingConverter(
        ExternalImager(),
        incoming,
        tmp_path / "images",
        None,
        settle_s=0.0,
        ledger=Ledger(tmp_path / "ledger"),
        url=sqlite_url,
    )
    records = {r.key: r for r in converter.run_once()}
    for name, (_value, reason) in BAD.items():
        assert records[name].status == "failed"
        assert records[name].error == (
            f"NotAnImageError: {name}-image-pb.fits: not an image: "
            f"{reason}" + (" (NaN or infinite)" if name == "blank" else "")
        )
    assert records["undated"].status == "failed"
    assert (
        "MissingTimeError: undated-image-pb.fits: no usable observation time"
        in records["undated"].error
    )
    assert records["good"].status == "done"
    assert list_data(url=sqlite_url)[1] == 1
    with pytest.raises(NotAnImageError, match="every pixel is zero"):
        register_data(incoming / "zero-image-pb.fits", url=sqlite_url)
    with pytest.raises(MissingTimeError):
        register_data(incoming / "undated-image-pb.fits", url=sqlite_url)


def test_worker_fails_products_spoilt_after_registration(tmp_path, sky, sqlite_url):
    """Files replaced after registration: the worker refuses them, stores no row."""
    paths = {name: _image(tmp_path, name, sky) for name in ("zero", "undated", "good")}
    job_id = create_batch_photometry_job(
        list(paths.values()), params=PhotometryParams(catalog="sim"), url=sqlite_url
    )
    _spoil(paths["zero"], 0.0)
    _spoil(paths["undated"], dated=False)
    run_worker(stop_when_idle=True, url=sqlite_url)
    job = get_job(job_id, url=sqlite_url)
    zero, undated, good = job.items
    assert (zero["status"], undated["status"], good["status"]) == ("failed", "failed", "completed")
    assert "not an image: every pixel is zero" in zero["error"]
    assert "no usable observation time" in undated["error"]
    assert zero["attempts"] == undated["attempts"] == 1  # refused at once, not retried
    assert "every pixel is zero" in get_photometry_status(zero["data_id"], url=sqlite_url).error
    assert _rows(sqlite_url) == good["n_measured"] + good["n_failed"] > 0
    with session_scope(sqlite_url) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Photometry).where(Photometry.mjd_mid.is_(None))
            )
            == 0
        )


def test_cli_and_api_refuse_a_zero_image(tmp_path, sky, sqlite_url):
    data = tmp_path / "data"
    data.mkdir()
    zero = _image(data, "zero", sky, 0.0)
    positions = tmp_path / "targets.csv"
    Table({"ra_deg": [RA0], "dec_deg": [DEC0]}).write(positions, format="ascii.csv")
    result = CliRunner().invoke(
        app,
        [
            "photometry",
            "measure",
            str(zero),
            "--positions",
            str(positions),
            "-o",
            str(tmp_path / "out.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "not an image: every pixel is zero" in result.output
    assert not (tmp_path / "out.csv").exists()
    settings = Settings(state_dir=tmp_path / "state", database_url=sqlite_url, data_roots=[data])
    shutil.copy(zero, data / "copy-image-pb.fits")
    with TestClient(create_app(settings)) as client:
        for endpoint, body in (
            ("measure", {"ra_deg": RA0, "dec_deg": DEC0}),
            ("measure-batch", {"positions": [{"ra_deg": RA0, "dec_deg": DEC0}]}),
        ):
            response = client.post(
                f"/api/photometry/{endpoint}", json={"image": "copy-image-pb.fits", **body}
            )
            assert response.status_code == 422, response.text
            assert "every pixel is zero" in response.json()["detail"]
