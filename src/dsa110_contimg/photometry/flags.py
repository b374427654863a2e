"""The one registry of forced-photometry quality flags.

Each flag is a bit in the integer ``flags`` column of a measurement. `decode_flags` turns the
integer back into names.

Examples
--------
>>> from dsa110_contimg.photometry.flags import PhotometryFlag, decode_flags
>>> decode_flags(PhotometryFlag.BLENDED | PhotometryFlag.NEAR_EDGE)
['near_edge', 'blended']
"""

from __future__ import annotations

import enum

__all__ = ["FLAG_DESCRIPTIONS", "UNMEASURABLE", "PhotometryFlag", "decode_flags"]


class PhotometryFlag(enum.IntFlag):
    """Quality bits of one forced measurement."""

    OFF_IMAGE = 1
    NAN_IN_BOX = 2
    NEAR_EDGE = 4
    BLENDED = 8
    LOW_SNR = 16
    FIT_FAILED = 32
    LOW_PB = 64
    NO_NOISE = 128
    MERGED = 256
    WINDOWED_ERROR = 512


FLAG_DESCRIPTIONS: dict[PhotometryFlag, str] = {
    PhotometryFlag.OFF_IMAGE: "position outside the image; not measured (NaN)",
    PhotometryFlag.NAN_IN_BOX: "fitting region contains NaN/blank pixels (excluded from the fit)",
    PhotometryFlag.NEAR_EDGE: "fitting region is cut by the image edge",
    PhotometryFlag.BLENDED: "fitted jointly with overlapping neighbours",
    PhotometryFlag.LOW_SNR: "signal-to-noise below the configured threshold",
    PhotometryFlag.FIT_FAILED: "too little valid kernel or a singular fit; not measured (NaN)",
    PhotometryFlag.LOW_PB: "primary-beam response below the configured threshold",
    PhotometryFlag.NO_NOISE: "no valid rms at the position; error and S/N are NaN",
    PhotometryFlag.MERGED: "within the merge radius of another target; both got one fit",
    PhotometryFlag.WINDOWED_ERROR: "large blend group: error from a local window of the system",
}

#: Flags that mean the peak is NaN.
UNMEASURABLE = PhotometryFlag.OFF_IMAGE | PhotometryFlag.FIT_FAILED


def decode_flags(value: int) -> list[str]:
    """Names (lower case) of the bits set in ``value``, in bit order."""
    return [(flag.name or "").lower() for flag in PhotometryFlag if flag & int(value)]
