"""The real ScanQA and OpenEQA question files (../shared/fixtures/real), as their projects ship them."""

from __future__ import annotations

import pytest

from segpilot.eval.datasets.openeqa import load_openeqa, load_subset
from segpilot.eval.datasets.scanqa import load_scanqa
from tests.conftest import HABITAT_FIXTURES, shared_fixture

REAL = HABITAT_FIXTURES.parent / "real"


@pytest.fixture
def real():
    return shared_fixture("real")


def test_real_scanqa_val_loads_with_its_answer_lists_and_ids(real):
    items = load_scanqa(real / "scanqa" / "ScanQA_v1.0_val.json")
    assert len(items) == 4675 and len({it.scene_id for it in items}) == 71
    first = items[0]
    assert first.question_id == "val-scene0011-0" and first.answers == ("dark brown", "brown")
    assert first.scene_id == "scene0011_00" and first.object_names[0] == "chair"
    assert all(it.answers for it in items)


def test_real_openeqa_keeps_extra_answers_and_the_official_subset(real):
    items = load_openeqa(real / "openeqa" / "open-eqa-v0.json")
    assert len(items) == 1636 and sum(bool(it.extra_answers) for it in items) == 263
    assert {it.source for it in items} == {"scannet", "hm3d"}
    assert sum(it.source == "scannet" for it in items) == 1079
    subset = load_subset(real / "openeqa" / "open-eqa-v0-184-questions.json", items)
    assert len(subset) == 184


def test_eval_limit_must_be_positive_and_missing_scenes_are_skipped_on_the_real_file(real, tmp_path):
    from segpilot.cli import main

    for bad in ("-22", "0", "x"):
        with pytest.raises(SystemExit) as exc:
            main(["eval", "scanqa", "--qa", str(real / "scanqa" / "ScanQA_v1.0_val.json"), "--scenes",
                  str(tmp_path), "--out", str(tmp_path / "run"), "--limit", bad])  # fmt: skip
        assert exc.value.code == 2
    # None of the 71 ScanNet scenes is here: with --limit 3 every question is skipped, which is an error.
    from segpilot.errors import SegpilotError
    from segpilot.eval.datasets.sources import ScanConfig
    from segpilot.eval.qa_runs import eval_scanqa
    from segpilot.pipeline import PruneConfig

    with pytest.raises(SegpilotError, match="none of the 3 questions has a scene"):
        eval_scanqa(real / "scanqa" / "ScanQA_v1.0_val.json", tmp_path, None, tmp_path / "run", PruneConfig(), 4,
                    False, meteor=False, limit=3, scan=ScanConfig())  # fmt: skip
