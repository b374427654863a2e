"""Which catalogue sources to measure on an image or mosaic, and measuring them.

The search region is the image's real footprint: a cone about the mean direction of its valid
pixels that contains all of them, widened by a margin so that sources just off the valid area
are still known as neighbours of the ones on it. Sources that fall on valid pixels are the
targets; the others are fitted jointly where they overlap but not reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from dsa110_contimg.catalog.query import cone_search
from dsa110_contimg.imaging.fits_io import Image, load_image
from dsa110_contimg.photometry.forced import measure_many
from dsa110_contimg.photometry.options import FittingOptions

__all__ = ["measure_catalog_sources", "query_sources_for_image", "query_sources_for_mosaic"]

_NEIGHBOUR_MARGIN_FWHM = 3.0


def query_sources_for_image(image: Image | str | Path, catalog: str = "nvss",
                            radius_deg: float | None = None, *,
                            url: str | None = None) -> Table:
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
    image = image if isinstance(image, Image) else load_image(image)
    footprint = image.footprint()
    margin = _NEIGHBOUR_MARGIN_FWHM * image.beam.major_arcsec / 3600.0
    search = (radius_deg if radius_deg is not None else footprint.radius_deg) + margin
    sources = cone_search(catalog, footprint.ra_deg, footprint.dec_deg, search, url=url)
    x, y = (np.asarray(v, dtype=float) for v in image.sky_to_pixel(
        np.asarray(sources["ra_deg"], dtype=float), np.asarray(sources["dec_deg"], dtype=float)))
    sources["x_pix"] = x
    sources["y_pix"] = y
    if radius_deg is not None:
        sources["in_field"] = np.asarray(sources["sep_deg"]) <= radius_deg
    else:
        sources["in_field"] = _on_valid_pixel(image, x, y)
    return sources


def query_sources_for_mosaic(mosaic: Image | str | Path, catalog: str = "nvss",
                             radius_deg: float | None = None, *,
                             url: str | None = None) -> Table:
    """Catalogue sources in the field of a mosaic.

    Mosaic footprints are irregular (unions of tiles with blank gaps), so the targets are
    exactly the sources on valid pixels; see `query_sources_for_image`.
    """
    return query_sources_for_image(mosaic, catalog, radius_deg, url=url)


def measure_catalog_sources(image: Image | str | Path, catalog: str = "nvss",
                            radius_deg: float | None = None, *,
                            options: FittingOptions | None = None, url: str | None = None,
                            **measure_kwargs) -> Table:
    """Query the field's catalogue sources and measure them (neighbours fitted jointly).

    Keyword arguments go to `dsa110_contimg.photometry.forced.measure_many`. With
    ``options.source_shapes == "catalog"`` the catalogue's deconvolved sizes shape the kernels.
    """
    options = options or FittingOptions()
    image = image if isinstance(image, Image) else load_image(image)
    sources = query_sources_for_image(image, catalog, radius_deg, url=url)
    field = np.asarray(sources["in_field"], dtype=bool)
    targets, others = sources[field], sources[~field]
    shapes = neighbour_shapes = None
    if options.source_shapes == "catalog":
        shapes = _shapes(targets)
        neighbour_shapes = _shapes(others)
    neighbours = (np.asarray(others["ra_deg"]), np.asarray(others["dec_deg"]),
                  *(neighbour_shapes or ()))
    table = measure_many(image, targets["ra_deg"], targets["dec_deg"],
                         names=list(targets["name"]), source_ids=targets["source_id"],
                         shapes=shapes, neighbours=neighbours, options=options,
                         **measure_kwargs)
    table.meta["catalog"] = catalog
    return table


def _shapes(sources: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.nan_to_num(np.asarray(sources[c], dtype=float))
                 for c in ("major_arcsec", "minor_arcsec", "pa_deg"))


def _on_valid_pixel(image: Image, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ny, nx = image.shape
    i = np.rint(np.nan_to_num(x, nan=-1.0)).astype(np.int64)
    j = np.rint(np.nan_to_num(y, nan=-1.0)).astype(np.int64)
    inside = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
    valid = np.zeros(x.size, dtype=bool)
    valid[inside] = np.isfinite(image.data[j[inside], i[inside]])
    return valid
