"""`segpilot study budget`: every pruner at several token budgets on one ScanQA split.

Each (method, budget) run is a resumable `run_batch` in `<out>/runs/<method>@<budget>/`, so
a study killed half-way continues where it stopped. Keeping 100% of the tokens is the same
for every method and runs once; every run shares one encoding of each scan (the runs differ
only in pruning). Each row carries the paired bootstrap 95% confidence interval of its EM@1
difference from SeGPruner (the configured mode) at the same budget, over the same questions:
`significant` when the interval excludes 0. The table goes to `study_budget.json`
(schema_version 2) and the plot (EM@1 and CIDEr against the kept share, log scale) to
`study_budget.png`.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem, load_scanqa
from segpilot.eval.datasets.sources import open_scene, scene_path
from segpilot.eval.runner import run_batch, write_json_atomic
from segpilot.perception.pruning.registry import available_pruners
from segpilot.perception.pruning.segpruner import PUBLIC_SETTING
from segpilot.pipeline import PruneConfig
from segpilot.policies.qa.pipeline import QAPipeline, load_adapter

DEFAULT_BUDGETS = (0.01, 0.03, 0.09, 0.25, 1.0)
SWEEP_BUDGETS = (0.03, 0.09)
SWEEP_LAM = (0.0, 0.25, 0.5, 0.75, 1.0)  # weight of the 3D distance in the fused distance
SWEEP_R = (0.0, 0.3, 0.6)  # share of the budget taken by saliency alone before diversification
REPORTED = ("EM@1", "refined_EM@1", "CIDEr", "BLEU-1", "ROUGE-L", "mean_tokens_kept", "mean_prefill_ms")


PUBLIC_SEGPRUNER = {"mode": "per_view", **PUBLIC_SETTING}
"""The public SeGPruner code (budget split per view, its r and lam): a row of its own, so the table shows what
segpilot's default (the study's pick) gains over the method as published."""


def study_methods() -> list[tuple[str, str, dict]]:
    """(label, method, params): every registered pruner; SeGPruner in each of its modes (default lam and r) and
    in the public code's setting."""
    rows = [(m, m, {}) for m in available_pruners() if m != "segpruner"]
    rows += [(f"segpruner[{mode}]", "segpruner", {"mode": mode}) for mode in ("per_view", "global", "hierarchical")]
    return rows + [("segpruner[public]", "segpruner", PUBLIC_SEGPRUNER)]


def study_budget(
    qa_file: Path, scenes_root: Path, model: Path, out: Path, base: PruneConfig, budgets=DEFAULT_BUDGETS,
    limit: int | None = None, max_new_tokens: int = 16, meteor: bool = False, sweep_mode: str | None = "global",
    force: bool = False,
) -> dict:  # fmt: skip
    """The budget table of every method, then SeGPruner's (lam, r) sweep in `sweep_mode` (None = skip).

    The study folder records its identity (question file, model, configuration, budgets, limit): a rerun
    with another one refuses unless `force` (`eval.run_folder`)."""
    from dataclasses import asdict

    from segpilot.eval.run_folder import file_sha256, model_identity, open_run

    items = load_scanqa(qa_file)[:limit]
    items.sort(key=lambda it: it.scene_id)
    if not scenes_root.is_dir():
        raise SegpilotError(f"scenes root not found: {scenes_root}")
    identity = {"command": "study budget", "qa_sha256": file_sha256(qa_file), "scenes": str(scenes_root.resolve()),
                "model": model_identity(model), "config": asdict(base), "budgets": list(budgets), "limit": limit,
                "max_new_tokens": max_new_tokens, "sweep_mode": sweep_mode}  # fmt: skip
    with open_run(out, identity, force):
        return _study(qa_file, scenes_root, model, out, base, budgets, items, max_new_tokens, meteor, sweep_mode)


def paired_bootstrap(
    a: list[float], b: list[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of a - b (per-question scores of two methods on the same questions) and its 95% percentile interval
    over `resamples` resamplings of the questions."""
    import numpy as np

    if len(a) != len(b) or not a:
        raise SegpilotError("paired bootstrap needs two equally long, non-empty score lists")
    diff = np.asarray(a, float) - np.asarray(b, float)
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _per_question_em(run_dir: Path, items: list[ScanQAItem]) -> list[float]:
    from segpilot.eval.metrics import exact_match

    records = {}
    for line in (run_dir / "predictions.jsonl").read_text().splitlines():
        r = json.loads(line)
        records[r["question_id"]] = r
    return [100.0 * exact_match(records[it.question_id]["prediction"], it.answers) for it in items]


def _add_intervals(rows: list[dict], items: list[ScanQAItem], reference: str,
                   ref_rows: list[dict] | None = None) -> None:  # fmt: skip
    """Each row's EM@1 difference from `reference` (a method of `ref_rows`, default `rows`) at its budget, with a
    paired bootstrap 95% interval."""
    ref_rows = rows if ref_rows is None else ref_rows
    ref = {r["budget"]: _per_question_em(Path(r["run"]), items) for r in ref_rows if r["method"] == reference}
    for r in rows:
        if r["budget"] not in ref:
            continue
        mean, lo, hi = paired_bootstrap(_per_question_em(Path(r["run"]), items), ref[r["budget"]])
        r["em_minus_segpruner"] = {"mean": mean, "ci95": [lo, hi], "significant": bool(lo > 0 or hi < 0)}


def _study(qa_file, scenes_root, model, out, base, budgets, items, max_new_tokens, meteor, sweep_mode) -> dict:
    adapter = load_adapter(model, device=base.device)
    encoded: dict = {}
    rows = []
    full_metrics = None
    for label, method, params in study_methods():
        for budget in budgets:
            if budget >= 1.0 and full_metrics is not None:
                metrics = full_metrics
            else:
                config = replace(base, method=method, budget_fraction=float(budget), budget_tokens=0)
                config = config.with_method_params(**{f"{method}__{k}": v for k, v in params.items()})
                name = "full" if budget >= 1.0 else f"{label}@{budget:g}"
                metrics = _run(QAPipeline(adapter, config, max_new_tokens, encoded), items, scenes_root,
                               out / "runs" / name, meteor)  # fmt: skip
                metrics["run"] = str(out / "runs" / name)
                if budget >= 1.0:
                    full_metrics = metrics
            kept = {k: metrics.get(k) for k in REPORTED}
            rows.append({"method": label, "budget": budget, "run": metrics["run"], **kept})
    reference = f"segpruner[{base.method_config('segpruner').mode}]"
    _add_intervals(rows, items, reference)
    sweep = []
    if sweep_mode:
        for budget in SWEEP_BUDGETS:
            for lam in SWEEP_LAM:
                for r in SWEEP_R:
                    config = replace(base, method="segpruner", budget_fraction=budget, budget_tokens=0)
                    config = config.with_method_params(segpruner__mode=sweep_mode, segpruner__lam=lam,
                                                       segpruner__importance_ratio=r)  # fmt: skip
                    name = f"segpruner[{sweep_mode},lam={lam:g},r={r:g}]@{budget:g}"
                    metrics = _run(QAPipeline(adapter, config, max_new_tokens, encoded), items, scenes_root,
                                   out / "runs" / name, meteor)  # fmt: skip
                    sweep.append({"mode": sweep_mode, "budget": budget, "lam": lam, "importance_ratio": r,
                                  "run": str(out / "runs" / name),
                                  **{k: metrics.get(k) for k in REPORTED}})  # fmt: skip
        _add_intervals(sweep, items, reference, rows)
    table = {"schema_version": 2, "qa_file": str(qa_file), "model": str(model), "questions": len(items),
             "views": base.views, "view_selection": base.view_selection, "budgets": list(budgets),
             "reference": reference, "rows": rows,
             "sweep": sweep}  # fmt: skip
    write_json_atomic(out / "study_budget.json", table)
    plot(table, out / "study_budget.png")
    return table


def _run(pipeline: QAPipeline, items: list[ScanQAItem], scenes_root: Path, out: Path, meteor: bool) -> dict:
    def answer(item: ScanQAItem) -> dict:
        return pipeline.answer_scene(open_scene(scene_path(scenes_root, item.scene_id)), item.question).to_record()

    metrics = run_batch(items, answer, out, meteor=meteor, progress=False)
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    metrics["mean_tokens_kept"] = statistics.mean(r["tokens_kept"] for r in records)
    metrics["mean_prefill_ms"] = statistics.mean(1000 * r["timings_s"]["prefill"] for r in records)
    return metrics


def plot(table: dict, path: Path) -> None:
    """EM@1 and CIDEr against the share of tokens kept, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    methods = sorted({r["method"] for r in table["rows"]})
    for metric, ax in zip(("EM@1", "CIDEr"), axes, strict=True):
        for m in methods:
            pts = sorted((r["budget"], r[metric]) for r in table["rows"] if r["method"] == m and r[metric] is not None)
            style = "-o" if m.startswith("segpruner") else "--."
            ax.plot(
                [100 * b for b, _ in pts], [v for _, v in pts], style, label=m, linewidth=2 if "segpruner" in m else 1
            )
        ax.set_xscale("log")
        ax.set_xlabel("tokens kept (%)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{table['questions']} questions, {table['views']} views: {Path(table['model']).name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
