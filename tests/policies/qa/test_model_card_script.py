"""scripts/qa_model_card.py lists the training rooms of every run, continuations on new rooms included."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

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
    listed = {earlier[0]["make_qa"], "--scenes 400 --seed 8000"}  # already listed by the continuation: not repeated
    added = _card_script().earlier_sources(str(path), listed)
    assert [s["make_qa"] for s in added] == [s["make_qa"] for s in earlier if s["make_qa"] not in listed]
    assert len(added) >= len(earlier) - 2
    assert all(s["earlier_runs_only"] for s in added)
    assert _card_script().earlier_sources(None, set()) == []


def test_the_committed_cards_room_count_is_the_sum_of_its_sources():
    data = json.loads((ROOT / "segpilot/data/models/qa-default/card.json").read_text())["training_data"]
    rooms = sum(sum(s["rooms"][k] for k in s["splits_used"]) for s in data["sources"])
    assert rooms == data["rooms"]


def _data_script():
    spec = importlib.util.spec_from_file_location("qa_data", ROOT / "scripts" / "qa_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_data_script_rebuilds_every_folder_the_card_assembled_from():
    card = json.loads((ROOT / "segpilot/data/models/qa-default/card.json").read_text())
    pairs = _data_script().folders(card)
    assembled = card["training_data"]["assembled_by"]
    assert pairs[0] == ("data/qa320", "--scenes 320 --seed 1000")  # the held-out val / test rooms come first
    assert all(folder in assembled for folder, _ in pairs) and len(pairs) == assembled.count("--all-splits") + 1
    cmd = _data_script().commands(card)[0]
    assert cmd[:3] == ["segpilot", "sim", "make-qa"] and cmd[cmd.index("--seed") + 1] == "1000"
    broken = {"training_data": {**card["training_data"], "assembled_by": "cp -r data/x data/y"}}
    with pytest.raises(SystemExit, match="assembled_by"):
        _data_script().folders(broken)
