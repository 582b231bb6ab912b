"""One entry point for batched farthest-point sampling, dispatching to the fastest exact kernel.

All kernels return identical indices (see `fps.py`, `fps_cpu.py`, `fps_cells.py`); the choice is speed only.
On the CPU a batch of problems (per-view sampling) runs the compiled eager kernel, its problems spread over the
cores (the kernels compiled at install on plain threads; numba's JIT ones on its threads where those are
missing); one big problem (global mode, hierarchical's final pass) runs the compiled lazy-cell kernel, serially
(no per-step barrier for a busy machine to stall). The torch kernel runs on accelerators (`backend="torch"`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from segpilot.perception.pruning import aot, fps_host
from segpilot.perception.pruning.fps import SERIAL_MAX, SNAP_SCALE, Workspace, greedy_fps, quantize_unit_features

BACKENDS = ("auto", "torch", "cpu")
WAIT_FOR_COMPILED_TOKENS = 4096
"""auto backend in a fresh process: problems with more tokens than this wait for the compiled kernels to load."""
AOT_WARM_DELAY_S = 2.0
"""With the ahead-of-time kernels installed, the JIT load starts this late: a prune right after start-up then runs
without a thread that holds the GIL for half a second beside it (first prune 575 -> ~50 ms on a busy machine)."""


def warm_up() -> None:
    """Start loading the JIT kernels in the background (once per process; later when the ahead-of-time kernels
    can run meanwhile; never when those release the GIL, see `_jit_or_ahead_of_time`)."""
    if not _ahead_of_time_threads():
        fps_host.warm_up_async(AOT_WARM_DELAY_S if aot.module() is not None else 0.0)


def _compiled() -> bool:
    """Whether a compiled kernel can run: the module built at install, or numba for the JIT ones."""
    return aot.module() is not None or fps_host.numba_installed()


def _ahead_of_time_threads() -> bool:
    """Whether this install's ahead-of-time kernels release the GIL (then they run on plain threads)."""
    module = aot.module()
    return module is not None and module.RELEASES_GIL


def _jit_or_ahead_of_time():
    """(JIT kernels loaded, module compiled at install to run instead). Ahead-of-time kernels that release the GIL
    are used for good, spread over plain threads (`fps_host.split_run`): loading the JIT ones on a background thread
    held the GIL and a core for 0.5-1 s at some point of the command (`segpilot ask` on a busy machine: view
    selection 0.31 -> 1.2-1.4 s, encoding 0.2 -> 0.9 s while it ran), for a warm call ~1 ms faster. Otherwise the
    JIT kernels load in the background (started here) and the serial ahead-of-time kernels run until then (None
    where not built)."""
    if _ahead_of_time_threads():
        return False, aot.module()
    if fps_host.ready():
        return True, None
    warm_up()
    return False, aot.module()


def quantize(features: Tensor, scratch: Workspace | None = None) -> Tensor:
    """`fps.quantize_unit_features` (same grid units), compiled on the CPU for large feature sets.

    The torch version makes five passes over the features (norm, product, round, clamp, cast): 56 ms on one
    thread for 12 x 729 x 1152, as long as the FPS that follows. The compiled kernel does it in one pass (~2 ms;
    the one compiled at install, or numba's JIT one where that is missing; rows over the cores either way).
    Small sets and other devices take `fps.quantize_unit_features`."""
    f = features.detach()
    if f.device.type != "cpu" or f.ndim != 2 or f.numel() <= SERIAL_MAX or not _compiled():
        return quantize_unit_features(features, scratch)
    ready, ahead_of_time = _jit_or_ahead_of_time()
    if not ready and ahead_of_time is None:
        return quantize_unit_features(features, scratch)
    f = f.float().contiguous()
    out = (
        torch.empty(f.shape, dtype=torch.int16)
        if scratch is None
        else scratch.get("quantize_i16", f.shape, torch.int16, f.device)
    )
    # rows over numba's threads with the JIT kernels, over plain threads with those compiled at install
    parallel = (fps_host.numba_threads() if ready else fps_host.threads()) > 1
    fps_host.quantize_cpu(f.numpy(), out.numpy(), parallel=parallel, ahead_of_time=ahead_of_time)
    return out


def batched_fps(
    q: Tensor,
    xyz: Tensor,
    candidates: Tensor,
    k: Tensor,
    start: Tensor,
    inv_dmax: Tensor,
    w_geo: float,
    w_feat: float,
    bias: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Exact FPS for B problems; returns (B, max k) long, -1 past each problem's k.

    `q` (B, T, D) int16 are `fps.quantize_unit_features` grid units; the other arguments are
    those of `fps.greedy_fps`.
    """
    use_cpu = backend == "cpu" or (backend == "auto" and q.device.type == "cpu" and _compiled())
    ahead_of_time = None
    if use_cpu and backend == "auto":
        # A fresh process: the serial kernels compiled at install run while the JIT ones load (same functions, same
        # indices); without them small problems take the torch kernel (same indices), large ones wait for the JIT.
        ready, ahead_of_time = _jit_or_ahead_of_time()
        if not ready and ahead_of_time is None:
            use_cpu = fps_host.ready(wait=q.shape[0] * q.shape[1] > WAIT_FOR_COMPILED_TOKENS)
    if not use_cpu:
        feats = q.double() / SNAP_SCALE  # exact dot products (see fps.py)
        return greedy_fps(feats, xyz, candidates, k, start, inv_dmax, w_geo, w_feat, bias)
    valid = torch.isfinite(xyz).all(-1)
    pos = torch.where(valid[..., None], xyz, torch.zeros(()))
    if bias is None:
        bias = torch.zeros(candidates.shape, dtype=torch.float32)
    # one problem (global mode, hierarchical's final pass): lazily refreshed 3D cells, same indices, cache-friendly
    solve = fps_host.greedy_fps_cells if q.shape[0] == 1 else fps_host.greedy_fps_cpu
    out = solve(
        q.contiguous().numpy(),
        pos.float().contiguous().numpy(),
        valid.contiguous().numpy(),
        bias.float().contiguous().numpy(),
        candidates.contiguous().numpy(),
        k.numpy(),
        start.numpy(),
        inv_dmax.float().numpy(),
        w_geo,
        w_feat,
        ahead_of_time=ahead_of_time,
    )
    return torch.from_numpy(out)
