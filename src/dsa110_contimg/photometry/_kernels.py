"""Compiled inner loops of forced photometry (private).

Every loop walks a source's *support*: the pixels where its beam kernel
``G(d) = exp(-(A dx² + 2B dx dy + C dy²))`` is at least the support level, i.e. ``q(d) <= qmax``.
Rows are visited exactly over the ellipse and ``G`` is advanced along a row by the Gaussian
recurrence (two multiplications per pixel), so no ``exp`` is evaluated per pixel.
Pixel (i, j) has its centre at x = i, y = j (0-based, numpy ``data[j, i]``); indices are int64.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = [
    "EDGE_BIT",
    "NAN_BIT",
    "edge_distances",
    "mask_supports",
    "nan_blocks",
    "pair_overlaps",
    "subtract_models",
    "support_sumsq",
    "robust_cell_stats",
    "solve_dense_groups",
    "source_sums",
    "windowed_variances",
]

NAN_BIT = 1
EDGE_BIT = 2


@nb.njit(cache=True, inline="always")
def _row_span(A: float, B: float, C: float, qmax: float, dy: float) -> tuple[float, float, bool]:
    """Offsets ``dx`` (relative to the centre) where row ``dy`` crosses the support ellipse."""
    disc = (B * dy) ** 2 - A * (C * dy * dy - qmax)
    if disc < 0.0:
        return 0.0, -1.0, False
    root = math.sqrt(disc)
    return (-B * dy - root) / A, (-B * dy + root) / A, True


@nb.njit(cache=True, inline="always")
def _row_range(A: float, B: float, C: float, qmax: float, x0: float, dy: float) -> tuple[int, int]:
    lo, hi, ok = _row_span(A, B, C, qmax, dy)
    if not ok:
        return 0, -1
    return int(math.ceil(x0 + lo)), int(math.floor(x0 + hi))


@nb.njit(cache=True, inline="always")
def _y_range(A: float, B: float, C: float, qmax: float, y0: float) -> tuple[int, int]:
    det = A * C - B * B
    hy = math.sqrt(qmax * A / det)
    return int(math.ceil(y0 - hy)), int(math.floor(y0 + hy))


@nb.njit(parallel=True, cache=True)
def source_sums(data, xs, ys, A, B, C, qmax, bkg):
    """Per-source kernel sums over the support.

    Returns
    -------
    sumgg, sumgd, sumdd : float64 arrays
        Σ G², Σ G (d - bkg) and Σ (d - bkg)² over valid pixels.
    lostgg : float64 array
        Σ G² over support pixels that are NaN or off the image.
    nvalid : int64 array
        Valid pixels in the support.
    bits : int64 array
        ``NAN_BIT`` if a NaN pixel was in the support, ``EDGE_BIT`` if the support left the image.
    """
    ny, nx = data.shape
    n = xs.size
    sumgg = np.zeros(n)
    sumgd = np.zeros(n)
    sumdd = np.zeros(n)
    lostgg = np.zeros(n)
    nvalid = np.zeros(n, dtype=np.int64)
    bits = np.zeros(n, dtype=np.int64)
    for k in nb.prange(n):
        a, b, c, x0, y0, bk = A[k], B[k], C[k], xs[k], ys[k], bkg[k]
        step = math.exp(-2.0 * a)
        j0, j1 = _y_range(a, b, c, qmax, y0)
        sgg = 0.0
        sgd = 0.0
        sdd = 0.0
        lost = 0.0
        nv = 0
        flag = 0
        for j in range(j0, j1 + 1):
            dy = j - y0
            i0, i1 = _row_range(a, b, c, qmax, x0, dy)
            if i1 < i0:
                continue
            dx = i0 - x0
            g = math.exp(-(a * dx * dx + 2.0 * b * dx * dy + c * dy * dy))
            ratio = math.exp(-(a * (2.0 * dx + 1.0) + 2.0 * b * dy))
            row_in = 0 <= j < ny
            for i in range(i0, i1 + 1):
                if row_in and 0 <= i < nx:
                    v = data[j, i]
                    if math.isfinite(v):
                        sgg += g * g
                        sgd += g * (v - bk)
                        sdd += (v - bk) * (v - bk)
                        nv += 1
                    else:
                        lost += g * g
                        flag |= NAN_BIT
                else:
                    lost += g * g
                    flag |= EDGE_BIT
                g *= ratio
                ratio *= step
        sumgg[k] = sgg
        sumgd[k] = sgd
        sumdd[k] = sdd
        lostgg[k] = lost
        nvalid[k] = nv
        bits[k] = flag
    return sumgg, sumgd, sumdd, lostgg, nvalid, bits


@nb.njit(cache=True)
def _cross_sum(data, a1, b1, c1, x1, y1, a2, b2, c2, x2, y2, qmax):
    """Over the valid support of kernel 1: (Σ G₁ G₂, Σ G₁ G₂ where also in the support of 2)."""
    ny, nx = data.shape
    j0, j1 = _y_range(a1, b1, c1, qmax, y1)
    full = 0.0
    shared = 0.0
    s1 = math.exp(-2.0 * a1)
    s2 = math.exp(-2.0 * a2)
    for j in range(max(j0, 0), min(j1, ny - 1) + 1):
        dy1 = j - y1
        dy2 = j - y2
        i0, i1 = _row_range(a1, b1, c1, qmax, x1, dy1)
        i0 = max(i0, 0)
        i1 = min(i1, nx - 1)
        if i1 < i0:
            continue
        k0, k1 = _row_range(a2, b2, c2, qmax, x2, dy2)
        dx1 = i0 - x1
        dx2 = i0 - x2
        g1 = math.exp(-(a1 * dx1 * dx1 + 2.0 * b1 * dx1 * dy1 + c1 * dy1 * dy1))
        r1 = math.exp(-(a1 * (2.0 * dx1 + 1.0) + 2.0 * b1 * dy1))
        g2 = math.exp(-(a2 * dx2 * dx2 + 2.0 * b2 * dx2 * dy2 + c2 * dy2 * dy2))
        r2 = math.exp(-(a2 * (2.0 * dx2 + 1.0) + 2.0 * b2 * dy2))
        for i in range(i0, i1 + 1):
            if math.isfinite(data[j, i]):
                prod = g1 * g2
                full += prod
                if k0 <= i <= k1:
                    shared += prod
            g1 *= r1
            r1 *= s1
            g2 *= r2
            r2 *= s2
    return full, shared


@nb.njit(parallel=True, cache=True)
def pair_overlaps(data, xs, ys, A, B, C, qmax, pi, pj):
    """Cross terms of the fit equations for each pair (k, m).

    Returns
    -------
    n_kl, n_lk : float64 arrays
        Σ G_k G_m over the valid support of k (resp. Σ G_m G_k over that of m), with the
        neighbour's kernel *not* truncated: each source's equation models everything that
        shines into its own support.
    w_kl : float64 array
        Σ G_k G_m over valid pixels in both supports: the covariance of the two equations'
        right-hand sides for unit white noise.
    """
    npair = pi.size
    n_kl = np.zeros(npair)
    n_lk = np.zeros(npair)
    w_kl = np.zeros(npair)
    for p in nb.prange(npair):
        k, m = pi[p], pj[p]
        full_k, shared = _cross_sum(
            data, A[k], B[k], C[k], xs[k], ys[k], A[m], B[m], C[m], xs[m], ys[m], qmax
        )
        full_m, _ = _cross_sum(
            data, A[m], B[m], C[m], xs[m], ys[m], A[k], B[k], C[k], xs[k], ys[k], qmax
        )
        n_kl[p] = full_k
        n_lk[p] = full_m
        w_kl[p] = shared
    return n_kl, n_lk, w_kl


@nb.njit(cache=True)
def solve_dense_groups(group_ptr, members, diag, rhs, pair_ptr, pair_li, pair_lj, n_kl, n_lk, w_kl):
    """Solve the fit equations of each small group.

    Group ``g`` holds ``members[group_ptr[g]:group_ptr[g+1]]``; its cross terms are pairs
    ``pair_ptr[g]:pair_ptr[g+1]`` with *local* indices ``pair_li, pair_lj`` (see
    `pair_overlaps`). The amplitudes solve ``N s = b``; their covariance for unit white noise is
    ``N⁻¹ W N⁻ᵀ``.

    Returns
    -------
    amp : float64 array
        Amplitudes per member (NaN when the group's system is singular).
    var : float64 array
        Diagonal of ``N⁻¹ W N⁻ᵀ``.
    """
    amp = np.full(members.size, np.nan)
    var = np.full(members.size, np.nan)
    for g in range(group_ptr.size - 1):
        start, stop = group_ptr[g], group_ptr[g + 1]
        n = stop - start
        mat = np.zeros((n, n))
        cov_rhs = np.zeros((n, n))
        vec = np.zeros(n)
        for a in range(n):
            mat[a, a] = diag[members[start + a]]
            cov_rhs[a, a] = diag[members[start + a]]
            vec[a] = rhs[members[start + a]]
        for p in range(pair_ptr[g], pair_ptr[g + 1]):
            li, lj = pair_li[p], pair_lj[p]
            mat[li, lj] = n_kl[p]
            mat[lj, li] = n_lk[p]
            cov_rhs[li, lj] = w_kl[p]
            cov_rhs[lj, li] = w_kl[p]
        if np.linalg.cond(mat) > 1e10:
            continue
        inv = np.linalg.inv(mat)
        sol = inv @ vec
        cov = inv @ cov_rhs @ inv.T
        for a in range(n):
            if cov[a, a] > 0.0:
                amp[start + a] = sol[a]
                var[start + a] = cov[a, a]
    return amp, var


@nb.njit(parallel=True, cache=True)
def subtract_models(data, xs, ys, A, B, C, qmax, amp, n_stripes):
    """``data`` minus ``amp_k · G_k`` of every source over ``q <= qmax`` (a float32 copy).

    The image is cut into ``n_stripes`` horizontal stripes processed in parallel; each stripe
    subtracts only the rows of every kernel that fall inside it, so no two threads write one
    pixel.
    """
    out = data.copy()
    ny, nx = data.shape
    height = (ny + n_stripes - 1) // n_stripes
    for stripe in nb.prange(n_stripes):
        r0 = stripe * height
        r1 = min(ny, r0 + height) - 1
        for k in range(xs.size):
            s = amp[k]
            if not math.isfinite(s):
                continue
            a, b, c, x0, y0 = A[k], B[k], C[k], xs[k], ys[k]
            j0, j1 = _y_range(a, b, c, qmax, y0)
            if j1 < r0 or j0 > r1:
                continue
            step = math.exp(-2.0 * a)
            for j in range(max(j0, r0), min(j1, r1) + 1):
                dy = j - y0
                i0, i1 = _row_range(a, b, c, qmax, x0, dy)
                i0 = max(i0, 0)
                i1 = min(i1, nx - 1)
                if i1 < i0:
                    continue
                dx = i0 - x0
                g = math.exp(-(a * dx * dx + 2.0 * b * dx * dy + c * dy * dy))
                ratio = math.exp(-(a * (2.0 * dx + 1.0) + 2.0 * b * dy))
                for i in range(i0, i1 + 1):
                    out[j, i] -= s * g
                    g *= ratio
                    ratio *= step
    return out


@nb.njit(parallel=True, cache=True)
def support_sumsq(data, xs, ys, A, B, C, qmax, offset):
    """Σ (d - offset_k)² over the valid pixels of each support (e.g. of a residual image)."""
    ny, nx = data.shape
    out = np.zeros(xs.size)
    for k in nb.prange(xs.size):
        j0, j1 = _y_range(A[k], B[k], C[k], qmax, ys[k])
        total = 0.0
        for j in range(max(j0, 0), min(j1, ny - 1) + 1):
            i0, i1 = _row_range(A[k], B[k], C[k], qmax, xs[k], j - ys[k])
            for i in range(max(i0, 0), min(i1, nx - 1) + 1):
                v = data[j, i]
                if math.isfinite(v):
                    total += (v - offset[k]) ** 2
        out[k] = total
    return out


@nb.njit(parallel=True, cache=True)
def windowed_variances(indptr, indices, n_values, w_values):
    """Per-row variance from the one-ring window of a sparse fit system.

    For row ``k`` the window is ``k`` and its neighbours in the CSR pattern ``indptr/indices``;
    ``n_values`` and ``w_values`` hold the fit matrix N and the right-hand-side covariance W
    on that pattern. Returns ``(N_w⁻¹ W_w N_w⁻ᵀ)_kk`` of each window.
    """
    size = indptr.size - 1
    out = np.full(size, np.nan)
    for k in nb.prange(size):
        ring = indices[indptr[k] : indptr[k + 1]]
        m = ring.size
        nmat = np.zeros((m, m))
        wmat = np.zeros((m, m))
        pos = -1
        for a in range(m):
            row = ring[a]
            if row == k:
                pos = a
            for e in range(indptr[row], indptr[row + 1]):
                col = indices[e]
                for b in range(m):
                    if ring[b] == col:
                        nmat[a, b] = n_values[e]
                        wmat[a, b] = w_values[e]
                        break
        if pos < 0 or np.linalg.cond(nmat) > 1e10:
            continue
        inv = np.linalg.inv(nmat)
        cov = inv @ wmat @ inv.T
        out[k] = cov[pos, pos]
    return out


@nb.njit(parallel=True, cache=True)
def nan_blocks(data, block):
    """Boolean grid: does each ``block``×``block`` tile contain a NaN pixel?"""
    ny, nx = data.shape
    nby = (ny + block - 1) // block
    nbx = (nx + block - 1) // block
    out = np.zeros((nby, nbx), dtype=np.bool_)
    for by in nb.prange(nby):
        for bx in range(nbx):
            found = False
            for j in range(by * block, min((by + 1) * block, ny)):
                for i in range(bx * block, min((bx + 1) * block, nx)):
                    if not math.isfinite(data[j, i]):
                        found = True
                        break
                if found:
                    break
            out[by, bx] = found
    return out


@nb.njit(parallel=True, cache=True)
def edge_distances(data, xs, ys, radius, blocks, block):
    """Distance (pixels) to the nearest NaN pixel or image edge, capped at ``radius``.

    Only tiles flagged in ``blocks`` (see `nan_blocks`) are scanned pixel by pixel.
    """
    ny, nx = data.shape
    out = np.empty(xs.size)
    for k in nb.prange(xs.size):
        x0, y0 = xs[k], ys[k]
        best = min(radius, x0 + 0.5, nx - 0.5 - x0, y0 + 0.5, ny - 0.5 - y0)
        if best > 0.0:
            by0 = max(np.int64(math.floor((y0 - best) / block)), 0)
            by1 = min(np.int64(math.floor((y0 + best) / block)), blocks.shape[0] - 1)
            bx0 = max(np.int64(math.floor((x0 - best) / block)), 0)
            bx1 = min(np.int64(math.floor((x0 + best) / block)), blocks.shape[1] - 1)
            for by in range(by0, by1 + 1):
                for bx in range(bx0, bx1 + 1):
                    if not blocks[by, bx]:
                        continue
                    for j in range(by * block, min((by + 1) * block, ny)):
                        for i in range(bx * block, min((bx + 1) * block, nx)):
                            if not math.isfinite(data[j, i]):
                                d = math.hypot(i - x0, j - y0)
                                if d < best:
                                    best = d
        out[k] = max(best, 0.0)
    return out


@nb.njit(parallel=True, cache=True)
def mask_supports(shape, xs, ys, A, B, C, qmax):
    """Boolean image, True inside the support ``q <= qmax`` of any of the given kernels.

    Kernels are stamped in parallel; overlapping stamps only ever write True.
    """
    ny, nx = shape
    mask = np.zeros((ny, nx), dtype=np.bool_)
    for k in nb.prange(xs.size):
        j0, j1 = _y_range(A[k], B[k], C[k], qmax, ys[k])
        for j in range(max(j0, 0), min(j1, ny - 1) + 1):
            i0, i1 = _row_range(A[k], B[k], C[k], qmax, xs[k], j - ys[k])
            for i in range(max(i0, 0), min(i1, nx - 1) + 1):
                mask[j, i] = True
    return mask


@nb.njit(parallel=True, cache=True)
def robust_cell_stats(data, mask, cell, stride, clip, clipped_mad_to_sigma):
    """Median and MAD-based rms of each ``cell``×``cell`` tile, sampled every ``stride`` pixels.

    Pixels where ``mask`` is True (known sources) are skipped unless that leaves a tile with
    fewer than a quarter of its samples (or 16). One ``clip``-sigma clipping pass about the
    median removes remaining sources before the final estimate, whose MAD is scaled by
    ``clipped_mad_to_sigma`` (the MAD-to-σ factor of a Gaussian truncated at ±clip σ). Tiles
    with fewer than 16 finite samples give NaN.
    """
    ny, nx = data.shape
    ncy = (ny + cell - 1) // cell
    ncx = (nx + cell - 1) // cell
    med = np.full((ncy, ncx), np.nan)
    rms = np.full((ncy, ncx), np.nan)
    per_side = (cell + stride - 1) // stride
    for cy in nb.prange(ncy):
        buf = np.empty(per_side * per_side)
        dev = np.empty(per_side * per_side)
        for cx in range(ncx):
            n = 0
            for use_masked in (False, True):
                n = 0
                total = 0
                for j in range(cy * cell, min((cy + 1) * cell, ny), stride):
                    for i in range(cx * cell, min((cx + 1) * cell, nx), stride):
                        v = data[j, i]
                        total += 1
                        if math.isfinite(v) and (use_masked or not mask[j, i]):
                            buf[n] = v
                            n += 1
                if n >= max(16, total // 4):
                    break
            if n < 16:
                continue
            m = np.median(buf[:n])
            for a in range(n):
                dev[a] = abs(buf[a] - m)
            sigma = 1.4826 * np.median(dev[:n])
            kept = 0
            for a in range(n):
                if abs(buf[a] - m) <= clip * sigma:
                    buf[kept] = buf[a]
                    kept += 1
            if kept < 16:
                continue
            m = np.median(buf[:kept])
            for a in range(kept):
                dev[a] = abs(buf[a] - m)
            med[cy, cx] = m
            rms[cy, cx] = clipped_mad_to_sigma * np.median(dev[:kept])
    return med, rms
