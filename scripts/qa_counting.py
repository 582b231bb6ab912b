"""Why counting questions fail: the true count against the instances the 12 coverage views show, and the model's answer.

For every "How many ..." question of a make-qa split with a predictions file of `eval scanqa` (or the card's
`scripts/qa_eval_card.py`): how many of the counted instances show with >= 150 px in some coverage view, how many
fill half a 14 x 14 patch, whether the model is right when every instance is visible, and its error by true count
(a model that counts has no drift; one that guesses regresses to the common counts).

    python scripts/qa_counting.py data/qa320 runs/card_r14/full/predictions.jsonl --json docs/qa_counting.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from qa_visibility import patch_fill

from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.jsonio import print_report
from segpilot.pipeline import PruneConfig, load_views
from segpilot.sim.make_qa import NUMBER_WORDS, VISIBLE_PIXELS

NUMBERS = {w: i for i, w in enumerate(NUMBER_WORDS)}


def _count(text: str | None) -> int | None:
    text = (text or "").strip().lower()
    return NUMBERS.get(text, int(text) if text.isdigit() else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("predictions")
    ap.add_argument("--split", default="test")
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = Path(args.data)
    preds = {}
    for line in Path(args.predictions).read_text().splitlines():
        row = json.loads(line)
        preds[row["question_id"]] = row["prediction"]
    items = json.loads((data / f"ScanQA_v1.0_{args.split}.json").read_text())
    items = [it for it in items if it["question"].lower().startswith("how many") and it["question_id"] in preds]
    by_scene: dict[str, list[dict]] = {}
    for it in items:
        by_scene.setdefault(it["scene_id"], []).append(it)
    coverage = PruneConfig(views=args.views, view_selection="coverage")
    rows = []  # (true, visible, half a patch, predicted)
    for scene_id, qs in sorted(by_scene.items()):
        chosen, _ = load_views(ScanNetScene(data / "scans" / scene_id), coverage)  # the views eval and ask use
        masks = [np.asarray(Image.open(data / "scans" / scene_id / "instance-filt" / f"{i}.png")).astype(np.int64)
                 for i in chosen]  # fmt: skip
        pixels = [np.bincount(m.ravel()) for m in masks]
        fills = [patch_fill(m, 14) for m in masks]
        for q in qs:
            objs = q["object_ids"]
            vis = sum(any(len(p) > o and p[o] >= VISIBLE_PIXELS for p in pixels) for o in objs)
            half = sum(max(f.get(o, 0.0) for f in fills) >= 0.5 for o in objs)
            rows.append((_count(q["answers"][0]), vis, half, _count(preds[q["question_id"]])))
    all_visible = [r for r in rows if r[1] == r[0]]
    hidden = [r for r in rows if r[1] < r[0]]
    report = {
        "data": str(data), "split": args.split, "predictions": args.predictions, "questions": len(rows),
        "right_pct": 100.0 * sum(r[3] == r[0] for r in rows) / max(1, len(rows)),
        "every_instance_visible": len(all_visible),
        "right_when_every_instance_visible_pct": 100.0 * sum(r[3] == r[0] for r in all_visible)
        / max(1, len(all_visible)),
        "some_instance_hidden": len(hidden),
        "answer_equals_visible_count_when_some_hidden": sum(r[3] == r[1] for r in hidden),
        "every_instance_fills_half_a_14x14_patch": sum(r[2] == r[0] for r in rows),
        "error_histogram": {str(k): v for k, v in sorted(Counter(
            r[3] - r[0] if r[3] is not None else "no number" for r in rows).items(), key=str)},
        "mean_error_by_true_count": {str(t): float(np.mean([r[3] - r[0] for r in rows
                                                            if r[0] == t and r[3] is not None]))
                                     for t in sorted({r[0] for r in rows})},
    }  # fmt: skip
    print_report(report, args.json)


if __name__ == "__main__":
    main()
