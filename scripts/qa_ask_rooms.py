"""`segpilot ask` on the example questions of held-out generated rooms: how often is it right?

For each room seed (default 7000-7009, never used by the training data: make-qa seeds 1000-1319),
the room `segpilot ask --room-seed S` renders (its cache, with questions.json) is asked every
question of its questions.json through `segpilot ask --room-seed S --questions examples` (SeGPruner,
9% of the tokens, coverage views), and the answers are scored by exact match.

    python scripts/qa_ask_rooms.py --json docs/qa_ask_rooms.json [--model DIR] [--seeds 7000-7009]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from segpilot.eval.qa_runs import ask_many
from segpilot.pipeline import PruneConfig
from segpilot.sim.cached_scan import generated_scan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the embedded model)")
    ap.add_argument("--seeds", default="7000-7009", help="room seeds, FIRST-LAST")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    first, last = (int(x) for x in args.seeds.split("-"))
    rooms, examples = [], []
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for seed in range(first, last + 1):
        scan = generated_scan(seed)
        # what `segpilot ask --room-seed SEED --questions <scan>/questions.json` runs
        raw = json.loads((scan / "questions.json").read_text())  # read once: questions and their types
        result = ask_many([{"question": q["question"], "answers": q["answers"]} for q in raw], args.model, scan,
                          PruneConfig(), 16, False)  # fmt: skip
        types = [q["type"] for q in raw]
        for r, t in zip(result["answers"], types, strict=True):
            per_type[t][0] += r["right"]
            per_type[t][1] += 1
            examples.append({"seed": seed, "type": t, **{k: r[k] for k in ("question", "answers", "prediction",
                                                                             "right")}})  # fmt: skip
        rooms.append({"seed": seed, "scene": scan.name, "questions": result["scored"], "right": result["right"]})
        print(f"room {seed}: {result['right']}/{result['scored']} right", flush=True)
    total = sum(r["questions"] for r in rooms)
    report = {
        "model": args.model or "embedded default", "config": "segpilot ask defaults (PruneConfig())",
        "rooms": rooms, "questions": total, "right_pct": 100.0 * sum(r["right"] for r in rooms) / max(1, total),
        "per_type_right_pct": {t: 100.0 * a / b for t, (a, b) in sorted(per_type.items())},
        "examples": examples,
    }  # fmt: skip
    print(json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
