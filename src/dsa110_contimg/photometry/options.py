"""Options of the forced-photometry fit: what `dsa110_contimg.photometry.forced` is told.

The engine takes its options as this one value and reads nothing else (no settings, no
database); the application's settings hold one under ``photometry.fitting``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["FittingOptions"]


class FittingOptions(BaseModel):
    """Options of the forced-photometry fit (see `dsa110_contimg.photometry.forced`)."""

    support_level: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="Beam-kernel level at the edge of each source's fitting region.",
    )
    group_separation_fwhm: float = Field(
        2.5,
        gt=0.0,
        description="Sources closer than this many beam FWHM (measured along their separation, "
        "through the elongated beam) are fitted jointly.",
    )
    merge_separation_fwhm: float = Field(
        0.2, ge=0.0, description="Targets closer than this many FWHM are one source for the fit."
    )
    max_dense_group: int = Field(
        64, ge=2, description="Groups larger than this are solved sparsely."
    )
    min_kernel_fraction: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Minimum fraction of the kernel (sum of squares) on valid pixels.",
    )
    low_snr: float = Field(3.0, ge=0.0, description="S/N below which LOW_SNR is flagged.")
    background: Literal["zero", "grid"] = Field(
        "zero",
        description="Background when no map is supplied: zero (interferometric images have no "
        "DC level) or a robust coarse-grid median.",
    )
    noise_cell_fwhm: float = Field(
        8.0, gt=0.0, description="Size of the coarse background/rms grid cells, in major-axis FWHM."
    )
    error_calibration: Literal["null-fits", "analytic"] = Field(
        "null-fits",
        description="How errors are scaled for beam-correlated noise: from fits at random empty "
        "positions, or analytically assuming the noise autocorrelation is the beam.",
    )
    n_null_fits: int = Field(
        2000, ge=0, description="Random empty positions for error calibration."
    )
    edge_search_fwhm: float = Field(
        3.0,
        gt=0.0,
        description="Distances to NaN/edge are searched (and capped) at this many FWHM.",
    )
    source_shapes: Literal["point", "catalog"] = Field(
        "point",
        description="Kernel per catalogue source: the beam (point sources) or the catalogue's "
        "deconvolved size convolved with the beam.",
    )
    model_pb: bool = Field(
        False,
        description="For images neither PB-corrected nor carrying the drift-scan beam "
        "track, take the PB response from the `primary_beam` model about the "
        "image's pointing centre (otherwise it is unknown and their fluxes "
        "stay apparent).",
    )
    low_pb: float = Field(
        0.1, ge=0.0, le=1.0, description="PB response below which LOW_PB is flagged."
    )
