"""Normalization and variability: per-image flux corrections against the master catalogue's
reference sources, running light-curve statistics, significance, and candidates (including
the ESE dip search). Everything here reads and writes the products database; the
measurement engine it builds on is `dsa110_contimg.photometry`."""
