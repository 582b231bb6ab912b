"""Can the QA model see what it is asked about? Visibility of the needed objects per view choice and grid.

For each question of a make-qa split: does every object it needs show with >= 150 px in some
selected view (uniform vs coverage, 8 / 12 / 24 views), and does each needed object fill at least
half of one patch of some selected view at a 7x7, 14x14 and 27x27 grid (12 coverage views)?

    python scripts/qa_visibility.py data/qa320 --split test --json docs/qa_visibility.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.geometry.views import select_max_coverage, select_uniform
from segpilot.jsonio import print_report
from segpilot.sim.make_qa import VISIBLE_PIXELS
from segpilot.training.qa_tower import patch_index


def patch_fill(ids: np.ndarray, grid: int) -> dict[int, float]:
    """Per object id: the largest share of one patch it fills on a grid x grid patch grid."""
    patch = patch_index(*ids.shape, grid)
    n = int(ids.max()) + 1
    counts = np.bincount(patch * n + ids.ravel(), minlength=grid * grid * n).reshape(grid * grid, n)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    best = share.max(0)
    return {i: float(best[i]) for i in np.flatnonzero(best)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--split", default="test")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = Path(args.data)
    items = json.loads((data / f"ScanQA_v1.0_{args.split}.json").read_text())
    by_scene: dict[str, list[dict]] = {}
    for it in items:
        by_scene.setdefault(it["scene_id"], []).append(it)
    choices = {f"{rule} {k}": (rule, k) for rule in ("uniform", "coverage") for k in (8, 12, 24)}
    visible = {name: 0 for name in choices}
    grids = (7, 14, 27)
    filled = {g: 0 for g in grids}
    counting = {name: [0, 0] for name in choices}
    for scene_id, qs in sorted(by_scene.items()):
        scan = ScanNetScene(data / "scans" / scene_id)
        ids_all = scan.valid_frame_ids()
        frames = scan.frames(ids_all)
        masks = [np.asarray(Image.open(data / "scans" / scene_id / "instance-filt" / f"{i}.png")).astype(np.int64)
                 for i in ids_all]  # fmt: skip
        for name, (rule, k) in choices.items():
            chosen = select_uniform(len(frames), k) if rule == "uniform" else select_max_coverage(frames, k)
            seen = [set(np.flatnonzero(np.bincount(masks[i].ravel()) >= VISIBLE_PIXELS)) for i in chosen]
            for q in qs:
                ok = all(any(o in s for s in seen) for o in q["object_ids"])
                visible[name] += ok
                if q["question_type"] == "number":
                    counting[name][0] += ok
                    counting[name][1] += 1
            if name == "coverage 12":
                fills = {g: [patch_fill(masks[i], g) for i in chosen] for g in grids}
                for q in qs:
                    for g in grids:
                        filled[g] += all(max(f.get(o, 0.0) for f in fills[g]) >= 0.5 for o in q["object_ids"])
    n = len(items)
    report = {
        "data": str(data), "split": args.split, "questions": n,
        "every_needed_object_visible_pct": {k: 100.0 * v / n for k, v in visible.items()},
        "counting_questions_visible_pct": {k: 100.0 * a / max(1, b) for k, (a, b) in counting.items()},
        "coverage_12_every_needed_object_fills_half_a_patch_pct": {f"{g}x{g}": 100.0 * v / n
                                                                    for g, v in filled.items()},
    }  # fmt: skip
    print_report(report, args.json)


if __name__ == "__main__":
    main()
