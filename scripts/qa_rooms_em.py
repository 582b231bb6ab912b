"""EM@1 of a QA model on the regression rooms of `tests/policies/qa/test_default_model.py` (seeds 7100, 7101).

Prints the `MEASURED` table that test keeps (all tokens and SeGPruner at 9%), computed through the same code path
(`ask_many`: coverage views, encoded and pruned once per room, every templated question of its questions.json):

    python scripts/qa_rooms_em.py [--model DIR]    # default: the committed model
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from segpilot.eval.qa_runs import ask_many
from segpilot.pipeline import PruneConfig
from segpilot.sim.cached_scan import generated_scan

SEEDS = (7100, 7101)
BUDGETS = (1.0, 0.09)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the committed default model)")
    args = ap.parse_args()
    measured = {}
    with tempfile.TemporaryDirectory() as root:
        rooms = [generated_scan(seed, root=Path(root)) for seed in SEEDS]
        for budget in BUDGETS:
            right = total = 0
            for scan in rooms:
                result = ask_many(scan / "questions.json", args.model, scan, PruneConfig(budget_fraction=budget), 8,
                                  False)  # fmt: skip
                right, total = right + result["right"], total + result["scored"]
            measured[budget] = round(100.0 * right / total, 1)
            print(f"budget {budget}: {right} / {total} right", flush=True)
    print(f"MEASURED = {measured}")


if __name__ == "__main__":
    main()
