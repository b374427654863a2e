"""Reading position lists and writing measurement tables (CSV, Parquet, VOTable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from dsa110_contimg.choices import OUTPUT_FORMATS
from dsa110_contimg.errors import InputError
from dsa110_contimg.photometry.flags import decode_flags

__all__ = ["OUTPUT_FORMATS", "PositionsError", "read_positions", "write_measurements"]


class PositionsError(InputError):
    """A positions file that cannot be used, with the reason."""


def read_positions(path: str | Path) -> Table:
    """Read a CSV of positions with at least ``ra_deg,dec_deg`` (optional ``name``, ``source_id``).

    Other columns are ignored. Missing names become ``"row<N>"`` (1-based data row) and missing
    ids -1.

    Raises
    ------
    PositionsError
        If the file is missing, unreadable, empty or lacks the coordinate columns, or a
        coordinate is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise PositionsError(f"{path}: no such file")
    try:
        raw = Table.read(path, format="ascii.csv")
    except (ValueError, OSError) as exc:
        raise PositionsError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in ("ra_deg", "dec_deg") if c not in raw.colnames]
    if missing:
        raise PositionsError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(raw.colnames)}"
        )
    if len(raw) == 0:
        raise PositionsError(f"{path}: no positions")
    out = Table()
    out["name"] = (
        np.asarray(raw["name"], dtype=str)
        if "name" in raw.colnames
        else np.array([f"row{i + 1}" for i in range(len(raw))])
    )
    out["source_id"] = (
        np.asarray(raw["source_id"], dtype=np.int64)
        if "source_id" in raw.colnames
        else np.full(len(raw), -1, np.int64)
    )
    for col in ("ra_deg", "dec_deg"):
        try:
            out[col] = np.asarray(
                raw[col].filled(np.nan) if hasattr(raw[col], "filled") else raw[col], dtype=float
            )
        except ValueError as exc:
            raise PositionsError(f"{path}: column {col} is not numeric ({exc})") from exc
    return out


def write_measurements(table: Table, path: str | Path, fmt: str = "csv") -> Path:
    """Write a measurement table (with an extra human-readable ``flag_names`` column when it
    has ``flags``).

    Raises
    ------
    ValueError
        If ``fmt`` is not one of `OUTPUT_FORMATS`.
    """
    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {fmt!r}; choose one of {sorted(OUTPUT_FORMATS)}")
    out = table.copy(copy_data=False)
    if "flags" in table.colnames:
        out["flag_names"] = [";".join(decode_flags(v)) for v in table["flags"]]
    out.meta = {k: v for k, v in table.meta.items() if v is not None}
    path = Path(path)
    out.write(path, format=OUTPUT_FORMATS[fmt], overwrite=True)
    return path
