"""Astropy tables as lists of plain-Python records for the response models."""

from __future__ import annotations

from collections.abc import Iterable

from astropy.table import Table

from dsa110_contimg.photometry.flags import decode_flags

__all__ = ["records"]


def records(table: Table, columns: Iterable[str] | None = None) -> list[dict]:
    """One dict per row of ``columns`` (default: all) with Python values (masked → None),
    plus ``flag_names`` when the table has ``flags``."""
    names = [c for c in (columns or table.colnames) if c in table.colnames]
    values = {name: table[name].tolist() for name in names}
    rows = [dict(zip(names, row)) for row in zip(*values.values())] if names else []
    if "flags" in names:
        for row in rows:
            row["flag_names"] = decode_flags(row["flags"])
    return rows
