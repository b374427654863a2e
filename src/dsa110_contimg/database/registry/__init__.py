"""The data registry: product identity and location (`records`), photometry status
(`status`), finalizing and publishing (`publishing`), lineage (`lineage`) and the figures
operators watch (`metrics`). Import from here; each module has one job."""

from dsa110_contimg.database.registry.lineage import (
    get_data_lineage,
    link_data,
)
from dsa110_contimg.database.registry.metrics import (
    photometry_latency_stats,
)
from dsa110_contimg.database.registry.publishing import (
    NEVER_REQUESTED,
    confine_product,
    finalize_data,
    not_ready_reason,
    trigger_auto_publish,
)
from dsa110_contimg.database.registry.records import (
    DATA_TYPES,
    RECORD_FIELDS,
    UnknownDataError,
    get_data,
    image_times,
    list_data,
    register_data,
    unlinked_images,
)
from dsa110_contimg.database.registry.status import (
    PHOTOMETRY_TRANSITIONS,
    TERMINAL,
    InvalidTransitionError,
    PhotometryStatus,
    get_photometry_status,
    link_photometry_to_data,
    update_photometry_status,
)

__all__ = [
    "DATA_TYPES",
    "InvalidTransitionError",
    "NEVER_REQUESTED",
    "PHOTOMETRY_TRANSITIONS",
    "PhotometryStatus",
    "RECORD_FIELDS",
    "TERMINAL",
    "UnknownDataError",
    "confine_product",
    "finalize_data",
    "get_data",
    "get_data_lineage",
    "get_photometry_status",
    "image_times",
    "link_data",
    "link_photometry_to_data",
    "list_data",
    "not_ready_reason",
    "photometry_latency_stats",
    "register_data",
    "trigger_auto_publish",
    "unlinked_images",
    "update_photometry_status",
]
