"""VizieR exports: VOTable, CSV, and the ``#``-commented semicolon/tab "TSV" form.

The TSV form is ``#`` comment lines, a line of column names, a line of units, a line of dashes,
then the rows. The names line may be wrapped over several lines (a continuation starts with
the delimiter), and the header may live in a separate file from the rows (as in extracts that
keep ``nvss-header.txt`` apart from the data). Units from the units line are attached to the
columns; sexagesimal columns (``"h:m:s"``, ``"d:m:s"``) stay text.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from astropy import units as u
from astropy.io import ascii as astropy_ascii
from astropy.io.ascii import InconsistentTableError
from astropy.table import Table

from dsa110_contimg.catalog.columns import CatalogFormatError

__all__ = ["VOTABLE_SUFFIXES", "read_vizier", "vizier_header_text"]

VOTABLE_SUFFIXES = (".xml", ".vot", ".votable")
_DELIMITERS = (";", "\t", "|")


def vizier_header_text(path: Path, header: Path | None = None, n_chars: int = 20000) -> str:
    """The start of the header of a VizieR export (for format detection)."""
    source = header if header is not None else path
    with source.open(errors="replace") as handle:
        return handle.read(n_chars)


def read_vizier(path: Path, header: Path | None = None) -> Table:
    """Read a VizieR export into a Table with units attached.

    Parameters
    ----------
    path : Path
        The export (VOTable, CSV or TSV), or only its rows when ``header`` is given.
    header : Path, optional
        A separate file with the comment lines, names, units and dashes of a TSV export.

    Raises
    ------
    CatalogFormatError
        If the rows do not match the header.
    """
    if path.suffix.lower() in VOTABLE_SUFFIXES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)
            return Table.read(path, format="votable")
    header_lines = _content_lines(header) if header is not None else []
    data_lines = _content_lines(path)
    lines = header_lines + data_lines
    dashes = next((i for i, line in enumerate(lines) if _is_dashes(line)), None)
    if dashes is None:
        if header is not None:
            raise CatalogFormatError(f"{header}: no '---' line after the names and units")
        if lines and any(d in lines[0] for d in _DELIMITERS):
            raise CatalogFormatError(
                f"{path}: VizieR rows without a header (names, units, dashes); pass the "
                "header file as well (header=..., --header FILE)"
            )
        return Table.read(path, format="ascii.csv", comment="#")
    if dashes < 2:
        raise CatalogFormatError(f"{header or path}: expected names and units before '---'")
    delimiter = next((d for d in _DELIMITERS if d in lines[0]), ",")
    names = [n.strip() for n in "".join(lines[: dashes - 1]).split(delimiter)]
    units = [s.strip().strip('"') for s in lines[dashes - 1].split(delimiter)]
    rows = lines[dashes + 1 :]
    try:
        table = astropy_ascii.read(
            rows,
            format="no_header",
            delimiter=delimiter,
            names=names,
            guess=False,
            fast_reader=True,
        )
    except InconsistentTableError as exc:
        raise CatalogFormatError(
            f"{path}: rows do not match the {len(names)} header columns ({exc})"
        ) from exc
    for name, unit in zip(names, units):
        if unit and ":" not in unit:
            table[name].unit = u.Unit(unit, parse_strict="silent")
        table[name].meta["vizier_unit"] = unit
    return table


def _content_lines(path: Path) -> list[str]:
    with path.open(errors="replace") as handle:
        return [line.rstrip("\r\n") for line in handle if line.strip() and not line.startswith("#")]


def _is_dashes(line: str) -> bool:
    stripped = line
    for delimiter in _DELIMITERS:
        stripped = stripped.replace(delimiter, "")
    return bool(stripped) and set(stripped.strip()) == {"-"}
