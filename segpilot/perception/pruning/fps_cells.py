"""Exact farthest-point sampling of one big problem (global mode) by lazily refreshed 3D cells (numba).

Why: the eager kernel (`fps_cpu._fps_one`) applies every new centre to every token at once. Its exact 3D bound
skips ~95% of the feature dot products, but the ~1,800 it keeps per step at 48 views x 729 tokens are scattered
over 80 MB of features, so each one waits for memory (0.26 us per 1152-d dot, against 0.03 us from cache).

Here the candidates are grouped into 3D cells, and a cell is brought up to date only when it may hold the next
centre (its stale maximum is an upper bound, because running minima only fall): every centre selected since its
last refresh that its bounding box does not rule out is applied then, all at once, token by token (each token's
row is read once for all of them). The next centre is taken when every cell whose bound reaches the best
up-to-date value is up to date.

Exactness: each token meets the centres in selection order with the eager kernel's float32 arithmetic and its
own per-token bound, and a cell skips a centre only when a lower bound of the distance to any of its tokens
(box distance, largest feature norm, smallest bias, minus the eager kernel's 1e-5 margin) reaches the cell's
current maximum. So every running minimum, and every argmax (the first index of the largest minimum), equals
the eager kernel's: the indices are identical (tests check it on rooms with invalid positions, biases and ties).

Speed: most of the time is the int16 dot products (~75% with 64-bit lanes, ~60% now, `perf`); `fps_cpu._dot_int16`
must compile to `vpmaddwd` (32-bit lanes). Numba widened it to 64-bit lanes when it was inlined here (48 views:
1,050 -> ~520 ms once fixed). Numba's cache
does not follow imports: an edit of `fps_cpu.py` alone leaves this file's cached kernels stale until this file
changes too (the ahead-of-time build hashes both).
"""

from __future__ import annotations

import numpy as np

from segpilot.perception.pruning.fps_cpu import SIM_SCALE, available

if available():
    from numba import njit

    from segpilot.perception.pruning.fps_cpu import _dot_int16, _norms

    @njit(cache=True)
    def _cell_max(members, lo, hi, mind):
        best = np.float32(-np.inf)
        arg = -1
        for t in range(lo, hi):  # members in index order: the first maximum wins, like the eager argmax
            j = members[t]
            if mind[j] > best:
                best = mind[j]
                arg = j
        return best, arg

    @njit(cache=True)
    def _cells(pos, valid, mind, cells_per_axis):
        """Candidates (mind != -inf) grouped by a cubic grid over their positions (those without one last):
        (members, cell start offsets, cell of each token, whether each cell has positions)."""
        neg_inf = np.float32(-np.inf)
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        n_cand = 0
        for j in range(pos.shape[0]):
            if mind[j] != neg_inf:
                n_cand += 1
                if valid[j]:
                    for a in range(3):
                        lo[a] = min(lo[a], pos[j, a])
                        hi[a] = max(hi[a], pos[j, a])
        extent = max(hi[0] - lo[0], max(hi[1] - lo[1], hi[2] - lo[2]))
        size = extent / cells_per_axis if extent > 0 else 1.0
        dims = np.ones(3, np.int64)
        for a in range(3):
            if hi[a] >= lo[a]:
                dims[a] = max(1, min(cells_per_axis, int((hi[a] - lo[a]) / size) + 1))
        no_pos = dims[0] * dims[1] * dims[2]
        key = np.empty(n_cand, np.int64)
        members = np.empty(n_cand, np.int64)
        t = 0
        for j in range(pos.shape[0]):
            if mind[j] != neg_inf:
                members[t] = j
                key[t] = no_pos
                if valid[j]:
                    ix = min(int((pos[j, 0] - lo[0]) / size), dims[0] - 1)
                    iy = min(int((pos[j, 1] - lo[1]) / size), dims[1] - 1)
                    iz = min(int((pos[j, 2] - lo[2]) / size), dims[2] - 1)
                    key[t] = ix + dims[0] * (iy + dims[1] * iz)
                t += 1
        order = np.argsort(key, kind="mergesort")  # stable: a cell's members stay in index order
        members = members[order]
        key = key[order]
        n_cells = 0
        for t in range(n_cand):
            if t == 0 or key[t] != key[t - 1]:
                n_cells += 1
        start = np.empty(n_cells + 1, np.int64)
        has_pos = np.empty(n_cells, np.bool_)
        cell_of = np.full(pos.shape[0], -1, np.int64)
        c = -1
        for t in range(n_cand):
            if t == 0 or key[t] != key[t - 1]:
                c += 1
                start[c] = t
                has_pos[c] = key[t] != no_pos
            cell_of[members[t]] = c
        start[n_cells] = n_cand
        return members, start, cell_of, has_pos

    @njit(cache=True)
    def _refresh(c, first, last, out, q, norm, pos, valid, bias, mind, members, start, has_pos, bmin, bmax,
                 maxnorm, minbias, cmax, inv_dmax, w_geo, w_feat, passing):  # fmt: skip
        """Apply centres out[first:last] to cell c (those its bounds do not rule out), token by token."""
        m = cmax[c]
        n_pass = 0
        for p in range(first, last):
            ctr = out[p]
            geo_lb = np.float32(0.0)
            if valid[ctr] and has_pos[c]:
                s = np.float32(0.0)
                for a in range(3):
                    x = pos[ctr, a]
                    gap = max(bmin[c, a] - x, max(np.float32(0.0), x - bmax[c, a]))
                    s += gap * gap
                geo_lb = np.sqrt(s)
            lower = w_geo * (geo_lb * inv_dmax) + w_feat * (1.0 - maxnorm[c] * norm[ctr]) + minbias[c] - 1e-5
            if lower < m:
                passing[n_pass] = ctr
                n_pass += 1
        if n_pass == 0:
            return
        one = np.float32(1.0)
        for t in range(start[c], start[c + 1]):
            j = members[t]
            mj = mind[j]
            if mj == np.float32(-np.inf):
                continue
            qj = q[j]
            for i in range(n_pass):  # the eager kernel's per-token arithmetic, centres in selection order
                ctr = passing[i]
                geo = np.float32(0.0)
                if valid[ctr] and valid[j]:
                    dx = pos[j, 0] - pos[ctr, 0]
                    dy = pos[j, 1] - pos[ctr, 1]
                    dz = pos[j, 2] - pos[ctr, 2]
                    geo = np.sqrt(dx * dx + dy * dy + dz * dz)
                if w_geo * (geo * inv_dmax) + w_feat * (1.0 - norm[j] * norm[ctr]) + bias[j] - 1e-5 < mj:
                    sim = np.float32(_dot_int16(qj, q[ctr])) * SIM_SCALE
                    d = w_geo * (geo * inv_dmax) + w_feat * (one - sim) + bias[j]
                    if d < mj:
                        mj = d
            mind[j] = mj

    @njit(cache=True)
    def _fps_one_cells(q, pos, valid, bias, mind, k, start, inv_dmax, w_geo, w_feat, out, cells_per_axis):
        """`fps_cpu._fps_one` (same arguments and result) by lazily refreshed cells."""
        neg_inf = np.float32(-np.inf)
        norm = _norms(q)
        members, cstart, cell_of, has_pos = _cells(pos, valid, mind, cells_per_axis)
        n_cells = has_pos.shape[0]
        bmin = np.full((n_cells, 3), np.float32(np.inf))
        bmax = np.full((n_cells, 3), np.float32(-np.inf))
        maxnorm = np.zeros(n_cells, np.float64)
        minbias = np.full(n_cells, np.float32(np.inf))
        for c in range(n_cells):
            for t in range(cstart[c], cstart[c + 1]):
                j = members[t]
                maxnorm[c] = max(maxnorm[c], norm[j])
                minbias[c] = min(minbias[c], bias[j])
                if has_pos[c]:
                    for a in range(3):
                        bmin[c, a] = min(bmin[c, a], pos[j, a])
                        bmax[c, a] = max(bmax[c, a], pos[j, a])
        cmax = np.full(n_cells, np.float32(np.inf))  # upper bound of the cell's largest running minimum
        carg = np.empty(n_cells, np.int64)  # its first argmax (exact when the cell is up to date)
        applied = np.zeros(n_cells, np.int64)  # centres out[:applied[c]] are applied to cell c
        passing = np.empty(max(k, 1), np.int64)
        centre = start
        for step in range(k):
            out[step] = centre
            mind[centre] = neg_inf
            cb = cell_of[centre]
            if applied[cb] == step:
                cmax[cb], carg[cb] = _cell_max(members, cstart[cb], cstart[cb + 1], mind)
            if step == k - 1:
                return
            done = step + 1
            best = neg_inf
            while True:  # refresh every stale cell whose bound reaches the best, until none is left
                best = neg_inf
                for c in range(n_cells):
                    best = max(best, cmax[c])
                if best == neg_inf:
                    return  # no candidate left (out keeps -1)
                stale = False
                for c in range(n_cells):
                    if cmax[c] >= best and applied[c] < done:
                        _refresh(c, applied[c], done, out, q, norm, pos, valid, bias, mind, members, cstart, has_pos,
                                 bmin, bmax, maxnorm, minbias, cmax, inv_dmax, w_geo, w_feat, passing)  # fmt: skip
                        applied[c] = done
                        cmax[c], carg[c] = _cell_max(members, cstart[c], cstart[c + 1], mind)
                        stale = True
                if not stale:
                    break
            centre = -1
            for c in range(n_cells):  # up-to-date cells holding the maximum: the smallest index wins
                if cmax[c] == best and (centre < 0 or carg[c] < centre):
                    centre = carg[c]
