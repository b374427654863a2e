"""Readers that turn survey catalogue files into the one normalised table.

See `dsa110_contimg.catalog.columns` for the columns and units (fluxes in mJy, sizes
deconvolved, in arcsec). Supported formats (`FORMATS`):

``nvss-raw``
    The NRAO NVSS ``CATALOG.FIT`` AIPS VL table: positions in degrees, peak in **Jy/beam**,
    fitted (convolved) Gaussian axes in **degrees**. Positions are corrected for the survey's
    position bias (−0.025″ in RA, +0.113″ in Dec; Condon et al. 1998, AJ 115, 1693) exactly as
    the published catalogue is, and named ``NVSS Jhhmmss±ddmmss`` from the truncated corrected
    position. Errors of the peak and of the fitted axes follow Condon (1997, PASP 109, 166)
    with the NVSS 3 % calibration term. A fitted axis counts as resolved when it exceeds the
    θN = 45″ restoring beam at 98 % confidence (2.33σ), otherwise it is taken as the beam;
    ``flux_mjy`` is the Gaussian integral ``peak θM θm / θN²`` over those axes, and sizes are
    deconvolved from the circular beam (0 when unresolved). The published catalogue's further
    refinements (CLEAN-bias correction, effective declination-dependent point-source response)
    are not applied: use ``nvss-vizier`` for the published values.
``nvss-vz``
    Obit's condensed NVSS AIPS VZ table (position, peak, quality code): position bias corrected
    and named as ``nvss-raw``; ``flux_mjy`` is NaN (the table has no integrated flux).
``nvss-vizier``
    VizieR VIII/65 exports (``#`` semicolon/tab TSV, optionally with the header in a separate
    file, CSV or VOTable): names from the ``NVSS`` column, ``S1.4``/``e_S1.4`` (mJy),
    deconvolved ``MajAxis``/``MinAxis`` (a ``<`` limit is stored as 0, unresolved), ``PA``,
    ``e_RAJ2000`` (seconds of time, converted to arcsec on the sky) and ``e_DEJ2000``.
``first``
    The FIRST catalogue FITS table (``FPEAK``/``FINT``/``RMS`` in mJy, deconvolved sizes in
    arcsec), named ``FIRST Jhhmmss.s±ddmmss`` (truncated) as the survey recommends.
``vlass``
    CIRADA VLASS component CSVs. Rows with ``Duplicate_flag == 2`` (the copy of a component
    found again in an overlapping subtile) are dropped, as CIRADA recommends; components that
    were not fitted (``S_Code == "E"``, their fitted columns hold 0) have NaN integrated flux,
    size and position errors. Positional errors are given in degrees and converted.
``csv``, ``fits``, ``votable``
    Generic tables with columns named as `CATALOG_COLUMNS` (``name, ra_deg, dec_deg`` required)
    or mapped with ``column_map={"flux_mjy": "S_int", ...}``. A column that declares a unit
    (FITS ``TUNIT``, VOTable) is converted; otherwise it must already be in the target unit.

Repeated names within a file are made unique deterministically (ordered by position, later
ones get ``_2``, ``_3``…) with a warning, because (catalogue, name) is the key that keeps source
ids stable across re-ingests.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import Angle
from astropy.io import fits
from astropy.table import Table

from dsa110_contimg.catalog._units import (
    column_floats,
    column_in,
    column_strings,
    declared_unit,
)
from dsa110_contimg.catalog._vizier import VOTABLE_SUFFIXES, read_vizier, vizier_header_text
from dsa110_contimg.catalog.columns import (
    CATALOG_COLUMNS,
    CatalogFormatError,
    empty_catalog,
    validate_positions,
)
from dsa110_contimg.catalog.names import iau_names
from dsa110_contimg.choices import CATALOG_FORMATS as FORMATS

__all__ = ["FORMATS", "detect_format", "read_catalog"]

log = logging.getLogger(__name__)

NVSS_BEAM_ARCSEC = 45.0
#: Position bias of the raw NVSS fits (RA on the sky, Dec), arcsec; Condon et al. (1998).
NVSS_POSITION_BIAS_ARCSEC = (-0.025, 0.113)
NVSS_CALIBRATION_ERROR = 0.03
_RESOLVED_SIGMA = 2.33
_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts")
_MJY_PER_BEAM = u.mJy / u.beam


def read_catalog(
    path: str | Path,
    fmt: str | None = None,
    *,
    column_map: Mapping[str, str] | None = None,
    header: str | Path | None = None,
) -> Table:
    """Read a catalogue file into the normalised table.

    Parameters
    ----------
    path : str or Path
        The catalogue file.
    fmt : str, optional
        One of `FORMATS`; detected from the file when None.
    column_map : mapping, optional
        For ``csv``/``fits``/``votable``: target column → column in the file.
    header : str or Path, optional
        For ``nvss-vizier`` TSV rows kept apart from their header: the header file.

    Returns
    -------
    astropy.table.Table
        `CATALOG_COLUMNS` then catalogue-specific extra columns; ``meta["format"]`` is the
        format read.

    Raises
    ------
    CatalogFormatError
        Missing file, unknown or undetectable format, missing columns, or an option that the
        format does not take.
    CoordinateError
        Rows with non-finite positions or ``|dec| > 90`` (RA outside [0, 360) is wrapped).
    """
    path = Path(path)
    header = Path(header) if header is not None else None
    for file in (path, header):
        if file is not None and not file.is_file():
            raise CatalogFormatError(f"{file}: no such file")
    fmt = fmt if fmt is not None else detect_format(path, header=header)
    if fmt not in FORMATS:
        raise CatalogFormatError(
            f"unknown catalogue format {fmt!r}; supported: {', '.join(FORMATS)}"
        )
    if column_map and fmt not in _GENERIC:
        raise CatalogFormatError(f"a column map applies to {', '.join(_GENERIC)}, not {fmt!r}")
    if header is not None and fmt != "nvss-vizier":
        raise CatalogFormatError(f"a separate header file applies to nvss-vizier, not {fmt!r}")
    if fmt in _GENERIC:
        table = _read_generic(path, fmt, dict(column_map or {}))
    elif fmt == "nvss-vizier":
        table = _read_nvss_vizier(path, header)
    else:
        table = _SURVEY_READERS[fmt](path)
    validate_positions(table, str(path))
    _make_names_unique(table, str(path))
    table.meta["format"] = fmt
    return table


def detect_format(path: str | Path, *, header: str | Path | None = None) -> str:
    """The format of a catalogue file, from its structure and column names.

    Raises
    ------
    CatalogFormatError
        If the file matches no supported format; the message lists them.
    """
    path = Path(path)
    header = Path(header) if header is not None else None
    name = path.name.lower()
    if header is not None:
        head = vizier_header_text(path, header)
        if _looks_like_nvss_vizier(head):
            return "nvss-vizier"
    elif name.endswith(_FITS_SUFFIXES):
        return _detect_fits(path)
    elif name.endswith(VOTABLE_SUFFIXES):
        columns = set(read_vizier(path).colnames)
        return "nvss-vizier" if "S1.4" in columns else "votable"
    else:
        head = vizier_header_text(path)
        first_line = next((ln for ln in head.splitlines() if ln and not ln.startswith("#")), "")
        if _looks_like_nvss_vizier(head):
            return "nvss-vizier"
        if "Component_name" in first_line and "Total_flux" in first_line:
            return "vlass"
        columns = {c.strip() for c in first_line.split(",")}
        if {"name", "ra_deg", "dec_deg"} <= columns:
            return "csv"
    raise CatalogFormatError(
        f"{path}: cannot tell the catalogue format; pass --format with one of "
        f"{', '.join(FORMATS)} (a generic CSV needs name,ra_deg,dec_deg[,flux_mjy] columns "
        "or a column map)"
    )


def _looks_like_nvss_vizier(head: str) -> bool:
    return "VIII/65" in head or any(
        {"S1.4", "RAJ2000"}
        <= {c.strip() for c in line.replace("\t", ";").split(";")}
        | {c.strip() for c in line.split(",")}
        for line in head.splitlines()
        if not line.startswith("#")
    )


def _detect_fits(path: Path) -> str:
    with fits.open(path) as hdul:
        for hdu in hdul[1:]:
            extname = str(hdu.header.get("EXTNAME", "")).strip().upper()
            if extname.startswith("AIPS VL"):
                return "nvss-raw"
            if extname.startswith("AIPS VZ"):
                return "nvss-vz"
            columns = {c.upper() for c in hdu.columns.names} if hasattr(hdu, "columns") else set()
            if {"FPEAK", "FINT", "SIDEPROB"} <= columns:
                return "first"
    return "fits"


# --- NVSS ------------------------------------------------------------------------------------


def _read_nvss_raw(path: Path) -> Table:
    raw = _fits_table(path, "AIPS VL")
    out = _nvss_positions(raw)
    peak = _peak_mjy(raw, "PEAK INT", default="Jy/beam")
    rms = _peak_mjy(raw, "I RMS", default="Jy/beam")
    beam = NVSS_BEAM_ARCSEC
    fit_major = np.maximum(column_in(raw, "MAJOR AX", u.arcsec, default=u.deg), beam)
    fit_minor = np.maximum(column_in(raw, "MINOR AX", u.arcsec, default=u.deg), beam)
    errors = _condon_errors(peak, rms, fit_major, fit_minor, beam)
    # An axis counts as resolved when it exceeds the beam at 98 % confidence (2.33σ).
    major = np.where(fit_major - _RESOLVED_SIGMA * errors.major > beam, fit_major, beam)
    minor = np.where(fit_minor - _RESOLVED_SIGMA * errors.minor > beam, fit_minor, beam)
    area = major * minor / beam**2
    out["peak_flux_mjy"], out["peak_flux_err_mjy"] = peak, errors.peak
    out["flux_mjy"] = peak * area
    out["flux_err_mjy"] = out["flux_mjy"] * np.sqrt(
        (errors.peak / peak) ** 2
        + np.where(area > 1.0, 1.0 / area, 0.0)
        * ((errors.major / fit_major) ** 2 + (errors.minor / fit_minor) ** 2)
    )
    out["major_arcsec"] = np.sqrt(major**2 - beam**2)
    out["minor_arcsec"] = np.sqrt(minor**2 - beam**2)
    pa = _pa_half_turn(column_in(raw, "POSANGLE", u.deg, default=u.deg))
    out["pa_deg"] = np.where((major > beam) | (minor > beam), pa, np.nan)
    out["field"] = column_strings(raw, "FIELD")
    out["rms_mjy"] = rms
    return out


def _read_nvss_vz(path: Path) -> Table:
    raw = _fits_table(path, "AIPS VZ")
    out = _nvss_positions(raw)
    out["peak_flux_mjy"] = _peak_mjy(raw, "PEAK INT", default="Jy/beam")
    out["qual"] = column_floats(raw, "QUAL").astype(np.int64)
    return out


def _nvss_positions(raw: Table) -> Table:
    """Bias-corrected positions and survey names of a raw NVSS AIPS table."""
    out = empty_catalog(len(raw))
    dra, ddec = (b / 3600.0 for b in NVSS_POSITION_BIAS_ARCSEC)
    dec = column_in(raw, "DEC(2000)", u.deg, default=u.deg) + ddec
    with np.errstate(divide="ignore", invalid="ignore"):
        ra = column_in(raw, "RA(2000)", u.deg, default=u.deg) + dra / np.cos(np.radians(dec))
    out["ra_deg"], out["dec_deg"] = ra, dec
    finite = np.isfinite(ra) & np.isfinite(dec)
    names = np.full(len(raw), "", dtype=object)
    names[finite] = iau_names("NVSS", ra[finite], dec[finite])
    out["name"] = names
    return out


class _GaussianErrors(NamedTuple):
    peak: np.ndarray
    major: np.ndarray
    minor: np.ndarray


def _condon_errors(
    peak: np.ndarray, rms: np.ndarray, major: np.ndarray, minor: np.ndarray, beam: float
) -> _GaussianErrors:
    """1σ errors of the peak and axes of elliptical Gaussian fits on correlated noise.

    Condon (1997, PASP 109, 166, eq. 41): the effective signal-to-noise ratio ρ² of each
    parameter, σ_P = P √(2/ρ²) (with the calibration error in quadrature) and
    σ_θ = θ √(2/ρ²).
    """

    def rho2(a: float, b: float) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (
                major
                * minor
                / (4.0 * beam**2)
                * (1.0 + (beam / major) ** 2) ** a
                * (1.0 + (beam / minor) ** 2) ** b
                * (peak / rms) ** 2
            )

    with np.errstate(divide="ignore", invalid="ignore"):
        return _GaussianErrors(
            peak=np.sqrt(2.0 * peak**2 / rho2(1.5, 1.5) + (NVSS_CALIBRATION_ERROR * peak) ** 2),
            major=major * np.sqrt(2.0 / rho2(2.5, 0.5)),
            minor=minor * np.sqrt(2.0 / rho2(0.5, 2.5)),
        )


def _read_nvss_vizier(path: Path, header: Path | None) -> Table:
    raw = read_vizier(path, header)
    out = empty_catalog(len(raw))
    ra, dec = _vizier_positions(raw)
    out["ra_deg"], out["dec_deg"] = ra, dec
    if "NVSS" in raw.colnames:
        out["name"] = np.char.add("NVSS J", column_strings(raw, "NVSS")).astype(object)
    else:
        out["name"] = iau_names("NVSS", ra, dec)
    out["flux_mjy"] = column_in(raw, "S1.4", u.mJy, default=u.mJy)
    out["flux_err_mjy"] = column_in(raw, "e_S1.4", u.mJy, default=u.mJy)
    for target, column in (("major_arcsec", "MajAxis"), ("minor_arcsec", "MinAxis")):
        if column not in raw.colnames:
            continue
        size = column_in(raw, column, u.arcsec, default=u.arcsec)
        limit = (
            column_strings(raw, f"l_{column}") == "<"
            if f"l_{column}" in raw.colnames
            else np.zeros(len(raw), dtype=bool)
        )
        out[target] = np.where(limit, 0.0, size)
        out[f"{target.split('_')[0]}_upper_limit_arcsec"] = np.where(limit, size, np.nan)
    if "PA" in raw.colnames:
        out["pa_deg"] = column_in(raw, "PA", u.deg, default=u.deg)
    if "e_RAJ2000" in raw.colnames:
        out["ra_err_arcsec"] = _ra_error_arcsec(raw, "e_RAJ2000", dec)
    if "e_DEJ2000" in raw.colnames:
        out["dec_err_arcsec"] = column_in(raw, "e_DEJ2000", u.arcsec, default=u.arcsec)
    for extra, column in (("field", "Field"), ("res_code", "f_resFlux")):
        if column in raw.colnames:
            out[extra] = column_strings(raw, column)
    return out


def _vizier_positions(raw: Table) -> tuple[np.ndarray, np.ndarray]:
    """Degrees from VizieR's computed ``_RAJ2000``/``_DEJ2000`` (finer than the sexagesimal
    columns) or from ``RAJ2000``/``DEJ2000`` (degrees or sexagesimal text)."""
    for ra_col, dec_col in (("_RAJ2000", "_DEJ2000"), ("RAJ2000", "DEJ2000")):
        if ra_col in raw.colnames and dec_col in raw.colnames:
            if raw[ra_col].dtype.kind in "USO":
                ra = Angle(column_strings(raw, ra_col), unit=u.hourangle).deg
                dec = Angle(column_strings(raw, dec_col), unit=u.deg).deg
                return np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
            return (
                column_in(raw, ra_col, u.deg, default=u.deg),
                column_in(raw, dec_col, u.deg, default=u.deg),
            )
    raise CatalogFormatError(f"VizieR table has no RAJ2000/DEJ2000 columns: {raw.colnames}")


def _ra_error_arcsec(raw: Table, column: str, dec_deg: np.ndarray) -> np.ndarray:
    """VizieR gives RA errors in seconds of time; arcsec on the sky = 15 s cos δ."""
    unit = declared_unit(raw[column]) or u.s
    values = column_floats(raw, column)
    if unit.physical_type == "time":
        return values * unit.to(u.s) * 15.0 * np.cos(np.radians(dec_deg))
    return (values * unit).to_value(u.arcsec)


# --- FIRST, VLASS ----------------------------------------------------------------------------


def _read_first(path: Path) -> Table:
    raw = _fits_table(path, None)
    out = empty_catalog(len(raw))
    out["ra_deg"] = column_in(raw, "RA", u.deg, default=u.deg)
    out["dec_deg"] = column_in(raw, "DEC", u.deg, default=u.deg)
    finite = np.isfinite(out["ra_deg"]) & np.isfinite(out["dec_deg"])
    names = np.full(len(raw), "", dtype=object)
    names[finite] = iau_names("FIRST", out["ra_deg"][finite], out["dec_deg"][finite], ra_decimals=1)
    out["name"] = names
    out["peak_flux_mjy"] = _peak_mjy(raw, "FPEAK", default="mJy/beam")
    out["peak_flux_err_mjy"] = _peak_mjy(raw, "RMS", default="mJy/beam")
    out["flux_mjy"] = column_in(raw, "FINT", u.mJy, default=u.mJy)
    out["major_arcsec"] = column_in(raw, "MAJOR", u.arcsec, default=u.arcsec)
    out["minor_arcsec"] = column_in(raw, "MINOR", u.arcsec, default=u.arcsec)
    out["pa_deg"] = column_in(raw, "POSANG", u.deg, default=u.deg)
    out["sideprob"] = column_floats(raw, "SIDEPROB")
    if "FLDNAME" in raw.colnames:
        out["field"] = column_strings(raw, "FLDNAME")
    return out


def _read_vlass(path: Path) -> Table:
    raw = Table.read(path, format="ascii.csv")
    duplicate = column_floats(raw, "Duplicate_flag")
    if (duplicate == 2).any():
        log.info(
            "%s: dropping %d component(s) with Duplicate_flag = 2 (repeats of a component "
            "from an overlapping subtile)",
            path,
            int((duplicate == 2).sum()),
        )
        raw = raw[duplicate != 2]
    out = empty_catalog(len(raw))
    out["name"] = column_strings(raw, "Component_name").astype(object)
    out["ra_deg"] = column_in(raw, "RA", u.deg, default=u.deg)
    out["dec_deg"] = column_in(raw, "DEC", u.deg, default=u.deg)
    fitted = column_strings(raw, "S_Code") != "E"
    for target, column, unit in (
        ("flux_mjy", "Total_flux", u.mJy),
        ("flux_err_mjy", "E_Total_flux", u.mJy),
        ("peak_flux_mjy", "Peak_flux", _MJY_PER_BEAM),
        ("peak_flux_err_mjy", "E_Peak_flux", _MJY_PER_BEAM),
        ("major_arcsec", "DC_Maj", u.arcsec),
        ("minor_arcsec", "DC_Min", u.arcsec),
        ("pa_deg", "DC_PA", u.deg),
        ("ra_err_arcsec", "E_RA", u.deg),
        ("dec_err_arcsec", "E_DEC", u.deg),
    ):
        values = _in_target_unit(raw, column, target, default=unit)
        if target != "peak_flux_mjy":
            values = np.where(fitted, values, np.nan)
        if target.endswith(("err_mjy", "err_arcsec")):
            values = np.where(values > 0, values, np.nan)  # 0 marks "not measured"
        out[target] = values
    out["s_code"] = column_strings(raw, "S_Code")
    out["quality_flag"] = column_floats(raw, "Quality_flag").astype(np.int64)
    out["duplicate_flag"] = column_floats(raw, "Duplicate_flag").astype(np.int64)
    return out


# --- generic tables --------------------------------------------------------------------------


def _read_generic(path: Path, fmt: str, column_map: dict[str, str]) -> Table:
    unknown = sorted(set(column_map) - set(CATALOG_COLUMNS))
    if unknown:
        raise CatalogFormatError(
            f"column map names unknown target column(s) {unknown}; targets are "
            f"{', '.join(CATALOG_COLUMNS)}"
        )
    raw = _GENERIC[fmt](path)
    source = {target: column_map.get(target, target) for target in CATALOG_COLUMNS}
    missing = [
        f"{target} (from {source[target]!r})" if target in column_map else target
        for target in ("name", "ra_deg", "dec_deg")
        if source[target] not in raw.colnames
    ]
    if missing:
        raise CatalogFormatError(
            f"{path}: missing required column(s) {', '.join(missing)}; the file has "
            f"{', '.join(raw.colnames)} (map them with --map target=column)"
        )
    absent = [f"{t}={s}" for t, s in column_map.items() if s not in raw.colnames]
    if absent:
        raise CatalogFormatError(f"{path}: mapped column(s) not in the file: {', '.join(absent)}")
    out = empty_catalog(len(raw))
    out["name"] = column_strings(raw, source["name"]).astype(object)
    for target in CATALOG_COLUMNS[1:]:
        if source[target] in raw.colnames:
            out[target] = _in_target_unit(
                raw, source[target], target, default=_TARGET_UNITS[target]
            )
    return out


def _read_generic_csv(path: Path) -> Table:
    return Table.read(path, format="ascii.csv", comment="#")


def _read_generic_fits(path: Path) -> Table:
    return _fits_table(path, None)


def _read_generic_votable(path: Path) -> Table:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        return Table.read(path, format="votable")


# --- helpers ---------------------------------------------------------------------------------

_TARGET_UNITS: dict[str, u.UnitBase] = {
    "ra_deg": u.deg,
    "dec_deg": u.deg,
    "flux_mjy": u.mJy,
    "flux_err_mjy": u.mJy,
    "peak_flux_mjy": _MJY_PER_BEAM,
    "peak_flux_err_mjy": _MJY_PER_BEAM,
    "major_arcsec": u.arcsec,
    "minor_arcsec": u.arcsec,
    "pa_deg": u.deg,
    "ra_err_arcsec": u.arcsec,
    "dec_err_arcsec": u.arcsec,
}


def _in_target_unit(table: Table, column: str, target: str, *, default: u.UnitBase) -> np.ndarray:
    """Column ``column`` in the unit of normalised column ``target``."""
    if target.startswith("peak_flux"):
        return _peak_mjy(table, column, default=default)
    return column_in(table, column, _TARGET_UNITS[target], default=default)


def _peak_mjy(table: Table, column: str, *, default: u.UnitBase | str) -> np.ndarray:
    """A brightness column in mJy/beam; files often label peaks plain ``mJy`` or ``Jy``."""
    unit = declared_unit(table[column]) if column in table.colnames else None
    unit = unit or u.Unit(default)
    if unit.is_equivalent(u.mJy):
        unit = unit / u.beam
    values = column_floats(table, column)
    try:
        return (values * unit).to_value(_MJY_PER_BEAM)
    except u.UnitConversionError as exc:
        raise CatalogFormatError(
            f"column {column!r} is in {unit}, which is not a brightness (Jy/beam)"
        ) from exc


def _pa_half_turn(pa_deg: np.ndarray) -> np.ndarray:
    """Position angles of ellipses (modulo 180°) in [-90, 90)."""
    return np.mod(pa_deg + 90.0, 180.0) - 90.0


def _fits_table(path: Path, extname_prefix: str | None) -> Table:
    """The first table HDU (or the first whose EXTNAME starts with ``extname_prefix``)."""
    with fits.open(path) as hdul:
        for index, hdu in enumerate(hdul):
            if not isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
                continue
            extname = str(hdu.header.get("EXTNAME", "")).strip().upper()
            if extname_prefix is None or extname.startswith(extname_prefix):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", u.UnitsWarning)
                    return Table.read(hdul, hdu=index)
    wanted = f"an {extname_prefix} table" if extname_prefix else "a table extension"
    raise CatalogFormatError(f"{path}: no {wanted}")


def _make_names_unique(table: Table, source: str) -> None:
    """Suffix repeated names ``_2``, ``_3``… in order of position (stable across file order).

    Raises
    ------
    CatalogFormatError
        If a name is empty, or a suffixed name collides with another name in the file.
    """
    names = np.asarray(table["name"], dtype=object)
    empty = names == ""
    if empty.any():
        raise CatalogFormatError(
            f"{source}: {int(empty.sum())} row(s) without a name, first at data row "
            f"{int(np.flatnonzero(empty)[0]) + 1}"
        )
    repeated = np.flatnonzero(pd.Index(names).duplicated(keep=False))
    if repeated.size:
        ra, dec = np.asarray(table["ra_deg"]), np.asarray(table["dec_deg"])
        example = str(names[repeated[0]])
        seen: dict[str, int] = {}
        for i in sorted(repeated.tolist(), key=lambda i: (names[i], ra[i], dec[i])):
            count = seen[names[i]] = seen.get(names[i], 0) + 1
            if count > 1:
                names[i] = f"{names[i]}_{count}"
        log.warning(
            "%s: %d row(s) share a name with another (e.g. %r); later ones in position "
            "order get suffixes _2, _3, ...",
            source,
            repeated.size,
            example,
        )
        if pd.Index(names).has_duplicates:
            raise CatalogFormatError(
                f"{source}: suffixed repeated names collide with other "
                "names in the file; make the names unique"
            )
    table["name"] = names


_SURVEY_READERS: dict[str, Callable[[Path], Table]] = {
    "nvss-raw": _read_nvss_raw,
    "nvss-vz": _read_nvss_vz,
    "first": _read_first,
    "vlass": _read_vlass,
}
_GENERIC: dict[str, Callable[[Path], Table]] = {
    "csv": _read_generic_csv,
    "fits": _read_generic_fits,
    "votable": _read_generic_votable,
}
