"""`segpilot study budget` end to end on a tiny model and one generated room (few questions)."""

from __future__ import annotations

import json

import pytest

from segpilot.eval.study import study_budget, study_methods
from segpilot.pipeline import PruneConfig
from segpilot.sim.make_qa import make_qa
from tests.eval.test_openeqa import _tiny_llava

pytestmark = pytest.mark.slow  # starts processes or runs models end to end: `make test-fast` skips it


def test_study_writes_table_and_plot(tmp_path):
    make_qa(tmp_path / "qa", 1, seed=60)
    model = _tiny_llava(tmp_path / "vlm")
    qa = tmp_path / "qa"
    table = study_budget(qa / "ScanQA_v1.0_train.json", qa / "scans", model, tmp_path / "study", PruneConfig(views=2),
                         budgets=(0.09, 1.0), limit=2, max_new_tokens=2)  # fmt: skip
    assert len(table["rows"]) == 2 * len(study_methods())
    assert {"segpruner[public]", "segpruner[per_view]", "segpruner[global]"} <= {r["method"] for r in table["rows"]}
    assert len(table["sweep"]) == 2 * 5 * 3  # budgets x lam x r
    # sweep cells at a budget the table has are compared with the reference there
    assert all("ci95" in r["em_minus_segpruner"] for r in table["sweep"] if r["budget"] == 0.09)
    assert {(r["lam"], r["importance_ratio"]) for r in table["sweep"]} >= {(0.0, 0.0), (1.0, 0.6)}
    full = [r for r in table["rows"] if r["budget"] == 1.0]
    assert len({r["EM@1"] for r in full}) == 1  # all tokens: same answers whatever the method
    assert (tmp_path / "study" / "study_budget.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "study" / "study_budget.json").read_text())["schema_version"] == 2
    seg = [r for r in table["rows"] if r["method"] == table["reference"]]
    assert seg and all(r["em_minus_segpruner"]["mean"] == 0 for r in seg)  # the reference against itself
    assert all("em_minus_segpruner" in r for r in table["rows"])


def test_paired_bootstrap_interval_separates_a_real_difference_only():
    import numpy as np

    from segpilot.eval.study import paired_bootstrap

    rng = np.random.default_rng(0)
    base = (rng.random(600) < 0.6).astype(float) * 100
    better = np.where(rng.random(600) < 0.15, 100.0, base)  # 15% of the wrong answers fixed
    mean, lo, hi = paired_bootstrap(list(better), list(base))
    assert lo > 0 and lo < mean < hi
    noise = np.where(rng.random(600) < 0.02, 100.0 - base, base)  # a few flips both ways
    _, lo, hi = paired_bootstrap(list(noise), list(base))
    assert lo <= 0 <= hi
    with pytest.raises(Exception, match="equally long"):
        paired_bootstrap([1.0], [1.0, 2.0])
