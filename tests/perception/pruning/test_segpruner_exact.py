"""The fast SeGPruner returns exactly the plain loop's indices in the exact modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segpilot.perception.pruning.fps import greedy_fps, quantize_unit_features, snap_unit_features
from segpilot.perception.pruning.fps_cpu import available as cpu_available
from segpilot.perception.pruning.kernels import batched_fps
from segpilot.perception.pruning.reference import greedy_fps_loop, segpruner_loop
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.synthetic import room_tokens
from tests.conftest import make_tokens

BACKENDS = ["torch"] + (["cpu"] if cpu_available() else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["per_view", "global"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_views=st.integers(1, 5),
    grid=st.integers(2, 7),
    dim=st.integers(2, 24),
    seed=st.integers(0, 100_000),
    budget=st.integers(1, 120),
    ratio=st.sampled_from([0.0, 0.25, 0.5]),
    lam=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
    nan_share=st.sampled_from([0.0, 0.2, 1.0]),
)
def test_fast_equals_loop(backend, mode, n_views, grid, dim, seed, budget, ratio, lam, nan_share):
    tokens = make_tokens(n_views, grid, dim, seed, nan_share)
    fast = make_pruner("segpruner", mode=mode, importance_ratio=ratio, lam=lam, backend=backend).select(tokens, budget)
    assert fast.tolist() == segpruner_loop(tokens, min(budget, len(tokens)), ratio, lam, mode)


@pytest.mark.parametrize("mode", ["per_view", "global"])
@pytest.mark.parametrize(("ratio", "lam"), [(0.0, 0.5), (0.6, 0.25)])  # the public code's setting, segpilot's default
def test_fast_equals_loop_on_a_realistic_scene(mode, ratio, lam):
    """A room with cross-view redundancy and near-ties."""
    tokens = room_tokens(n_views=6, grid_hw=(9, 9), dim=64, seed=3)
    k = round(0.09 * len(tokens))
    for backend in BACKENDS:
        fast = make_pruner("segpruner", mode=mode, importance_ratio=ratio, lam=lam, backend=backend).select(tokens, k)
        assert fast.tolist() == segpruner_loop(tokens, k, ratio, lam, mode)


def test_lazy_kernel_flushes_and_verifies_like_the_loop():
    """Small flush width and verify size force every code path of the lazy torch kernel."""
    gen = torch.Generator().manual_seed(0)
    feats = snap_unit_features(torch.randn(3, 60, 8, generator=gen))
    xyz = torch.rand(3, 60, 3, generator=gen)
    cand = torch.rand(3, 60, generator=gen) > 0.2
    k = torch.tensor([10, 25, 3])
    start = torch.stack([torch.nonzero(c)[0, 0] for c in cand])
    inv = torch.full((3,), 0.7)
    for flush, verify in [(2, 1), (3, 4), (64, 2)]:
        out = greedy_fps(feats, xyz, cand, k, start, inv, 0.5, 0.5, flush_every=flush, verify=verify)
        for b in range(3):
            ref = greedy_fps_loop(feats[b], xyz[b], cand[b], int(k[b]), int(start[b]), inv[b], 0.5, 0.5)
            assert out[b, : int(k[b])].tolist() == ref
            assert (out[b, int(k[b]) :] == -1).all()


@pytest.mark.skipif(not cpu_available(), reason="numba missing")
def test_compiled_and_torch_kernels_agree_with_bias():
    gen = torch.Generator().manual_seed(1)
    q = quantize_unit_features(torch.randn(2, 40, 16, generator=gen))
    xyz = torch.rand(2, 40, 3, generator=gen)
    bias = torch.rand(2, 40, generator=gen) * 0.3
    cand = torch.ones(2, 40, dtype=torch.bool)
    args = (xyz, cand, torch.tensor([12, 7]), torch.tensor([0, 5]), torch.tensor([1.0, 0.5]), 0.2, 0.8, bias)
    assert torch.equal(batched_fps(q, *args, backend="cpu"), batched_fps(q, *args, backend="torch"))


@pytest.mark.skipif(not cpu_available(), reason="numba missing")
def test_serial_and_parallel_compiled_scans_keep_the_same_indices():
    """A batch (per-view) spread over the threads selects the tokens the serial kernel does; one big problem (global)
    is solved the same by the eager kernel and the lazy cells."""
    import numpy as np

    from segpilot.perception.pruning.fps import quantize_unit_features
    from segpilot.perception.pruning.fps_host import greedy_fps_cpu

    tokens = room_tokens(n_views=4, grid_hw=(17, 17), dim=32, seed=5)  # 1156 tokens
    q = quantize_unit_features(tokens.features).numpy()
    valid = torch.isfinite(tokens.xyz).all(-1).numpy()
    pos = np.where(valid[:, None], tokens.xyz.numpy(), 0).astype(np.float32)
    n = len(tokens)
    for shape in ((1, n), (4, n // 4)):  # one global problem, four per-view ones
        b, t = shape
        args = (q.reshape(b, t, -1), pos.reshape(b, t, 3), valid.reshape(b, t), np.zeros((b, t), np.float32),
                valid.reshape(b, t).copy(), np.full(b, 40), np.zeros(b, np.int64), np.full(b, 0.3, np.float32),
                0.5, 0.5)  # fmt: skip
        serial, parallel = greedy_fps_cpu(*args, parallel=False), greedy_fps_cpu(*args, parallel=True)
        assert (serial >= 0).all() and np.array_equal(serial, parallel)
        if b == 1:
            from segpilot.perception.pruning.fps_host import greedy_fps_cells

            assert np.array_equal(serial, greedy_fps_cells(*args))


def test_a_fresh_process_prunes_the_same_tokens_before_and_after_the_compiled_kernels_load():
    """In a new process small problems run on the torch kernel while the compiled kernels load in the background
    (issue 20: the first prune paid ~0.5 s of numba loading); the tokens kept are the same either way."""
    import subprocess
    import sys

    script = (
        "from segpilot.perception.pruning import fps_host\n"
        "from segpilot.perception.pruning.registry import make_pruner\n"
        "from segpilot.perception.synthetic import room_tokens\n"
        "t = room_tokens(6, (7, 7), 32, seed=2)\n"
        "p = make_pruner('segpruner')\n"
        "before = p.select(t, 0.2).tolist(); loaded = fps_host.ready()\n"
        "fps_host.ready(wait=True)\n"
        "print(before == p.select(t, 0.2).tolist(), loaded, fps_host.ready())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    same, *_ = out.stdout.split()
    assert same == "True" and out.stdout.split()[-1] == "True", out.stdout + out.stderr


@pytest.mark.parametrize("shape", [(588, 256), (40, 1152), (2352, 256)])
def test_small_inputs_quantize_on_the_calling_thread_to_the_same_grid_units(shape):
    # inputs up to SERIAL_MAX elements are quantized in numpy (torch's thread pool waited for descheduled workers
    # on a busy machine); the units must be those of the torch arithmetic every larger input uses
    from segpilot.perception.pruning.fps import SERIAL_GRAIN, SERIAL_MAX

    assert SERIAL_GRAIN < shape[0] * shape[1] <= SERIAL_MAX
    gen = torch.Generator().manual_seed(shape[0])
    f = torch.randn(*shape, generator=gen) * torch.rand(shape[0], 1, generator=gen) * 3
    f[0] = 0.0
    f[1, 0] = 1e6  # one dominant component: clamped to Q_MAX
    assert torch.equal(quantize_unit_features(f), _torch_grid_units(f))


def _torch_grid_units(f: torch.Tensor) -> torch.Tensor:
    """`quantize_unit_features`' arithmetic in whole-tensor torch ops (its path for large inputs off the CPU)."""
    from segpilot.perception.pruning.fps import Q_MAX, SNAP_SCALE

    norm = torch.linalg.vector_norm(f, dim=-1, keepdim=True, dtype=torch.float64).float()
    return torch.round(f * (SNAP_SCALE / norm.clamp_min(1e-12))).clamp_(-Q_MAX, Q_MAX).to(torch.int16)


@pytest.mark.parametrize("parallel", [False, True])
def test_large_inputs_quantize_in_one_compiled_pass_to_the_same_grid_units(parallel):
    # above SERIAL_MAX the CPU path quantizes with the compiled kernel (one pass instead of torch's five)
    from segpilot.perception.pruning import fps_cpu, fps_host, kernels
    from segpilot.perception.pruning.fps import SERIAL_MAX, Workspace

    if not fps_cpu.available():
        pytest.skip("numba missing")
    fps_host.ready(wait=True)
    gen = torch.Generator().manual_seed(7)
    f = torch.randn(SERIAL_MAX // 256 + 3, 256, generator=gen) * torch.rand(SERIAL_MAX // 256 + 3, 1, generator=gen)
    f[0] = 0.0
    f[1, 0] = 1e6
    out = np.empty(f.shape, np.int16)
    fps_host.quantize_cpu(f.numpy(), out, parallel=parallel)
    assert np.array_equal(out, _torch_grid_units(f).numpy())
    assert torch.equal(kernels.quantize(f, Workspace()), torch.from_numpy(out))


@pytest.mark.parametrize("dtype", [torch.int16, torch.float32, torch.bool, torch.int64])
def test_workspace_buffers_are_reused_and_replaced_per_name(dtype):
    # a buffer is allocated once per name and shape (fresh 20 MB allocations cost more page faults than the
    # quantisation itself) and replaced, not accumulated, when another shape is asked for
    from segpilot.perception.pruning.fps import Workspace

    ws = Workspace()
    a = ws.get("x", torch.Size([3, 5]), dtype, torch.device("cpu"))
    assert a.dtype == dtype and a.shape == (3, 5) and a.device.type == "cpu"
    a.fill_(1)
    assert ws.get("x", torch.Size([3, 5]), dtype, torch.device("cpu")) is a
    b = ws.get("x", torch.Size([4]), dtype, torch.device("cpu"))
    assert b.shape == (4,) and b is not a and len(ws._buffers) == 1
