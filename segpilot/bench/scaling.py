"""How exact global SeGPruner grows with the number of views (`segpilot bench prune --view-scaling`).

Global mode is one greedy problem over all N = V x tokens-per-view tokens with K ~ budget x N steps, so a plain
scan costs O(N K) = O(V^2). The compiled kernel skips the feature dot product of every token whose exact 3D
lower bound already reaches its running minimum, but the minimum cannot fall below the feature distance between
neighbouring tokens (their noise floor), so the 3D radius that must be checked stops shrinking and the count of
dot products per step grows with the views. The table shows it: milliseconds per view count on one thread and the
exponent b of a least-squares fit ms ~ a V^b (b = 1 is linear, 2 quadratic).
"""

from __future__ import annotations

import math
import time

from segpilot.perception.pruning import fps_host
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.pruning.segpruner import PUBLIC_SETTING
from segpilot.perception.synthetic import room_tokens

SETTINGS = (("public r 0, lam 0.5", PUBLIC_SETTING), ("default", {}))
"""Timed settings: the public SeGPruner code's (the view-scaling target was set on it) and segpilot's default
(the budget study's pick: r 0.6, lam 0.25; a smaller 3D weight makes the exact 3D lower bounds skip fewer dot
products)."""


def run(views: list[int], tokens_per_view: int = 729, dim: int = 1152, budget: float = 0.09) -> dict:
    """Single-threaded global SeGPruner time per view count and setting, and the fitted growth exponents."""
    import numba
    import torch

    side = int(round(math.sqrt(tokens_per_view)))
    threads = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    fps_host.set_threads(1)
    settings = []
    try:
        for label, params in SETTINGS:
            pruner = make_pruner("segpruner", mode="global", **params)
            rows = []
            for v in views:
                tokens = room_tokens(v, (side, side), dim, seed=0)
                pruner.select(tokens, budget)  # warm (compiled kernels, buffers)
                t0 = time.perf_counter()
                pruner.select(tokens, budget)
                rows.append({"views": v, "tokens": len(tokens), "ms": 1000.0 * (time.perf_counter() - t0)})
                del tokens
            config = pruner.config
            entry = {"setting": label, "lam": config.lam, "importance_ratio": config.importance_ratio, "rows": rows,
                     "exponent": fit_exponent(rows)}  # fmt: skip
            from_12 = [r for r in rows if r["views"] >= 12]
            if len(from_12) >= 2:
                entry["exponent_from_12"] = fit_exponent(from_12)
            settings.append(entry)
    finally:
        numba.set_num_threads(threads[0])
        torch.set_num_threads(threads[1])
        fps_host.set_threads(None)
    return {"tokens_per_view": side * side, "dim": dim, "budget": budget, "threads": 1, "settings": settings}


def fit_exponent(rows: list[dict]) -> float:
    """Least-squares slope of log(ms) against log(views)."""
    xs = [math.log(r["views"]) for r in rows]
    ys = [math.log(max(r["ms"], 1e-6)) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var > 0 else float("nan")


def format_result(r: dict) -> str:
    lines = [f"\nExact global SeGPruner vs views ({r['tokens_per_view']} tokens per view, {r['dim']}-d, "
             f"{r['budget']:.0%} kept, 1 thread; target: 48 views <= 300 ms, near-linear growth), ms per setting",
             f"{'views':>6}{'tokens':>9}" + "".join(f"{s['setting']:>26}" for s in r["settings"])]  # fmt: skip
    for i, row in enumerate(r["settings"][0]["rows"]):
        ms = "".join(f"{s['rows'][i]['ms']:>26.1f}" for s in r["settings"])
        lines.append(f"{row['views']:>6}{row['tokens']:>9}{ms}")
    for s in r["settings"]:
        fit = f"{s['setting']}: fitted exponent ms ~ V^{s['exponent']:.2f}"
        if "exponent_from_12" in s:
            fit += f" (from 12 views on: V^{s['exponent_from_12']:.2f})"
        lines.append(fit)
    return "\n".join(lines)
