"""Readers that turn survey catalogues into one normalised table.

Every reader returns an astropy Table with the columns of `CATALOG_COLUMNS`: ``name``,
``ra_deg``, ``dec_deg`` (ICRS/J2000), fluxes in **mJy** (``flux_mjy`` = integrated/total flux
density, ``peak_flux_mjy`` = peak in mJy/beam) with their errors, the **deconvolved** source
size (FWHM arcsec, PA deg east of north; 0 = unresolved or an upper limit) and positional
errors in arcsec. Missing values are NaN.

Supported formats (`FORMATS`): the raw NRAO NVSS ``CATALOG.FIT`` AIPS VL table
(``nvss-raw``), Obit's condensed NVSS/SUMSS AIPS VZ table (``nvss-vz``), VizieR VIII/65 NVSS
exports (``nvss-vizier``: semicolon TSV with ``#`` header, CSV or VOTable), the FIRST catalogue
FITS table (``first``), CIRADA VLASS component CSVs (``vlass``), and generic ``csv``, ``fits``
and ``votable`` tables whose columns are named as above or mapped with ``column_map``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

__all__ = [
    "CATALOG_COLUMNS",
    "CatalogFormatError",
    "FORMATS",
    "detect_format",
    "iau_names",
    "read_catalog",
]

CATALOG_COLUMNS = (
    "name", "ra_deg", "dec_deg", "flux_mjy", "flux_err_mjy", "peak_flux_mjy",
    "peak_flux_err_mjy", "major_arcsec", "minor_arcsec", "pa_deg", "ra_err_arcsec",
    "dec_err_arcsec",
)
NVSS_BEAM_ARCSEC = 45.0


class CatalogFormatError(ValueError):
    """A catalogue file that cannot be read as the requested (or any known) format."""


def read_catalog(path: str | Path, fmt: str | None = None,
                 column_map: Mapping[str, str] | None = None) -> Table:
    """Read ``path`` as format ``fmt`` (detected when None) into the normalised table.

    Raises
    ------
    CatalogFormatError
        Unknown format, undetectable format, missing columns or bad coordinates.
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogFormatError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise CatalogFormatError(
            f"unknown catalogue format {fmt!r}; supported: {', '.join(sorted(FORMATS))}")
    reader = FORMATS[fmt]
    with warnings.catch_warnings():
        # Survey tables use non-FITS unit strings (DEGREE, JY/BEAM); readers convert explicitly.
        warnings.simplefilter("ignore", u.UnitsWarning)
        table = reader(path, column_map or {}) if fmt in _GENERIC else reader(path)
    return _validated(table, path)


def detect_format(path: str | Path) -> str:
    """Guess the format of a catalogue file from its structure and column names."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
        with fits.open(path) as hdul:
            for hdu in hdul[1:]:
                extname = str(hdu.header.get("EXTNAME", "")).strip().upper()
                if extname.startswith("AIPS VL"):
                    return "nvss-raw"
                if extname.startswith("AIPS VZ"):
                    return "nvss-vz"
                columns = ({c.upper() for c in hdu.columns.names}
                           if isinstance(hdu, fits.BinTableHDU) else set())
                if {"FPEAK", "FINT", "SIDEPROB"} <= columns:
                    return "first"
        return "fits"
    if name.endswith((".xml", ".vot", ".votable")):
        columns = set(Table.read(path, format="votable").colnames)
        return "nvss-vizier" if "S1.4" in columns else "votable"
    head = path.read_text(errors="replace")[:20000]
    if "VIII/65" in head or re.search(r"(^|[;,\s])S1\.4([;,\s]|$)", head, re.M):
        return "nvss-vizier"
    first_line = head.splitlines()[0] if head else ""
    if "Component_name" in first_line and "Total_flux" in first_line:
        return "vlass"
    if "ra_deg" in first_line and "dec_deg" in first_line:
        return "csv"
    raise CatalogFormatError(
        f"{path}: cannot tell the catalogue format; pass one of {', '.join(sorted(FORMATS))} "
        "(a generic CSV needs name,ra_deg,dec_deg,flux_mjy columns or a column map)")


def iau_names(prefix: str, ra_deg: np.ndarray, dec_deg: np.ndarray) -> list[str]:
    """Survey-style names ``"<prefix> Jhhmmss+ddmmss"`` from truncated sexagesimal positions."""
    ra_s = np.floor(np.mod(np.asarray(ra_deg, float), 360.0) / 15.0 * 3600.0 + 1e-9)
    dec = np.asarray(dec_deg, float)
    dec_s = np.floor(np.abs(dec) * 3600.0 + 1e-9)
    names = []
    for r, d, sign in zip(ra_s.astype(np.int64), dec_s.astype(np.int64), np.sign(dec) < 0):
        names.append(f"{prefix} J{r // 3600:02d}{r // 60 % 60:02d}{r % 60:02d}"
                     f"{'-' if sign else '+'}{d // 3600:02d}{d // 60 % 60:02d}{d % 60:02d}")
    return names


def _read_nvss_raw(path: Path) -> Table:
    """NRAO ``CATALOG.FIT``: peak in Jy/beam, *fitted* (convolved) axes in degrees."""
    raw = Table.read(path, hdu=_hdu_index(path, "AIPS VL"))
    peak = _col(raw, "PEAK INT") * 1e3
    major = _col(raw, "MAJOR AX") * 3600.0
    minor = _col(raw, "MINOR AX") * 3600.0
    rms = _col(raw, "I RMS") * 1e3
    out = _empty(len(raw))
    out["ra_deg"], out["dec_deg"] = _col(raw, "RA(2000)"), _col(raw, "DEC(2000)")
    out["name"] = iau_names("NVSS", out["ra_deg"], out["dec_deg"])
    out["peak_flux_mjy"], out["peak_flux_err_mjy"] = peak, rms
    # Integrated flux of a Gaussian: peak × (fitted area / beam area), NVSS 45″ beam.
    out["flux_mjy"] = peak * major * minor / NVSS_BEAM_ARCSEC ** 2
    out["flux_err_mjy"] = rms * major * minor / NVSS_BEAM_ARCSEC ** 2
    out["major_arcsec"] = np.sqrt(np.clip(major ** 2 - NVSS_BEAM_ARCSEC ** 2, 0, None))
    out["minor_arcsec"] = np.sqrt(np.clip(minor ** 2 - NVSS_BEAM_ARCSEC ** 2, 0, None))
    out["pa_deg"] = _col(raw, "POSANGLE")
    return out


def _read_nvss_vz(path: Path) -> Table:
    """Obit's condensed VZ table: position and peak (Jy/beam) only."""
    raw = Table.read(path, hdu=_hdu_index(path, "AIPS VZ"))
    out = _empty(len(raw))
    out["ra_deg"], out["dec_deg"] = _col(raw, "RA(2000)"), _col(raw, "DEC(2000)")
    out["name"] = iau_names("NVSS", out["ra_deg"], out["dec_deg"])
    out["peak_flux_mjy"] = _col(raw, "PEAK INT") * 1e3
    out["flux_mjy"] = out["peak_flux_mjy"]
    out["major_arcsec"] = 0.0
    out["minor_arcsec"] = 0.0
    return out


def _read_nvss_vizier(path: Path) -> Table:
    """VizieR VIII/65: sexagesimal J2000, S1.4 in mJy, deconvolved axes with limit flags."""
    raw = _read_vizier_table(path)
    coords = _vizier_coords(raw)
    out = _empty(len(raw))
    out["ra_deg"], out["dec_deg"] = coords.ra.deg, coords.dec.deg
    if "NVSS" in raw.colnames:
        out["name"] = [f"NVSS J{str(n).strip()}" for n in raw["NVSS"]]
    else:
        out["name"] = iau_names("NVSS", out["ra_deg"], out["dec_deg"])
    out["flux_mjy"] = _col(raw, "S1.4")
    out["flux_err_mjy"] = _col(raw, "e_S1.4")
    for axis, column in (("major_arcsec", "MajAxis"), ("minor_arcsec", "MinAxis")):
        size = _col(raw, column) if column in raw.colnames else np.zeros(len(raw))
        limit = (np.asarray([str(v).strip() for v in raw[f"l_{column}"]]) == "<"
                 if f"l_{column}" in raw.colnames else np.zeros(len(raw), bool))
        out[axis] = np.where(limit, 0.0, np.nan_to_num(size))
    out["pa_deg"] = _col(raw, "PA") if "PA" in raw.colnames else np.nan
    out["ra_err_arcsec"] = _col(raw, "e_RAJ2000") * 15.0 * np.cos(np.radians(out["dec_deg"])) \
        if "e_RAJ2000" in raw.colnames else np.nan  # VizieR gives RA errors in seconds of time
    out["dec_err_arcsec"] = _col(raw, "e_DEJ2000") if "e_DEJ2000" in raw.colnames else np.nan
    return out


def _read_first(path: Path) -> Table:
    """FIRST catalogue FITS: fluxes in mJy, deconvolved sizes in arcsec."""
    raw = Table.read(path, hdu=1)
    out = _empty(len(raw))
    out["ra_deg"], out["dec_deg"] = _col(raw, "RA"), _col(raw, "DEC")
    out["name"] = iau_names("FIRST", out["ra_deg"], out["dec_deg"])
    out["peak_flux_mjy"], out["flux_mjy"] = _col(raw, "FPEAK"), _col(raw, "FINT")
    out["peak_flux_err_mjy"] = _col(raw, "RMS")
    out["major_arcsec"], out["minor_arcsec"] = _col(raw, "MAJOR"), _col(raw, "MINOR")
    out["pa_deg"] = _col(raw, "POSANG")
    return out


def _read_vlass(path: Path) -> Table:
    """CIRADA VLASS component CSV: fluxes in mJy, deconvolved sizes (``DC_*``) in arcsec."""
    raw = Table.read(path, format="ascii.csv")
    out = _empty(len(raw))
    out["name"] = [str(n).strip() for n in raw["Component_name"]]
    out["ra_deg"], out["dec_deg"] = _col(raw, "RA"), _col(raw, "DEC")
    out["flux_mjy"], out["flux_err_mjy"] = _col(raw, "Total_flux"), _col(raw, "E_Total_flux")
    out["peak_flux_mjy"] = _col(raw, "Peak_flux")
    out["peak_flux_err_mjy"] = _col(raw, "E_Peak_flux")
    out["major_arcsec"], out["minor_arcsec"] = _col(raw, "DC_Maj"), _col(raw, "DC_Min")
    out["pa_deg"] = _col(raw, "DC_PA")
    out["ra_err_arcsec"], out["dec_err_arcsec"] = _col(raw, "E_RA"), _col(raw, "E_DEC")
    return out


def _generic(read: Callable[[Path], Table]) -> Callable[[Path, Mapping[str, str]], Table]:
    def reader(path: Path, column_map: Mapping[str, str]) -> Table:
        raw = read(path)
        unknown = set(column_map) - set(CATALOG_COLUMNS)
        if unknown:
            raise CatalogFormatError(f"column map names unknown target column(s) "
                                     f"{sorted(unknown)}; targets are {CATALOG_COLUMNS}")
        source = {target: column_map.get(target, target) for target in CATALOG_COLUMNS}
        missing = [source[c] for c in ("ra_deg", "dec_deg") if source[c] not in raw.colnames]
        if missing:
            raise CatalogFormatError(f"{path}: missing column(s) {missing}; found "
                                     f"{raw.colnames} (map them with col=source)")
        out = _empty(len(raw))
        for target in CATALOG_COLUMNS[1:]:
            if source[target] in raw.colnames:
                out[target] = _col(raw, source[target])
        if source["name"] in raw.colnames:
            out["name"] = [str(v).strip() for v in raw[source["name"]]]
        else:
            out["name"] = iau_names("SRC", out["ra_deg"], out["dec_deg"])
        return out

    return reader


def _read_vizier_table(path: Path) -> Table:
    """A VizieR export: VOTable, CSV, or '#'-commented semicolon TSV (names/units/dashes)."""
    if path.suffix.lower() in (".xml", ".vot", ".votable"):
        return Table.read(path, format="votable")
    lines = path.read_text(errors="replace").splitlines()
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    dashes = next((i for i, ln in enumerate(body) if set(ln.replace(";", "")) <= {"-", " "}
                   and "-" in ln), None)
    if dashes is None:
        return Table.read(path, format="ascii.csv", comment="#")
    # Before the dashes: the names (possibly wrapped over several lines), then the units.
    names = "".join(body[:dashes - 1]).split(";")
    rows = [ln.split(";") for ln in body[dashes + 1:]]
    width = len(names)
    if any(len(r) != width for r in rows):
        raise CatalogFormatError(f"{path}: rows do not have the {width} header columns")
    columns = {name.strip(): [r[i].strip() for r in rows] for i, name in enumerate(names)}
    return Table(columns)


def _vizier_coords(raw: Table) -> SkyCoord:
    if "RAJ2000" in raw.colnames and isinstance(raw["RAJ2000"][0], str) \
            and (" " in raw["RAJ2000"][0] or ":" in raw["RAJ2000"][0]):
        return SkyCoord([str(v) for v in raw["RAJ2000"]], [str(v) for v in raw["DEJ2000"]],
                        unit=(u.hourangle, u.deg), frame="fk5")
    for ra_col, dec_col in (("RAJ2000", "DEJ2000"), ("_RAJ2000", "_DEJ2000")):
        if ra_col in raw.colnames:
            return SkyCoord(_col(raw, ra_col) * u.deg, _col(raw, dec_col) * u.deg, frame="fk5")
    raise CatalogFormatError("VizieR table has no RAJ2000/DEJ2000 columns")


def _col(table: Table, name: str) -> np.ndarray:
    column = table[name]
    values = column.filled(np.nan) if hasattr(column, "filled") else column
    return np.array([_to_float(v) for v in values], dtype=float) if values.dtype.kind in "USO" \
        else np.asarray(values, dtype=float)


def _to_float(value) -> float:
    text = str(value).strip()
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def _empty(n: int) -> Table:
    table = Table()
    table["name"] = np.full(n, "", dtype=object)
    for column in CATALOG_COLUMNS[1:]:
        table[column] = np.full(n, np.nan)
    return table


def _hdu_index(path: Path, extname_prefix: str) -> int:
    with fits.open(path) as hdul:
        for index, hdu in enumerate(hdul):
            if str(hdu.header.get("EXTNAME", "")).strip().upper().startswith(extname_prefix):
                return index
    raise CatalogFormatError(f"{path}: no {extname_prefix} table extension")


def _validated(table: Table, path: Path) -> Table:
    """Wrap RA into [0, 360); refuse non-finite positions or |dec| > 90 with row numbers."""
    ra = np.asarray(table["ra_deg"], dtype=float)
    dec = np.asarray(table["dec_deg"], dtype=float)
    bad = ~np.isfinite(ra) | ~np.isfinite(dec) | (np.abs(dec) > 90.0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5] + 1
        raise CatalogFormatError(
            f"{path}: {int(bad.sum())} row(s) with invalid coordinates (NaN or |dec| > 90), "
            f"first at data row(s) {', '.join(map(str, rows))}")
    table["ra_deg"] = np.mod(ra, 360.0)
    table["name"] = np.asarray([str(n) for n in table["name"]], dtype=str)
    return table


FORMATS: dict[str, Callable] = {
    "nvss-raw": _read_nvss_raw,
    "nvss-vz": _read_nvss_vz,
    "nvss-vizier": _read_nvss_vizier,
    "first": _read_first,
    "vlass": _read_vlass,
    "csv": _generic(lambda p: Table.read(p, format="ascii.csv", comment="#")),
    "fits": _generic(lambda p: Table.read(p, hdu=1)),
    "votable": _generic(lambda p: Table.read(p, format="votable")),
}
_GENERIC = {"csv", "fits", "votable"}
