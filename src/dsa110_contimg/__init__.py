"""Automatic forced photometry, light curves and variability for the DSA-110 continuum pipeline."""

__version__ = "0.1.0"
