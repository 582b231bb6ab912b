"""One entry point for batched farthest-point sampling, dispatching to the fastest exact kernel.

Both kernels return identical indices (see `fps.py` and `fps_cpu.py`); the choice is speed
only: the compiled kernel wins when there are several independent problems to spread over
the cores (per-view sampling), the lazy torch kernel wins on one big problem (its flushes
are matrix-matrix products) and is the one that runs on accelerators.
"""

from __future__ import annotations

import torch
from torch import Tensor

from segpilot.perception.pruning import fps_cpu
from segpilot.perception.pruning.fps import SNAP_SCALE, greedy_fps

BACKENDS = ("auto", "torch", "cpu")
WAIT_FOR_COMPILED_TOKENS = 4096
"""auto backend in a fresh process: problems with more tokens than this wait for the compiled kernels to load."""


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
    use_cpu = backend == "cpu" or (backend == "auto" and q.device.type == "cpu" and fps_cpu.available())
    ahead_of_time = False
    if use_cpu and backend == "auto" and not fps_cpu.ready():
        # A fresh process: the JIT kernels load in the background. Meanwhile the serial kernels compiled at install
        # run (same functions, same indices); without them small problems take the torch kernel (same indices)
        # and large ones wait for the JIT kernels.
        fps_cpu.warm_up_async()
        if fps_cpu.aot_module() is not None:
            ahead_of_time = True
        else:
            use_cpu = fps_cpu.ready(wait=q.shape[0] * q.shape[1] > WAIT_FOR_COMPILED_TOKENS)
    if not use_cpu:
        feats = q.double() / SNAP_SCALE  # exact dot products (see fps.py)
        return greedy_fps(feats, xyz, candidates, k, start, inv_dmax, w_geo, w_feat, bias)
    valid = torch.isfinite(xyz).all(-1)
    pos = torch.where(valid[..., None], xyz, torch.zeros(()))
    if bias is None:
        bias = torch.zeros(candidates.shape, dtype=torch.float32)
    out = fps_cpu.greedy_fps_cpu(
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
