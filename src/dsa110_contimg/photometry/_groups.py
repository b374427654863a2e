"""Blend groups as connected components over beam-normalised separations (private).

Separations are measured in beam FWHM *along the separation direction* through each pair's
kernel form, so two sources side by side across a 58″×18″ beam are "far" at 30″ while two
along its major axis are "close". One KD-tree query finds every candidate pair once; groups are
the connected components of the pairs closer than the grouping separation, so a source is never
fitted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from dsa110_contimg.photometry._geometry import KernelForms, separation_fwhm

__all__ = ["Pairs", "close_pairs", "components"]


@dataclass(frozen=True)
class Pairs:
    """Unordered pairs ``(i, j)``, ``i < j``, with their separation in FWHM."""

    i: np.ndarray
    j: np.ndarray
    rho: np.ndarray

    def where(self, mask: np.ndarray) -> Pairs:
        """The pairs selected by a boolean mask."""
        return Pairs(self.i[mask], self.j[mask], self.rho[mask])


def close_pairs(forms: KernelForms, max_rho: float) -> Pairs:
    """All pairs of positions closer than ``max_rho`` beam FWHM."""
    n = forms.x.size
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, np.zeros(0))
    radius = max_rho * float(np.max(forms.major_fwhm_pix()))
    tree = cKDTree(np.column_stack([forms.x, forms.y]))
    ij = tree.query_pairs(radius, output_type="ndarray").astype(np.int64)
    if ij.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, np.zeros(0))
    rho = separation_fwhm(forms, ij[:, 0], ij[:, 1])
    keep = rho < max_rho
    return Pairs(ij[keep, 0], ij[keep, 1], rho[keep])


def components(n: int, pairs: Pairs) -> np.ndarray:
    """Connected-component label (int64) of each of ``n`` nodes linked by ``pairs``."""
    graph = coo_matrix((np.ones(pairs.i.size), (pairs.i, pairs.j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)
