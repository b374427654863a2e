"""Asked-for work is never silently not done: normalization asked for with no master catalogue
built refuses to start, with one line naming `contimg catalog build-master`."""

from __future__ import annotations

import os
from pathlib import Path

from astropy.table import Table
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.master import build_master
from dsa110_contimg.cli import app
from dsa110_contimg.config import get_settings
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.registry import list_data
from dsa110_contimg.imaging.simulate import make_sky, simulate_image

RA0, DEC0 = 150.0, 37.2
REFUSAL = (
    "error: normalization needs the master catalogue of 'sim', which is not built: run "
    "`contimg catalog build-master --catalog sim` first (or turn normalization off: "
    "--no-photometry-normalize, photometry.normalize = false)"
)


def _field(tmp_path) -> Path:
    """The catalogue ``sim`` ingested (no master catalogue), one image waiting in the watched
    directory."""
    upgrade()
    sky = make_sky(RA0, DEC0, 0.05, seed=2, n_sources=5, min_flux_jy=0.05, max_flux_jy=0.2)
    Table(
        {
            "name": sky["name"],
            "ra_deg": sky["ra_deg"],
            "dec_deg": sky["dec_deg"],
            "flux_mjy": sky["flux_jy"] * 1e3,
        }
    ).write(tmp_path / "sky.csv", format="ascii.csv")
    ingest_catalog(tmp_path / "sky.csv", "sim")
    incoming = Path(os.environ["CONTIMG_STATE_DIR"]) / "data" / "incoming"
    incoming.mkdir(parents=True)
    simulate_image(
        incoming / "obs-image-pb.fits",
        sky,
        center_ra_deg=RA0,
        center_dec_deg=DEC0,
        npix=160,
        pb=None,
        seed=1,
        date_obs="2026-05-01T00:00:00",
    )
    return incoming


def test_stream_asked_to_normalize_without_master_refuses_to_start(tmp_path):
    _field(tmp_path)
    runner = CliRunner()
    stream = ["stream", "--once", "--settle", "0", "--photometry-catalog", "sim"]
    refused = runner.invoke(app, [*stream, "--photometry-normalize"])
    assert refused.exit_code == 3, refused.output
    assert refused.output.strip() == REFUSAL
    assert list_data()[1] == 0  # nothing was imaged or registered

    build_master("sim")
    started = runner.invoke(app, [*stream, "--photometry-normalize"])
    assert started.exit_code == 0, started.output
    assert "1 observation(s) processed, 0 failed" in started.output
    assert list_data()[1] == 1


def test_normalize_setting_without_master_refuses_run_and_stream(tmp_path, monkeypatch):
    _field(tmp_path)
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__CATALOG", "sim")
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__NORMALIZE", "true")
    get_settings.cache_clear()
    runner = CliRunner()
    for command in (["run", "--until-idle", "--workers", "1"], ["stream", "--once"]):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 3, refused.output
        assert refused.output.strip() == REFUSAL
    assert list_data()[1] == 0


def test_default_normalization_without_master_warns_and_goes_on(tmp_path, caplog):
    _field(tmp_path)
    result = CliRunner().invoke(
        app, ["stream", "--once", "--queue-only", "--settle", "0", "--photometry-catalog", "sim"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "which is not built: run `contimg catalog build-master --catalog sim` first" in caplog.text
    )
    assert list_data()[1] == 1
