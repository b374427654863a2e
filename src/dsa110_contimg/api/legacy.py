"""The original DSA-110 API's request shapes, mapped onto the current ones.

Old clients send positions (``coordinates``) to batch photometry, whereas a batch job here
measures catalogue sources (every stored photometry row carries a catalogue source id). Each
position is therefore taken as the nearest source of the job's catalogue within
`LEGACY_MATCH_RADIUS_ARCSEC`; a position without one is refused with its index and
coordinates rather than measured under an invented id.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException, status

from dsa110_contimg.api.schemas import Position
from dsa110_contimg.catalog.query import cone_search

__all__ = ["LEGACY_MATCH_RADIUS_ARCSEC", "match_coordinates"]

#: How far a legacy position may lie from the catalogue source it is taken to mean.
LEGACY_MATCH_RADIUS_ARCSEC = 15.0


def match_coordinates(
    catalog: str, coordinates: Sequence[Position], *, url: str | None = None
) -> list[int]:
    """The catalogue source id nearest each position (within `LEGACY_MATCH_RADIUS_ARCSEC`).

    Parameters
    ----------
    catalog : str
        The ingested catalogue of the job.
    coordinates : sequence of Position
        The legacy positions, in request order.
    url : str, optional
        Database URL.

    Returns
    -------
    list of int
        Distinct source ids, in the order of their first position.

    Raises
    ------
    fastapi.HTTPException
        422 naming every position without a catalogue source within the radius.
    dsa110_contimg.catalog.query.UnknownCatalogError
        ``catalog`` is not ingested.
    """
    radius_deg = LEGACY_MATCH_RADIUS_ARCSEC / 3600.0
    ids: list[int] = []
    unmatched: list[str] = []
    for k, position in enumerate(coordinates):
        found = cone_search(
            catalog, position.ra_deg, position.dec_deg, radius_deg, limit=1, url=url
        )
        if len(found):
            ids.append(int(found["source_id"][0]))
        else:
            unmatched.append(f"#{k} ({position.ra_deg:.6f}, {position.dec_deg:+.6f})")
    if unmatched:
        shown = ", ".join(unmatched[:10]) + (" …" if len(unmatched) > 10 else "")
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(unmatched)} coordinate(s) have no source of catalogue {catalog!r} within "
            f"{LEGACY_MATCH_RADIUS_ARCSEC:g} arcsec: {shown}; batch jobs measure catalogue "
            "sources (send 'source_ids', or use POST /api/photometry/measure-batch for "
            "arbitrary positions)",
        )
    return list(dict.fromkeys(ids))
