"""Catalogue readers on the real survey extracts: row counts, units, names, errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from conftest import shared_data

from dsa110_contimg.catalog import (
    CATALOG_COLUMNS,
    FORMATS,
    CatalogFormatError,
    CoordinateError,
    detect_format,
    read_catalog,
)
from dsa110_contimg.catalog.names import iau_names
from dsa110_contimg.catalog.zones import angular_separation_deg

pytestmark = pytest.mark.realdata

CIRADA = ("CIRADA-Tools+vlass_cat", "test_data")
TKP_NVSS = ("transientskp+tkp", "database", "catalog", "nvss")
OBIT_VZ = ("bill-cotton+Obit", "ObitSystem", "Obit", "testData", "NVSSVZ.FIT.gz")


def _vizier_nvss() -> Table:
    folder = shared_data(*TKP_NVSS)
    return read_catalog(folder / "nvss-few.csv", header=folder / "nvss-header.txt")


def test_nvss_raw_aips_table_units_names_and_bias_correction():
    path = shared_data(*CIRADA, "test_nvss.fits")
    table = read_catalog(path)
    assert table.meta["format"] == "nvss-raw" and len(table) == 562
    assert table.colnames[: len(CATALOG_COLUMNS)] == list(CATALOG_COLUMNS)
    raw = fits.getdata(path, 1)
    # Jy/beam in the AIPS table → mJy/beam.
    np.testing.assert_allclose(table["peak_flux_mjy"], raw["PEAK INT"] * 1e3, rtol=1e-6)
    assert table["peak_flux_mjy"][0] == pytest.approx(37.0595, rel=1e-5)
    # Position bias of Condon et al. (1998): +0.113″ in Dec, −0.025″ in RA on the sky.
    np.testing.assert_allclose((table["dec_deg"] - raw["DEC(2000)"]) * 3600, 0.113, atol=1e-6)
    dra = (table["ra_deg"] - raw["RA(2000)"]) * 3600 * np.cos(np.radians(table["dec_deg"]))
    np.testing.assert_allclose(dra, -0.025, atol=1e-6)
    assert table["name"][0] == "NVSS J150000+450750"
    assert len(set(table["name"])) == 562
    # Unresolved sources: integrated = peak, size 0; resolved ones: Gaussian integral > peak.
    unresolved = (table["major_arcsec"] == 0) & (table["minor_arcsec"] == 0)
    assert 0.5 < unresolved.mean() < 0.9
    np.testing.assert_allclose(table["flux_mjy"][unresolved], table["peak_flux_mjy"][unresolved])
    assert np.all(table["flux_mjy"][~unresolved] > table["peak_flux_mjy"][~unresolved])
    fitted_major = np.maximum(raw["MAJOR AX"] * 3600, 45.0)
    resolved = table["major_arcsec"] > 0
    np.testing.assert_allclose(
        table["major_arcsec"][resolved], np.sqrt(fitted_major[resolved] ** 2 - 45.0**2), rtol=1e-5
    )
    # Errors: the 3 % calibration term and the noise (Condon 1997: σ_P = rms for a point
    # source, within ~20 % of it for fits a little wider than the beam).
    err = np.asarray(table["peak_flux_err_mjy"])
    assert np.all(err >= 0.03 * table["peak_flux_mjy"])
    ratio = err / np.hypot(table["rms_mjy"], 0.03 * table["peak_flux_mjy"])
    assert np.all((ratio[unresolved] > 0.9) & (ratio[unresolved] < 1.2))
    assert np.all(np.abs(table["pa_deg"][resolved]) <= 90)


def test_nvss_vz_positions_and_names_match_the_published_vizier_catalogue():
    vz = read_catalog(shared_data(*OBIT_VZ))
    assert vz.meta["format"] == "nvss-vz" and len(vz) == 125309
    assert np.all(vz["peak_flux_mjy"] >= 50.0)  # the VZ table holds peaks ≥ 50 mJy/beam
    assert np.all(np.isnan(vz["flux_mjy"]))
    vizier = _vizier_nvss()
    common = sorted(set(vz["name"]) & set(vizier["name"]))
    # NVSS J000000+004100 is only found with the position-bias correction (raw: +004059).
    assert common == ["NVSS J000000+004100", "NVSS J000000-040242"]
    for name in common:
        a, b = vz[vz["name"] == name][0], vizier[vizier["name"] == name][0]
        sep = angular_separation_deg(a["ra_deg"], a["dec_deg"], b["ra_deg"], b["dec_deg"])
        assert sep * 3600 < 0.1  # VizieR's _RAJ2000/_DEJ2000 carry 1e-5 deg


def test_nvss_vizier_rows_with_a_separate_header():
    table = _vizier_nvss()
    assert table.meta["format"] == "nvss-vizier" and len(table) == 20
    first = table[0]
    assert first["name"] == "NVSS J000000-340709"
    assert first["ra_deg"] == pytest.approx(0.00037) and first["dec_deg"] == -34.11931
    assert first["flux_mjy"] == 2.7 and first["flux_err_mjy"] == 0.5  # S1.4 in mJy
    assert first["major_arcsec"] == 0.0 and first["major_upper_limit_arcsec"] == 59.8
    # e_RAJ2000 is in seconds of time: 0.48 s × 15 × cos δ arcsec on the sky.
    assert first["ra_err_arcsec"] == pytest.approx(0.48 * 15 * np.cos(np.radians(-34.11931)))
    assert first["dec_err_arcsec"] == 6.7
    resolved = table[table["name"] == "NVSS J000000+004100"][0]
    assert (resolved["major_arcsec"], resolved["minor_arcsec"], resolved["pa_deg"]) == (
        45.4,
        35.7,
        9.0,
    )
    assert resolved["res_code"] == "S*" and np.isnan(resolved["peak_flux_mjy"])


def test_nvss_vizier_combined_tsv_csv_and_votable_exports(tmp_path):
    folder = shared_data(*TKP_NVSS)
    combined = tmp_path / "nvss.tsv"
    combined.write_text(
        (folder / "nvss-header.txt").read_text() + (folder / "nvss-few.csv").read_text()
    )
    reference = _vizier_nvss()
    assert detect_format(combined) == "nvss-vizier"
    assert list(read_catalog(combined)["name"]) == list(reference["name"])
    # A VizieR VOTable/CSV export with sexagesimal positions and no _RAJ2000 columns.
    export = Table()
    export["NVSS"] = ["000000-340709", "000000+004100"]
    export["RAJ2000"] = ["00 00 00.09", "00 00 00.39"]
    export["DEJ2000"] = ["-34 07 09.5", "+00 41 00.0"]
    export["S1.4"] = [2.7, 149.5] * u.mJy
    export["e_S1.4"] = [0.5, 5.3] * u.mJy
    for name, fmt in (("nvss.vot", "votable"), ("nvss.csv", "ascii.csv")):
        export.write(tmp_path / name, format=fmt)
        table = read_catalog(tmp_path / name)
        assert table.meta["format"] == "nvss-vizier"
        assert table["ra_deg"][1] == pytest.approx(0.39 * 15 / 3600)
        assert table["dec_deg"][0] == pytest.approx(-(34 + 7 / 60 + 9.5 / 3600))
        assert list(table["flux_mjy"]) == [2.7, 149.5]


def test_vizier_rows_without_their_header_are_refused():
    with pytest.raises(CatalogFormatError, match="without a header"):
        read_catalog(shared_data(*TKP_NVSS, "nvss-few.csv"), fmt="nvss-vizier")


def test_first_fits_names_and_units():
    path = shared_data(*CIRADA, "test_first.fits")
    table = read_catalog(path)
    assert table.meta["format"] == "first" and len(table) == 998
    raw = Table.read(path, hdu=1)
    np.testing.assert_allclose(table["flux_mjy"], raw["FINT"])  # already mJy
    np.testing.assert_allclose(table["peak_flux_mjy"], raw["FPEAK"])
    np.testing.assert_allclose(table["major_arcsec"], raw["MAJOR"])  # deconvolved, arcsec
    assert table["name"][0] == "FIRST J150348.0+475930"
    assert table[0]["flux_mjy"] == pytest.approx(55.2797, rel=1e-5)


def test_iau_names_truncate_like_the_surveys():
    # The FIRST designation example: 08h00m00.099s +32°06'09.83" → FIRST J080000.0+320609.
    ra = (8 + 0.099 / 3600) * 15
    dec = 32 + 6 / 60 + 9.83 / 3600
    assert iau_names("FIRST", [ra], [dec], ra_decimals=1) == ["FIRST J080000.0+320609"]
    assert iau_names("NVSS", [359.999999], [-0.0001]) == ["NVSS J235959-000000"]
    assert iau_names("NVSS", [15.0], [-89.99]) == ["NVSS J010000-895924"]


def test_vlass_components_drop_duplicates_and_convert_errors():
    path = shared_data(*CIRADA, "test_components.csv")
    raw = Table.read(path, format="ascii.csv")
    table = read_catalog(path)
    kept = raw[raw["Duplicate_flag"] != 2]
    assert table.meta["format"] == "vlass" and len(table) == len(kept) == 1206
    assert len(set(table["name"])) == len(table)  # CIRADA duplicates share names
    fitted = np.asarray(kept["S_Code"]) != "E"
    np.testing.assert_allclose(table["flux_mjy"][fitted], kept["Total_flux"][fitted])
    assert np.all(np.isnan(table["flux_mjy"][~fitted]))  # unfitted: 0 in the file
    np.testing.assert_allclose(table["peak_flux_mjy"], kept["Peak_flux"])
    # E_RA/E_DEC are in degrees in the CIRADA catalogue.
    good = fitted & (np.asarray(kept["E_DEC"]) > 0)
    np.testing.assert_allclose(table["dec_err_arcsec"][good], kept["E_DEC"][good] * 3600)
    assert 0.01 < np.nanmedian(table["dec_err_arcsec"]) < 1.0
    assert table["name"][0] == "VLASS1QLCIR J151136.37+472856.8"


def test_generic_csv_without_and_with_a_column_map(tmp_path):
    plain = tmp_path / "mine.csv"
    plain.write_text("name,ra_deg,dec_deg,flux_mjy,flux_err_mjy\nA,10.5,-5.25,3.5,0.25\n")
    table = read_catalog(plain)
    assert table.meta["format"] == "csv"
    assert (table["name"][0], table["flux_mjy"][0], table["flux_err_mjy"][0]) == ("A", 3.5, 0.25)
    assert np.isnan(table["peak_flux_mjy"][0])
    mapped = tmp_path / "mapped.csv"
    mapped.write_text("id,RA,DEC,S\nx1,150.0,37.2,7.0\n")
    table = read_catalog(
        mapped, "csv", column_map={"name": "id", "ra_deg": "RA", "dec_deg": "DEC", "flux_mjy": "S"}
    )
    assert (table["name"][0], table["ra_deg"][0], table["flux_mjy"][0]) == ("x1", 150.0, 7.0)
    with pytest.raises(CatalogFormatError, match=r"missing required column\(s\) name"):
        read_catalog(mapped, "csv")
    with pytest.raises(CatalogFormatError, match="unknown target column"):
        read_catalog(mapped, "csv", column_map={"flux": "S"})


def test_generic_fits_and_votable_convert_declared_units(tmp_path):
    table = Table()
    table["id"] = ["a", "b"]
    table["RA"] = [10.0, 20.0] * u.deg
    table["DEC"] = [1.0, 2.0] * u.deg
    table["S"] = [0.5, 1.5] * u.Jy
    table["size"] = [1.0, 0.5] * u.arcmin
    column_map = {
        "name": "id",
        "ra_deg": "RA",
        "dec_deg": "DEC",
        "flux_mjy": "S",
        "major_arcsec": "size",
    }
    for name, fmt in (("t.fits", "fits"), ("t.vot", "votable")):
        table.write(tmp_path / name, format=fmt)
        out = read_catalog(tmp_path / name, fmt, column_map=column_map)
        np.testing.assert_allclose(out["flux_mjy"], [500.0, 1500.0])
        np.testing.assert_allclose(out["major_arcsec"], [60.0, 30.0])


def test_unknown_and_undetectable_formats_list_the_supported_ones(tmp_path):
    odd = tmp_path / "odd.txt"
    odd.write_text("a b c\n1 2 3\n")
    supported = ", ".join(FORMATS)
    with pytest.raises(CatalogFormatError, match="cannot tell the catalogue format") as err:
        read_catalog(odd)
    assert supported in str(err.value)
    with pytest.raises(CatalogFormatError, match="unknown catalogue format 'nvss2'") as err:
        read_catalog(odd, fmt="nvss2")
    assert supported in str(err.value)


def test_bad_coordinates_are_refused_with_rows_and_values(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra_deg,dec_deg,flux_mjy\na,10,20,1\nb,10,95,1\nc,nan,1,1\nd,5,,1\n")
    with pytest.raises(CoordinateError) as err:
        read_catalog(bad)
    message = str(err.value)
    assert "3 row(s) with invalid coordinates at data row(s) 2, 3, 4" in message
    assert "row 2: dec_deg=95.0 is outside [-90, 90]" in message
    assert "row 3: ra_deg=nan is not finite" in message
    assert "row 4: dec_deg=nan is not finite" in message
    wrap = tmp_path / "wrap.csv"
    wrap.write_text("name,ra_deg,dec_deg,flux_mjy\na,-10,20,1\nb,370,20,1\nc,360,0,1\n")
    np.testing.assert_allclose(read_catalog(wrap)["ra_deg"], [350.0, 10.0, 0.0])


def test_repeated_names_get_deterministic_suffixes(tmp_path):
    rows = "name,ra_deg,dec_deg,flux_mjy\nX,10.2,1,1\nX,10.1,1,2\nY,3,3,3\n"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(rows)
    lines = rows.splitlines()
    second.write_text("\n".join([lines[0], lines[3], lines[2], lines[1]]) + "\n")
    a, b = read_catalog(first), read_catalog(second)
    assert sorted(a["name"]) == ["X", "X_2", "Y"]
    assert dict(zip(a["name"], a["ra_deg"])) == dict(zip(b["name"], b["ra_deg"]))
    assert dict(zip(a["name"], a["ra_deg"]))["X"] == 10.1  # the first in position order
