"""SQLAlchemy models: the single definition of the database schema.

Alembic revisions in ``database/migrations`` are generated from these models; services create
and upgrade the schema with `dsa110_contimg.database.migrate.upgrade`, never ``create_all``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CATALOG_ZONE_HEIGHT_DEG",
    "Base",
    "BatchJob",
    "BatchJobItem",
    "Catalog",
    "CatalogSource",
    "DataRegistry",
    "DataRelationship",
    "ImageCorrection",
    "MasterSource",
    "Photometry",
    "PhotometryParamSet",
    "Product",
    "SpectralIndex",
    "SpectrumBin",
    "VariabilityCandidate",
    "VariabilityStats",
    "catalog_zone",
    "unix_seconds",
]

#: Height of the declination strips ("zones") that index catalogue positions.
CATALOG_ZONE_HEIGHT_DEG = 0.5

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit integer keys that still autoincrement on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


def catalog_zone(dec_deg: float) -> int:
    """Zone (declination strip) index of a declination."""
    return int(math.floor((dec_deg + 90.0) / CATALOG_ZONE_HEIGHT_DEG))


@overload
def unix_seconds(moment: datetime) -> float: ...
@overload
def unix_seconds(moment: None) -> None: ...
def unix_seconds(moment: datetime | None) -> float | None:
    """Unix seconds of a stored time (``None`` stays ``None``).

    Every wall-clock time in the schema is a ``DateTime(timezone=True)`` in UTC; SQLite gives
    it back without its zone, which is therefore taken as UTC.

    Examples
    --------
    >>> unix_seconds(datetime(1970, 1, 1, 0, 1))
    60.0
    """
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Catalog(Base):
    """An ingested source catalogue (NVSS, FIRST, VLASS, a custom list, ...)."""

    __tablename__ = "catalog"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    frequency_hz: Mapped[float | None] = mapped_column(Float)
    source_file: Mapped[str | None] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    n_sources: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CatalogSource(Base):
    """One catalogue source. ``id`` is the stable source id used everywhere else.

    Fluxes are in mJy: ``flux_mjy`` is the integrated (total) flux density, ``peak_flux_mjy``
    the peak (mJy/beam) where the catalogue has one. Sizes are deconvolved FWHM in arcsec.
    """

    __tablename__ = "catalog_source"
    __table_args__ = (
        UniqueConstraint("catalog_id", "name"),
        Index("ix_catalog_source_zone", "catalog_id", "zone", "ra_deg"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalog.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    ra_deg: Mapped[float] = mapped_column(Float(53))
    dec_deg: Mapped[float] = mapped_column(Float(53))
    zone: Mapped[int] = mapped_column(Integer)
    flux_mjy: Mapped[float | None] = mapped_column(Float)
    flux_err_mjy: Mapped[float | None] = mapped_column(Float)
    peak_flux_mjy: Mapped[float | None] = mapped_column(Float)
    peak_flux_err_mjy: Mapped[float | None] = mapped_column(Float)
    major_arcsec: Mapped[float | None] = mapped_column(Float)
    minor_arcsec: Mapped[float | None] = mapped_column(Float)
    pa_deg: Mapped[float | None] = mapped_column(Float)
    ra_err_arcsec: Mapped[float | None] = mapped_column(Float)
    dec_err_arcsec: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict | None] = mapped_column(JSON)


class DataRegistry(Base):
    """Every data product's identity, location and pipeline statuses.

    The columns up to ``auto_publish_enabled`` are those of the original DSA-110 registry (so an
    existing registry database is upgraded in place; its Unix-second times became UTC
    timestamps in revision 0015, records give them as Unix seconds). A product is
    ``staging`` (at ``stage_path``) until published (moved to ``published_path``); moving
    changes its path, never its ``data_id``.

    ``photometry_status`` is NULL (not requested), ``pending``, ``running``, ``completed`` or
    ``failed`` (with ``photometry_error``); transitions are enforced by
    `dsa110_contimg.database.registry`.
    """

    __tablename__ = "data_registry"
    __table_args__ = (
        UniqueConstraint("data_type", "data_id"),
        Index("ix_data_registry_type_status", "data_type", "status"),
        Index("ix_data_registry_photometry_status", "photometry_status", "created_at", "id"),
        Index("ix_data_registry_type_photometry", "data_type", "photometry_status"),
        Index(
            "ix_data_registry_photometry_updated",
            "photometry_status",
            "photometry_updated_at",
            "created_at",
        ),
        Index("ix_data_registry_stage_path", "stage_path"),
        Index("ix_data_registry_published_path", "published_path"),
        Index("ix_data_registry_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    data_type: Mapped[str] = mapped_column(Text)
    data_id: Mapped[str] = mapped_column(Text, unique=True)
    base_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="staging")
    stage_path: Mapped[str] = mapped_column(Text)
    published_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    staged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    publish_mode: Mapped[str | None] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column(Text)
    qa_status: Mapped[str | None] = mapped_column(Text)
    validation_status: Mapped[str | None] = mapped_column(Text)
    finalization_status: Mapped[str | None] = mapped_column(Text, default="pending")
    auto_publish_enabled: Mapped[int | None] = mapped_column(Integer, default=1)
    photometry_status: Mapped[str | None] = mapped_column(String(16))
    photometry_job_id: Mapped[int | None] = mapped_column(Integer)
    photometry_error: Mapped[str | None] = mapped_column(Text)
    photometry_n_measured: Mapped[int | None] = mapped_column(Integer)
    photometry_n_failed: Mapped[int | None] = mapped_column(Integer)
    photometry_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DataRelationship(Base):
    """Lineage between products, e.g. a mosaic (child) made from images (parents)."""

    __tablename__ = "data_relationships"
    __table_args__ = (UniqueConstraint("parent_data_id", "child_data_id", "relationship_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_data_id: Mapped[str] = mapped_column(ForeignKey("data_registry.data_id"), index=True)
    child_data_id: Mapped[str] = mapped_column(ForeignKey("data_registry.data_id"), index=True)
    relationship_type: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Product(Base):
    """Science metadata of an image or mosaic, read from its FITS header at registration."""

    __tablename__ = "product"
    __table_args__ = (
        Index("ix_product_mjd_mid", "mjd_mid"),
        Index("ix_product_type_mjd_mid", "data_type", "mjd_mid"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    data_id: Mapped[str] = mapped_column(
        ForeignKey("data_registry.data_id", ondelete="CASCADE"), unique=True
    )
    data_type: Mapped[str] = mapped_column(String(16))
    mjd_start: Mapped[float | None] = mapped_column(Float(53))
    mjd_mid: Mapped[float | None] = mapped_column(Float(53))
    mjd_end: Mapped[float | None] = mapped_column(Float(53))
    ra_deg: Mapped[float | None] = mapped_column(Float(53))
    dec_deg: Mapped[float | None] = mapped_column(Float(53))
    radius_deg: Mapped[float | None] = mapped_column(Float)
    beam_major_arcsec: Mapped[float | None] = mapped_column(Float)
    beam_minor_arcsec: Mapped[float | None] = mapped_column(Float)
    beam_pa_deg: Mapped[float | None] = mapped_column(Float)
    freq_hz: Mapped[float | None] = mapped_column(Float)
    noise_jyb: Mapped[float | None] = mapped_column(Float)
    pb_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PhotometryParamSet(Base):
    """A distinct set of measurement parameters, by hash (see `jobs.params.PhotometryParams`)."""

    __tablename__ = "photometry_params"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    params_hash: Mapped[str] = mapped_column(String(16), unique=True)


class Photometry(Base):
    """One forced measurement of one catalogue source on one product.

    The primary key is (source, product, parameter set): re-running with the same parameters
    replaces the row. The parameter set is an integer id (`PhotometryParamSet`), which keeps the
    key small and bulk inserts fast. ``mjd_mid`` is the product's observation mid-time, never the
    time of measurement; ``peak_norm_jyb`` ± ``peak_norm_err_jyb`` is the normalized peak
    (NULL until normalized). Unmeasurable values are stored as NULL (never NaN, which SQLite
    cannot hold), with the flags saying why.
    """

    __tablename__ = "photometry"
    # The primary key, led by the source, serves both idempotent upserts and light curves (a
    # source's rows are then sorted by MJD); the product index grows in insertion order, so it
    # costs little. A separate (source, MJD) index would slow bulk inserts by ~30 %, and a
    # surrogate id would cost PostgreSQL one more index and a sequence per row.
    __table_args__ = (Index("ix_photometry_product_id", "product_id"),)

    source_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_source.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    params_id: Mapped[int] = mapped_column(
        ForeignKey("photometry_params.id"), primary_key=True, autoincrement=False
    )
    job_id: Mapped[int | None] = mapped_column(Integer)
    mjd_mid: Mapped[float | None] = mapped_column(Float(53))
    ra_deg: Mapped[float] = mapped_column(Float(53))
    dec_deg: Mapped[float] = mapped_column(Float(53))
    peak_jyb: Mapped[float | None] = mapped_column(Float)
    peak_err_jyb: Mapped[float | None] = mapped_column(Float)
    int_flux_jy: Mapped[float | None] = mapped_column(Float)
    int_flux_err_jy: Mapped[float | None] = mapped_column(Float)
    local_rms_jyb: Mapped[float | None] = mapped_column(Float)
    snr: Mapped[float | None] = mapped_column(Float)
    chisq: Mapped[float | None] = mapped_column(Float)
    dof: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(BigInteger)
    group_size: Mapped[int | None] = mapped_column(Integer)
    pb_response: Mapped[float | None] = mapped_column(Float)
    peak_norm_jyb: Mapped[float | None] = mapped_column(Float)
    peak_norm_err_jyb: Mapped[float | None] = mapped_column(Float)
    measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SpectralIndex(Base):
    """One source's sub-band spectrum on one product: its power-law fit and how it was binned.

    ``alpha`` and ``alpha_err`` come from ``S = ref_flux_jy (ν/ref_freq_hz)^alpha`` fitted in
    flux density to the detected bins (NULL with fewer than two); ``curvature`` (β) and
    ``curvature_err`` come from ``S = S₀ (ν/ν₀)^(α + β ln(ν/ν₀))`` where the S/N constrains β
    (NULL otherwise); ``upper_limit`` marks a source
    below ``target_snr`` even over the whole band (its one bin holds the limit). Rows are
    replaced when the product's spectra are measured again with the same parameter set.
    """

    __tablename__ = "spectral_index"
    __table_args__ = (Index("ix_spectral_index_product_id", "product_id"),)

    source_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_source.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    params_id: Mapped[int] = mapped_column(
        ForeignKey("photometry_params.id"), primary_key=True, autoincrement=False
    )
    mjd_mid: Mapped[float | None] = mapped_column(Float(53))
    alpha: Mapped[float | None] = mapped_column(Float)
    alpha_err: Mapped[float | None] = mapped_column(Float)
    ref_freq_hz: Mapped[float | None] = mapped_column(Float)
    ref_flux_jy: Mapped[float | None] = mapped_column(Float)
    ref_flux_err_jy: Mapped[float | None] = mapped_column(Float)
    chisq: Mapped[float | None] = mapped_column(Float)
    curvature: Mapped[float | None] = mapped_column(Float)
    curvature_err: Mapped[float | None] = mapped_column(Float)
    n_bins: Mapped[int] = mapped_column(Integer)
    n_subbands: Mapped[int] = mapped_column(Integer)
    target_snr: Mapped[float] = mapped_column(Float)
    upper_limit: Mapped[bool] = mapped_column(Boolean, default=False)
    measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SpectrumBin(Base):
    """One adaptive bin of a source's spectrum on a product: adjacent sub-bands merged to the
    target S/N (see `dsa110_contimg.photometry.adaptive`).

    ``flux_jy`` is the inverse-variance weighted mean of sub-bands ``first_subband`` …
    ``last_subband`` at their weighted mean frequency ``freq_hz`` (NULL for an upper limit,
    whose value is ``limit_jy``).
    """

    __tablename__ = "spectrum_bin"
    __table_args__ = (Index("ix_spectrum_bin_product_id", "product_id"),)

    source_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_source.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    params_id: Mapped[int] = mapped_column(
        ForeignKey("photometry_params.id"), primary_key=True, autoincrement=False
    )
    bin: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_subband: Mapped[int] = mapped_column(Integer)
    last_subband: Mapped[int] = mapped_column(Integer)
    freq_hz: Mapped[float] = mapped_column(Float(53))
    flux_jy: Mapped[float | None] = mapped_column(Float)
    flux_err_jy: Mapped[float | None] = mapped_column(Float)
    upper_limit: Mapped[bool] = mapped_column(Boolean, default=False)
    limit_jy: Mapped[float | None] = mapped_column(Float)


class BatchJob(Base):
    """A batch photometry job: one item per product, counters kept per item update."""

    __tablename__ = "batch_job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), default="photometry")
    status: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    params: Mapped[dict | None] = mapped_column(JSON)
    params_hash: Mapped[str | None] = mapped_column(String(16))
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    n_completed: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchJobItem(Base):
    """One product of a batch job, claimed by workers under a lease."""

    __tablename__ = "batch_job_item"
    __table_args__ = (
        Index("ix_batch_job_item_claim", "status", "lease_expires_at"),
        Index("ix_batch_job_item_priority", "status", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("batch_job.id", ondelete="CASCADE"), index=True)
    data_id: Mapped[str] = mapped_column(ForeignKey("data_registry.data_id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sources: Mapped[dict | None] = mapped_column(JSON)
    params_hash: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Claimed in descending order: live products before submitted jobs before reprocessing.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    n_measured: Mapped[int | None] = mapped_column(Integer)
    n_failed: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MasterSource(Base):
    """A catalogue source's properties for normalization and variability (the master catalogue).

    One row per source of a primary catalogue (NVSS), keyed by its stable catalogue source id,
    built by `dsa110_contimg.catalog.master.build_master`: S/N from the flux and its error,
    compactness, confusion by neighbours, spectral index against a second-frequency match, and
    whether the source may serve as a flux reference.
    """

    __tablename__ = "master_source"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_source.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    catalog_id: Mapped[int] = mapped_column(
        ForeignKey("catalog.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    ra_deg: Mapped[float] = mapped_column(Float(53))
    dec_deg: Mapped[float] = mapped_column(Float(53))
    flux_mjy: Mapped[float | None] = mapped_column(Float)
    flux_err_mjy: Mapped[float | None] = mapped_column(Float)
    snr: Mapped[float | None] = mapped_column(Float)
    compactness: Mapped[float | None] = mapped_column(Float)
    resolved: Mapped[bool] = mapped_column(Boolean)
    n_neighbours: Mapped[int] = mapped_column(Integer)
    confused: Mapped[bool] = mapped_column(Boolean)
    spectral_index: Mapped[float | None] = mapped_column(Float)
    spectral_index_err: Mapped[float | None] = mapped_column(Float)
    matches: Mapped[dict | None] = mapped_column(JSON)
    reference_eligible: Mapped[bool] = mapped_column(Boolean, index=True)
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImageCorrection(Base):
    """A product's flux correction factor from its reference ensemble (one per parameter set).

    ``value`` is the robust ensemble ratio measured/baseline of ``n_references`` references
    (``reference_source_ids``); normalized fluxes are ``S / value``. ``stats_applied`` says
    whether the product's normalized measurements are in the variability statistics.
    """

    __tablename__ = "image_corrections"
    __table_args__ = (UniqueConstraint("product_id", "params_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    params_id: Mapped[int] = mapped_column(ForeignKey("photometry_params.id"))
    value: Mapped[float] = mapped_column(Float)
    error: Mapped[float] = mapped_column(Float)
    n_references: Mapped[int] = mapped_column(Integer)
    reference_source_ids: Mapped[list] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict | None] = mapped_column(JSON)
    stats_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VariabilityStats(Base):
    """A source's light-curve sufficient statistics (normalized fluxes), updated in O(1).

    Sums are of ``S - shift_jy`` (a per-source constant fixed at the first measurement) so the
    variance terms do not cancel catastrophically; extremes and their errors give the pair
    metrics (see `dsa110_contimg.variability.metrics`).
    """

    __tablename__ = "variability_stats"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_source.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    n: Mapped[int] = mapped_column(Integer)
    shift_jy: Mapped[float] = mapped_column(Float(53))
    sum_w: Mapped[float] = mapped_column(Float(53))
    sum_ws: Mapped[float] = mapped_column(Float(53))
    sum_ws2: Mapped[float] = mapped_column(Float(53))
    sum_s: Mapped[float] = mapped_column(Float(53))
    sum_s2: Mapped[float] = mapped_column(Float(53))
    max_flux_jy: Mapped[float | None] = mapped_column(Float(53))
    max_flux_err_jy: Mapped[float | None] = mapped_column(Float(53))
    min_flux_jy: Mapped[float | None] = mapped_column(Float(53))
    min_flux_err_jy: Mapped[float | None] = mapped_column(Float(53))
    mjd_first: Mapped[float | None] = mapped_column(Float(53))
    mjd_last: Mapped[float | None] = mapped_column(Float(53))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VariabilityCandidate(Base):
    """A source flagged as variable (or an ESE, a dip) by a detection preset.

    ``status`` is ``active`` (flagged by the last detection), ``dismissed`` or ``confirmed``
    (decisions, kept by later detections).
    """

    __tablename__ = "variability_candidate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_source.id", ondelete="CASCADE"), unique=True
    )
    preset: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    n_epochs: Mapped[int] = mapped_column(Integer)
    weighted_mean_jy: Mapped[float | None] = mapped_column(Float)
    eta: Mapped[float | None] = mapped_column(Float)
    v: Mapped[float | None] = mapped_column(Float)
    vs_max: Mapped[float | None] = mapped_column(Float)
    m_max: Mapped[float | None] = mapped_column(Float)
    deviation_sigma: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    detected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
