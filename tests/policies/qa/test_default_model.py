"""The committed embedded QA model: loads, answers held-out rooms right, and keeps its measured accuracy.

Two generated rooms whose seeds no training split used (the make-qa data has seeds 1000-1319) are
rendered exactly as `segpilot ask` renders them, and every templated question they support (their
questions.json) is asked through `ask --questions`' code path - coverage views, SeGPruner - with
all tokens and at the default 9% budget. The thresholds sit a few points under the scores
measured when the model was committed, so a change that breaks the model, its adapter, the
renderer, view selection or the pruner fails here.
"""

from __future__ import annotations

import json

import pytest
import torch

from segpilot.eval.qa_runs import ask_many
from segpilot.pipeline import PruneConfig
from segpilot.policies.qa.pipeline import default_model_path
from segpilot.sim.cached_scan import generated_scan

pytestmark = pytest.mark.slow  # runs a default model end to end: `make test-fast` skips it

SEEDS = (7100, 7101)
# EM@1 (%) on these rooms' 91 questions when the model was committed (2026-12-03, qa-run17 with the default pruning
# setting r 0.6, lam 0.25, global; `python scripts/qa_rooms_em.py` prints this table): 64 and 61 right. The margin
# (4 points) absorbs float differences between CPUs; a model that stops looking falls further (the blind first
# default model scored 19.3 on the held-out test split; qa-run4 scored 37.4 / 38.5 here, qa-run5 46.2 / 42.9,
# qa-run6 42.9 / 41.8, qa-run7 48.4 / 49.5, qa-run8 52.7 / 53.8, qa-run9 58.2 / 60.4, qa-run11 64.8 / 67.0, qa-run13
# 69.2 / 62.6, qa-run14 69.2 / 64.8: 91 questions move by a few points between models that differ by ~1-3 on the
# 1,706-question test split, where qa-run17 scores 70.8 / 71.2 against qa-run14's 69.8 / 68.6).
MEASURED = {1.0: 70.3, 0.09: 67.0}
MARGIN = 4.0


def test_default_model_card_and_files():
    path = default_model_path()
    card = json.loads((path / "card.json").read_text())
    assert card["schema_version"] == 2 and card["parameters"] < 10_000_000
    assert (path / "model.safetensors").stat().st_size < 30 * 1024 * 1024  # float16 when float32 would not fit
    assert not list(path.glob("*.bin")) and not list(path.glob("*.pt"))
    config = json.loads((path / "config.json").read_text())
    assert config["segpilot_3d_position"]["unit"] == "m" and config["vision_config"]["image_size"] // config[
        "vision_config"]["patch_size"] >= 14  # fmt: skip


def test_default_model_computes_in_float32_whatever_its_stored_precision():
    from segpilot.policies.qa.llava import LlavaAdapter

    adapter = LlavaAdapter.from_pretrained(default_model_path())
    assert {p.dtype for p in adapter.model.parameters()} == {torch.float32}


@pytest.fixture(scope="module")
def rooms(tmp_path_factory):
    root = tmp_path_factory.mktemp("held_out_rooms")
    return [generated_scan(seed, root=root) for seed in SEEDS]


def ask_rooms(rooms, budget: float, model=None) -> tuple[int, int, list[dict]]:
    """(right, scored, answers) over every example question of the rooms, as `ask --questions` answers them
    (`scripts/qa_rooms_em.py` prints `MEASURED` with it)."""
    right = total = 0
    answers = []
    for scan in rooms:
        result = ask_many(scan / "questions.json", model, scan, PruneConfig(budget_fraction=budget), 8, False)
        right, total = right + result["right"], total + result["scored"]
        answers += result["answers"]
    return right, total, answers


@pytest.mark.parametrize("budget", [1.0, 0.09])
def test_default_model_answers_held_out_rooms(rooms, budget, tmp_path):
    right, total, answers = ask_rooms(rooms, budget)
    kept = {r["tokens_kept"] for r in answers}
    assert kept == {round(budget * 12 * 196)}  # 12 coverage views x 14 x 14 patches
    em = 100.0 * right / total
    assert total >= 60
    assert em >= MEASURED[budget] - MARGIN, f"budget {budget}: EM@1 {em:.1f} on {total} questions, " \
        f"committed {MEASURED[budget]:.1f}"  # fmt: skip
