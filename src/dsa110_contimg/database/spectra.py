"""Sub-band spectra in the products database: storing a product's adaptive bins and spectral
indices, and reading a source's spectrum and its spectral index over time.

The rows come from `dsa110_contimg.photometry.adaptive.spectra` (one row per bin, the
source's power-law fit repeated on each). They are keyed like photometry rows (source,
product, parameter set): measuring a product's spectra again replaces them all, since the
number of bins may change.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from astropy.table import Table
from sqlalchemy import delete, func, insert, select

from dsa110_contimg.database.models import (
    PhotometryParamSet,
    Product,
    SpectralIndex,
    SpectrumBin,
)
from dsa110_contimg.database.products import params_set_id, product_id_of
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.photometry.adaptive_columns import SPECTRAL_FIT_COLUMNS, SPECTRUM_BIN_COLUMNS

__all__ = [
    "SPECTRAL_INDEX_COLUMNS",
    "SPECTRUM_BIN_COLUMNS",
    "product_spectral_indices",
    "product_spectra_summary",
    "source_spectral_indices",
    "source_spectrum",
    "spectra_insert",
]

#: Columns of spectral indices per product (`source_spectral_indices`,
#: `product_spectral_indices`).
SPECTRAL_INDEX_COLUMNS = (
    "source_id",
    "data_id",
    "mjd_mid",
    *SPECTRAL_FIT_COLUMNS,
    "n_bins",
    "n_subbands",
    "target_snr",
    "upper_limit",
)


def spectra_insert(data_id: str, table: Table, *, params_hash: str, url: str | None = None) -> int:
    """Replace a product's spectra (for one parameter set) with ``table``; returns its bins.

    Parameters
    ----------
    data_id : str
        The registered product; its observation mid-time is stored with each spectral index.
    table : astropy.table.Table
        `dsa110_contimg.photometry.adaptive.spectra` output (``meta["target_snr"]`` recorded).
        Rows without a catalogue ``source_id`` (< 1) cannot be stored and are left out.
    params_hash : str
        The parameter set of the product's MFS photometry.

    Raises
    ------
    UnknownDataError
        ``data_id`` has no product record.
    """
    target_snr = float(table.meta.get("target_snr", math.nan))
    rows = table[np.asarray(table["source_id"], dtype=np.int64) > 0] if len(table) else table
    engine = get_engine(url)
    with engine.begin() as conn:
        product_id = product_id_of(conn, data_id)
        mjd = conn.execute(select(Product.mjd_mid).where(Product.id == product_id)).scalar()
        params_id = params_set_id(conn, params_hash)
        for model in (SpectrumBin, SpectralIndex):
            conn.execute(
                delete(model).where(model.product_id == product_id, model.params_id == params_id)
            )
        if not len(rows):
            return 0
        key = {"product_id": product_id, "params_id": params_id}
        conn.execute(
            insert(SpectrumBin),
            [
                {
                    **key,
                    "source_id": int(r["source_id"]),
                    "bin": int(r["bin"]),
                    "first_subband": int(r["first_subband"]),
                    "last_subband": int(r["last_subband"]),
                    "freq_hz": float(r["freq_hz"]),
                    "flux_jy": _null(r["flux_jy"]),
                    "flux_err_jy": _null(r["flux_err_jy"]),
                    "upper_limit": bool(r["upper_limit"]),
                    "limit_jy": _null(r["limit_jy"]),
                }
                for r in rows
            ],
        )
        stamp = datetime.now(UTC)
        per_source: dict[int, dict] = {}
        for r in rows:
            source = per_source.setdefault(
                int(r["source_id"]),
                {
                    **key,
                    "source_id": int(r["source_id"]),
                    "mjd_mid": mjd,
                    **{c: _null(r[c]) for c in SPECTRAL_FIT_COLUMNS},
                    "n_bins": 0,
                    "n_subbands": int(r["n_subbands"]),
                    "target_snr": target_snr,
                    "upper_limit": False,
                    "measured_at": stamp,
                },
            )
            if bool(r["upper_limit"]):
                source["upper_limit"] = True
            else:
                source["n_bins"] += 1
        conn.execute(insert(SpectralIndex), list(per_source.values()))
    return len(rows)


def source_spectrum(
    source_id: int,
    *,
    data_id: str | None = None,
    params_hash: str | None = None,
    url: str | None = None,
) -> Table:
    """A source's adaptive spectrum on one product (columns `SPECTRUM_BIN_COLUMNS`, the bin
    columns of `dsa110_contimg.photometry.adaptive.spectra`).

    The product is ``data_id``, or the source's latest observation with a spectrum; the
    parameter set is ``params_hash``, or the most recently measured one. ``meta`` carries the
    product (``data_id``, ``mjd_mid``) and the power-law fit (`SPECTRAL_INDEX_COLUMNS`). An empty
    table (and no fit in ``meta``) when there is none.
    """
    query = _index_query().where(SpectralIndex.source_id == source_id)
    if data_id is not None:
        query = query.where(Product.data_id == data_id)
    if params_hash is not None:
        query = query.where(PhotometryParamSet.params_hash == params_hash)
    query = (
        query.add_columns(SpectralIndex.product_id, SpectralIndex.params_id)
        .order_by(SpectralIndex.mjd_mid.desc(), SpectralIndex.measured_at.desc())
        .limit(1)
    )
    with get_engine(url).connect() as conn:
        chosen = conn.execute(query).mappings().first()
        if chosen is None:
            return _table([], SPECTRUM_BIN_COLUMNS)
        bins = (
            conn.execute(
                select(*(getattr(SpectrumBin, c) for c in SPECTRUM_BIN_COLUMNS if c != "snr"))
                .where(
                    SpectrumBin.source_id == source_id,
                    SpectrumBin.product_id == chosen["product_id"],
                    SpectrumBin.params_id == chosen["params_id"],
                )
                .order_by(SpectrumBin.bin)
            )
            .mappings()
            .all()
        )
    records = [
        {
            **b,
            "snr": (
                b["flux_jy"] / b["flux_err_jy"]
                if b["flux_jy"] is not None and b["flux_err_jy"]
                else None
            ),
        }
        for b in bins
    ]
    table = _table(records, SPECTRUM_BIN_COLUMNS)
    table.meta.update({c: _value(chosen[c]) for c in SPECTRAL_INDEX_COLUMNS})
    return table


def source_spectral_indices(
    source_id: int, *, params_hash: str | None = None, url: str | None = None
) -> Table:
    """A source's spectral index per product, in time order (columns
    `SPECTRAL_INDEX_COLUMNS`; one row per product: the most recently measured parameter set,
    or ``params_hash``)."""
    query = _index_query().where(SpectralIndex.source_id == source_id)
    return _current_per_product(query, params_hash, url)


def product_spectral_indices(
    data_id: str, *, params_hash: str | None = None, url: str | None = None
) -> Table:
    """Every source's spectral index on one product (columns `SPECTRAL_INDEX_COLUMNS`)."""
    query = _index_query().where(Product.data_id == data_id)
    return _current_per_product(query, params_hash, url, per="source")


def product_spectra_summary(data_id: str, *, url: str | None = None) -> dict | None:
    """How a product's spectra came out (None when it has none): sources with a spectrum,
    with a spectral index, upper limits, the median α error and the target S/N."""
    table = product_spectral_indices(data_id, url=url)
    if not len(table):
        return None
    alpha_err = np.asarray(table["alpha_err"], dtype=float)
    fitted = np.isfinite(alpha_err)
    return {
        "n_sources": len(table),
        "n_alpha": int(fitted.sum()),
        "n_upper_limits": int(np.sum(table["upper_limit"])),
        "median_alpha_err": float(np.median(alpha_err[fitted])) if fitted.any() else None,
        "target_snr": float(table["target_snr"][0]),
    }


def _index_query():
    return (
        select(
            SpectralIndex.source_id,
            Product.data_id,
            SpectralIndex.mjd_mid,
            *(getattr(SpectralIndex, c) for c in SPECTRAL_INDEX_COLUMNS[3:]),
        )
        .join(Product, Product.id == SpectralIndex.product_id)
        .join(PhotometryParamSet, PhotometryParamSet.id == SpectralIndex.params_id)
    )


def _current_per_product(
    query, params_hash: str | None, url: str | None, *, per: str = "product"
) -> Table:
    """Rows of ``query``, one per product (or per source): ``params_hash``'s, else the newest."""
    if params_hash is not None:
        query = query.where(PhotometryParamSet.params_hash == params_hash)
    else:
        rank = func.row_number().over(
            partition_by=SpectralIndex.product_id if per == "product" else SpectralIndex.source_id,
            order_by=(SpectralIndex.measured_at.desc(), SpectralIndex.params_id.desc()),
        )
        ranked = query.add_columns(rank.label("_rank")).subquery()
        query = select(*(c for c in ranked.c if c.name != "_rank")).where(ranked.c._rank == 1)
    sub = query.subquery()
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(sub).order_by(sub.c.mjd_mid, sub.c.source_id)).mappings().all()
    return _table(rows, SPECTRAL_INDEX_COLUMNS)


def _table(rows, names: tuple[str, ...]) -> Table:
    """Rows as a Table: NULL → NaN for floats, booleans and integers kept."""
    table = Table()
    for name in names:
        values = [row[name] for row in rows]
        if name == "data_id":
            table[name] = np.asarray(values, dtype=str) if values else np.zeros(0, dtype=str)
        elif name == "upper_limit":
            table[name] = np.asarray(values, dtype=bool)
        elif name in ("source_id", "bin", "first_subband", "last_subband", "n_bins", "n_subbands"):
            table[name] = np.asarray(values, dtype=np.int64)
        else:
            table[name] = np.asarray([math.nan if v is None else v for v in values], dtype=float)
    return table


def _null(value) -> float | None:
    """A float, or None for NaN/masked (SQLite cannot hold NaN)."""
    if np.ma.is_masked(value):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _value(value):
    """A JSON-friendly scalar of a database value (NULL floats → NaN)."""
    return math.nan if value is None else value
