"""scripts/qa_model_card.py lists the training rooms of every run, continuations on new rooms included."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _card_script():
    spec = importlib.util.spec_from_file_location("qa_model_card", ROOT / "scripts" / "qa_model_card.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_continuation_keeps_the_earlier_runs_rooms_once(tmp_path):
    card = json.loads((ROOT / "segpilot/data/models/qa-default/card.json").read_text())
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card))
    earlier = card["training_data"]["sources"]
    first = earlier[0]["make_qa"]  # already listed by the continuation itself: not repeated
    added = _card_script().earlier_sources(str(path), {first, "--scenes 400 --seed 8000"})
    assert [s["make_qa"] for s in added] == [s["make_qa"] for s in earlier[1:]]
    assert all(s["earlier_runs_only"] for s in added)
    assert _card_script().earlier_sources(None, set()) == []


def test_the_committed_cards_room_count_is_the_sum_of_its_sources():
    data = json.loads((ROOT / "segpilot/data/models/qa-default/card.json").read_text())["training_data"]
    rooms = sum(sum(s["rooms"][k] for k in s["splits_used"]) for s in data["sources"])
    assert rooms == data["rooms"]
