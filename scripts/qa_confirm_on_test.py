"""Confirm the budget study's picks on the held-out test split before a default changes.

The study (`segpilot study budget`, validation split, 640 questions) sweeps ~30 SeGPruner cells; the best of
30 noisy cells is better than the default partly by chance. Each pick is therefore re-measured here on the
1,706 test questions (other rooms, never used to pick) against the default at the same budget, with a paired
bootstrap 95% interval over questions. Reads the default's predictions from the model card's evaluation
(`scripts/qa_eval_card.py`: OUT/segpruner9, OUT/segpruner3).

    python scripts/qa_confirm_on_test.py --card runs/card_r11 --out runs/confirm_r11 \
        --json docs/study_confirm_test.json --pick 0.09:global:0.5:0 --pick 0.09:global:0:0.6
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from segpilot.eval.datasets.scanqa import load_scanqa
from segpilot.eval.datasets.sources import open_scene, scene_path
from segpilot.eval.runner import run_batch
from segpilot.eval.study import paired_bootstrap
from segpilot.pipeline import PruneConfig
from segpilot.policies.qa.pipeline import QAPipeline, load_adapter

DEFAULT_RUN = {0.09: "segpruner9", 0.03: "segpruner3"}


def _right(path: Path) -> dict[str, bool]:
    return {r["question_id"]: r["prediction"] in r["answers"] for r in map(json.loads, path.open())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="segpilot/data/models/qa-default")
    ap.add_argument("--data", default="data/qa320")
    ap.add_argument("--card", required=True, help="qa_eval_card.py output of the same model (the defaults)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", default=None)
    ap.add_argument("--pick", action="append", required=True, help="BUDGET:MODE:LAM:R, e.g. 0.09:global:0:0.6")
    args = ap.parse_args()
    data = Path(args.data)
    items = sorted(load_scanqa(data / "ScanQA_v1.0_test.json"), key=lambda it: it.scene_id)
    adapter = load_adapter(args.model)
    encoded: dict = {}
    rows = []
    for pick in args.pick:
        budget, mode, lam, r = pick.split(":")
        budget = float(budget)
        if budget not in DEFAULT_RUN:
            raise SystemExit(f"--pick {pick}: budget must be one of {sorted(DEFAULT_RUN)} (the card's budgets)")
        params = (("segpruner.mode", mode), ("segpruner.lam", float(lam)), ("segpruner.importance_ratio", float(r)))
        pipeline = QAPipeline(adapter, PruneConfig(budget_fraction=budget, method_params=params), max_new_tokens=8,
                              encoded=encoded)  # fmt: skip

        def answer(item, pipeline=pipeline):
            scene = open_scene(scene_path(data / "scans", item.scene_id))
            return pipeline.answer_scene(scene, item.question).to_record()

        name = pick.replace(":", "_")
        metrics = run_batch(items, answer, Path(args.out) / name, meteor=False, progress=False)
        base = _right(Path(args.card) / DEFAULT_RUN[budget] / "predictions.jsonl")
        pick_right = _right(Path(args.out) / name / "predictions.jsonl")
        ids = sorted(base)
        diff, lo, hi = paired_bootstrap([100.0 * pick_right[i] for i in ids], [100.0 * base[i] for i in ids])
        rows.append({"budget": budget, "mode": mode, "lam": float(lam), "r": float(r), "EM@1": metrics["EM@1"],
                     "default_EM@1": 100 * np.mean(list(base.values())), "minus_default": diff, "ci95": [lo, hi],
                     "significant": bool(lo > 0 or hi < 0)})  # fmt: skip
        print(f"{pick}: {metrics['EM@1']:.1f} vs default {rows[-1]['default_EM@1']:.1f}: {diff:+.1f} "
              f"[{lo:+.1f}, {hi:+.1f}]{' *' if rows[-1]['significant'] else ''}", flush=True)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"split": "test", "questions": len(items), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
