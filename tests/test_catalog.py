"""Catalogue readers, ingest (idempotent, stable ids) and cone search against brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table, vstack
from typer.testing import CliRunner

from conftest import shared_data
from dsa110_contimg.catalog.ingest import ingest_catalog
from dsa110_contimg.catalog.query import (
    UnknownCatalogError,
    angular_separation_deg,
    cone_search,
    list_catalogs,
)
from dsa110_contimg.catalog.readers import CatalogFormatError, iau_names, read_catalog
from dsa110_contimg.cli import app

VLASS_CAT = ("CIRADA-Tools+vlass_cat", "test_data")
TKP_NVSS = ("transientskp+tkp", "database", "catalog", "nvss")


def _brute_force(table: Table, ra: float, dec: float, radius: float) -> set[str]:
    sep = angular_separation_deg(ra, dec, table["ra_deg"], table["dec_deg"])
    return set(np.asarray(table["name"])[sep <= radius])


def _random_sky(n: int, seed: int) -> Table:
    rng = np.random.default_rng(seed)
    table = Table()
    table["name"] = [f"R{i:06d}" for i in range(n)]
    table["ra_deg"] = rng.uniform(0, 360, n)
    table["dec_deg"] = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    table["flux_mjy"] = rng.uniform(1, 100, n)
    return table


@pytest.fixture
def random_sky_csv(tmp_path):
    sky = _random_sky(30000, seed=1)
    # Dense clusters around the poles and across RA 0/360 so the hard cones are populated.
    rng = np.random.default_rng(2)
    extra = Table()
    extra["name"] = [f"C{i:05d}" for i in range(3000)]
    extra["ra_deg"] = np.concatenate([rng.uniform(0, 360, 2000), rng.uniform(-1, 1, 1000) % 360])
    extra["dec_deg"] = np.concatenate([rng.uniform(88.5, 90, 1000), rng.uniform(-90, -88.5, 1000),
                                       rng.uniform(-1, 1, 1000)])
    extra["flux_mjy"] = 5.0
    sky = vstack([sky, extra])
    path = tmp_path / "sky.csv"
    sky.write(path, format="ascii.csv")
    return path, sky


@pytest.mark.parametrize("ra, dec, radius", [
    (0.2, 0.0, 1.5),        # across RA 0/360
    (359.7, 10.0, 2.0),     # across RA 360/0
    (123.0, 89.6, 1.0),     # cap containing the north pole
    (300.0, -89.9, 0.5),    # south pole
    (45.0, 88.0, 2.5),      # cap touching the pole
    (200.0, 30.0, 5.0),     # ordinary
    (10.0, -60.0, 30.0),    # large
])
def test_cone_search_equals_brute_force(db_url, random_sky_csv, ra, dec, radius):
    path, sky = random_sky_csv
    ingest_catalog(path, "random", url=db_url)
    found = cone_search("random", ra, dec, radius, url=db_url)
    assert set(found["name"]) == _brute_force(sky, ra, dec, radius)
    assert np.all(np.diff(found["sep_deg"]) >= 0)


def test_limit_applies_after_the_exact_cut(sqlite_url, random_sky_csv):
    path, sky = random_sky_csv
    ingest_catalog(path, "random", url=sqlite_url)
    found = cone_search("random", 0.2, 0.0, 1.5, limit=5, url=sqlite_url)
    sep = angular_separation_deg(0.2, 0.0, sky["ra_deg"], sky["dec_deg"])
    nearest = set(np.asarray(sky["name"])[np.argsort(sep)[:5]])
    assert set(found["name"]) == nearest


def test_nvss_raw_catalog_fit(db_url):
    path = shared_data(*VLASS_CAT, "test_nvss.fits")
    table = read_catalog(path)
    assert len(table) == 562
    first = table[0]
    assert first["name"] == "NVSS J150000+450750"
    assert first["peak_flux_mjy"] == pytest.approx(37.0595, rel=1e-4)  # 0.0370595 Jy/beam
    assert np.all(table["flux_mjy"] >= table["peak_flux_mjy"] * 0.999)  # fitted ≥ beam
    report = ingest_catalog(path, "nvss", url=db_url)
    assert report.fmt == "nvss-raw" and report.n_sources == 562
    found = cone_search("nvss", 227.5, 46.5, 0.75, url=db_url)
    assert len(found) > 20
    assert set(found["name"]) == _brute_force(table, 227.5, 46.5, 0.75)


def test_nvss_vizier_form(tmp_path, sqlite_url):
    folder = shared_data(*TKP_NVSS)
    combined = tmp_path / "nvss-vizier.tsv"
    combined.write_text((folder / "nvss-header.txt").read_text()
                        + (folder / "nvss-few.csv").read_text())
    table = read_catalog(combined)
    assert len(table) == 20
    assert table["name"][0] == "NVSS J000000-340709"
    assert table["ra_deg"][0] == pytest.approx(0.000375, abs=1e-5)
    assert table["dec_deg"][0] == pytest.approx(-34.119306, abs=1e-5)
    assert table["flux_mjy"][0] == pytest.approx(2.7)
    assert table["major_arcsec"][0] == 0.0  # "<" upper limit → unresolved
    report = ingest_catalog(combined, "nvss", url=sqlite_url)
    assert report.fmt == "nvss-vizier" and report.n_sources == 20
    assert set(cone_search("nvss", 0.0, -30.0, 10.0, url=sqlite_url)["name"]) == \
        _brute_force(table, 0.0, -30.0, 10.0)


def test_iau_names_match_the_survey_designations():
    # From VizieR VIII/65: 00 00 00.09 -34 07 09.5 → 000000-340709 (truncated, not rounded)
    assert iau_names("NVSS", [0.000375], [-34.1193056]) == ["NVSS J000000-340709"]
    assert iau_names("X", [359.99999], [0.0]) == ["X J235959+000000"]


def test_first_and_vlass(sqlite_url):
    first = read_catalog(shared_data(*VLASS_CAT, "test_first.fits"))
    assert len(first) == 998 and first["name"][0].startswith("FIRST J")
    assert np.all(first["flux_mjy"] > 0)
    vlass = read_catalog(shared_data(*VLASS_CAT, "test_components.csv"))
    # 1255 rows less the 49 CIRADA Duplicate_flag = 2 repeats, which the reader drops.
    assert len(vlass) == 1206 and vlass["name"][0].startswith("VLASS1QLCIR J")
    assert vlass["peak_flux_mjy"][0] == pytest.approx(0.90807868401)
    for path, name in ((shared_data(*VLASS_CAT, "test_first.fits"), "first"),
                       (shared_data(*VLASS_CAT, "test_components.csv"), "vlass")):
        assert ingest_catalog(path, name, url=sqlite_url).unchanged is False
    assert set(list_catalogs(url=sqlite_url)["name"]) == {"first", "vlass"}


def test_obit_nvss_vz_table_all_sky(sqlite_url):
    path = shared_data("bill-cotton+Obit", "ObitSystem", "Obit", "testData", "NVSSVZ.FIT.gz")
    table = read_catalog(path)
    assert len(table) == 125309
    ingest_catalog(path, "nvssvz", url=sqlite_url)
    for ra, dec, radius in ((0.5, 20.0, 3.0), (180.0, 87.0, 4.0)):
        found = cone_search("nvssvz", ra, dec, radius, url=sqlite_url)
        assert set(found["name"]) == _brute_force(table, ra, dec, radius)


def test_reingest_is_idempotent_and_ids_are_stable(tmp_path, db_url):
    sky = _random_sky(500, seed=3)
    path = tmp_path / "cat.csv"
    sky.write(path, format="ascii.csv")
    ingest_catalog(path, "mine", url=db_url)
    before = cone_search("mine", 0, 90, 180, url=db_url)
    again = ingest_catalog(path, "mine", url=db_url)
    assert again.unchanged and again.n_sources == 500
    sky["flux_mjy"] *= 2
    extra = _random_sky(10, seed=4)
    extra["name"] = [f"NEW{i}" for i in range(10)]
    vstack([sky, extra]).write(path, format="ascii.csv", overwrite=True)
    report = ingest_catalog(path, "mine", url=db_url)
    assert not report.unchanged and report.n_sources == 510
    after = cone_search("mine", 0, 90, 180, url=db_url)
    ids_before = dict(zip(before["name"], before["source_id"]))
    ids_after = dict(zip(after["name"], after["source_id"]))
    assert all(ids_after[name] == sid for name, sid in ids_before.items())
    flux_after = dict(zip(after["name"], after["flux_mjy"]))
    assert flux_after["R000000"] == pytest.approx(sky["flux_mjy"][0])  # the updated value


def test_clear_errors(tmp_path, sqlite_url):
    with pytest.raises(UnknownCatalogError, match="unknown catalogue 'nope'; ingested: none"):
        cone_search("nope", 0, 0, 1, url=sqlite_url)
    with pytest.raises(ValueError, match="declination"):
        cone_search("nope", 0, 95, 1, url=sqlite_url)
    with pytest.raises(ValueError, match="radius"):
        cone_search("nope", 0, 0, -1, url=sqlite_url)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra_deg,dec_deg,flux_mjy\na,10,20,1\nb,10,95,1\nc,nan,1,1\n")
    with pytest.raises(CatalogFormatError, match=r"2 row\(s\) with invalid coordinates.*2, 3"):
        read_catalog(bad)
    with pytest.raises(CatalogFormatError, match="unknown catalogue format 'xml'"):
        read_catalog(bad, fmt="xml")
    odd = tmp_path / "odd.txt"
    odd.write_text("a b c\n1 2 3\n")
    with pytest.raises(CatalogFormatError, match="cannot tell the catalogue format"):
        read_catalog(odd)
    wrap = tmp_path / "wrap.csv"
    wrap.write_text("name,ra_deg,dec_deg,flux_mjy\na,-10,20,1\nb,370,20,1\n")
    np.testing.assert_allclose(read_catalog(wrap)["ra_deg"], [350.0, 10.0])


def test_cli_ingest_generic_csv_and_query(tmp_path, isolated_settings):
    path = tmp_path / "mine.csv"
    path.write_text("name,ra_deg,dec_deg,flux_mjy,flux_err_mjy\nsrcA,150.0,37.2,12.5,0.5\n"
                    "srcB,150.1,37.2,3.0,0.4\nfar,10.0,-20.0,1.0,0.1\n")
    runner = CliRunner()
    result = runner.invoke(app, ["catalog", "ingest", str(path), "--catalog", "Mine"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["catalog", "query", "--catalog", "mine", "--ra", "150.0",
                                 "--dec", "37.2", "--radius", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["name"] for r in rows] == ["srcA", "srcB"]
    assert rows[0]["flux_mjy"] == 12.5
    mapped = tmp_path / "mapped.csv"
    mapped.write_text("id,RA,DEC,S\nx1,150.0,37.2,7.0\n")
    result = runner.invoke(app, ["catalog", "ingest", str(mapped), "--catalog", "mapped",
                                 "--format", "csv", "--map", "name=id", "--map", "ra_deg=RA",
                                 "--map", "dec_deg=DEC", "--map", "flux_mjy=S"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["catalog", "query", "--catalog", "nope", "--ra", "1",
                                 "--dec", "1", "--radius", "1"])
    assert result.exit_code == 2 and "unknown catalogue" in result.output
