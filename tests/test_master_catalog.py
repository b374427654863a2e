"""Master catalogue: S/N, compactness, confusion, spectral index and reference eligibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import select
from typer.testing import CliRunner

from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.master import build_master
from dsa110_contimg.catalog.query import UnknownCatalogError
from dsa110_contimg.cli import app
from dsa110_contimg.config import VariabilitySettings
from dsa110_contimg.database.models import CatalogSource, MasterSource
from dsa110_contimg.database.session import session_scope

NAN = float("nan")
#: name, ra, dec, flux, flux error, peak, major axis (mJy, arcsec)
PRIMARY = [
    ("isolated", 150.0, 30.0, 100.0, 3.0, 98.0, 0.0),
    ("extended", 151.0, 30.0, 80.0, 3.0, 78.0, 40.0),
    ("diffuse", 152.0, 30.0, 80.0, 3.0, 40.0, 0.0),
    ("pair-a", 153.0, 30.0, 100.0, 3.0, 99.0, 0.0),
    ("pair-b", 153.0, 30.01, 50.0, 2.0, 49.0, 0.0),  # 36″ from pair-a
    ("faint", 154.0, 30.0, 5.0, 0.5, 5.0, 0.0),
    ("bright", 155.0, 30.0, 200.0, 6.0, 199.0, 0.0),
    ("bright-companion", 155.0, 30.008, 5.0, 0.5, 5.0, 0.0),  # 29″ away, 40× fainter
    ("no-error", 156.0, 30.0, 20.0, NAN, 20.0, 0.0),
    ("split", 157.0, 30.0, 60.0, 2.0, 59.0, 0.0),
]
SETTINGS = VariabilitySettings(confusion_radius_arcsec=60.0, match_radius_arcsec=10.0)


def _write(path, rows, columns):
    Table(rows=rows, names=columns).write(path, format="ascii.csv", overwrite=True)
    return path


@pytest.fixture
def catalogues(tmp_path, db_url):
    columns = (
        "name",
        "ra_deg",
        "dec_deg",
        "flux_mjy",
        "flux_err_mjy",
        "peak_flux_mjy",
        "major_arcsec",
    )
    ingest_catalog(_write(tmp_path / "nv.csv", PRIMARY, columns), "nv", url=db_url)
    alpha_flux = 100.0 * (3.0 / 1.4) ** -0.7
    ingest_catalog(
        _write(tmp_path / "vl.csv", [("vl-1", 150.0, 30.0005, alpha_flux, 1.0)], columns[:5]),
        "vl",
        frequency_hz=3.0e9,
        url=db_url,
    )
    # FIRST splits "split" into two components within the match radius.
    ingest_catalog(
        _write(
            tmp_path / "fi.csv",
            [
                ("fi-1", 157.0, 30.0008, 30.0, 0.2),
                ("fi-2", 157.0, 29.9992, 30.0, 0.2),
                ("fi-3", 150.0, 30.0003, 99.0, 0.2),
            ],
            columns[:5],
        ),
        "fi",
        frequency_hz=1.4e9,
        url=db_url,
    )
    return db_url


def _by_name(url) -> dict[str, MasterSource]:
    with session_scope(url) as session:
        rows = session.execute(
            select(MasterSource, CatalogSource.id).join(
                CatalogSource, CatalogSource.id == MasterSource.source_id
            )
        ).all()
    return {m.name: (m, source_id) for m, source_id in rows}


def test_master_flags_and_eligibility(catalogues):
    url = catalogues
    report = build_master("nv", matches=["vl", "fi"], settings=SETTINGS, url=url)
    assert (report.n_sources, report.matched) == (len(PRIMARY), ("vl", "fi"))
    rows = _by_name(url)
    master = {name: m for name, (m, _) in rows.items()}
    assert all(m.source_id == source_id for m, source_id in rows.values())  # catalogue ids
    assert master["isolated"].snr == pytest.approx(100 / 3)
    assert master["no-error"].snr == pytest.approx(20 / SETTINGS.catalog_rms_mjy)
    assert master["isolated"].compactness == pytest.approx(0.98)
    assert master["isolated"].spectral_index == pytest.approx(-0.7, abs=1e-9)
    assert master["isolated"].matches == {
        "vl": master["isolated"].matches["vl"],
        "fi": master["isolated"].matches["fi"],
    }
    assert master["bright"].spectral_index is None
    resolved = {n for n, m in master.items() if m.resolved}
    assert resolved == {"extended", "diffuse", "split"}
    confused = {n for n, m in master.items() if m.confused}
    assert confused == {"pair-a", "pair-b", "bright-companion"}
    assert (master["bright"].n_neighbours, master["isolated"].n_neighbours) == (1, 0)
    eligible = {n for n, m in master.items() if m.reference_eligible}
    assert eligible == {"isolated", "bright", "no-error"}
    assert report.n_eligible == 3 and report.n_spectral_index == 1


def test_rebuild_replaces_rows_and_keeps_ids(catalogues):
    url = catalogues
    build_master("nv", matches=[], settings=SETTINGS, url=url)
    first = {n: m.source_id for n, (m, _) in _by_name(url).items()}
    wider = SETTINGS.model_copy(update={"confusion_radius_arcsec": 5000.0})
    report = build_master("nv", matches=[], settings=wider, url=url)
    rows = _by_name(url)
    assert {n: m.source_id for n, (m, _) in rows.items()} == first
    assert report.n_eligible == 0 and rows["isolated"][0].confused
    with pytest.raises(UnknownCatalogError, match="unknown catalogue 'nope'"):
        build_master("nope", url=url)
    with pytest.raises(UnknownCatalogError, match="unknown catalogue 'first'"):
        build_master("nv", matches=["first"], url=url)


def test_build_master_cli(tmp_path, monkeypatch):
    from dsa110_contimg.config import get_settings

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("CONTIMG_DATABASE_URL", url)
    get_settings.cache_clear()
    columns = (
        "name",
        "ra_deg",
        "dec_deg",
        "flux_mjy",
        "flux_err_mjy",
        "peak_flux_mjy",
        "major_arcsec",
    )
    runner = CliRunner()
    path = _write(tmp_path / "nv.csv", PRIMARY, columns)
    assert runner.invoke(app, ["catalog", "ingest", str(path), "--catalog", "nv"]).exit_code == 0
    result = runner.invoke(
        app, ["catalog", "build-master", "--catalog", "nv", "--confusion-radius", "60", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["n_sources"], report["n_eligible"], report["matched"]) == (10, 4, [])
    missing = runner.invoke(app, ["catalog", "build-master", "--catalog", "nvss"])
    assert missing.exit_code == 2 and "unknown catalogue 'nvss'" in missing.output


@pytest.mark.realdata
def test_master_from_real_nvss_first_and_vlass(sqlite_url):
    """The CIRADA test field: NVSS with FIRST (compactness) and VLASS (spectral index)."""
    from conftest import shared_data

    folder = ("CIRADA-Tools+vlass_cat", "test_data")
    for name, file in (
        ("nvss", "test_nvss.fits"),
        ("first", "test_first.fits"),
        ("vlass", "test_components.csv"),
    ):
        ingest_catalog(shared_data(*folder, file), name, url=sqlite_url)
    report = build_master("nvss", url=sqlite_url)
    assert report.matched == ("first", "vlass") and report.n_sources == 562
    with session_scope(sqlite_url) as session:
        rows = session.scalars(select(MasterSource)).all()
    alpha = np.array([r.spectral_index for r in rows if r.spectral_index is not None])
    # 1.4 → 3 GHz: most radio sources are steep-spectrum synchrotron emitters.
    assert alpha.size > 100 and -1.0 < np.median(alpha) < -0.4
    snr = np.array([r.snr for r in rows])
    flux = np.array([r.flux_mjy for r in rows])
    assert np.all(snr[flux > 100] > 25)  # NVSS errors include 3 % calibration: S/N ≤ ~33
    eligible = [r for r in rows if r.reference_eligible]
    assert 10 < len(eligible) < report.n_sources / 2
    assert not any(r.resolved or r.confused for r in eligible)
    assert (
        sum(r.resolved for r in rows) > 0 and sum("first" in (r.matches or {}) for r in rows) > 100
    )
