"""Mosaics: the builder (reprojection, inverse-variance weights, noise map, common beam) and the
orchestrator (grouping registered images, photometry before publishing)."""

from dsa110_contimg.mosaic.builder import MosaicError, MosaicResult, build_mosaic, noise_map_path
from dsa110_contimg.mosaic.orchestrator import PassSummary, plan_groups, run_once

__all__ = [
    "MosaicError",
    "MosaicResult",
    "PassSummary",
    "build_mosaic",
    "noise_map_path",
    "plan_groups",
    "run_once",
]
