"""The normalised catalogue table: its columns, units and coordinate checks.

Every reader returns an `astropy.table.Table` with the columns of `CATALOG_COLUMNS`, in these
units:

===================== =======================================================
``name``              survey designation (unique within a catalogue)
``ra_deg``            right ascension, J2000/ICRS, degrees in [0, 360)
``dec_deg``           declination, degrees in [-90, 90]
``flux_mjy``          integrated (total) flux density, **mJy**
``flux_err_mjy``      its 1σ error, mJy
``peak_flux_mjy``     peak brightness, **mJy/beam** (the survey's beam)
``peak_flux_err_mjy`` its 1σ error, mJy/beam
``major_arcsec``      deconvolved FWHM major axis, arcsec (0 = unresolved)
``minor_arcsec``      deconvolved FWHM minor axis, arcsec (0 = unresolved)
``pa_deg``            position angle of the major axis, degrees east of north
``ra_err_arcsec``     1σ error of RA, arcsec on the sky (not seconds of time)
``dec_err_arcsec``    1σ error of Dec, arcsec
===================== =======================================================

Values a catalogue does not give are NaN. Catalogue-specific columns (flags, fields, ...)
follow these and are kept in the store's ``extra`` JSON.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from dsa110_contimg.errors import InputError

__all__ = [
    "CATALOG_COLUMNS",
    "NUMERIC_COLUMNS",
    "CatalogFormatError",
    "CoordinateError",
    "empty_catalog",
    "validate_positions",
]

CATALOG_COLUMNS: tuple[str, ...] = (
    "name",
    "ra_deg",
    "dec_deg",
    "flux_mjy",
    "flux_err_mjy",
    "peak_flux_mjy",
    "peak_flux_err_mjy",
    "major_arcsec",
    "minor_arcsec",
    "pa_deg",
    "ra_err_arcsec",
    "dec_err_arcsec",
)
#: The float64 columns of `CATALOG_COLUMNS` (all but ``name``).
NUMERIC_COLUMNS: tuple[str, ...] = CATALOG_COLUMNS[1:]

_MAX_REPORTED_ROWS = 5


class CatalogFormatError(InputError):
    """A catalogue file that cannot be read as the requested (or any known) format."""


class CoordinateError(CatalogFormatError):
    """Catalogue rows whose positions are not finite or lie outside the sphere."""


def empty_catalog(n_rows: int) -> Table:
    """A normalised table of ``n_rows`` rows: empty names, every number NaN."""
    table = Table()
    table["name"] = np.full(n_rows, "", dtype=object)
    for column in NUMERIC_COLUMNS:
        table[column] = np.full(n_rows, np.nan)
    return table


def validate_positions(table: Table, source: str) -> Table:
    """Refuse impossible positions and wrap RA into [0, 360).

    Parameters
    ----------
    table : astropy.table.Table
        A normalised catalogue table (modified in place).
    source : str
        What the rows came from (a path), for the error message.

    Returns
    -------
    astropy.table.Table
        ``table``, with ``ra_deg`` wrapped into [0, 360).

    Raises
    ------
    CoordinateError
        If any ``ra_deg``/``dec_deg`` is not finite or any ``|dec_deg| > 90``. The message gives
        the number of bad rows and the first few (1-based data row, column, value).
    """
    ra = np.asarray(table["ra_deg"], dtype=np.float64)
    dec = np.asarray(table["dec_deg"], dtype=np.float64)
    bad_ra = ~np.isfinite(ra)
    with np.errstate(invalid="ignore"):
        bad_dec = ~np.isfinite(dec) | (np.abs(dec) > 90.0)
    bad = bad_ra | bad_dec
    if bad.any():
        rows = np.flatnonzero(bad)[:_MAX_REPORTED_ROWS]
        details = []
        for i in rows:
            problem = (
                f"ra_deg={float(ra[i])!r} is not finite"
                if bad_ra[i]
                else f"dec_deg={float(dec[i])!r} is not finite"
                if not np.isfinite(dec[i])
                else f"dec_deg={float(dec[i])!r} is outside [-90, 90]"
            )
            details.append(f"row {i + 1}: {problem}")
        raise CoordinateError(
            f"{source}: {int(bad.sum())} row(s) with invalid coordinates at data row(s) "
            f"{', '.join(str(i + 1) for i in rows)}{' ...' if bad.sum() > len(rows) else ''}"
            f" ({'; '.join(details)})"
        )
    wrapped = np.mod(ra, 360.0)
    wrapped[wrapped >= 360.0] = 0.0  # np.mod(-1e-17, 360) rounds to 360.0
    table["ra_deg"] = wrapped
    table["dec_deg"] = dec
    return table
