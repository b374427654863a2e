"""Column names of adaptive spectra, in one place.

`dsa110_contimg.photometry.adaptive.spectra` writes them and the products database
(`dsa110_contimg.database.spectra`) stores and returns them; this module imports nothing, so
the database reads the names without loading the photometry engine.
"""

from __future__ import annotations

__all__ = ["SPECTRAL_FIT_COLUMNS", "SPECTRUM_BIN_COLUMNS", "SPECTRUM_COLUMNS"]

#: Columns of one bin of a source's spectrum.
SPECTRUM_BIN_COLUMNS = (
    "bin",
    "first_subband",
    "last_subband",
    "freq_hz",
    "flux_jy",
    "flux_err_jy",
    "snr",
    "upper_limit",
    "limit_jy",
)
#: Columns of a source's spectral fit (one value per source and product).
SPECTRAL_FIT_COLUMNS = (
    "alpha",
    "alpha_err",
    "curvature",
    "curvature_err",
    "ref_freq_hz",
    "ref_flux_jy",
    "ref_flux_err_jy",
    "chisq",
)
#: Columns of `dsa110_contimg.photometry.adaptive.spectra`: one row per bin, the source's fit
#: repeated on each of its rows.
SPECTRUM_COLUMNS = (
    "name",
    "source_id",
    *SPECTRUM_BIN_COLUMNS,
    *SPECTRAL_FIT_COLUMNS,
    "n_subbands",
)
