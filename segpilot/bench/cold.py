"""First prune in a fresh process vs the next one (`segpilot bench prune` prints both).

A new process pays for loading the compiled kernels (numba's registries, ~0.5-0.6 s) on its first prune; the
auto backend now loads them on a background thread from the moment a SeGPruner is made and runs small problems
on the torch kernel until then (same indices). Measured in a subprocess: import, make the pruner, prune twice.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.synthetic import room_tokens
views, side, dim, budget, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
tokens = room_tokens(views, (side, side), dim, seed=0)
t1 = time.perf_counter()
pruner = make_pruner("segpruner", mode=mode)
t2 = time.perf_counter(); pruner.select(tokens, budget); t3 = time.perf_counter(); pruner.select(tokens, budget)
t4 = time.perf_counter()
print(json.dumps({"import_ms": 1000 * (t1 - t0), "first_ms": 1000 * (t3 - t2), "second_ms": 1000 * (t4 - t3)}))
"""


def first_call(views: int, side: int, dim: int, budget: float, mode: str = "hierarchical") -> dict:
    """{import_ms, first_ms, second_ms} of a fresh interpreter pruning one room's tokens twice."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(views), str(side), str(dim), str(budget), mode],
                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    return {"shape": f"{views}x{side * side}x{dim}", "mode": mode, **json.loads(out.stdout.strip().splitlines()[-1])}


def format_rows(rows: list[dict]) -> str:
    lines = ["\nFirst prune in a fresh process (target < 50 ms for the default shapes) vs the next one",
             f"{'shape':<14}{'mode':<14}{'first':>10}{'next':>10}"]
    lines += [f"{r['shape']:<14}{r['mode']:<14}{r['first_ms']:>8.1f}ms{r['second_ms']:>8.1f}ms" for r in rows]
    return "\n".join(lines)
