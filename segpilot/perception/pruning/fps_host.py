"""The host side of the compiled FPS kernels: argument preparation, threads, and the choice between the kernels
compiled at install (`aot.py`) and numba's JIT ones (`fps_cpu.py`, `fps_cells.py`).

Why apart from the kernels: importing numba costs a new process ~0.13-0.2 s (a fifth of torch's import), and with
the kernels compiled at install a command never needs it. This module imports no numba; the JIT kernel modules
are imported only when a call asks for them (`ahead_of_time=None`).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

PARALLEL_MIN_TOKENS = 1024
"""Batches with fewer tokens in all run serially: one barrier costs more than the work (the demo's 12 x 49 tokens
took up to 28 ms over two threads on a busy machine, 10 ms in one)."""

THREADS_MIN_VALUES = 1 << 20
"""Batches with fewer feature values stay on the calling thread with the ahead-of-time kernels: handing work to a
plain thread costs ~0.4 ms (12 x 196 x 192: 0.83 ms over two threads, 0.76 ms on one)."""


@cache
def numba_installed() -> bool:
    """Whether numba can be imported (looked up without importing it)."""
    return importlib.util.find_spec("numba") is not None


def _jit():
    """The JIT kernel module (imports numba; ~0.5 s more on the first call of a kernel)."""
    from segpilot.perception.pruning import fps_cpu

    return fps_cpu


def numba_threads() -> int:
    """numba's thread count (imports numba)."""
    return _jit().numba.get_num_threads()


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


_POOL: list[tuple[int, ThreadPoolExecutor]] = []  # (workers, pool): grown, never shrunk
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
        if not _POOL or _POOL[0][0] < chunks - 1:
            if _POOL:
                _POOL[0][1].shutdown(wait=False)  # its idle threads exit; calls already queued there still run
            _POOL[:] = [(chunks - 1, ThreadPoolExecutor(chunks - 1, thread_name_prefix="segpilot-fps"))]
        pool = _POOL[0][1]
    bounds = [n_items * i // chunks for i in range(chunks + 1)]
    futures = [pool.submit(run, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True)]
    run(bounds[0], bounds[1])
    for future in futures:
        future.result()  # re-raises a chunk's error here


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
        (_jit()._fps_one if ahead_of_time is None else ahead_of_time.fps_one)(*one)
        return out
    batch = (q, pos, valid, bias, candidates, k.astype(np.int64), start.astype(np.int64), inv_dmax.astype(np.float32))
    # Several problems (per-view mode): one barrier per call, so only small batches stay serial (the demo's
    # 12 x 49 tokens took up to 28 ms over two threads on a busy machine, 10 ms in one).
    releases_gil = getattr(ahead_of_time, "RELEASES_GIL", False)
    if parallel is None and ahead_of_time is None:
        parallel = numba_threads() > 1 and q.shape[0] * q.shape[1] >= PARALLEL_MIN_TOKENS
    elif parallel is None:
        parallel = releases_gil and threads() > 1 and q.size >= THREADS_MIN_VALUES
    if ahead_of_time is not None:
        if parallel and releases_gil:  # the problems over plain threads
            split_run(q.shape[0], lambda lo, hi: ahead_of_time.fps_batch_serial(
                *(a[lo:hi] for a in batch), *args, out[lo:hi]))  # fmt: skip
        else:
            ahead_of_time.fps_batch_serial(*batch, *args, out)
        return out
    (_jit()._fps_batch if parallel else _jit()._fps_batch_serial)(*batch, *args, out)
    return out


def quantize_cpu(features: np.ndarray, out: np.ndarray, parallel: bool = False, ahead_of_time=None) -> np.ndarray:
    """`fps.quantize_unit_features` of C-contiguous (N, D) float32 `features` into `out` ((N, D) int16), compiled:
    the JIT kernel (rows over numba's threads with `parallel`) or the module compiled at install (rows over plain
    threads with `parallel` where it releases the GIL)."""
    if ahead_of_time is None:
        (_jit()._quantize_parallel if parallel else _jit()._quantize)(features, out)
    elif parallel and getattr(ahead_of_time, "RELEASES_GIL", False):
        split_run(features.shape[0], lambda lo, hi: ahead_of_time.quantize(features[lo:hi], out[lo:hi]))
    else:
        ahead_of_time.quantize(features, out)
    return out


def cells_per_axis(n_tokens: int) -> int:
    """Grid resolution: ~cbrt(N) / 4 cells along the longest side (tokens lie on surfaces: ~80-200 per occupied
    cell from 8,748 to 70,000 tokens). Since tokens are refreshed one by one below a floor, smaller cells no
    longer save dot products, only add box checks: 5 / 8 / 10 were fastest at 12 / 48 / 96 views x 729 tokens."""
    return int(min(32, max(4, round(n_tokens ** (1.0 / 3.0) / 4.0))))


def greedy_fps_cells(q, pos, valid, bias, candidates, k, start, inv_dmax, w_geo: float, w_feat: float,
                     ahead_of_time=None) -> np.ndarray:  # fmt: skip
    """`greedy_fps_cpu` for a batch of one problem (same arguments, same indices), by lazy cells;
    `ahead_of_time`: the module compiled at install (`aot.module()`) instead of the JIT kernel."""
    if q.shape[0] != 1:
        raise ValueError(f"greedy_fps_cells solves one problem, got a batch of {q.shape[0]}")
    k_max = int(k.max()) if k.size else 0
    out = np.full((1, k_max), -1, dtype=np.int64)
    if k_max == 0:
        return out
    mind = np.where(candidates[0], np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    if ahead_of_time is None:
        from segpilot.perception.pruning import fps_cells

        kernel = fps_cells._fps_one_cells
    else:
        kernel = ahead_of_time.fps_one_cells
    kernel(q[0], pos[0], valid[0], bias[0], mind, k_max, int(start[0]), np.float32(inv_dmax[0]), np.float32(w_geo),
           np.float32(w_feat), out[0], cells_per_axis(q.shape[1]))  # fmt: skip
    return out


_WARM = threading.Event()
_WARM_STARTED = threading.Event()
_WARM_LOCK = threading.Lock()


def warm_up_async(delay: float = 0.0) -> None:
    """Load numba's JIT kernels on a background thread (once per process).

    A fresh process's first call of a cached numba kernel spends ~0.5-0.6 s importing numba's typing and lowering
    registries, the rest of the call takes milliseconds. Started when a SeGPruner is made (before a command loads
    its model or renders its views), the load overlaps that work; until it is done, the serial kernels compiled
    ahead of time run (`aot.py`), or without them small problems run on the torch kernel (same indices, ~25 ms
    for the demo's 588 tokens) and large ones wait for it (`ready`). `delay` (seconds) postpones the load
    (`kernels.warm_up` sets it when the ahead-of-time kernels exist)."""
    if not numba_installed():
        return
    with _WARM_LOCK:
        if _WARM_STARTED.is_set():
            return
        _WARM_STARTED.set()
    thread = threading.Timer(delay, _warm) if delay > 0 else threading.Thread(target=_warm)
    thread.name, thread.daemon = "segpilot-fps-warm-up", True
    thread.start()


def ready(wait: bool = False) -> bool:
    """Whether the JIT kernels are loaded; with `wait`, start loading if needed and wait for it."""
    if wait and not _WARM.is_set():
        warm_up_async(0.0)
        _WARM.wait()
    return _WARM.is_set()


def _warm() -> None:
    """Import numba and the JIT kernel modules, and call each kernel once on a tiny problem (numba's cache)."""
    try:
        rng = np.random.default_rng(0)
        q = rng.integers(-16384, 16384, (1, 8, 4)).astype(np.int16)
        ones = np.ones((1, 8), bool)
        greedy_fps_cells(q, rng.random((1, 8, 3)).astype(np.float32), ones, np.zeros((1, 8), np.float32), ones,
                         np.full(1, 3), np.zeros(1, np.int64), np.ones(1, np.float32), 0.5, 0.5)  # fmt: skip
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
