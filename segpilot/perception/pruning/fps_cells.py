"""Exact farthest-point sampling of one big problem (global mode) by lazily refreshed 3D cells and tokens (numba).

Why: the eager kernel (`fps_cpu._fps_one`) applies every new centre to every token at once. Its exact 3D bound
skips ~95% of the feature dot products, but the ~1,800 it keeps per step at 48 views x 729 tokens are scattered
over 80 MB of features, so each one waits for memory (0.26 us per 1152-d dot, against 0.03 us from cache).

Here the candidates are grouped into 3D cells, and work is done only where the next centre may be:
- A cell is refreshed only when its bound (the largest running minimum of its tokens, stale minima included: a
  stale minimum is an upper bound, because running minima only fall) is the largest of all cells (a tournament
  tree keeps the largest; the cells are refreshed best first, until the largest bound is exact).
- A refresh first passes each centre selected since the cell's last refresh through the cell's box bound, once,
  and appends those it does not rule out to the cell's history (a centre ruled out once is ruled out for good:
  its distance to every token already reaches the cell's bound, which only falls).
- Within the cell, a token whose stale minimum is below the floor (the largest exact minimum met this step) cannot
  be the next centre and is left stale; the others apply the history entries they have not met, in selection
  order, each with its own per-token bound before the dot product, and stop as soon as their minimum falls below
  the floor (the rest waits for a later refresh). Since the largest bound only falls from step to step, most
  tokens near a centre are never touched again (48 views x 729 tokens: ~2.8 M dot products instead of ~5.7-6.9 M
  with whole-cell refreshes, and the cell loop no longer scans every cell per step).

Exactness: each token meets the centres in selection order with the eager kernel's float32 arithmetic and its
own per-token bound, and a centre is skipped only when a certified lower bound of its distance (box distance,
largest feature norm, smallest bias, minus the eager kernel's 1e-5 margin) reaches the token's running minimum,
so every minimum a token holds is the eager kernel's. The next centre is taken when the largest cell bound is an
exact value and every cell tied with it is up to date; a stale token is below the floor, so never tied. Hence
every argmax (the first index of the largest minimum) equals the eager kernel's: the indices are identical
(tests check it on rooms with invalid positions, biases, masks and exact ties).

Speed: most of the time is the int16 dot products; `fps_cpu._dot_int16` must compile to `vpmaddwd` (32-bit
lanes). Numba widened it to 64-bit lanes when it was inlined here (48 views: 1,050 -> ~520 ms once fixed).
Numba's cache does not follow imports: an edit of `fps_cpu.py` alone leaves this file's cached kernels stale
until this file changes too (the ahead-of-time build hashes both).
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
    def _tree_update(tree, size, cmax, c):
        """Cell c's bound changed: replay the matches on its path to the root (larger bound wins, then the
        smaller cell index)."""
        i = (size + c) >> 1
        while i >= 1:
            tree[i] = _match(tree[2 * i], tree[2 * i + 1], cmax)
            i >>= 1

    @njit(inline="always", cache=True)
    def _match(a, b, cmax):
        """The winner of two tree entries (cells, -1 = empty): the larger bound, then the smaller cell (left)."""
        return b if b >= 0 and (a < 0 or cmax[b] > cmax[a]) else a

    @njit(cache=True)
    def _append(c, value, pool, hoff, hlen, hcap, used):
        """Append `value` to cell c's history: ragged arrays in one pool, a full one moves to the pool's end with
        twice the room (amortised O(1)); returns the pool (grown when needed)."""
        if hlen[c] == hcap[c]:
            cap = max(16, 2 * hcap[c])
            if used[0] + cap > pool.shape[0]:
                bigger = np.empty(max(2 * pool.shape[0], used[0] + cap), pool.dtype)
                bigger[: used[0]] = pool[: used[0]]
                pool = bigger
            pool[used[0] : used[0] + hlen[c]] = pool[hoff[c] : hoff[c] + hlen[c]]
            hoff[c] = used[0]
            hcap[c] = cap
            used[0] += cap
        pool[hoff[c] + hlen[c]] = value
        hlen[c] += 1
        return pool

    @njit(cache=True)
    def _fps_one_cells(q, pos, valid, bias, mind, k, start, inv_dmax, w_geo, w_feat, out, cells_per_axis):
        """`fps_cpu._fps_one` (same arguments and result) by lazily refreshed cells and tokens."""
        neg_inf = np.float32(-np.inf)
        one = np.float32(1.0)
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
        applied = np.zeros(n_cells, np.int64)  # centres out[:applied[c]] went through the cell's box bound
        tapplied = np.zeros(q.shape[0], np.int64)  # centres out[:tapplied[j]] are applied to token j
        pool = np.empty(max(1024, 4 * k), np.int64)  # per cell: positions in `out` of the centres its box passed
        hoff = np.zeros(n_cells, np.int64)
        hlen = np.zeros(n_cells, np.int64)
        hcap = np.zeros(n_cells, np.int64)
        used = np.zeros(1, np.int64)
        size = 1
        while size < n_cells:
            size *= 2
        tree = np.full(2 * size, -1, np.int64)  # tree[1]: the cell with the largest bound
        for c in range(n_cells):
            tree[size + c] = c
        for i in range(size - 1, 0, -1):
            tree[i] = _match(tree[2 * i], tree[2 * i + 1], cmax)
        centre = start
        for step in range(k):
            out[step] = centre
            mind[centre] = neg_inf
            cb = cell_of[centre]
            if applied[cb] == step:
                cmax[cb], carg[cb] = _cell_max(members, cstart[cb], cstart[cb + 1], mind)
                _tree_update(tree, size, cmax, cb)
            if step == k - 1:
                return
            done = step + 1
            floor = neg_inf  # the largest exact running minimum met this step (a lower bound of the next maximum)
            while True:
                c = tree[1]
                best = cmax[c]
                if best == neg_inf:
                    return  # no candidate left (out keeps -1)
                if applied[c] == done:  # the largest bound is exact; cells tied with it must be up to date too
                    tied = -1
                    for c2 in range(n_cells):
                        if cmax[c2] == best and applied[c2] < done:
                            tied = c2
                            break
                    if tied < 0:
                        break
                    c = tied
                m = cmax[c]
                for p in range(applied[c], done):  # the box bound, once per cell and centre
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
                        pool = _append(c, p, pool, hoff, hlen, hcap, used)
                applied[c] = done
                h0 = hoff[c]
                hn = hlen[c]
                for t in range(cstart[c], cstart[c + 1]):
                    j = members[t]
                    mj = mind[j]
                    if mj == neg_inf or mj < floor:  # selected, or cannot be the next centre: stays stale
                        continue
                    tj = tapplied[j]
                    stop = done  # token j will have met out[:stop]
                    lo = 0
                    hi = hn
                    while lo < hi:  # the first history entry token j has not met
                        mid = (lo + hi) // 2
                        if pool[h0 + mid] < tj:
                            lo = mid + 1
                        else:
                            hi = mid
                    if lo < hn:
                        qj = q[j]
                        for i in range(lo, hn):  # the eager kernel's per-token arithmetic, in selection order
                            ctr = out[pool[h0 + i]]
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
                                    if mj < floor:  # below the floor now: the rest can wait (stays stale)
                                        stop = pool[h0 + i] + 1
                                        break
                        mind[j] = mj
                    tapplied[j] = stop
                    if stop == done and mj > floor:
                        floor = mj
                cmax[c], carg[c] = _cell_max(members, cstart[c], cstart[c + 1], mind)
                _tree_update(tree, size, cmax, c)
            centre = -1
            for c in range(n_cells):  # every cell holding the maximum is up to date: the smallest index wins
                if cmax[c] == best and (centre < 0 or carg[c] < centre):
                    centre = carg[c]
