"""`segpilot bench prune`: speed of every pruner, and how exact / close the fast modes are.

For each shape (views x tokens per view x feature dim) it times every registered method at
the budget (median over repeats after one warm-up), times the plain loop implementation of
SeGPruner (`pruning/reference.py`, one run: it is slow) and reports, in the same run:
- speed-up of each SeGPruner mode against the plain loop of the same semantics
  (per_view vs the per-view loop, global and hierarchical vs the global loop);
- whether the fast exact modes return the loop's indices exactly;
- agreement: share of indices equal to exact `global` (what `hierarchical` approximates);
- cover radius: max over all tokens of the fused distance to the nearest kept token (the
  quantity farthest-point sampling minimises; lower = better spatial/semantic coverage).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import torch

from segpilot.bench.timing import Shape, median_ms, timed_ms  # noqa: F401 - Shape re-exported
from segpilot.perception.pruning.fps import fused_distance, geo_distance, snap_unit_features
from segpilot.perception.pruning.reference import segpruner_loop
from segpilot.perception.pruning.registry import available_pruners, make_pruner
from segpilot.perception.pruning.segpruner import SeGPrunerConfig
from segpilot.perception.synthetic import room_tokens
from segpilot.perception.tokens import VisualTokens

DEFAULT_SHAPES = ("12x729x1152", "8x196x256")


def cover_radius(tokens: VisualTokens, kept: torch.Tensor, lam: float = 0.5) -> float:
    """Max over tokens of the min fused distance (SeGPruner's, d_max = scene extent) to the kept set."""
    f = snap_unit_features(tokens.features)
    valid = tokens.has_xyz
    pos = torch.where(valid[:, None], tokens.xyz, torch.zeros(()))
    extent = (
        torch.linalg.vector_norm(pos[valid].amax(0) - pos[valid].amin(0)) if bool(valid.any()) else torch.tensor(1.0)
    )
    inv = (1.0 / extent.clamp_min(1e-6)).float()
    sim = (f @ f[kept].T).float()
    geo = geo_distance(pos[:, None], valid[:, None], pos[kept][None], valid[kept][None])
    d = fused_distance(sim, geo, lam, 1.0 - lam, inv, torch.zeros(()))
    return float(d.amin(dim=1).max())


def scene_tokens(scene_dir: str | Path, views: int = 12, encoder: str = "efficientnet-lite0") -> VisualTokens:
    """Real tokens: a ScanNet-layout scene through the default pipeline's encoder and geometry."""
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.geometry.views import select_uniform
    from segpilot.perception.encoders.base import make_encoder
    from segpilot.perception.tokenize import tokens_from_frames

    scene = ScanNetScene(scene_dir)
    ids = scene.valid_frame_ids()
    frames = scene.frames([ids[i] for i in select_uniform(len(ids), views)])
    return tokens_from_frames(frames, make_encoder(encoder))


def run_bench(
    shapes: list[str], budget: float, repeats: int, seed: int = 0, scene: str | Path | None = None
) -> list[dict]:
    """Rows for every shape (synthetic room tokens) and, when given, a real scene."""
    inputs = []
    for text in shapes:
        shape = Shape.parse(text)
        inputs.append((str(shape), room_tokens(shape.views, shape.grid, shape.dim, seed=seed)))
    if scene is not None:
        tokens = scene_tokens(scene)
        grid = tokens.grid_hw
        inputs.append((f"scene {tokens.num_views}x{grid[0] * grid[1]}x{tokens.features.shape[1]}", tokens))
    rows: list[dict] = []
    default = SeGPrunerConfig()  # the loop runs the default setting, like the pruners below
    ratio, lam = default.importance_ratio, default.lam
    for label_shape, tokens in inputs:
        k = round(budget * len(tokens))
        loops = {m: timed_ms(partial(segpruner_loop, tokens, k, ratio, lam, m)) for m in ("per_view", "global")}
        global_kept = set(loops["global"][1])
        methods = [(m, {}) for m in available_pruners() if m != "segpruner"]
        methods += [("segpruner", {"mode": mode}) for mode in ("per_view", "global", "hierarchical")]
        for name, params in methods:
            pruner = make_pruner(name, **params)
            kept = pruner.select(tokens, k)
            ms = median_ms(partial(pruner.select, tokens, k), repeats)
            label = name if not params else f"{name}[{params['mode']}]"
            row = {
                "shape": label_shape,
                "method": label,
                "budget": k,
                "n_tokens": len(tokens),
                "median_ms": ms,
                "agreement_with_global": len(global_kept & set(kept.tolist())) / k,
                "cover_radius": cover_radius(tokens, kept),
            }
            if name == "segpruner":
                loop_key = "per_view" if params["mode"] == "per_view" else "global"
                loop_ms, loop_kept = loops[loop_key]
                row["loop_ms"] = loop_ms
                row["speedup_vs_loop"] = loop_ms / ms
                if params["mode"] != "hierarchical":
                    row["exact_vs_loop"] = kept.tolist() == loop_kept
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    head = (
        f"{'shape':<18}{'method':<26}{'keep':>6}{'median ms':>11}{'loop ms':>10}"
        f"{'speed-up':>9}{'exact':>7}{'= global':>10}{'cover r':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        loop = f"{r['loop_ms']:.0f}" if "loop_ms" in r else "-"
        speed = f"{r['speedup_vs_loop']:.1f}x" if "speedup_vs_loop" in r else "-"
        exact = {True: "yes", False: "NO"}.get(r.get("exact_vs_loop"), "-")
        lines.append(
            f"{r['shape']:<18}{r['method']:<26}{r['budget']:>6}{r['median_ms']:>11.1f}{loop:>10}{speed:>9}{exact:>7}"
            f"{100 * r['agreement_with_global']:>9.1f}%{r['cover_radius']:>9.3f}"
        )
    return "\n".join(lines)


def main(shapes: list[str], budget: float, repeats: int, json_out: str | None, scene: str | None = None,
         background_load: int = 0, reference_rooms: int = 3, view_scaling: list[int] | None = None) -> int:  # fmt: skip
    rows = run_bench(shapes, budget, repeats, scene=scene)
    print(
        f"segpilot bench prune: budget {budget:.0%}, median of {repeats} runs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    from segpilot.bench import machine

    cpu = machine.describe()
    print(f"machine: {machine.format_line(cpu)}")
    print(format_table(rows))
    result: dict = {"schema_version": 1, "budget": budget, "machine": cpu, "rows": rows}
    from segpilot.bench import cold

    result["first_call"] = [cold.first_call(s.views, s.grid[0], s.dim, budget) for s in map(Shape.parse, shapes)]
    print(cold.format_rows(result["first_call"]))
    if reference_rooms:
        from segpilot.bench import reference

        result["reference"] = reference.run(shapes, budget, reference_rooms)
        print(reference.format_rows(result["reference"]))
    if view_scaling:
        from segpilot.bench import scaling

        result["view_scaling"] = scaling.run(view_scaling, budget=budget)
        print(scaling.format_result(result["view_scaling"]))
    if background_load:
        from segpilot.bench import load

        result["background_load"] = load.run(shapes, budget, repeats, background_load)
        print(load.format_rows(result["background_load"]))
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2))
    return 0
