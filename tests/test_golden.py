"""Golden outputs (tests/golden_outputs.py): every registered pruner's kept indices, the default QA model's
answers and kept tokens, and the default VLA policy's actions on fixed inputs are what they were frozen as."""

from __future__ import annotations

import json

from tests.golden_outputs import GOLDEN, pruner_outputs, qa_outputs, vla_outputs


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


def test_every_registered_pruner_keeps_the_frozen_indices():
    golden = _golden()["pruners"]
    got = pruner_outputs()
    assert set(got) == set(golden), "a pruner was added or removed: refreeze with python -m tests.golden_outputs"
    assert got == golden


def test_default_qa_model_answers_as_frozen():
    assert qa_outputs() == _golden()["qa"]


def test_default_vla_policy_acts_as_frozen():
    assert vla_outputs() == _golden()["vla"]
