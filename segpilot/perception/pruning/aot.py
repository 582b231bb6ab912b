"""Ahead-of-time compiled copies of the serial FPS kernels, built at install time (`make install` runs
`python -m segpilot.perception.pruning.aot`).

Why: a new process's first call of a cached numba kernel spends ~0.5 s loading numba's registries (issue 20:
`segpilot ask` once reported "prune 6054 ms" on a fresh install). The same kernels compiled ahead of time by
`numba.pycc` load as a plain extension module in milliseconds, so a fresh process prunes with them until the
JIT kernels (parallel variants included) have loaded in the background. They are compiled from the very
functions in `fps_cpu` and `fps_cells` (same source, same float32 arithmetic), and a test checks they return the
same indices.

The module is only used when it was built from the current kernel sources on this CPU: the files' SHA-256 and the
CPU's model and flags are stored beside it at build time and compared at load, so an edited kernel never runs
stale machine code and a copied install never runs instructions its CPU lacks.

The exported functions release the GIL (numba.pycc has no option for it; `_exports_release_gil` sets the flag its
JIT twin `nogil=True` sets), so a batch's problems are spread over plain threads (`fps_host.split_run`) and the JIT
kernels are not loaded at all (`kernels._jit_or_ahead_of_time` says why): before, the per-view stage ran serially
until the parallel JIT kernels had loaded, ~2.5 s into the process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

MODULE = "_fps_aot"
HERE = Path(__file__).resolve().parent
SIGNATURES = {
    # fps_cpu._fps_batch_serial(q, pos, valid, bias, cand, k, start, inv_dmax, w_geo, w_feat, out)
    "fps_batch_serial": "void(int16[:,:,::1], float32[:,:,::1], boolean[:,::1], float32[:,::1], boolean[:,::1], "
    "int64[::1], int64[::1], float32[::1], float32, float32, int64[:,::1])",
    # fps_cpu._fps_one(q, pos, valid, bias, mind, k, start, inv_dmax, w_geo, w_feat, out)
    "fps_one": "void(int16[:,::1], float32[:,::1], boolean[::1], float32[::1], float32[::1], int64, int64, float32, "
    "float32, float32, int64[::1])",
    # fps_cpu._quantize(features, out)
    "quantize": "void(float32[:,::1], int16[:,::1])",
    # fps_cells._fps_one_cells(q, pos, valid, bias, mind, k, start, inv_dmax, w_geo, w_feat, out, cells_per_axis)
    "fps_one_cells": "void(int16[:,::1], float32[:,::1], boolean[::1], float32[::1], float32[::1], int64, int64, "
    "float32, float32, float32, int64[::1], int64)",
}
SOURCES = ("fps_cpu.py", "fps_cells.py")
"""The kernels' source files, hashed into the stamp."""


def source_hash() -> str:
    """SHA-256 of the kernels' source (`SOURCES`) the compiled module must match."""
    return hashlib.sha256(b"".join((HERE / name).read_bytes() for name in SOURCES)).hexdigest()


def cpu_id() -> str | None:
    """The CPU model and instruction-set flags (Linux /proc/cpuinfo), hashed; None elsewhere.

    The module is compiled for the host CPU: an installed tree copied to another machine (a container image, a
    robot) must not run instructions that CPU lacks, so a module stamped with another CPU is not loaded."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    keep = sorted({ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(("model name", "flags", "Features"))})
    return hashlib.sha256("\n".join(keep).encode()).hexdigest() if keep else None


@contextmanager
def _exports_release_gil():
    """numba.pycc compiles its exports with default `Flags`, whose Python wrappers hold the GIL for the whole call;
    during the build its `Flags` is a subclass with `release_gil` set (what `@njit(nogil=True)` sets). Yields
    whether that worked: a numba without that class builds kernels that hold the GIL (recorded in the stamp, and
    then run on the calling thread only)."""
    try:
        from numba.core.compiler import Flags
        from numba.pycc import compiler as pycc_compiler
    except ImportError:
        yield False
        return
    if getattr(pycc_compiler, "Flags", None) is not Flags or not hasattr(Flags(), "release_gil"):
        yield False
        return

    class ReleaseGil(Flags):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.release_gil = True

    pycc_compiler.Flags = ReleaseGil
    try:
        yield True
    finally:
        pycc_compiler.Flags = Flags


def _wide_vector_features() -> str | None:
    """numba's CPU feature string for this host with 512-bit vectors preferred, on CPUs with AVX-512 (else None).

    LLVM's models of Intel's AVX-512 cores carry the `prefer-256-bit` tuning (Skylake-X lowered its clock on wide
    instructions), and the int16 dot product then ran as 128-bit `vpmaddwd` feeding 256-bit sums; without it, as
    256-bit ones feeding 512-bit sums: global SeGPruner at 48 views x 729 tokens, whose time is ~60% dot
    products, went from ~580 to ~460 ms on this machine (1 thread; VNNI's `vpdpwssd` gained nothing more). It
    goes through NUMBA_CPU_FEATURES because numba compiles the kernels' callees (the dot product) with its JIT code
    generator, whose features are fixed at import; so the build runs in a fresh process (`build`)."""
    try:
        import llvmlite.binding as llvm
    except ImportError:
        return None
    llvm.initialize_native_target()
    features = llvm.get_host_cpu_features().flatten()
    return features + ",-prefer-256-bit" if "+avx512bw" in features.split(",") else None


def build(out_dir: Path = HERE) -> Path | None:
    """Compile the serial kernels into `out_dir` in a fresh process (`_wide_vector_features` says why); returns the
    module path, or None where numba.pycc is missing or the CPU cannot be identified (see `cpu_id`)."""
    env = dict(os.environ)
    wide = _wide_vector_features()
    if wide is not None:
        env["NUMBA_CPU_FEATURES"] = wide
    root = str(HERE.parents[2])  # the folder holding the segpilot package, for the child's imports
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "segpilot.perception.pruning.aot", "--here", str(out_dir)], env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"building the ahead-of-time FPS kernels failed: {done.stderr.strip()[-2000:]}")
    return next(Path(out_dir).glob(f"{MODULE}*.so"), None) if done.stdout.strip() == "built" else None


def _build_here(out_dir: Path) -> bool:
    """`build`'s work, in this process: whether the module was built."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycc is deprecated in favour of a successor not released yet
            from numba.pycc import CC
    except ImportError:
        return False
    from segpilot.perception.pruning import fps_cells, fps_cpu

    if not fps_cpu.available() or cpu_id() is None:
        return False
    cc = CC(MODULE)
    cc.output_dir = str(out_dir)
    cc.verbose = False
    cc.target_cpu = "host"  # this CPU's instructions (the generic x86-64 target was 5x slower); see `cpu_id`
    cc.export("fps_batch_serial", SIGNATURES["fps_batch_serial"])(fps_cpu._fps_batch_serial.py_func)
    cc.export("fps_one", SIGNATURES["fps_one"])(fps_cpu._fps_one.py_func)
    cc.export("quantize", SIGNATURES["quantize"])(fps_cpu._quantize.py_func)
    cc.export("fps_one_cells", SIGNATURES["fps_one_cells"])(fps_cells._fps_one_cells.py_func)
    with warnings.catch_warnings(), _exports_release_gil() as releases_gil:
        warnings.simplefilter("ignore")
        cc.compile()
    stamp = {"kernels_sha256": source_hash(), "cpu": cpu_id(), "releases_gil": releases_gil,
             "prefer_512_bit": os.environ.get("NUMBA_CPU_FEATURES", "").endswith(",-prefer-256-bit")}  # fmt: skip
    (Path(out_dir) / f"{MODULE}.json").write_text(json.dumps(stamp) + "\n")
    return True


_LOADED: list = []  # [module or None] once looked up


def module() -> ModuleType | None:
    """This install's compiled module (`load()`, looked up once per process), or None."""
    if not _LOADED:
        _LOADED.append(load())
    return _LOADED[0]


def load(directory: Path = HERE) -> ModuleType | None:
    """The compiled module when present and built from the current kernels on this CPU, else None. Its
    `RELEASES_GIL` says whether its functions may run on several threads at once (the stamp's record)."""
    stamp = directory / f"{MODULE}.json"
    so = next(directory.glob(f"{MODULE}*.so"), None)
    if so is None or not stamp.exists():
        return None
    try:
        built = json.loads(stamp.read_text())
        if built.get("kernels_sha256") != source_hash() or built.get("cpu") is None or built["cpu"] != cpu_id():
            return None
        spec = importlib.util.spec_from_file_location(MODULE, so)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        loaded.RELEASES_GIL = built.get("releases_gil") is True
    except (OSError, ImportError, ValueError):
        return None
    return loaded


if __name__ == "__main__":
    if sys.argv[1:2] == ["--here"]:  # the fresh process `build` starts
        print("built" if _build_here(Path(sys.argv[2])) else "not built")
    else:
        path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
        print(f"segpilot: ahead-of-time FPS kernels {'built: ' + str(path) if path else 'not built (no numba.pycc)'}")
