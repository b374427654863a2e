"""What to measure on an image or mosaic — the one place targets are chosen — and measuring it.

Targets are listed positions, catalogue sources by id, or a catalogue's sources in the field
(`select_targets`); `measure_targets` measures them. The API, the command line and the job
worker all go through these two functions.

For a catalogue, the search region is the image's real footprint: a cone about the mean
direction of its valid pixels that contains all of them, widened by a margin so that sources
just off the valid area are still known as neighbours of the ones on it. Sources that fall on
valid pixels are the targets; the others are fitted jointly where they overlap but not reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from dsa110_contimg.errors import InputError
from dsa110_contimg.imaging.fits_io import Image, load_image
from dsa110_contimg.photometry.forced import measure_in_chunks, measure_many
from dsa110_contimg.photometry.options import FittingOptions

__all__ = [
    "Targets",
    "measure_catalog_sources",
    "measure_targets",
    "query_sources_for_image",
    "query_sources_for_mosaic",
    "select_targets",
]

_NEIGHBOUR_MARGIN_FWHM = 3.0


def query_sources_for_image(
    image: Image | str | Path,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    *,
    url: str | None = None,
) -> Table:
    """Catalogue sources in the field of an image.

    Parameters
    ----------
    image : Image, str or Path
        The image (its header and valid pixels define the field).
    catalog : str
        Name of an ingested catalogue.
    radius_deg : float, optional
        Search this cone about the footprint centre instead of the footprint.
    url : str, optional
        Database URL (default from settings).

    Returns
    -------
    astropy.table.Table
        The cone-search columns plus ``x_pix, y_pix`` and ``in_field`` (True for targets: on a
        valid pixel, or inside ``radius_deg`` when given).

    Raises
    ------
    dsa110_contimg.imaging.fits_io.ImageReadError
        If the image cannot be read or has no valid pixels.
    """
    from dsa110_contimg.catalog.query import cone_search  # listed positions need no database

    image = image if isinstance(image, Image) else load_image(image)
    footprint = image.footprint()
    margin = _NEIGHBOUR_MARGIN_FWHM * image.beam.major_arcsec / 3600.0
    search = (radius_deg if radius_deg is not None else footprint.radius_deg) + margin
    sources = cone_search(catalog, footprint.ra_deg, footprint.dec_deg, search, url=url)
    x, y = (
        np.asarray(v, dtype=float)
        for v in image.sky_to_pixel(
            np.asarray(sources["ra_deg"], dtype=float), np.asarray(sources["dec_deg"], dtype=float)
        )
    )
    sources["x_pix"] = x
    sources["y_pix"] = y
    if radius_deg is not None:
        sources["in_field"] = np.asarray(sources["sep_deg"]) <= radius_deg
    else:
        sources["in_field"] = _on_valid_pixel(image, x, y)
    return sources


def query_sources_for_mosaic(
    mosaic: Image | str | Path,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    *,
    url: str | None = None,
) -> Table:
    """Catalogue sources in the field of a mosaic.

    Mosaic footprints are irregular (unions of tiles with blank gaps), so the targets are
    exactly the sources on valid pixels; see `query_sources_for_image`.
    """
    return query_sources_for_image(mosaic, catalog, radius_deg, url=url)


@dataclass(frozen=True)
class Targets:
    """What to measure on one image, in the order results are reported.

    Attributes
    ----------
    ra_deg, dec_deg : ndarray
        ICRS target positions.
    names : list of str
    source_ids : ndarray of int
        Catalogue source ids (-1 for positions that are not catalogue sources).
    shapes : tuple of ndarray, optional
        Deconvolved (major, minor, pa) of each target (``source_shapes = "catalog"``).
    neighbours : tuple of ndarray, optional
        Other known sources of the field, fitted jointly but not reported.
    catalog : str, optional
        The catalogue the targets came from.
    """

    ra_deg: np.ndarray
    dec_deg: np.ndarray
    names: list[str]
    source_ids: np.ndarray
    shapes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    neighbours: tuple[np.ndarray, ...] | None = None
    catalog: str | None = None

    def __len__(self) -> int:
        return int(self.ra_deg.size)


def select_targets(
    image: Image | str | Path,
    *,
    positions: Table | None = None,
    source_ids: Sequence[int] | None = None,
    catalog: str | None = None,
    radius_deg: float | None = None,
    options: FittingOptions | None = None,
    url: str | None = None,
) -> Targets:
    """The targets of one measurement: listed ``positions``, catalogue ``source_ids``, or the
    sources of ``catalog`` in the image's field (exactly one of the three).

    Parameters
    ----------
    image : Image, str or Path
        The image (its footprint bounds a catalogue's targets).
    positions : astropy.table.Table, optional
        ``ra_deg, dec_deg`` and optionally ``name`` (default ``pos<i>``) and ``source_id``
        (default -1), e.g. from `dsa110_contimg.photometry.table_io.read_positions`.
    source_ids : sequence of int, optional
        Catalogue sources, measured in id order.
    catalog : str, optional
        An ingested catalogue whose sources on the image's valid pixels (or within
        ``radius_deg`` of the footprint centre) are the targets, with the sources just off
        it as neighbours (`query_sources_for_image`).
    options : FittingOptions, optional
        ``source_shapes = "catalog"`` gives catalogue targets their catalogued sizes.
    url : str, optional
        Database URL (default from settings).

    Raises
    ------
    InputError
        Not exactly one kind of target given.
    dsa110_contimg.errors.NotFoundError
        Unknown source ids or catalogue.
    """
    given = [
        k
        for k, v in (("positions", positions), ("source_ids", source_ids), ("catalog", catalog))
        if v is not None
    ]
    if len(given) != 1:
        raise InputError(
            "give exactly one of positions, source ids or a catalogue "
            f"(got {', '.join(given) or 'none'})"
        )
    if positions is not None:
        n = len(positions)
        names = (
            list(positions["name"])
            if "name" in positions.colnames
            else [f"pos{i}" for i in range(n)]
        )
        ids = (
            np.asarray(positions["source_id"], dtype=np.int64)
            if "source_id" in positions.colnames
            else np.full(n, -1, dtype=np.int64)
        )
        return Targets(
            np.asarray(positions["ra_deg"], dtype=float),
            np.asarray(positions["dec_deg"], dtype=float),
            [str(v) for v in names],
            ids,
        )
    if source_ids is not None:
        from dsa110_contimg.catalog.query import sources_by_id  # listed positions need no database

        rows = sources_by_id(source_ids, url=url)
        return Targets(
            np.asarray(rows["ra_deg"], dtype=float),
            np.asarray(rows["dec_deg"], dtype=float),
            [str(v) for v in rows["name"]],
            np.asarray(rows["source_id"], dtype=np.int64),
        )
    assert catalog is not None  # exactly one kind of target was given
    options = options or FittingOptions()
    sources = query_sources_for_image(image, catalog, radius_deg, url=url)
    field = np.asarray(sources["in_field"], dtype=bool)
    targets, others = sources[field], sources[~field]
    with_shapes = options.source_shapes == "catalog"
    neighbours = (
        np.asarray(others["ra_deg"]),
        np.asarray(others["dec_deg"]),
        *(_shapes(others) if with_shapes else ()),
    )
    return Targets(
        np.asarray(targets["ra_deg"], dtype=float),
        np.asarray(targets["dec_deg"], dtype=float),
        [str(v) for v in targets["name"]],
        np.asarray(targets["source_id"], dtype=np.int64),
        shapes=_shapes(targets) if with_shapes else None,
        neighbours=neighbours,
        catalog=catalog,
    )


def measure_targets(
    image: Image | str | Path, targets: Targets, *, chunk_size: int | None = None, **measure_kwargs
) -> Table:
    """Measure ``targets`` on ``image`` (results in the targets' order).

    Keyword arguments go to `dsa110_contimg.photometry.forced.measure_many`. With
    ``chunk_size``, targets without catalogue neighbours (listed positions, source ids) are
    measured in bands of the image of at most that many (`measure_in_chunks`), so memory does
    not grow with their number; a catalogue's field is measured at once.
    """
    common = dict(names=targets.names, source_ids=targets.source_ids, **measure_kwargs)
    if chunk_size is not None and targets.neighbours is None and targets.shapes is None:
        table = measure_in_chunks(
            image, targets.ra_deg, targets.dec_deg, chunk_size=chunk_size, **common
        )
    else:
        table = measure_many(
            image,
            targets.ra_deg,
            targets.dec_deg,
            shapes=targets.shapes,
            neighbours=targets.neighbours,
            **common,
        )
    if targets.catalog is not None:
        table.meta["catalog"] = targets.catalog
    return table


def measure_catalog_sources(
    image: Image | str | Path,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    *,
    options: FittingOptions | None = None,
    url: str | None = None,
    **measure_kwargs,
) -> Table:
    """Query the field's catalogue sources and measure them (neighbours fitted jointly):
    `measure_targets` of `select_targets` with ``catalog``.

    Keyword arguments go to `dsa110_contimg.photometry.forced.measure_many`. With
    ``options.source_shapes == "catalog"`` the catalogue's deconvolved sizes shape the kernels.
    """
    image = image if isinstance(image, Image) else load_image(image)
    targets = select_targets(
        image, catalog=catalog, radius_deg=radius_deg, options=options, url=url
    )
    return measure_targets(image, targets, options=options, **measure_kwargs)


def _shapes(sources: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(
        np.nan_to_num(np.asarray(sources[c], dtype=float))
        for c in ("major_arcsec", "minor_arcsec", "pa_deg")
    )


def _on_valid_pixel(image: Image, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ny, nx = image.shape
    i = np.rint(np.nan_to_num(x, nan=-1.0)).astype(np.int64)
    j = np.rint(np.nan_to_num(y, nan=-1.0)).astype(np.int64)
    inside = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
    valid = np.zeros(x.size, dtype=bool)
    valid[inside] = np.isfinite(image.data[j[inside], i[inside]])
    return valid
