"""SQLAlchemy models: the single definition of the database schema.

Alembic revisions in ``database/migrations`` are generated from these models; services create
and upgrade the schema with `dsa110_contimg.database.migrate.upgrade`, never ``create_all``.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
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

__all__ = ["CATALOG_ZONE_HEIGHT_DEG", "Base", "Catalog", "CatalogSource", "catalog_zone"]

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
