"""The model card's evaluations in one pass: all tokens, SeGPruner 9% and 3% on a ScanQA split.

Each configuration writes what `segpilot eval scanqa --budget-fraction B` writes (predictions.jsonl,
metrics.json, resumable) into OUT/<name>/; the three share one encoding of each scan (they differ
only in pruning), so the split is read and encoded once instead of three times.

    python scripts/qa_eval_card.py --model data/qa-run2 --data data/qa320 --out runs/card
"""

from __future__ import annotations

import argparse
from pathlib import Path

from segpilot.eval.datasets.scanqa import load_scanqa
from segpilot.eval.datasets.sources import open_scene, scene_path
from segpilot.eval.runner import run_batch
from segpilot.pipeline import PruneConfig
from segpilot.policies.qa.pipeline import QAPipeline, load_adapter

CONFIGS = (("full", 1.0), ("segpruner9", 0.09), ("segpruner3", 0.03))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    data = Path(args.data)
    items = sorted(load_scanqa(data / f"ScanQA_v1.0_{args.split}.json")[: args.limit], key=lambda it: it.scene_id)
    adapter = load_adapter(args.model)
    encoded: dict = {}
    for name, budget in CONFIGS:
        pipeline = QAPipeline(adapter, PruneConfig(budget_fraction=budget), max_new_tokens=8, encoded=encoded)

        def answer(item, pipeline=pipeline):
            scene = open_scene(scene_path(data / "scans", item.scene_id))
            return pipeline.answer_scene(scene, item.question).to_record()

        metrics = run_batch(items, answer, Path(args.out) / name, meteor=False, progress=False)
        print(f"{name}: EM@1 {metrics['EM@1']:.1f} on {metrics['n']} questions", flush=True)


if __name__ == "__main__":
    main()
