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
    "nan_blocks",
    "pair_overlaps",
    "residual_chisq",
    "robust_cell_stats",
    "solve_dense_groups",
    "source_sums",
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
    return np.int64(math.ceil(x0 + lo)), np.int64(math.floor(x0 + hi))


@nb.njit(cache=True, inline="always")
def _y_range(A: float, B: float, C: float, qmax: float, y0: float) -> tuple[int, int]:
    det = A * C - B * B
    hy = math.sqrt(qmax * A / det)
    return np.int64(math.ceil(y0 - hy)), np.int64(math.floor(y0 + hy))


@nb.njit(parallel=True, cache=True)
def source_sums(data, xs, ys, A, B, C, qmax, bkg):
    """Per-source kernel sums over the support.

    Returns
    -------
    sumgg, sumgd : float64 arrays
        Σ G² and Σ G (d - bkg) over valid pixels.
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
    lostgg = np.zeros(n)
    nvalid = np.zeros(n, dtype=np.int64)
    bits = np.zeros(n, dtype=np.int64)
    for k in nb.prange(n):
        a, b, c, x0, y0, bk = A[k], B[k], C[k], xs[k], ys[k], bkg[k]
        step = math.exp(-2.0 * a)
        j0, j1 = _y_range(a, b, c, qmax, y0)
        sgg = 0.0
        sgd = 0.0
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
        lostgg[k] = lost
        nvalid[k] = nv
        bits[k] = flag
    return sumgg, sumgd, lostgg, nvalid, bits


@nb.njit(parallel=True, cache=True)
def pair_overlaps(data, xs, ys, A, B, C, qmax, pi, pj):
    """Σ G_k G_l over valid pixels in the intersection of the supports of each pair (k, l)."""
    ny, nx = data.shape
    npair = pi.size
    out = np.zeros(npair)
    for p in nb.prange(npair):
        k, l = pi[p], pj[p]
        ak, bk, ck, xk, yk = A[k], B[k], C[k], xs[k], ys[k]
        al, bl, cl, xl, yl = A[l], B[l], C[l], xs[l], ys[l]
        jk0, jk1 = _y_range(ak, bk, ck, qmax, yk)
        jl0, jl1 = _y_range(al, bl, cl, qmax, yl)
        total = 0.0
        for j in range(max(jk0, jl0, 0), min(jk1, jl1, ny - 1) + 1):
            dyk = j - yk
            dyl = j - yl
            ik0, ik1 = _row_range(ak, bk, ck, qmax, xk, dyk)
            il0, il1 = _row_range(al, bl, cl, qmax, xl, dyl)
            i0 = max(ik0, il0, 0)
            i1 = min(ik1, il1, nx - 1)
            if i1 < i0:
                continue
            dxk = i0 - xk
            dxl = i0 - xl
            gk = math.exp(-(ak * dxk * dxk + 2.0 * bk * dxk * dyk + ck * dyk * dyk))
            rk = math.exp(-(ak * (2.0 * dxk + 1.0) + 2.0 * bk * dyk))
            gl = math.exp(-(al * dxl * dxl + 2.0 * bl * dxl * dyl + cl * dyl * dyl))
            rl = math.exp(-(al * (2.0 * dxl + 1.0) + 2.0 * bl * dyl))
            sk = math.exp(-2.0 * ak)
            sl = math.exp(-2.0 * al)
            for i in range(i0, i1 + 1):
                if math.isfinite(data[j, i]):
                    total += gk * gl
                gk *= rk
                rk *= sk
                gl *= rl
                rl *= sl
        out[p] = total
    return out


@nb.njit(cache=True)
def solve_dense_groups(group_ptr, members, diag, rhs, pair_ptr, pair_li, pair_lj, pair_val):
    """Solve the normal equations of each small group.

    Group ``g`` holds ``members[group_ptr[g]:group_ptr[g+1]]``; its off-diagonal terms are
    pairs ``pair_ptr[g]:pair_ptr[g+1]`` with *local* indices ``pair_li, pair_lj``.

    Returns
    -------
    amp : float64 array
        Amplitudes per member (NaN when the group's system is singular).
    var : float64 array
        Diagonal of the inverse normal matrix (unit noise).
    """
    amp = np.full(members.size, np.nan)
    var = np.full(members.size, np.nan)
    for g in range(group_ptr.size - 1):
        start, stop = group_ptr[g], group_ptr[g + 1]
        n = stop - start
        mat = np.zeros((n, n))
        vec = np.zeros(n)
        for a in range(n):
            mat[a, a] = diag[members[start + a]]
            vec[a] = rhs[members[start + a]]
        for p in range(pair_ptr[g], pair_ptr[g + 1]):
            mat[pair_li[p], pair_lj[p]] = pair_val[p]
            mat[pair_lj[p], pair_li[p]] = pair_val[p]
        if np.linalg.cond(mat) > 1e10:
            continue
        inv = np.linalg.inv(mat)
        sol = inv @ vec
        for a in range(n):
            if inv[a, a] > 0.0:
                amp[start + a] = sol[a]
                var[start + a] = inv[a, a]
    return amp, var


@nb.njit(parallel=True, cache=True)
def residual_chisq(data, xs, ys, A, B, C, qmax, bkg, amp, targets, contact_ptr, contacts):
    """Σ (d - bkg - model)² over each target's valid support pixels.

    The model at a pixel is the target's own fitted kernel plus those of its contacts
    (``contacts[contact_ptr[k]:contact_ptr[k+1]]`` for source ``k``) whose support covers it.
    """
    ny, nx = data.shape
    out = np.zeros(targets.size)
    for t in nb.prange(targets.size):
        k = targets[t]
        ak, bk, ck, xk, yk = A[k], B[k], C[k], xs[k], ys[k]
        j0, j1 = _y_range(ak, bk, ck, qmax, yk)
        total = 0.0
        for j in range(max(j0, 0), min(j1, ny - 1) + 1):
            dyk = j - yk
            i0, i1 = _row_range(ak, bk, ck, qmax, xk, dyk)
            i0 = max(i0, 0)
            i1 = min(i1, nx - 1)
            if i1 < i0:
                continue
            width = i1 - i0 + 1
            row = np.empty(width)
            for i in range(i0, i1 + 1):
                row[i - i0] = data[j, i] - bkg[k]
            for c in range(contact_ptr[k] - 1, contact_ptr[k + 1]):
                src = k if c < contact_ptr[k] else contacts[c]
                a, b, cc, x0 = A[src], B[src], C[src], xs[src]
                dy = j - ys[src]
                l0, l1 = _row_range(a, b, cc, qmax, x0, dy)
                l0 = max(l0, i0)
                l1 = min(l1, i1)
                if l1 < l0:
                    continue
                dx = l0 - x0
                g = math.exp(-(a * dx * dx + 2.0 * b * dx * dy + cc * dy * dy))
                ratio = math.exp(-(a * (2.0 * dx + 1.0) + 2.0 * b * dy))
                step = math.exp(-2.0 * a)
                s = amp[src]
                for i in range(l0, l1 + 1):
                    row[i - i0] -= s * g
                    g *= ratio
                    ratio *= step
            for w in range(width):
                if math.isfinite(row[w]):
                    total += row[w] * row[w]
        out[t] = total
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
def robust_cell_stats(data, cell, stride, clip, clipped_mad_to_sigma):
    """Median and MAD-based rms of each ``cell``×``cell`` tile, sampled every ``stride`` pixels.

    One ``clip``-sigma clipping pass about the median removes sources before the final
    estimate, whose MAD is scaled by ``clipped_mad_to_sigma`` (the MAD-to-σ factor of a
    Gaussian truncated at ±clip σ). Tiles with fewer than 16 finite samples give NaN.
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
            for j in range(cy * cell, min((cy + 1) * cell, ny), stride):
                for i in range(cx * cell, min((cx + 1) * cell, nx), stride):
                    v = data[j, i]
                    if math.isfinite(v):
                        buf[n] = v
                        n += 1
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
