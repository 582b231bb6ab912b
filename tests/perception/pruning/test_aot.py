"""The serial FPS kernels compiled ahead of time (`aot.py`, built by `make install`) return the JIT kernels'
indices, also with a batch's problems (or quantized rows) spread over plain threads, release the GIL so those
threads run side by side, load without numba's JIT, and are refused when built from other kernel source or on
another CPU."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from segpilot.perception.pruning import aot, fps_cpu, fps_host
from segpilot.perception.pruning.fps import quantize_unit_features
from segpilot.perception.synthetic import room_tokens

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not fps_cpu.available(), reason="numba missing")]


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    out = tmp_path_factory.mktemp("aot")
    if aot.build(out) is None:
        pytest.fail("numba.pycc could not build the ahead-of-time kernels")
    loaded = aot.load(out)
    assert loaded is not None
    return loaded


def _problem(views: int, side: int, dim: int, seed: int):
    t = room_tokens(views, (side, side), dim, seed=seed)
    n = side * side
    q = quantize_unit_features(t.features).numpy().reshape(views, n, dim)
    valid = torch.isfinite(t.xyz).all(-1).numpy().reshape(views, n)
    pos = np.where(valid[..., None], t.xyz.numpy().reshape(views, n, 3), 0).astype(np.float32)
    bias = np.random.default_rng(seed).random((views, n)).astype(np.float32) * 0.1
    cand = np.random.default_rng(seed + 1).random((views, n)) > 0.2
    start = np.array([int(np.flatnonzero(c)[0]) for c in cand], np.int64)
    k = np.minimum(cand.sum(1), 7).astype(np.int64)
    return q, pos, valid, bias, cand, k, start, np.full(views, 0.25, np.float32)


@pytest.mark.parametrize("views,side,dim,seed", [(1, 9, 16, 0), (1, 17, 64, 1), (6, 7, 32, 2), (3, 12, 8, 3)])
def test_ahead_of_time_kernels_return_the_jit_indices(module, views, side, dim, seed):
    args = _problem(views, side, dim, seed)
    jit = fps_host.greedy_fps_cpu(*args, 0.4, 0.6, parallel=False)
    ahead = fps_host.greedy_fps_cpu(*args, 0.4, 0.6, ahead_of_time=module)
    assert (jit[:, 0] >= 0).all() and np.array_equal(jit, ahead)


def test_threads_over_the_ahead_of_time_kernels_return_the_jit_indices(module):
    args = _problem(12, 17, 48, 7)  # 12 x 289 tokens: above PARALLEL_MIN_TOKENS
    assert module.RELEASES_GIL
    jit = fps_host.greedy_fps_cpu(*args, 0.4, 0.6, parallel=False)
    threaded = fps_host.greedy_fps_cpu(*args, 0.4, 0.6, parallel=True, ahead_of_time=module)
    assert (jit[:, 0] >= 0).all() and np.array_equal(jit, threaded)
    f = torch.randn(1001, 64, generator=torch.Generator().manual_seed(3))
    out = np.empty(f.shape, np.int16)
    fps_host.quantize_cpu(f.numpy(), out, parallel=True, ahead_of_time=module)
    assert np.array_equal(out, quantize_unit_features(f).numpy())


def test_ahead_of_time_kernels_release_the_gil(module):
    """While one thread runs a long kernel call, another thread runs Python code (with the GIL held it could not
    run at all between the call's first and last instant, but for one switch interval before the call begins)."""
    import threading
    import time

    q, pos, valid, bias, cand, _, start, inv = _problem(1, 64, 1024, 9)
    k = np.array([int(cand.sum()) // 2], np.int64)
    mind = np.where(cand[0], np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    out = np.full(int(k[0]), -1, np.int64)
    window: list[float] = []
    started = threading.Event()

    def call():
        started.set()
        t0 = time.perf_counter()
        module.fps_one(q[0], pos[0], valid[0], bias[0], mind, int(k[0]), int(start[0]), inv[0], 0.4, 0.6, out)
        window.extend([t0, time.perf_counter()])

    worker = threading.Thread(target=call)
    worker.start()
    started.wait()
    ticks = []
    while not window:
        ticks.append(time.perf_counter())
    worker.join()
    t0, t1 = window
    inside = [t for t in ticks if t0 < t < t1]
    assert t1 - t0 > 0.02 and inside, (t1 - t0, len(inside))
    assert inside[-1] - inside[0] > 0.5 * (t1 - t0), (t1 - t0, inside[-1] - inside[0])  # Python ran throughout


def test_a_module_built_from_other_kernel_source_or_on_another_cpu_is_refused(module, tmp_path):
    out = tmp_path / "stale"
    out.mkdir()
    so = Path(module.__file__)
    (out / so.name).write_bytes(so.read_bytes())
    stamp = out / f"{aot.MODULE}.json"
    stamp.write_text(json.dumps({"kernels_sha256": "0" * 64, "cpu": aot.cpu_id()}))
    assert aot.load(out) is None  # other kernel source
    stamp.write_text(json.dumps({"kernels_sha256": aot.source_hash(), "cpu": "another machine"}))
    assert aot.load(out) is None  # built on another CPU
    stamp.write_text(json.dumps({"kernels_sha256": aot.source_hash(), "cpu": aot.cpu_id()}))
    assert aot.load(out) is not None


def test_on_avx512_cpus_the_kernels_are_built_with_512_bit_vectors(module):
    # LLVM's Intel AVX-512 models prefer 256-bit vectors; the build turns that off (in a fresh process, since numba
    # fixes its JIT code generator's features at import) and records it
    stamp = json.loads((Path(module.__file__).parent / f"{aot.MODULE}.json").read_text())
    wide = aot._wide_vector_features()
    assert stamp["prefer_512_bit"] is (wide is not None)
    if wide is not None:
        assert wide.endswith(",-prefer-256-bit") and "+avx512bw" in wide.split(",")
        if shutil.which("objdump"):  # the int16 dot product's multiply-adds take 256 or 512 bits, not 128
            asm = subprocess.run(["objdump", "-d", module.__file__], capture_output=True, text=True).stdout
            madds = [line for line in asm.splitlines() if "vpmaddwd" in line]
            assert madds and any("%ymm" in line or "%zmm" in line for line in madds)


def test_ahead_of_time_quantize_gives_the_torch_grid_units(module):
    gen = torch.Generator().manual_seed(5)
    f = torch.randn(300, 96, generator=gen) * torch.rand(300, 1, generator=gen) * 4
    f[0] = 0.0
    f[1, 2] = 1e6
    out = np.empty(f.shape, np.int16)
    fps_host.quantize_cpu(f.numpy(), out, ahead_of_time=module)
    assert np.array_equal(out, quantize_unit_features(f).numpy())


@pytest.mark.parametrize("views,side,dim,seed", [(1, 17, 64, 1), (1, 23, 32, 4)])
def test_ahead_of_time_cell_kernel_returns_the_jit_indices(module, views, side, dim, seed):

    q, pos, valid, bias, cand, _, start, inv = _problem(views, side, dim, seed)
    k = np.array([int(cand.sum()) // 4], np.int64)
    jit = fps_host.greedy_fps_cells(q, pos, valid, bias, cand, k, start, inv, 0.4, 0.6)
    ahead = fps_host.greedy_fps_cells(q, pos, valid, bias, cand, k, start, inv, 0.4, 0.6, ahead_of_time=module)
    assert (jit >= 0).all() and np.array_equal(jit, ahead)


def test_with_installed_kernels_that_release_the_gil_no_jit_load_runs_beside_the_command():
    """`make install` builds kernels that release the GIL; a process then never imports numba (~0.15 s) nor loads
    its JIT kernels on a background thread (in `segpilot ask` that thread held the GIL and a core for 0.5-1 s,
    stretching view selection and encoding), and its prunes on plain threads keep the JIT kernels' tokens."""
    import subprocess
    import sys

    if aot.module() is None:
        pytest.skip("no ahead-of-time kernels in this checkout (`make install` builds them)")
    script = (
        "import sys, time\n"
        "from segpilot.perception.pruning import fps_host, kernels\n"
        "from segpilot.perception.pruning.registry import make_pruner\n"
        "from segpilot.perception.synthetic import room_tokens\n"
        "t = room_tokens(12, (17, 17), 384, seed=4)\n"
        "p = make_pruner('segpruner', mode='per_view')\n"
        "a = p.select(t, 0.1).tolist()\n"
        "time.sleep(kernels.AOT_WARM_DELAY_S + 0.5)\n"
        "started, numba = fps_host._WARM_STARTED.is_set(), 'numba' in sys.modules\n"
        "fps_host.ready(wait=True)\n"
        "b = make_pruner('segpruner', mode='per_view', backend='cpu')\n"
        "kernels._ahead_of_time_threads = lambda: False\n"
        "print(started, numba, a == b.select(t, 0.1).tolist(), fps_host.ready())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["False", "False", "True", "True"], out.stdout + out.stderr
