"""Lineage between products (a mosaic derived from its images)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select

from dsa110_contimg.database.models import DataRelationship
from dsa110_contimg.database.registry.records import registry_record
from dsa110_contimg.database.session import session_scope

__all__ = ["get_data_lineage", "link_data"]


def link_data(
    parent_data_id: str,
    child_data_id: str,
    relationship: str = "derived_from",
    *,
    url: str | None = None,
) -> None:
    """Record that ``child`` was made from ``parent`` (idempotent)."""
    with session_scope(url) as session:
        registry_record(session, parent_data_id)
        registry_record(session, child_data_id)
        exists = session.scalar(
            select(DataRelationship.id).where(
                DataRelationship.parent_data_id == parent_data_id,
                DataRelationship.child_data_id == child_data_id,
                DataRelationship.relationship_type == relationship,
            )
        )
        if exists is None:
            session.add(
                DataRelationship(
                    parent_data_id=parent_data_id,
                    child_data_id=child_data_id,
                    relationship_type=relationship,
                    created_at=datetime.now(UTC),
                )
            )


def get_data_lineage(data_id: str, *, url: str | None = None) -> dict[str, list[dict]]:
    """Parents and children of a product: ``{"parents": [...], "children": [...]}``."""
    with session_scope(url) as session:
        registry_record(session, data_id)
        rows = session.scalars(
            select(DataRelationship).where(
                or_(
                    DataRelationship.parent_data_id == data_id,
                    DataRelationship.child_data_id == data_id,
                )
            )
        ).all()
        return {
            "parents": [
                {"data_id": r.parent_data_id, "relationship": r.relationship_type}
                for r in rows
                if r.child_data_id == data_id
            ],
            "children": [
                {"data_id": r.child_data_id, "relationship": r.relationship_type}
                for r in rows
                if r.parent_data_id == data_id
            ],
        }
