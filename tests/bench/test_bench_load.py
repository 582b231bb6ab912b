"""`bench prune --background-load`: every row carries the idle and loaded figures and their ratio, and the thread
settings are restored (the speed itself is the benchmark's to print, not a test's to assert)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # starts processes: `make test-fast` skips it


def test_background_load_rows_and_cleanup():
    import numba
    import torch

    from segpilot.bench import load

    threads = (numba.get_num_threads(), torch.get_num_threads())
    rows = load.run(["2x16x8"], 0.5, 1, 1)
    assert [r["method"] for r in rows] == [f"segpruner[{m}]" for m in load.MODES]
    for r in rows:
        assert r["background_load"] == 1 and r["loaded_ms"] > 0 and r["loaded_1_thread_ms"] > 0
        assert r["loaded_vs_1_thread"] == pytest.approx(r["loaded_ms"] / r["loaded_1_thread_ms"])
    assert (numba.get_num_threads(), torch.get_num_threads()) == threads  # restored
    assert "within 2x" in load.format_rows(rows)
