"""First prune in a fresh process vs the next one (`segpilot bench prune` prints both).

A new process pays for loading the compiled kernels (numba's registries, ~0.5-0.6 s) on its first prune; the
auto backend now loads them on a background thread from the moment a SeGPruner is made and runs small problems
on the torch kernel until then (same indices). Measured in a subprocess: import, make the pruner, prune twice.
"""

from __future__ import annotations

import json
import statistics
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


def first_call(views: int, side: int, dim: int, budget: float, mode: str | None = None) -> dict:
    """{import_ms, first_ms, second_ms} of a fresh interpreter pruning one room's tokens twice (`mode` None = the
    default SeGPruner mode)."""
    from segpilot.perception.pruning.segpruner import SeGPrunerConfig

    mode = mode or SeGPrunerConfig().mode
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(views), str(side), str(dim), str(budget), mode],
                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    return {"shape": f"{views}x{side * side}x{dim}", "mode": mode, **json.loads(out.stdout.strip().splitlines()[-1])}


def format_rows(rows: list[dict]) -> str:
    lines = ["\nFirst prune in a fresh process (target < 50 ms for the default shapes) vs the next one",
             f"{'shape':<14}{'mode':<14}{'first':>10}{'next':>10}"]
    lines += [f"{r['shape']:<14}{r['mode']:<14}{r['first_ms']:>8.1f}ms{r['second_ms']:>8.1f}ms" for r in rows]
    return "\n".join(lines)


ASK_QUESTION = "What color is the box on the table?"
"""The question `make demo` asks about the default generated room."""
ASK_STAGES = ("startup", "import_transformers", "model_load", "select_views", "encode", "prune", "prefix", "prefill",
              "decode")  # fmt: skip


def first_ask(runs: int = 3) -> dict:
    """`segpilot ask` on the default room (what `make demo` runs) in fresh processes, one after the other: the
    wall time seen from outside and the stages the command prints (start-up = python, torch, segpilot and the
    flags; then transformers' import, the model load, reading the room and choosing views, encoding, pruning,
    the visual prefix, prefill, decoding). Run 1 also renders the room into the cache if it is not there yet;
    `median` is over the others (the cached room: what a user asking again waits for)."""
    import re
    import time
    from pathlib import Path

    script = Path(sys.executable).with_name("segpilot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "segpilot.cli"]
    rows = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([*cmd, "ask", ASK_QUESTION], capture_output=True, text=True, timeout=600, check=True)
        wall = time.perf_counter() - t0
        line = next((x for x in out.stdout.splitlines() if x.startswith("timings: ")), "")
        stages = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+) ms", line)}
        answer = next((x[8:] for x in out.stdout.splitlines() if x.startswith("answer: ")), None)
        rows.append({"wall_ms": 1000.0 * wall, "answer": answer, "stages_ms": stages})
    later = rows[1:] or rows
    median = {k: statistics.median(r["stages_ms"].get(k, 0.0) for r in later) for k in (*ASK_STAGES, "total")}
    return {"question": ASK_QUESTION, "runs": rows, "median_wall_ms": statistics.median(r["wall_ms"] for r in later),
            "median_stages_ms": median}  # fmt: skip


def format_ask(r: dict) -> str:
    stages = r["median_stages_ms"]
    parts = ", ".join(f"{k} {stages[k]:.0f}" for k in ASK_STAGES)
    return (f"\n`segpilot ask \"{r['question']}\"` in a fresh process (default room cached; median of "
            f"{max(1, len(r['runs']) - 1)}; target < 3 s): {r['median_wall_ms'] / 1000:.2f} s end to end, answer "
            f"{r['runs'][-1]['answer']!r}\nstages (ms): {parts}")
