"""Source catalogues: read survey files, store them with stable ids, cone-search them.

Fluxes are in mJy throughout (``flux_mjy`` integrated, ``peak_flux_mjy`` in mJy/beam); see
`dsa110_contimg.catalog.columns` for the normalised columns.
"""

from dsa110_contimg.catalog.columns import CATALOG_COLUMNS, CatalogFormatError, CoordinateError
from dsa110_contimg.catalog.ingest import IngestReport, ingest_catalog
from dsa110_contimg.catalog.query import UnknownCatalogError, cone_search, list_catalogs
from dsa110_contimg.catalog.readers import FORMATS, detect_format, read_catalog

__all__ = [
    "CATALOG_COLUMNS",
    "FORMATS",
    "CatalogFormatError",
    "CoordinateError",
    "IngestReport",
    "UnknownCatalogError",
    "cone_search",
    "detect_format",
    "ingest_catalog",
    "list_catalogs",
    "read_catalog",
]
