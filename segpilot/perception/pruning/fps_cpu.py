"""Compiled CPU kernels for farthest-point sampling under the fused distance (numba).

Why a compiled path at all: per view, SeGPruner runs ~66 dependent greedy steps over 729
tokens; in eager torch each step is ~30 tiny ops whose dispatch cost dominates (see
`fps.py`). One compiled loop per view, views spread over the cores, removes that.

Why int16: snapped features (`fps.quantize_unit_features`) are multiples of 2^-15 in [-1, 1],
i.e. integers in [-32767, 32767] after scaling. Stored as int16 they take half the bytes of
float32 (a view's 729 x 1152 features, 1.7 MB, stays in cache) and their dot products
accumulate exactly in int32 (every partial sum is at most the product of the two rows' norms,
(2^15 + sqrt(D) / 2)^2 < 2^31 for any D below 7e8). Converted to float32 (one rounding of the
exact integer) and scaled by 2^-30, the similarity is the value the float64 torch paths round
to, and the distance arithmetic
below mirrors `fps.fused_distance` / `fps.geo_distance` op for op in float32, so the
indices are identical to the torch kernel and to the plain loop (tests check all three).
"""

from __future__ import annotations

import numpy as np

try:  # numba is a hard dependency in requirements.txt; the torch kernel is the fallback.
    import numba
    from numba import njit, prange

    # OpenMP first: thread-safe (ROS executors may call from several threads) and it avoids
    # numba's warning about the TBB version Debian ships.
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
except ImportError:  # pragma: no cover - exercised only on installs without numba
    njit = None

SIM_SCALE = np.float32(2.0**-30)  # one grid unit (2^-15) squared: exact power of two
def available() -> bool:
    """Whether the JIT kernels can run (numba importable)."""
    return njit is not None


if njit is not None:

    @njit(fastmath=True, cache=True)
    def _dot_int16(a, b):
        """Exact int32 dot product of two grid-unit rows, in any order (see the module docstring: every partial
        sum of unit rows stays below 2^31). The explicit int32 wrap keeps numba from widening to int64 (its
        integer promotion): LLVM then emits AVX-512 / AVX2 `vpmaddwd`, 2x faster than the int64 loop."""
        acc = np.int32(0)
        for i in range(a.shape[0]):
            acc = np.int32(acc + np.int32(a[i]) * np.int32(b[i]))
        return acc

    @njit(cache=True)
    def _scan(q, norm, pos, valid, bias, mind, lo, hi, centre, inv_dmax, w_geo, w_feat):
        """Update mind[lo:hi] with one new centre; return (best value, first argmax) there.

        Exact pruning: sim <= |q_j| |q_c|, so d(j, c) >= w_geo * geo * inv_dmax
        + w_feat * (1 - |q_j| |q_c|) + bias_j. When that cheap bound already reaches
        mind[j], the new centre cannot lower it and the D-dim dot product is skipped (the
        1e-5 margin covers float32 rounding of the bound).
        """
        one = np.float32(1.0)
        neg_inf = np.float32(-np.inf)
        qc = q[centre]
        nc = norm[centre]
        pcx = pos[centre, 0]
        pcy = pos[centre, 1]
        pcz = pos[centre, 2]
        vc = valid[centre]
        best = neg_inf
        arg = -1
        for j in range(lo, hi):
            m = mind[j]
            if m == neg_inf:
                continue
            geo = np.float32(0.0)
            if vc and valid[j]:
                dx = pos[j, 0] - pcx
                dy = pos[j, 1] - pcy
                dz = pos[j, 2] - pcz
                geo = np.sqrt(dx * dx + dy * dy + dz * dz)
            lower = w_geo * (geo * inv_dmax) + w_feat * (1.0 - norm[j] * nc) + bias[j] - 1e-5
            if lower < m:
                sim = np.float32(_dot_int16(q[j], qc)) * SIM_SCALE
                d = w_geo * (geo * inv_dmax) + w_feat * (one - sim) + bias[j]
                if d < m:
                    m = d
                    mind[j] = d
            if m > best:  # strict: the first maximum wins, like torch.argmax
                best = m
                arg = j
        return best, arg

    @njit(fastmath={"reassoc"}, cache=True)
    def _sum_squares(f, i):
        """Float64 sum of row i's squares in any order (vectorised). Each float32 square is exact in float64, so
        orders differ only in float64 rounding, far below the float32 norm it is rounded to: the freedom torch's
        float64 reduction takes too (a strict left-to-right chain cost ~80% of the kernel's time)."""
        s = 0.0
        for j in range(f.shape[1]):
            x = np.float64(f[i, j])
            s += x * x
        return s

    @njit(inline="always", cache=True)
    def _quantize_row(f, out, i):
        """Row i of `fps.quantize_unit_features` in one pass (its arithmetic, op for op: float64 sum of squares,
        norm rounded to float32, float32 scale and product, round half to even, clamp)."""
        norm = np.float32(np.sqrt(_sum_squares(f, i)))
        scale = np.float32(32768.0) / max(norm, np.float32(1e-12))
        for j in range(f.shape[1]):
            v = np.rint(f[i, j] * scale)
            out[i, j] = np.int16(min(max(v, np.float32(-32767.0)), np.float32(32767.0)))

    @njit(cache=True)
    def _quantize(f, out):
        """(N, D) float32 features -> (N, D) int16 grid units; ~25x faster than the five torch passes over a
        12 x 729 x 1152 set (~2 vs 56 ms on one thread), the same units."""
        for i in range(f.shape[0]):
            _quantize_row(f, out, i)

    @njit(parallel=True, cache=True)
    def _quantize_parallel(f, out):
        for i in prange(f.shape[0]):
            _quantize_row(f, out, i)

    @njit(cache=True)
    def _norms(q):
        norm = np.empty(q.shape[0], np.float64)
        for j in range(q.shape[0]):
            norm[j] = np.sqrt(np.float64(_dot_int16(q[j], q[j]))) / 32768.0
        return norm

    @njit(cache=True)
    def _fps_one(q, pos, valid, bias, mind, k, start, inv_dmax, w_geo, w_feat, out):
        """Greedy FPS over one problem; `mind` holds +inf for candidates, -inf otherwise."""
        norm = _norms(q)
        centre = start
        for step in range(k):
            out[step] = centre
            mind[centre] = np.float32(-np.inf)
            _, centre = _scan(q, norm, pos, valid, bias, mind, 0, q.shape[0], centre, inv_dmax, w_geo, w_feat)

    @njit(parallel=True, cache=True)
    def _fps_batch(q, pos, valid, bias, cand, k, start, inv_dmax, w_geo, w_feat, out):
        for b in prange(q.shape[0]):
            mind = np.where(cand[b], np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
            _fps_one(q[b], pos[b], valid[b], bias[b], mind, k[b], start[b], inv_dmax[b], w_geo, w_feat, out[b])

    @njit(cache=True)
    def _fps_batch_serial(q, pos, valid, bias, cand, k, start, inv_dmax, w_geo, w_feat, out):
        for b in range(q.shape[0]):
            mind = np.where(cand[b], np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
            _fps_one(q[b], pos[b], valid[b], bias[b], mind, k[b], start[b], inv_dmax[b], w_geo, w_feat, out[b])


