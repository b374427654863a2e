"""Beam kernels in pixel space from the local WCS (private).

The restoring beam is an elliptical Gaussian on the sky (FWHM axes, PA east of north). At each
position the local WCS Jacobian maps sky offsets to pixel offsets, so the kernel in pixels is
``G(d) = exp(-dᵀ Q d)`` with a per-position 2×2 form ``Q = [[A, B], [B, C]]``. This handles
CDELT signs, rotated or skewed pixel grids, non-square pixels and projection distortion.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
from astropy.wcs import Wcsprm
from scipy import ndimage

from dsa110_contimg.imaging.fits_io import Image
from dsa110_contimg.imaging.gaussians import covariance

__all__ = [
    "FOUR_LN2",
    "KernelForms",
    "PixelGeometry",
    "kernel_forms",
    "pixel_geometry",
    "separation_fwhm",
]

FOUR_LN2 = 4.0 * math.log(2.0)
_GRID_MIN_POSITIONS = 4096
_GRID_NODES = 17
_POLE_GUARD_DEG = 85.0


class KernelForms:
    """Pixel positions and kernel quadratic forms of many positions on one image."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, A: np.ndarray, B: np.ndarray, C: np.ndarray
    ) -> None:
        self.x, self.y, self.A, self.B, self.C = x, y, A, B, C

    def subset(self, index: np.ndarray) -> KernelForms:
        """The forms of ``index`` (an integer or boolean index)."""
        return KernelForms(
            self.x[index], self.y[index], self.A[index], self.B[index], self.C[index]
        )

    def major_fwhm_pix(self) -> np.ndarray:
        """Longest kernel FWHM in pixels (along the smallest eigenvalue of Q)."""
        half_trace = 0.5 * (self.A + self.C)
        root = np.sqrt(np.maximum(half_trace**2 - (self.A * self.C - self.B**2), 0.0))
        return 2.0 * np.sqrt(math.log(2.0) / (half_trace - root))

    def correlation_area_pix(self) -> np.ndarray:
        """∫ G² d²x in pixels: the area of one independent beam-correlated noise element."""
        return math.pi / (2.0 * np.sqrt(self.A * self.C - self.B**2))


@dataclass(frozen=True)
class PixelGeometry:
    """Pixel positions and local WCS Jacobians of sky positions on one pixel grid.

    Nothing here depends on the beam or the frequency, so the images of one field on one
    grid (an observation's sub-band images) share it; `PixelGeometry.kernel_forms` turns it
    into each image's kernels.

    Attributes
    ----------
    ra_deg, dec_deg : ndarray
        The positions.
    x, y : ndarray
        Their 0-based pixel positions.
    jacobian : ndarray
        ``(n, 2, 2)``: pixel offset per degree towards local east (column 0) and north
        (column 1).
    shape : tuple of int
        ``(ny, nx)`` of the grid.
    wcs : astropy.wcs.Wcsprm
        A copy of the grid's celestial WCS parameters.
    has_distortion : bool
        Whether the grid's WCS has distortion tables (SIP, lookup tables).
    """

    ra_deg: np.ndarray
    dec_deg: np.ndarray
    x: np.ndarray
    y: np.ndarray
    jacobian: np.ndarray
    shape: tuple[int, int]
    wcs: Wcsprm
    has_distortion: bool

    def describes(self, image: Image, ra_deg: np.ndarray, dec_deg: np.ndarray) -> bool:
        """True when this is the geometry of ``ra_deg, dec_deg`` on ``image``'s pixel grid.

        The grids must match exactly (shape and every WCS parameter but the spectral
        reference ``RESTFRQ``/``RESTWAV``, which sub-band images differ in and which takes no
        part in the celestial transform); grids with distortion tables never match.
        """
        if image.shape != self.shape or self.has_distortion or image.wcs.has_distortion:
            return False
        if not (np.array_equal(ra_deg, self.ra_deg) and np.array_equal(dec_deg, self.dec_deg)):
            return False
        other = copy.deepcopy(image.wcs.wcs)
        other.restfrq, other.restwav = self.wcs.restfrq, self.wcs.restwav
        return bool(self.wcs.compare(other))

    def kernel_forms(self, sky_cov_arcsec2: np.ndarray) -> KernelForms:
        """Kernel forms of kernels of sky covariance ``sky_cov_arcsec2`` (``(n, 2, 2)`` or
        ``(1, 2, 2)``, (east, north) arcsec², see `dsa110_contimg.imaging.gaussians.covariance`)
        at the positions."""
        jac = self.jacobian
        n = self.x.size
        with np.errstate(invalid="ignore", divide="ignore"):
            jinv = np.linalg.inv(np.where(np.isfinite(jac), jac, np.eye(2)))
        jinv[~np.isfinite(jac).all(axis=(1, 2))] = np.nan
        sky_form = 0.5 * np.linalg.inv(np.asarray(sky_cov_arcsec2) / 3600.0**2)
        q = np.einsum("nji,njk,nkl->nil", jinv, np.broadcast_to(sky_form, (n, 2, 2)), jinv)
        return KernelForms(self.x, self.y, q[:, 0, 0], 0.5 * (q[:, 0, 1] + q[:, 1, 0]), q[:, 1, 1])


def pixel_geometry(image: Image, ra_deg: np.ndarray, dec_deg: np.ndarray) -> PixelGeometry:
    """Pixel positions and local WCS Jacobians of ICRS positions on ``image``'s grid.

    Notes
    -----
    The Jacobian is measured by finite differences one pixel long towards local east and north
    along great circles, so it is exact to second order wherever the WCS is smooth. For many
    positions it is measured on a 17×17 grid of nodes over the image and interpolated
    bilinearly (the WCS varies slowly over a beam), unless a celestial pole is near the image.
    """
    ra = np.asarray(ra_deg, dtype=float)
    dec = np.asarray(dec_deg, dtype=float)
    if ra.size > _GRID_MIN_POSITIONS:
        x, y = (np.asarray(v, dtype=float) for v in image.sky_to_pixel(ra, dec))
        jac = _interpolated_jacobian(image, x, y)
        if jac is None:
            x, y, jac = _exact_jacobian(image, ra, dec)
    else:
        x, y, jac = _exact_jacobian(image, ra, dec)
    return PixelGeometry(
        ra, dec, x, y, jac, image.shape, copy.deepcopy(image.wcs.wcs), image.wcs.has_distortion
    )


def kernel_forms(
    image: Image, ra_deg: np.ndarray, dec_deg: np.ndarray, sky_cov_arcsec2: np.ndarray | None = None
) -> KernelForms:
    """Pixel positions and kernel forms at ICRS positions on ``image``.

    Parameters
    ----------
    image : Image
    ra_deg, dec_deg : ndarray
        Positions.
    sky_cov_arcsec2 : ndarray, optional
        Per-position kernel covariance ``(n, 2, 2)`` in (east, north) arcsec² (see
        `dsa110_contimg.imaging.gaussians.covariance`); default the image's restoring beam.

    Notes
    -----
    The positions' geometry is `pixel_geometry`'s.
    """
    if sky_cov_arcsec2 is None:
        sky_cov_arcsec2 = covariance(
            image.beam.major_arcsec, image.beam.minor_arcsec, image.beam.pa_deg
        )
    return pixel_geometry(image, ra_deg, dec_deg).kernel_forms(sky_cov_arcsec2)


def _exact_jacobian(
    image: Image, ra_deg: np.ndarray, dec_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel positions and (n, 2, 2) Jacobians: pixel offset per degree east (column 0) and
    north (column 1)."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    eps = math.radians(min(image.pixel_scale_arcsec) / 3600.0)
    p = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)
    east = np.stack([-np.sin(ra), np.cos(ra), np.zeros_like(ra)], axis=-1)
    north = np.stack([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)], axis=-1)
    points = np.concatenate(
        [p, p * math.cos(eps) + east * math.sin(eps), p * math.cos(eps) + north * math.sin(eps)]
    )
    pra = np.degrees(np.arctan2(points[:, 1], points[:, 0])) % 360.0
    pdec = np.degrees(np.arcsin(np.clip(points[:, 2], -1.0, 1.0)))
    px, py = (np.asarray(v, dtype=float) for v in image.sky_to_pixel(pra, pdec))
    n = ra.size
    x, y = px[:n], py[:n]
    eps_deg = math.degrees(eps)
    jac = np.empty((n, 2, 2))
    jac[:, 0, 0] = (px[n : 2 * n] - x) / eps_deg
    jac[:, 1, 0] = (py[n : 2 * n] - y) / eps_deg
    jac[:, 0, 1] = (px[2 * n :] - x) / eps_deg
    jac[:, 1, 1] = (py[2 * n :] - y) / eps_deg
    return x, y, jac


def _interpolated_jacobian(image: Image, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Jacobians interpolated from a node grid; None when a pole is near (use exact ones)."""
    ny, nx = image.shape
    gx = np.linspace(-0.5, nx - 0.5, _GRID_NODES)
    gy = np.linspace(-0.5, ny - 0.5, _GRID_NODES)
    node_x, node_y = (v.ravel() for v in np.meshgrid(gx, gy))
    node_ra, node_dec = image.pixel_to_sky(node_x, node_y)
    if not np.all(np.isfinite(node_dec)) or np.max(np.abs(node_dec)) > _POLE_GUARD_DEG:
        return None
    _, _, node_jac = _exact_jacobian(image, np.asarray(node_ra), np.asarray(node_dec))
    grid = node_jac.reshape(_GRID_NODES, _GRID_NODES, 2, 2)
    coords = np.vstack([(y + 0.5) / (ny / (_GRID_NODES - 1)), (x + 0.5) / (nx / (_GRID_NODES - 1))])
    jac = np.empty((x.size, 2, 2))
    for a in range(2):
        for b in range(2):
            jac[:, a, b] = ndimage.map_coordinates(
                grid[:, :, a, b], coords, order=1, mode="nearest"
            )
    return jac


def separation_fwhm(forms: KernelForms, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Separation of pairs in beam FWHM measured along the separation (mean form of the pair)."""
    dx = forms.x[j] - forms.x[i]
    dy = forms.y[j] - forms.y[i]
    A = 0.5 * (forms.A[i] + forms.A[j])
    B = 0.5 * (forms.B[i] + forms.B[j])
    C = 0.5 * (forms.C[i] + forms.C[j])
    return np.sqrt((A * dx * dx + 2.0 * B * dx * dy + C * dy * dy) / FOUR_LN2)
