"""Tables left by the original DSA-110 products database, and their rows in the new schema.

The original code kept its measurements in a table also called ``photometry`` (text
``source_id`` such as ``J150955+462930``, ``image_path``, ``peak_jyb``, ``measured_at``,
``mjd``, …) beside ``images``, ``batch_jobs``, ``batch_job_items`` and the registry tables.
Before the schema is upgraded, `set_aside_legacy_tables` renames that ``photometry`` table
to ``legacy_photometry`` (``images``, ``batch_jobs`` and ``batch_job_items`` keep their names:
they clash with nothing and are kept as they are). After the upgrade,
`migrate_legacy_photometry` turns every legacy row that can be mapped into a row of the new
``photometry`` table — image path → registered product, position (or, for a row without
one, the position its ``Jhhmmss±ddmmss`` name encodes) → the nearest catalogue source within a
matching radius, ``mjd`` kept — under the parameter set `LEGACY_PARAMS_HASH`,
and writes in the row's ``migration_note`` either ``migrated`` or ``unmapped: <reason>``.
No legacy row is ever deleted; a later upgrade (e.g. after a catalogue was ingested) tries the
unmapped rows again.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import Connection, inspect, text

from dsa110_contimg.data_roots import PathOutsideRootsError
from dsa110_contimg.database.registry import register_data
from dsa110_contimg.imaging.fits_io import ImageReadError

__all__ = [
    "LEGACY_PARAMS_HASH",
    "LEGACY_TABLES",
    "legacy_tables",
    "migrate_legacy_photometry",
    "name_position",
    "set_aside_legacy_tables",
]

log = logging.getLogger(__name__)

#: Parameter set of the migrated rows (their measurement parameters are unknown).
LEGACY_PARAMS_HASH = "legacy-dsa110"
#: Tables of the original products database, kept under these names.
LEGACY_TABLES = {
    "photometry": "legacy_photometry",
    "images": "images",
    "batch_jobs": "batch_jobs",
    "batch_job_items": "batch_job_items",
}


def legacy_tables(conn: Connection) -> dict[str, int]:
    """Original DSA-110 tables present (by their current names) and their row counts.

    The original ``photometry`` table is recognised by its ``image_path`` column.
    """
    inspector = inspect(conn)
    names = set(inspector.get_table_names())
    found: dict[str, int] = {}
    for old, kept in LEGACY_TABLES.items():
        for name in dict.fromkeys((old, kept)):
            if name in names and (
                not name.endswith("photometry")
                or "image_path" in {c["name"] for c in inspector.get_columns(name)}
            ):
                found[name] = conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
    return found


def set_aside_legacy_tables(conn: Connection) -> dict[str, str]:
    """Rename the original tables whose names the new schema uses; ``{old: new}``."""
    renamed = {}
    for old, new in LEGACY_TABLES.items():
        if old != new and old in legacy_tables(conn):
            conn.execute(text(f'ALTER TABLE "{old}" RENAME TO "{new}"'))
            renamed[old] = new
            log.warning("original table %s kept as %s", old, new)
    return renamed


def migrate_legacy_photometry(conn: Connection, *, match_radius_arcsec: float = 5.0) -> Counter:
    """Map the legacy rows not yet migrated into the new ``photometry`` table, in ``conn``'s
    open transaction (a schema upgrade's on PostgreSQL: committed with it, or rolled back by a
    dry run, which so still reports what the mapping would do).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection to a database already upgraded to the current schema (within the same
        transaction, or committed). Images of legacy rows not yet registered are registered
        through it.
    match_radius_arcsec : float
        Largest distance from a legacy row's position to its catalogue source.

    Returns
    -------
    collections.Counter
        ``"migrated"`` and each ``"unmapped: <reason>"`` with their numbers of rows (this run).
    """
    if "legacy_photometry" not in legacy_tables(conn):
        return Counter()
    columns = {c["name"] for c in inspect(conn).get_columns("legacy_photometry")}
    if "migration_note" not in columns:
        conn.execute(text("ALTER TABLE legacy_photometry ADD COLUMN migration_note TEXT"))
    paths: list[str] = list(
        conn.execute(
            text(
                "SELECT DISTINCT image_path FROM legacy_photometry "
                "WHERE migration_note IS NULL OR migration_note != 'migrated'"
            )
        )
        .scalars()
        .all()
    )
    products, path_reasons = _products(conn, paths)
    return _map_rows(conn, columns, products, path_reasons, match_radius_arcsec)


def _products(
    conn: Connection, paths: list[str]
) -> tuple[dict[str, tuple[int, float | None]], dict[str, str]]:
    """Product id and mid MJD of each image path (registering files not yet registered), and
    the reason for each path that has none."""
    found, reasons = {}, {}
    for path in paths:
        product = _product_of(conn, path)
        if product is None and Path(path).is_file():
            try:
                register_data(path, connection=conn)
            except (ImageReadError, PathOutsideRootsError) as exc:
                reasons[path] = f"image cannot be registered: {exc}"
                continue
            product = _product_of(conn, str(Path(path).resolve()))
        if product is None:
            reasons[path] = (
                "image not registered and its file is missing"
                if not Path(path).is_file()
                else "image registered without a product record"
            )
        else:
            found[path] = product
    return found, reasons


def _product_of(conn: Connection, path: str) -> tuple[int, float | None] | None:
    row = conn.execute(
        text(
            "SELECT p.id, p.mjd_mid FROM data_registry r "
            "JOIN product p ON p.data_id = r.data_id "
            "WHERE r.stage_path = :path OR r.published_path = :path"
        ),
        {"path": path},
    ).first()
    return None if row is None else (row[0], row[1])


def _map_rows(
    conn: Connection, columns: set[str], products: dict, path_reasons: dict, radius_arcsec: float
) -> Counter:
    optional = [c for c in ("snr", "mjd", "flux_jy", "local_rms", "rms_jy") if c in columns]
    rows = (
        conn.execute(
            text(
                "SELECT id, source_id, image_path, ra_deg, dec_deg, peak_jyb, peak_err_jyb, "
                "measured_at" + "".join(f", {c}" for c in optional) + " FROM legacy_photometry"
                " WHERE migration_note IS NULL OR migration_note != 'migrated' ORDER BY id"
            )
        )
        .mappings()
        .all()
    )
    positions = [_row_position(row, radius_arcsec) for row in rows]
    sources = _nearest_sources(conn, positions)
    params_id = _legacy_params_id(conn)
    outcome: Counter = Counter()
    taken: set[tuple[int, int]] = set()
    for row, source, (ra, dec, _radius) in zip(rows, sources, positions, strict=True):
        product = products.get(row["image_path"])
        if product is None:
            note = f"unmapped: {path_reasons[row['image_path']]}"
        elif source is None:
            note = (
                f"unmapped: no catalogue source within {radius_arcsec:g}″ of its position "
                "(ingest the catalogue, then run the upgrade again)"
            )
        elif (source, product[0]) in taken or conn.execute(
            text(
                "SELECT 1 FROM photometry WHERE source_id = :s AND product_id = :p AND "
                "params_id = :k"
            ),
            {"s": source, "p": product[0], "k": params_id},
        ).first():
            note = "unmapped: another row of the same source and image was migrated"
        else:
            conn.execute(
                text(
                    "INSERT INTO photometry (source_id, product_id, params_id, mjd_mid, ra_deg, "
                    "dec_deg, peak_jyb, peak_err_jyb, int_flux_jy, local_rms_jyb, snr, flags, "
                    "measured_at) VALUES (:s, :p, :k, :mjd, :ra, :dec, :peak, :err, :flux, :rms, "
                    ":snr, 0, :at)"
                ),
                {
                    "s": source,
                    "p": product[0],
                    "k": params_id,
                    "mjd": _finite(row.get("mjd")) or product[1],
                    "ra": ra,
                    "dec": dec,
                    "peak": _finite(row["peak_jyb"]),
                    "err": _finite(row["peak_err_jyb"]),
                    "flux": _finite(row.get("flux_jy")),
                    "rms": _finite(row.get("local_rms", row.get("rms_jy"))),
                    "snr": _finite(row.get("snr")),
                    "at": _timestamp(row["measured_at"]),
                },
            )
            taken.add((source, product[0]))
            note = "migrated"
        conn.execute(
            text("UPDATE legacy_photometry SET migration_note = :note WHERE id = :id"),
            {"note": note, "id": row["id"]},
        )
        outcome[note] += 1
    for note, n in outcome.items():
        (log.info if note == "migrated" else log.warning)(
            "legacy photometry: %d row(s) %s", n, note
        )
    return outcome


def _nearest_sources(
    conn: Connection, positions: list[tuple[float, float, float]]
) -> list[int | None]:
    """The nearest catalogue source within each ``(ra_deg, dec_deg, radius_arcsec)``, or None
    (also for a NaN position)."""
    catalogue = conn.execute(text("SELECT id, ra_deg, dec_deg FROM catalog_source")).all()
    if not catalogue or not positions:
        return [None] * len(positions)
    ra, dec, radius = (np.array(values, dtype=float) for values in zip(*positions, strict=True))
    ids = np.array([c[0] for c in catalogue])
    tree = cKDTree(_unit([c[1] for c in catalogue], [c[2] for c in catalogue]))
    chord = 2.0 * np.sin(np.radians(radius / 3600.0) / 2.0)
    known = np.isfinite(ra) & np.isfinite(dec)
    distance = np.full(ra.size, np.inf)
    index = np.zeros(ra.size, dtype=int)
    if known.any():
        distance[known], index[known] = tree.query(
            _unit(ra[known], dec[known]), distance_upper_bound=chord.max()
        )
    return [int(ids[i]) if d <= c else None for d, i, c in zip(distance, index, chord, strict=True)]


#: A name made from truncated coordinates, e.g. ``J150955+462930`` (seconds may have decimals).
_NAME = re.compile(r"^J(\d{2})(\d{2})(\d{2}(?:\.\d+)?)([+-])(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$")


def name_position(name: str | None) -> tuple[float, float, float] | None:
    """The position a ``Jhhmmss±ddmmss`` name encodes, and how far the source may lie from it.

    The original code made such names by truncating the coordinates, so the source lies
    within one unit of the last digit above them (RA in seconds of time, Dec in arcseconds
    away from the equator): the position returned is the middle of that cell.

    Returns
    -------
    (float, float, float) or None
        ``(ra_deg, dec_deg, half-diagonal of the cell in arcsec)``, or None for another name.
    """
    match = _NAME.match((name or "").strip())
    if match is None:
        return None
    hh, mm, ss, sign, dd, am, asec = match.groups()
    ra_step = 10.0 ** -len(ss.partition(".")[2])  # seconds of time
    dec_step = 10.0 ** -len(asec.partition(".")[2])  # arcseconds
    ra_deg = 15.0 * (int(hh) + int(mm) / 60.0 + (float(ss) + ra_step / 2) / 3600.0)
    dec_abs = int(dd) + int(am) / 60.0 + (float(asec) + dec_step / 2) / 3600.0
    dec_deg = -dec_abs if sign == "-" else dec_abs
    ra_half = 15.0 * ra_step / 2 * math.cos(math.radians(dec_deg))  # arcsec on the sky
    return ra_deg % 360.0, dec_deg, math.hypot(ra_half, dec_step / 2)


def _row_position(row, radius_arcsec: float) -> tuple[float, float, float]:
    """``(ra_deg, dec_deg, match radius in arcsec)`` of a legacy row: its ``ra_deg``/``dec_deg``
    within ``radius_arcsec``, or else the position its ``source_id`` name encodes
    (`name_position`) within that radius widened by the name's truncation; NaN when it has
    neither."""
    ra, dec = _finite(row["ra_deg"]), _finite(row["dec_deg"])
    if ra is not None and dec is not None:
        return ra, dec, radius_arcsec
    named = name_position(row["source_id"])
    if named is None:
        return math.nan, math.nan, radius_arcsec
    return named[0], named[1], radius_arcsec + named[2]


def _unit(ra_deg, dec_deg) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra_deg, float)), np.radians(np.asarray(dec_deg, float))
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def _legacy_params_id(conn: Connection) -> int:
    found = conn.execute(
        text("SELECT id FROM photometry_params WHERE params_hash = :h"), {"h": LEGACY_PARAMS_HASH}
    ).scalar()
    if found is not None:
        return found
    conn.execute(
        text("INSERT INTO photometry_params (params_hash) VALUES (:h)"), {"h": LEGACY_PARAMS_HASH}
    )
    return conn.execute(
        text("SELECT id FROM photometry_params WHERE params_hash = :h"), {"h": LEGACY_PARAMS_HASH}
    ).scalar_one()


def _finite(value) -> float | None:
    """A finite float, or None (NULL) for a missing or non-finite value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _timestamp(value) -> datetime | None:
    """The original ``measured_at`` (Unix seconds or ISO text) as a UTC time."""
    seconds = _finite(value)
    if seconds is not None:
        return datetime.fromtimestamp(seconds, UTC)
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None
