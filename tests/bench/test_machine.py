"""The CPU description recorded beside every bench's figures."""

from __future__ import annotations

from segpilot.bench.machine import describe, format_line

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni
"""


def test_reads_the_model_and_the_vector_flags_the_kernels_depend_on():
    m = describe(CPUINFO)
    assert m["cpu"] == "AMD EPYC 7B13"
    assert m["flags"] == ["avx2"]  # no AVX-512, no AMX: only the flags that change the kernels' speed
    assert m["cores"] >= 1
    assert format_line(m).startswith("AMD EPYC 7B13") and format_line(m).endswith("avx2")


def test_without_cpuinfo_nothing_is_guessed():
    m = describe("")
    assert m["cpu"] is None and m["flags"] == []
    assert format_line(m).startswith("unknown CPU")


def test_this_machine():
    m = describe()
    assert set(m) == {"cpu", "llvm_cpu", "cores", "flags"}
