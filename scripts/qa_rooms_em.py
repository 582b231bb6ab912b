"""EM@1 of a QA model on the regression rooms of `tests/policies/qa/test_default_model.py` (seeds 7100, 7101).

Prints the `MEASURED` table that test keeps (all tokens and SeGPruner at 9%), computed by the test's own
`ask_rooms` (coverage views, encoded and pruned once per room, every templated question of its questions.json):

    python scripts/qa_rooms_em.py [--model DIR]    # default: the committed model
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the test module holds the rooms

from segpilot.sim.cached_scan import generated_scan  # noqa: E402
from tests.policies.qa.test_default_model import MEASURED, SEEDS, ask_rooms  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the committed default model)")
    args = ap.parse_args()
    measured = {}
    with tempfile.TemporaryDirectory() as root:
        rooms = [generated_scan(seed, root=Path(root)) for seed in SEEDS]
        for budget in MEASURED:
            right, total, _ = ask_rooms(rooms, budget, args.model)
            measured[budget] = round(100.0 * right / total, 1)
            print(f"budget {budget}: {right} / {total} right", flush=True)
    print(f"MEASURED = {measured}")


if __name__ == "__main__":
    main()
