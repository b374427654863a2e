"""IAU-style source designations from positions (``"NVSS J150955+462930"``).

Surveys name sources from their J2000 position in sexagesimal form, **truncated** (not rounded)
to the designation's precision, as the IAU recommends: NVSS uses ``Jhhmmss+ddmmss``, FIRST
``Jhhmmss.s+ddmmss``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["iau_names"]

# Guards against values like 0.0999999999 (from 0.1 in binary) truncating one unit low.
_TRUNCATION_SLACK = 1e-6


def iau_names(
    prefix: str,
    ra_deg: ArrayLike,
    dec_deg: ArrayLike,
    *,
    ra_decimals: int = 0,
    dec_decimals: int = 0,
) -> list[str]:
    """Designations ``"<prefix> Jhhmmss[.s…]±ddmmss[.s…]"`` from truncated positions.

    Parameters
    ----------
    prefix : str
        Survey acronym, e.g. ``"NVSS"``.
    ra_deg, dec_deg : array_like
        J2000 positions in degrees.
    ra_decimals, dec_decimals : int
        Decimals kept in the seconds of RA (time) and of Dec (arc).

    Returns
    -------
    list of str

    Examples
    --------
    >>> iau_names("FIRST", [120.0004125], [32.10273056], ra_decimals=1)
    ['FIRST J080000.0+320609']
    """
    ra = np.mod(np.asarray(ra_deg, dtype=np.float64), 360.0)
    dec = np.asarray(dec_deg, dtype=np.float64)
    ra_units = np.floor(ra / 15.0 * 3600.0 * 10**ra_decimals + _TRUNCATION_SLACK).astype(np.int64)
    dec_units = np.floor(np.abs(dec) * 3600.0 * 10**dec_decimals + _TRUNCATION_SLACK).astype(
        np.int64
    )
    ra_units %= 24 * 3600 * 10**ra_decimals  # 23:59:59.99… truncates, never reaches 24h
    sign = np.where(dec < 0, "-", "+")
    text = np.char.add(np.char.add(f"{prefix} J", _sexagesimal(ra_units, ra_decimals)), sign)
    return np.char.add(text, _sexagesimal(dec_units, dec_decimals)).tolist()


def _sexagesimal(units: np.ndarray, decimals: int) -> np.ndarray:
    """``units`` of 10**-decimals seconds as ``DDMMSS[.s…]`` strings (vectorised)."""
    seconds, fraction = np.divmod(units, 10**decimals)
    text = _two_digits(seconds // 3600)
    for part in (seconds // 60 % 60, seconds % 60):
        text = np.char.add(text, _two_digits(part))
    if decimals:
        text = np.char.add(np.char.add(text, "."), np.char.zfill(fraction.astype(str), decimals))
    return text


def _two_digits(values: np.ndarray) -> np.ndarray:
    return np.char.zfill(values.astype(str), 2)
