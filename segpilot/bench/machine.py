"""Which CPU a benchmark ran on, recorded beside its figures.

Why: these benchmarks run on shared machines that are not always the same model (the view-scaling bench took 289 ms
at 48 views on one session's Intel CPU with AVX-512 and AMX, 516 ms on the next session's AMD EPYC with AVX2), so a
figure without its CPU cannot be compared with the next run's. Read from /proc/cpuinfo and LLVM's host CPU name (the
target the ahead-of-time kernels are compiled for); absent fields are None, never guessed.
"""

from __future__ import annotations

import os
from pathlib import Path

VECTOR_FLAGS = ("avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx2", "amx_bf16", "amx_tile")
"""The instruction-set flags the kernels' speed depends on (int16 dot products, bfloat16 matrix units)."""


def describe(cpuinfo: str | None = None) -> dict:
    """{"cpu": model name, "llvm_cpu": LLVM's name for it, "cores": logical CPUs usable, "flags": VECTOR_FLAGS
    present}. `cpuinfo`: the text of /proc/cpuinfo (read when None; empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    model, flags = None, set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    try:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm_cpu = llvm.get_host_cpu_name()
    except ImportError:
        llvm_cpu = None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "llvm_cpu": llvm_cpu, "cores": cores, "flags": [f for f in VECTOR_FLAGS if f in flags]}


def format_line(m: dict) -> str:
    """One line for a bench's header: `AMD EPYC (znver3), 2 cores, avx2`."""
    llvm = f" ({m['llvm_cpu']})" if m.get("llvm_cpu") else ""
    flags = " ".join(m.get("flags") or []) or "no AVX2"
    return f"{m.get('cpu') or 'unknown CPU'}{llvm}, {m.get('cores')} cores, {flags}"
