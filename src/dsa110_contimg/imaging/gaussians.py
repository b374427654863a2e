"""Elliptical Gaussian algebra on the sky: convolution and deconvolution of shapes.

A shape is (FWHM major, FWHM minor, position angle east of north). It is represented by its
covariance matrix in local (east, north) offsets, ``Σ = σ_maj² u uᵀ + σ_min² v vᵀ`` with
``u = (sin PA, cos PA)``, so convolving two Gaussians adds their covariances.

Examples
--------
>>> from dsa110_contimg.imaging.gaussians import convolve, deconvolve
>>> major, minor, pa = convolve([30.0], [0.0], [0.0], (58.0, 18.0, 110.0))
>>> back = deconvolve(major, minor, pa, (58.0, 18.0, 110.0))
>>> [round(float(v[0]), 6) for v in back[:2]]
[30.0, 0.0]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FWHM_TO_SIGMA", "convolve", "covariance", "deconvolve", "shape_of"]

FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))

Shape = tuple[float, float, float]


def covariance(major, minor, pa_deg) -> np.ndarray:
    """Covariance matrices ``(n, 2, 2)`` in (east, north) units of the FWHM inputs."""
    major = np.atleast_1d(np.asarray(major, dtype=float))
    minor = np.atleast_1d(np.asarray(minor, dtype=float))
    theta = np.radians(np.atleast_1d(np.asarray(pa_deg, dtype=float)))
    u = np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    v = np.stack([np.cos(theta), -np.sin(theta)], axis=-1)
    smaj2 = (major * FWHM_TO_SIGMA) ** 2
    smin2 = (minor * FWHM_TO_SIGMA) ** 2
    return (
        smaj2[:, None, None] * u[:, :, None] * u[:, None, :]
        + smin2[:, None, None] * v[:, :, None] * v[:, None, :]
    )


def shape_of(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FWHM major, minor and PA (degrees east of north, in [0, 180)) of covariances."""
    cov = np.asarray(cov, dtype=float).reshape(-1, 2, 2)
    values, vectors = np.linalg.eigh(cov)  # ascending eigenvalues
    values = np.clip(values, 0.0, None)
    major = np.sqrt(values[:, 1]) / FWHM_TO_SIGMA
    minor = np.sqrt(values[:, 0]) / FWHM_TO_SIGMA
    east, north = vectors[:, 0, 1], vectors[:, 1, 1]
    pa = np.degrees(np.arctan2(east, north)) % 180.0
    return major, minor, pa


def convolve(major, minor, pa_deg, beam: Shape):
    """Shapes convolved with ``beam`` = (major, minor, PA)."""
    return shape_of(covariance(major, minor, pa_deg) + covariance(*beam))


def deconvolve(major, minor, pa_deg, beam: Shape):
    """Intrinsic shapes whose convolution with ``beam`` gives the inputs.

    Directions narrower than the beam deconvolve to zero size (unresolved).
    """
    return shape_of(covariance(major, minor, pa_deg) - covariance(*beam))
