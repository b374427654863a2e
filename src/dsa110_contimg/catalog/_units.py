"""Column values as float64 in a requested unit, from the unit the file declares.

Catalogue files declare units in several dialects: FITS ``TUNITn`` (AIPS writes ``JY/BEAM``,
``DEGREE`` and even ``DEGREEE``), VizieR's units line and VOTable ``unit`` attributes. Each is
parsed by astropy, after mapping the AIPS spellings; a column without a unit takes the unit the
reader knows the catalogue uses.
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table

from dsa110_contimg.catalog.columns import CatalogFormatError

__all__ = ["column_floats", "column_in", "column_strings", "declared_unit"]

_ALIASES = {
    "DEGREE": "deg",
    "DEGREES": "deg",
    "DEGREEE": "deg",
    "DEG": "deg",
    "JY": "Jy",
    "JY/BEAM": "Jy/beam",
    "MJY": "mJy",
    "MJY/BEAM": "mJy/beam",
    "ARCSEC": "arcsec",
    "ARCMIN": "arcmin",
    "PIXEL": "pix",
    "DAY": "day",
}


def declared_unit(column: Column) -> u.UnitBase | None:
    """The unit a column declares, or None (also for units astropy cannot parse)."""
    unit = column.unit
    if unit is None:
        return None
    text = str(unit).strip()
    if not text:
        return None
    text = _ALIASES.get(text.upper(), text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        parsed = u.Unit(text, parse_strict="silent")
    return None if isinstance(parsed, u.UnrecognizedUnit) else parsed


def column_floats(table: Table, name: str) -> np.ndarray:
    """A column as float64; masked or blank entries become NaN.

    Raises
    ------
    CatalogFormatError
        If the column is missing or holds text that is not a number.
    """
    if name not in table.colnames:
        raise CatalogFormatError(f"missing column {name!r}; the table has {table.colnames}")
    column = table[name]
    if column.dtype.kind in "USO":
        text = np.char.strip(np.asarray(_filled(column, ""), dtype=str))
        text[text == ""] = "nan"
        try:
            return text.astype(np.float64)
        except ValueError as exc:
            raise CatalogFormatError(f"column {name!r} holds non-numeric values ({exc})") from exc
    return np.asarray(_filled(column, np.nan), dtype=np.float64)


def column_strings(table: Table, name: str) -> np.ndarray:
    """A column as stripped ``str`` values (masked entries are empty strings)."""
    if name not in table.colnames:
        raise CatalogFormatError(f"missing column {name!r}; the table has {table.colnames}")
    values = np.asarray(_filled(table[name], ""))
    if values.dtype.kind == "S":
        values = np.char.decode(values, "ascii", errors="replace")
    return np.char.strip(values.astype(str))


def column_in(
    table: Table, name: str, unit: u.UnitBase | str, *, default: u.UnitBase | str | None = None
) -> np.ndarray:
    """Column ``name`` converted to ``unit`` (float64).

    Parameters
    ----------
    table : astropy.table.Table
    name : str
        Column name.
    unit : astropy unit or str
        Wanted unit.
    default : astropy unit or str, optional
        Unit of the column when the file declares none (or one astropy cannot parse).

    Raises
    ------
    CatalogFormatError
        If the column is missing, has no usable unit and no default, or its unit cannot be
        converted to ``unit``.
    """
    values = column_floats(table, name)
    source = declared_unit(table[name]) or (u.Unit(default) if default is not None else None)
    if source is None:
        raise CatalogFormatError(
            f"column {name!r} declares no unit ({table[name].unit!r}); cannot convert to {unit}"
        )
    try:
        return (values * source).to_value(unit)
    except u.UnitConversionError as exc:
        raise CatalogFormatError(
            f"column {name!r} is in {source}, which does not convert to {unit}"
        ) from exc


def _filled(column: Column, fill: object) -> np.ndarray:
    if isinstance(column, MaskedColumn):
        if isinstance(fill, float) and column.dtype.kind in "iub":
            return np.ma.asarray(column).astype(np.float64).filled(fill)
        return column.filled(fill)
    return np.asarray(column)
