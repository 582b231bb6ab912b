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

import os
import threading
from concurrent.futures import ThreadPoolExecutor

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
PARALLEL_MIN_TOKENS = 1024
"""Batches with fewer tokens in all run serially: one barrier costs more than the work (the demo's 12 x 49 tokens
took up to 28 ms over two threads on a busy machine, 10 ms in one)."""

THREADS_MIN_VALUES = 1 << 20
"""Batches with fewer feature values stay on the calling thread with the ahead-of-time kernels: handing work to a
plain thread costs ~0.4 ms (12 x 196 x 192: 0.83 ms over two threads, 0.76 ms on one)."""


def available() -> bool:
    """Whether the compiled kernels can run (numba importable)."""
    return njit is not None


_WARM = threading.Event()
_WARM_STARTED = threading.Event()
_WARM_LOCK = threading.Lock()


def warm_up_async(delay: float = 0.0) -> None:
    """Load the compiled kernels on a background thread (once per process).

    A fresh process's first call of a cached numba kernel spends ~0.5-0.6 s importing numba's typing and lowering
    registries, the rest of the call takes milliseconds. Started when a SeGPruner is made (before a command loads
    its model or renders its views), the load overlaps that work; until it is done, the serial kernels compiled
    ahead of time run (`aot.py`), or without them small problems run on the torch kernel (same indices, ~25 ms
    for the demo's 588 tokens) and large ones wait for it (`ready`). `delay` (seconds) postpones the load
    (`kernels.warm_up` sets it when the ahead-of-time kernels exist)."""
    if njit is None:
        return
    with _WARM_LOCK:
        if _WARM_STARTED.is_set():
            return
        _WARM_STARTED.set()
    thread = threading.Timer(delay, _warm) if delay > 0 else threading.Thread(target=_warm)
    thread.name, thread.daemon = "segpilot-fps-warm-up", True
    thread.start()


def ready(wait: bool = False) -> bool:
    """Whether the compiled kernels are loaded; with `wait`, start loading if needed and wait for it."""
    if wait and not _WARM.is_set():
        warm_up_async(0.0)
        _WARM.wait()
    return _WARM.is_set()


def cores() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


_THREADS: list[int] = []


def set_threads(n: int | None) -> None:
    """Threads `split_run` may use (None = `cores()`); numba's and torch's counts are set apart from this."""
    _THREADS[:] = [] if n is None else [max(1, int(n))]


def threads() -> int:
    """Threads `split_run` uses: `set_threads`' count, else one per core."""
    return _THREADS[0] if _THREADS else cores()


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def split_run(n_items: int, run) -> None:
    """Call `run(lo, hi)` on contiguous chunks of `range(n_items)` side by side (`threads()` chunks at most): the
    calling thread takes the first chunk, a small pool of plain threads the others. For kernels that release the
    GIL (those compiled ahead of time, `aot.py`). No thread spins waiting for work, so a descheduled one delays
    only its own chunk (on a busy machine the call costs about what the serial call costs, never the spin-wait
    collapse issue 20 measured for OpenMP)."""
    chunks = min(threads(), n_items)
    if chunks <= 1:
        run(0, n_items)
        return
    with _POOL_LOCK:
        if not _POOL or _POOL[0]._max_workers < chunks - 1:
            _POOL[:] = [ThreadPoolExecutor(chunks - 1, thread_name_prefix="segpilot-fps")]
        pool = _POOL[0]
    bounds = [n_items * i // chunks for i in range(chunks + 1)]
    futures = [pool.submit(run, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True)]
    run(bounds[0], bounds[1])
    for future in futures:
        future.result()  # re-raises a chunk's error here


WARMERS: list = []
"""More kernels to load with these (`fps_cells` adds its own: it imports this module, not the other way)."""


def _warm() -> None:
    try:
        for warm in WARMERS:
            warm()
        rng = np.random.default_rng(0)
        for b in (1, 2):  # the one-problem kernel, the batch kernels serial and parallel
            q = rng.integers(-16384, 16384, (b, 8, 4)).astype(np.int16)
            pos = rng.random((b, 8, 3)).astype(np.float32)
            ones = np.ones((b, 8), bool)
            quantize_cpu(rng.standard_normal((4, 8)).astype(np.float32), np.empty((4, 8), np.int16), parallel=b == 2)
            for parallel in (False, True):
                greedy_fps_cpu(q, pos, ones, np.zeros((b, 8), np.float32), ones, np.full(b, 3), np.zeros(b, np.int64),
                               np.ones(b, np.float32), 0.5, 0.5, parallel=parallel)  # fmt: skip
    finally:
        _WARM.set()  # a failure shows on the real call, with its own error


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


def greedy_fps_cpu(
    q: np.ndarray,
    pos: np.ndarray,
    valid: np.ndarray,
    bias: np.ndarray,
    candidates: np.ndarray,
    k: np.ndarray,
    start: np.ndarray,
    inv_dmax: np.ndarray,
    w_geo: float,
    w_feat: float,
    parallel: bool | None = None,
    ahead_of_time=None,
) -> np.ndarray:
    """Batched exact FPS; the numpy twin of `fps.greedy_fps` (same arguments, same result).

    q: (B, T, D) int16 snapped features x 2^15; pos: (B, T, 3) float32 with zeros where
    `valid` (B, T) is False; bias: (B, T) float32 added to every distance; k, start: (B,)
    int64; inv_dmax: (B,) float32. Returns (B, max k) int64, -1 past each problem's k. `parallel`: spread a batch's
    problems over threads (True: numba's, or plain ones with an ahead-of-time module that releases the GIL), not
    (False), or by size (None: `PARALLEL_MIN_TOKENS`, `THREADS_MIN_VALUES`); the indices are the same.
    `ahead_of_time`: the module of serial kernels compiled at install (`aot.module()`) to run instead of the JIT
    ones - same functions, same indices, no load time; None = the JIT kernels.
    """
    k_max = int(k.max()) if k.size else 0
    out = np.full((q.shape[0], k_max), -1, dtype=np.int64)
    if k_max == 0:
        return out
    args = (np.float32(w_geo), np.float32(w_feat))
    if q.shape[0] == 1:  # one problem, serially (`fps_cells` solves big ones faster, with the same indices)
        mind = np.where(candidates[0], np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        one = (q[0], pos[0], valid[0], bias[0], mind, int(k[0]), int(start[0]), np.float32(inv_dmax[0]), *args, out[0])
        (_fps_one if ahead_of_time is None else ahead_of_time.fps_one)(*one)
        return out
    batch = (q, pos, valid, bias, candidates, k.astype(np.int64), start.astype(np.int64), inv_dmax.astype(np.float32))
    # Several problems (per-view mode): one barrier per call, so only small batches stay serial (the demo's
    # 12 x 49 tokens took up to 28 ms over two threads on a busy machine, 10 ms in one).
    releases_gil = getattr(ahead_of_time, "RELEASES_GIL", False)
    if parallel is None and ahead_of_time is None:
        parallel = numba.get_num_threads() > 1 and q.shape[0] * q.shape[1] >= PARALLEL_MIN_TOKENS
    elif parallel is None:
        parallel = releases_gil and threads() > 1 and q.size >= THREADS_MIN_VALUES
    if ahead_of_time is not None:
        if parallel and releases_gil:  # the problems over plain threads
            split_run(q.shape[0], lambda lo, hi: ahead_of_time.fps_batch_serial(
                *(a[lo:hi] for a in batch), *args, out[lo:hi]))  # fmt: skip
        else:
            ahead_of_time.fps_batch_serial(*batch, *args, out)
        return out
    (_fps_batch if parallel else _fps_batch_serial)(*batch, *args, out)
    return out


def quantize_cpu(features: np.ndarray, out: np.ndarray, parallel: bool = False, ahead_of_time=None) -> np.ndarray:
    """`fps.quantize_unit_features` of C-contiguous (N, D) float32 `features` into `out` ((N, D) int16), compiled:
    the JIT kernel (rows over numba's threads with `parallel`) or the module compiled at install (rows over plain
    threads with `parallel` where it releases the GIL)."""
    if ahead_of_time is None:
        (_quantize_parallel if parallel else _quantize)(features, out)
    elif parallel and getattr(ahead_of_time, "RELEASES_GIL", False):
        split_run(features.shape[0], lambda lo, hi: ahead_of_time.quantize(features[lo:hi], out[lo:hi]))
    else:
        ahead_of_time.quantize(features, out)
    return out
