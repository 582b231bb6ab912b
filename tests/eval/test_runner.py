"""Batch runner: streaming predictions, resume after SIGKILL, clear errors without losing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem, load_scanqa
from segpilot.eval.runner import PredictionLog, run_batch

REPO = Path(__file__).resolve().parents[2]
N = 40


def _write_questions(path: Path) -> None:
    items = [{"scene_id": f"s{i % 3}", "question_id": f"q{i}", "question": f"How many chairs in room {i}?",
              "answers": [["one", "two", "three"][i % 3]]} for i in range(N)]  # fmt: skip
    path.write_text(json.dumps(items))


# The answerer of these tests: deterministic, a little slow, right two times out of three.
SCRIPT = """
import sys, time
from segpilot.eval.datasets.scanqa import load_scanqa
from segpilot.eval.runner import run_batch
def answer(item):
    time.sleep(float(sys.argv[3]))
    return {"prediction": ["one", "two", "two"][int(item.question_id[1:]) % 3]}
run_batch(load_scanqa(sys.argv[1]), answer, sys.argv[2], meteor=False, progress=False)
"""


def _run(qa: Path, out: Path, delay: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(qa), str(out), str(delay)], cwd=REPO)


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    qa = tmp_path / "qa.json"
    _write_questions(qa)
    assert _run(qa, tmp_path / "full", 0.0).wait(timeout=120) == 0
    proc = _run(qa, tmp_path / "killed", 0.05)
    log = tmp_path / "killed" / "predictions.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or len(log.read_bytes().splitlines()) < 10):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(log.read_bytes().splitlines())
    assert 10 <= partial < N
    assert not (tmp_path / "killed" / "metrics.json").exists()
    assert _run(qa, tmp_path / "killed", 0.0).wait(timeout=120) == 0
    ids = [json.loads(line)["question_id"] for line in log.read_text().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(N))  # none lost, none duplicated
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert resumed == full and full["EM@1"] == pytest.approx(200 / 3, abs=2)


def test_torn_last_line_is_dropped(tmp_path):
    log = PredictionLog(tmp_path / "p.jsonl")
    log.append({"question_id": "a", "prediction": "x"})
    with open(log.path, "a") as fh:
        fh.write('{"question_id": "b", "predic')
    assert list(log.finished()) == ["a"]
    assert log.path.read_text().count("\n") == 1


def test_error_keeps_finished_predictions(tmp_path):
    items = [ScanQAItem(f"q{i}", "scene" if i < 3 else "missing_scene", "What is it?", ("cup",)) for i in range(5)]

    def answer(item):
        if item.scene_id == "missing_scene":
            raise SegpilotError(f"scene {item.scene_id} not found under the scenes root")
        return {"prediction": "cup"}

    with pytest.raises(SegpilotError, match="missing_scene not found"):
        run_batch(items, answer, tmp_path, meteor=False, progress=False)
    assert len((tmp_path / "predictions.jsonl").read_text().splitlines()) == 3


def test_malformed_scanqa_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(SegpilotError, match="not valid JSON"):
        load_scanqa(bad)
    bad.write_text(json.dumps([{"scene_id": "s", "question": "q"}]))
    with pytest.raises(SegpilotError, match="item 0 must be an object with scene_id, question_id, question"):
        load_scanqa(bad)
    bad.write_text(json.dumps([{"scene_id": "s", "question_id": 1, "question": "q", "answers": "yes"}]))
    with pytest.raises(SegpilotError, match="list of strings"):
        load_scanqa(bad)
    with pytest.raises(SegpilotError, match="not found"):
        load_scanqa(tmp_path / "nope.json")


def test_a_prediction_line_without_question_id_is_one_line_naming_it(tmp_path):
    from segpilot.errors import SegpilotError
    from segpilot.eval.runner import PredictionLog

    path = tmp_path / "predictions.jsonl"
    path.write_text('{"question_id": "a", "prediction": "x"}\n{"prediction": "y"}\n')
    with pytest.raises(SegpilotError, match=r"predictions.jsonl:2: a prediction record without question_id"):
        PredictionLog(path).finished()
