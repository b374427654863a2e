"""Per-product flux correction factors: computed, stored, applied and read back.

`normalize_product` runs right after a product's photometry is stored (the worker calls it when
the job's ``normalize`` parameter is true), in one transaction:

1. **References**: the product's measurements of reference-eligible master-catalogue sources
   (`dsa110_contimg.catalog.master`) that carry no flag but `REFERENCE_ALLOWED_FLAGS`, have
   S/N ≥ ``reference_min_snr`` in this image, and are not variable by their own light curves
   (η above ``reference_max_eta``, an epoch deviating by more than
   ``reference_max_deviation`` σ, or an active or confirmed variability candidate) — so a
   reference that varied is excluded from the following epochs automatically. At most
   ``max_references``, the brightest, spread over the field
   (`dsa110_contimg.variability.normalize.select_references`).
2. **Baselines**: each reference's mean normalized flux from its variability statistics once it
   has ``reference_min_history`` epochs (weighted, without its highest and lowest epoch from
   the fifth on; updated with every epoch, in O(1)), else its catalogue flux on the same
   scale (`dsa110_contimg.variability.normalize.reference_baselines`).
3. **Correction** ``C``: the σ-clipped ensemble ratio measured/baseline with its error
   (`dsa110_contimg.variability.normalize.correction_factor`); a reference that deviates in this
   image is clipped. Stored in ``image_corrections`` (value, error, references used, method,
   settings) for the product and parameter set.
4. **Normalized fluxes** ``S/C`` with propagated errors are written into the product's
   photometry rows (``peak_norm_jyb``, ``peak_norm_err_jyb``); raw fluxes are kept.
5. **Variability statistics** of the product's sources get these measurements in O(1)
   (`dsa110_contimg.variability.store`). A product normalized before (reprocessed)
   has its sources' statistics recomputed from their stored measurements instead, so nothing is
   counted twice.

Too few usable references is an expected outcome: it is logged at WARNING with the reason, and
the product keeps its raw rows with NULL normalized fluxes and adds nothing to the statistics
(a product counted before, now reprocessed without success, is taken out of them).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import numpy as np
from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dsa110_contimg.config import VariabilitySettings, get_settings
from dsa110_contimg.database.models import (
    ImageCorrection,
    MasterSource,
    Photometry,
    PhotometryParamSet,
    Product,
    VariabilityCandidate,
)
from dsa110_contimg.database.session import get_engine
from dsa110_contimg.errors import ConflictError
from dsa110_contimg.photometry.flags import PhotometryFlag
from dsa110_contimg.variability import store as variability_store
from dsa110_contimg.variability.normalize import (
    correction_factor,
    normalize_measurement,
    reference_baselines,
    select_references,
)

__all__ = [
    "METHOD",
    "ImageCorrectionRecord",
    "NormalizationError",
    "get_image_correction",
    "normalize_product",
]

log = logging.getLogger(__name__)

#: The ``method`` recorded with each correction.
METHOD = "reference-ensemble-ratio, 3σ MAD clip, inverse-variance mean"
_IN_CHUNK = 5000
#: The only flags a reference may carry: neighbours fitted jointly (isolation from comparable
#: neighbours is the master catalogue's ``confused`` flag).
REFERENCE_ALLOWED_FLAGS = PhotometryFlag.BLENDED | PhotometryFlag.WINDOWED_ERROR


class NormalizationError(ConflictError):
    """A product that cannot be normalized (e.g. too few usable references), with the reason."""


@dataclass(frozen=True)
class ImageCorrectionRecord:
    """A product's stored correction factor.

    Attributes
    ----------
    value, error : float
        The factor ``C`` (measured / baseline flux of the references) and its 1σ error.
    n_references : int
        How many references the ensemble kept.
    reference_source_ids : tuple of int
        Their catalogue source ids.
    method : str
        How the factor was computed.
    params_hash : str
        The photometry parameter set whose measurements it normalizes.
    """

    value: float
    error: float
    n_references: int
    reference_source_ids: tuple[int, ...]
    method: str
    params_hash: str


def get_image_correction(
    data_id: str, *, params_hash: str | None = None, url: str | None = None
) -> ImageCorrectionRecord | None:
    """The correction factor of a product, or None when it has none.

    Parameters
    ----------
    data_id : str
        The registered product.
    params_hash : str, optional
        A photometry parameter set; default: the most recently stored correction (that of the
        product's current measurement).
    url : str, optional
        Database URL (default from settings).
    """
    query = (
        select(ImageCorrection, PhotometryParamSet.params_hash)
        .join(Product, Product.id == ImageCorrection.product_id)
        .join(PhotometryParamSet, PhotometryParamSet.id == ImageCorrection.params_id)
        .where(Product.data_id == data_id)
        .order_by(ImageCorrection.created_at.desc(), ImageCorrection.id.desc())
        .limit(1)
    )
    if params_hash is not None:
        query = query.where(PhotometryParamSet.params_hash == params_hash)
    with get_engine(url).connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return ImageCorrectionRecord(
        value=float(row.value),
        error=float(row.error),
        n_references=int(row.n_references),
        reference_source_ids=tuple(int(s) for s in row.reference_source_ids),
        method=str(row.method),
        params_hash=str(row.params_hash),
    )


def normalize_product(
    data_id: str,
    *,
    params_hash: str,
    settings: VariabilitySettings | None = None,
    url: str | None = None,
) -> ImageCorrectionRecord | None:
    """Compute, store and apply a product's correction factor; update variability statistics.

    Parameters
    ----------
    data_id : str
        A product whose photometry with ``params_hash`` is stored.
    params_hash : str
        The photometry parameter set to normalize.
    settings : VariabilitySettings, optional
        Reference selection (default: configured).
    url : str, optional
        Database URL.

    Returns
    -------
    ImageCorrectionRecord or None
        None when the product cannot be normalized (too few usable references, no stored
        measurements); the reason is logged at WARNING and its normalized fluxes stay NULL.
    """
    settings = settings or get_settings().variability
    try:
        with get_engine(url).begin() as conn:
            return _normalize(conn, data_id, params_hash, settings)
    except NormalizationError as exc:
        log.warning("%s: not normalized: %s", data_id, exc)
        with get_engine(url).begin() as conn:
            _forget(conn, data_id, params_hash)
        return None


def _forget(conn: Connection, data_id: str, params_hash: str) -> None:
    """After a failed normalization: drop the parameter set's stale correction and, if the
    product was counted in the statistics, recompute its sources without it."""
    product_id = conn.execute(select(Product.id).where(Product.data_id == data_id)).scalar()
    params_id = conn.execute(
        select(PhotometryParamSet.id).where(PhotometryParamSet.params_hash == params_hash)
    ).scalar()
    if product_id is None or params_id is None:
        return
    counted = conn.execute(
        update(ImageCorrection)
        .where(ImageCorrection.product_id == product_id, ImageCorrection.stats_applied)
        .values(stats_applied=False)
    ).rowcount
    conn.execute(
        delete(ImageCorrection).where(
            ImageCorrection.product_id == product_id, ImageCorrection.params_id == params_id
        )
    )
    if counted:
        sources = (
            conn.execute(
                select(Photometry.source_id).distinct().where(Photometry.product_id == product_id)
            )
            .scalars()
            .all()
        )
        variability_store.recompute(conn, sources)


def _normalize(
    conn: Connection, data_id: str, params_hash: str, settings: VariabilitySettings
) -> ImageCorrectionRecord:
    postgres = conn.dialect.name == "postgresql"
    query = select(
        Product.id, Product.data_type, Product.ra_deg, Product.dec_deg, Product.mjd_mid
    ).where(Product.data_id == data_id)
    product = conn.execute(query.with_for_update() if postgres else query).first()
    if product is None:
        raise NormalizationError(f"no product with data_id {data_id!r}")
    params_id = conn.execute(
        select(PhotometryParamSet.id).where(PhotometryParamSet.params_hash == params_hash)
    ).scalar()
    if params_id is None:
        raise NormalizationError(f"no photometry with parameter set {params_hash}")
    rows = _measurements(conn, product.id, params_id)
    if rows["source_id"].size == 0:
        raise NormalizationError(f"no photometry with parameter set {params_hash}")
    refs = _references(conn, rows, product, settings)
    factor = correction_factor(
        refs["peak"],
        refs["error"],
        refs["baseline"],
        refs["baseline_err"],
        min_references=settings.min_references,
    )
    if not math.isfinite(factor.value):
        raise NormalizationError(
            f"{factor.n_used} usable reference(s) of {rows['source_id'].size} measurements, "
            f"fewer than min_references={settings.min_references} (reference-eligible "
            f"master-catalogue sources come from `contimg catalog build-master`)"
        )
    used = refs["source_id"][factor.used]
    already_counted = (
        conn.execute(
            select(ImageCorrection.id)
            .where(ImageCorrection.product_id == product.id, ImageCorrection.stats_applied)
            .limit(1)
        ).first()
        is not None
    )
    record = ImageCorrectionRecord(
        value=factor.value,
        error=factor.error,
        n_references=factor.n_used,
        reference_source_ids=tuple(int(s) for s in used),
        method=METHOD,
        params_hash=params_hash,
    )
    counts = product.data_type in settings.statistics_product_types
    _store(
        conn,
        product.id,
        params_id,
        record,
        settings,
        from_history=int(refs["from_history"][factor.used].sum()),
        counts=counts,
    )
    flux, error = normalize_measurement(rows["peak"], rows["error"], factor.value, factor.error)
    _write_normalized(conn, product.id, params_id, rows["source_id"], flux, error)
    if already_counted:
        variability_store.recompute(
            conn, rows["source_id"], product_types=settings.statistics_product_types
        )
    elif counts:
        variability_store.add_measurements(
            conn, rows["source_id"], flux, error, rows["flags"], product.mjd_mid
        )
    log.info(
        "%s: correction %.4f ± %.4f from %d references (%d from their history)",
        data_id,
        factor.value,
        factor.error,
        factor.n_used,
        int(refs["from_history"][factor.used].sum()),
    )
    return record


def _measurements(conn: Connection, product_id: int, params_id: int) -> dict[str, np.ndarray]:
    rows = conn.execute(
        select(
            Photometry.source_id,
            Photometry.ra_deg,
            Photometry.dec_deg,
            Photometry.peak_jyb,
            Photometry.peak_err_jyb,
            Photometry.snr,
            Photometry.flags,
        )
        .where(Photometry.product_id == product_id, Photometry.params_id == params_id)
        .order_by(Photometry.source_id)
    ).all()
    columns = list(zip(*rows)) if rows else [()] * 7

    def floats(values) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return {
        "source_id": np.asarray(columns[0], dtype=np.int64),
        "ra": floats(columns[1]),
        "dec": floats(columns[2]),
        "peak": floats(columns[3]),
        "error": floats(columns[4]),
        "snr": floats(columns[5]),
        "flags": np.asarray(columns[6], dtype=np.int64),
    }


def _references(
    conn: Connection, rows: dict[str, np.ndarray], product, settings: VariabilitySettings
) -> dict[str, np.ndarray]:
    """The chosen references' measurements and baselines."""
    usable = (
        ((rows["flags"] & ~int(REFERENCE_ALLOWED_FLAGS)) == 0)
        & np.isfinite(rows["peak"])
        & (rows["error"] > 0)
        & (rows["snr"] >= settings.reference_min_snr)
    )
    candidates = rows["source_id"][usable]
    catalog: dict[int, tuple[float, float]] = {}
    for start in range(0, candidates.size, _IN_CHUNK):
        chunk = [int(s) for s in candidates[start : start + _IN_CHUNK]]
        for row in conn.execute(
            select(MasterSource.source_id, MasterSource.flux_mjy, MasterSource.flux_err_mjy).where(
                MasterSource.source_id.in_(chunk), MasterSource.reference_eligible
            )
        ):
            catalog[int(row.source_id)] = (1e-3 * row.flux_mjy, 1e-3 * (row.flux_err_mjy or 0.0))
    keep = usable & np.isin(rows["source_id"], list(catalog))
    keep[keep] &= ~_variable(conn, rows["source_id"][keep], settings)
    index = np.flatnonzero(keep)
    cos_dec = math.cos(math.radians(product.dec_deg if product.dec_deg is not None else 0.0))
    ra0 = (
        product.ra_deg
        if product.ra_deg is not None
        else float(np.median(rows["ra"][index]))
        if index.size
        else 0.0
    )
    east = ((rows["ra"][index] - ra0 + 180.0) % 360.0 - 180.0) * cos_dec
    index = index[
        select_references(east, rows["dec"][index], rows["snr"][index], settings.max_references)
    ]
    source_id = rows["source_id"][index]
    history = variability_store.read_stats(conn, source_id).stats
    history_mean, history_err = history.trimmed_mean()
    cat_flux = np.array([catalog[int(s)][0] for s in source_id])
    cat_err = np.array([catalog[int(s)][1] for s in source_id])
    baseline, baseline_err, from_history = reference_baselines(
        history_mean,
        history_err,
        history.n,
        cat_flux,
        cat_err,
        min_history=settings.reference_min_history,
    )
    return {
        "source_id": source_id,
        "peak": rows["peak"][index],
        "error": rows["error"][index],
        "baseline": baseline,
        "baseline_err": baseline_err,
        "from_history": from_history,
    }


def _variable(conn: Connection, source_id: np.ndarray, settings: VariabilitySettings) -> np.ndarray:
    """Whether each source is variable by its own light curve (or a live candidate)."""
    stats = variability_store.read_stats(conn, source_id).stats
    with np.errstate(invalid="ignore"):
        variable = (np.nan_to_num(stats.eta()) > settings.reference_max_eta) | (
            np.abs(np.nan_to_num(stats.extreme_deviation())) > settings.reference_max_deviation
        )
    flagged: set[int] = set()
    ids = [int(s) for s in source_id]
    for start in range(0, len(ids), _IN_CHUNK):
        flagged.update(
            conn.execute(
                select(VariabilityCandidate.source_id).where(
                    VariabilityCandidate.source_id.in_(ids[start : start + _IN_CHUNK]),
                    VariabilityCandidate.status.in_(("active", "confirmed")),
                )
            ).scalars()
        )
    return variable | np.isin(source_id, list(flagged))


def _store(
    conn: Connection,
    product_id: int,
    params_id: int,
    record: ImageCorrectionRecord,
    settings: VariabilitySettings,
    *,
    from_history: int,
    counts: bool,
) -> None:
    """Upsert the correction of (product, parameter set), counted in the statistics or not;
    the product's others stop counting."""
    conn.execute(
        update(ImageCorrection)
        .where(ImageCorrection.product_id == product_id)
        .values(stats_applied=False)
    )
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {
        "value": record.value,
        "error": record.error,
        "n_references": record.n_references,
        "reference_source_ids": list(record.reference_source_ids),
        "method": record.method,
        "settings": {**settings.model_dump(mode="json"), "n_baselines_from_history": from_history},
        "stats_applied": counts,
        "created_at": datetime.now(UTC),
    }
    statement = dialect.insert(ImageCorrection.__table__).values(
        product_id=product_id, params_id=params_id, **values
    )
    conn.execute(
        statement.on_conflict_do_update(index_elements=["product_id", "params_id"], set_=values)
    )


def _write_normalized(
    conn: Connection,
    product_id: int,
    params_id: int,
    source_id: np.ndarray,
    flux: np.ndarray,
    error: np.ndarray,
) -> None:
    statement = (
        update(cast(Table, Photometry.__table__))
        .where(
            Photometry.source_id == bindparam("sid"),
            Photometry.product_id == product_id,
            Photometry.params_id == params_id,
        )
        .values(peak_norm_jyb=bindparam("norm"), peak_norm_err_jyb=bindparam("norm_err"))
    )
    conn.execute(
        statement,
        [
            {
                "sid": int(s),
                "norm": float(f) if math.isfinite(f) else None,
                "norm_err": float(e) if math.isfinite(e) else None,
            }
            for s, f, e in zip(source_id, flux, error)
        ],
    )
