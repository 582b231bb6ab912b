"""`segpilot ask` and `segpilot eval scanqa` end to end with a tiny LLaVA saved to a local folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segpilot.sim.make_qa import make_qa
from tests.policies.qa.test_llava_adapter import tiny_tokenizer

pytestmark = pytest.mark.slow  # starts processes or runs models end to end: `make test-fast` skips it

REPO = Path(__file__).resolve().parents[3]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segpilot.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    path = tmp_path_factory.mktemp("tiny_llava")
    vc = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          image_size=56, patch_size=14)  # fmt: skip
    tc = LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=64)  # fmt: skip
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=60)
    torch.manual_seed(0)
    LlavaForConditionalGeneration._from_config(cfg).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("qa")
    make_qa(out, 1, seed=40)
    return out


def test_eval_scanqa_writes_predictions_and_metrics_and_resumes(tiny_model_dir, qa_data, tmp_path):
    args = ["eval", "scanqa", "--qa", str(qa_data / "ScanQA_v1.0_train.json"), "--scenes", str(qa_data / "scans"),
            "--model", str(tiny_model_dir), "--out", str(tmp_path / "run"), "--limit", "5", "--no-meteor",
            "--views", "4", "--max-new-tokens", "3"]  # fmt: skip
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 5
    rec = json.loads(lines[0])
    assert rec["tokens_total"] == 64 and rec["tokens_kept"] == round(0.09 * 64)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n"] == 5 and "CIDEr" in metrics and metrics["run"]["config"]["method"] == "segpruner"
    assert _run(*args).returncode == 0  # rerun: everything already answered
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 5


def test_ask_on_a_given_scene(tiny_model_dir):
    from segpilot.cli import demo_scene_path

    proc = _run("ask", "What color is the sofa?", "--model", str(tiny_model_dir), "--views", "3",
                "--max-new-tokens", "2", "--scene", str(demo_scene_path()))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "tokens kept 4 / 48" in proc.stdout and "prefill" in proc.stdout
    # a fresh process reports where its time went, start-up and imports included (issue 20's stages)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("timings: "))
    ms = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+) ms", line)}
    stages = ("startup", "import_transformers", "model_load", "select_views", "encode", "prune", "prefill", "decode")
    assert set(stages) <= set(ms) and list(ms)[-1] == "total"
    assert ms["total"] >= sum(ms[k] for k in stages) - 20.0  # 10 ms clock ticks of the process age


def test_ask_without_a_scene_renders_a_generated_room_once_and_writes_outputs(tiny_model_dir, tmp_path):
    env = {"SEGPILOT_CACHE": str(tmp_path / "cache")}
    args = ("ask", "What color is the box on the table?", "--model", str(tiny_model_dir), "--views", "4",
            "--max-new-tokens", "2", "--out", str(tmp_path / "out"))  # fmt: skip
    proc = _run(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    scan = tmp_path / "cache" / "scans" / "synth07002_00"
    assert "generated room synth07002_00" in proc.stdout and "tokens kept 6 / 64" in proc.stdout
    questions = json.loads((scan / "questions.json").read_text())
    assert {"question": "What color is the box on the table?", "answers": ["green"], "type": "color"} in questions
    kept = json.loads((tmp_path / "out" / "kept.json").read_text())
    assert kept["n_kept"] == 6 and len(list((tmp_path / "out").glob("view_*.png"))) == 4
    assert (tmp_path / "out" / "tokens.ply").exists()
    stamp = (scan / "questions.json").stat().st_mtime_ns
    assert _run(*args, env=env).returncode == 0
    assert (scan / "questions.json").stat().st_mtime_ns == stamp  # rendered once, then reused
    proc = _run(*args, "--room-seed", "3", "--scene", str(scan), env=env)
    assert proc.returncode == 2 and "--room-seed picks a generated room" in proc.stderr


def test_bad_model_and_missing_scene(tiny_model_dir, qa_data, tmp_path):
    proc = _run("ask", "What?", "--model", str(tmp_path))
    assert proc.returncode == 2 and "no config.json" in proc.stderr
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    proc = _run("ask", "What?", "--model", str(tmp_path))
    assert proc.returncode == 2 and "model family 'bert' is not supported" in proc.stderr
    qa = json.loads((qa_data / "ScanQA_v1.0_train.json").read_text())[:2]
    qa[1]["scene_id"] = "zz_scene_that_is_not_there"
    (tmp_path / "qa.json").write_text(json.dumps(qa))
    run = str(tmp_path / "run")
    args = ("eval", "scanqa", "--qa", str(tmp_path / "qa.json"), "--scenes", str(qa_data / "scans"),
            "--model", str(tiny_model_dir), "--out", run, "--no-meteor", "--views", "2")  # fmt: skip
    proc = _run(*args, "--require-all")
    assert proc.returncode == 2 and "'zz_scene_that_is_not_there'" in proc.stderr and "--require-all" in proc.stderr
    proc = _run(*args)  # default: the question without its scene is skipped and counted
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["skipped_missing_scene"] == {"questions": 1, "scenes": 1}
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 1


def test_a_rerun_with_another_configuration_refuses_and_force_starts_over(tiny_model_dir, qa_data, tmp_path):
    common = ["eval", "scanqa", "--qa", str(qa_data / "ScanQA_v1.0_train.json"), "--scenes", str(qa_data / "scans"),
              "--model", str(tiny_model_dir), "--limit", "2", "--no-meteor", "--max-new-tokens", "2",
              "--out", str(tmp_path / "run")]  # fmt: skip
    assert _run(*common, "--views", "2").returncode == 0
    again = _run(*common, "--views", "3")
    assert again.returncode == 2 and "different run (config differ)" in again.stderr and "--force" in again.stderr
    assert _run(*common, "--views", "3", "--limit", "3").returncode == 2  # --limit alone would extend, not this
    forced = _run(*common, "--views", "3", "--force")
    assert forced.returncode == 0, forced.stderr
    identity = json.loads((tmp_path / "run" / "run_identity.json").read_text())
    assert identity["config"]["views"] == 3 and len(identity["model"]["sha256"]) >= 2
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 2


def test_a_second_run_on_the_same_folder_stops_at_once(tmp_path):
    from segpilot.errors import SegpilotError
    from segpilot.eval.run_folder import open_run

    with open_run(tmp_path / "run", {"a": 1}):
        with pytest.raises(SegpilotError, match=rf"in use by another segpilot run \(pid {os.getpid()}\)"):
            with open_run(tmp_path / "run", {"a": 1}):
                pass
    with open_run(tmp_path / "run", {"a": 1}):  # released: the next run goes ahead
        pass


def test_ray_engine_equals_local_engine(tiny_model_dir, qa_data, tmp_path):
    """A local 2-worker Ray cluster gives the same predictions and metrics as the local engine."""
    common = [
        "eval",
        "scanqa",
        "--qa",
        str(qa_data / "ScanQA_v1.0_train.json"),
        "--scenes",
        str(qa_data / "scans"),
        "--model",
        str(tiny_model_dir),
        "--limit",
        "6",
        "--no-meteor",
        "--views",
        "3",
        "--max-new-tokens",
        "2",
    ]
    local = _run(*common, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    # A stale current-cluster file (an earlier `ray start`, long gone) must not be joined: we start our own.
    current = Path("/tmp/ray/ray_current_cluster")
    saved = current.read_text() if current.exists() else None
    current.parent.mkdir(parents=True, exist_ok=True)
    current.write_text("127.0.0.1:1")
    try:
        remote = _run(*common, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2")
    finally:
        current.unlink(missing_ok=True) if saved is None else current.write_text(saved)
    assert remote.returncode == 0, remote.stderr

    def predictions(run):
        lines = (tmp_path / run / "predictions.jsonl").read_text().splitlines()
        return {r["question_id"]: r["prediction"] for r in map(json.loads, lines)}

    assert predictions("local") == predictions("ray") and len(predictions("ray")) == 6
    strip = lambda m: {k: v for k, v in m.items() if k != "run"}  # noqa: E731
    m_local = json.loads((tmp_path / "local" / "metrics.json").read_text())
    m_ray = json.loads((tmp_path / "ray" / "metrics.json").read_text())
    assert strip(m_local) == strip(m_ray)


def test_ask_questions_file_answers_each_once_encoded_and_scores_them(tiny_model_dir, qa_data, tmp_path):
    scene = next((qa_data / "scans").iterdir())
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(["What color is the table?",
                                     {"question": "How many cups are there in the room?", "answers": ["two", "2"]}]))
    proc = _run("ask", "--questions", str(questions), "--scene", str(scene), "--model", str(tiny_model_dir),
                "--views", "4", "--max-new-tokens", "2", "--out", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert [r["right"] is None for r in records] == [True, False] and "/1 right" in proc.stdout
    assert {r["tokens_total"] for r in records} == {64}
    both = _run("ask", "What is it?", "--questions", str(questions), "--scene", str(scene))
    assert both.returncode == 2 and "not both" in both.stderr
    questions.write_text(json.dumps([{"q": "no question field"}]))
    bad = _run("ask", "--questions", str(questions), "--scene", str(scene), "--model", str(tiny_model_dir))
    assert bad.returncode == 2 and "entry 0 must be a text or an object with a 'question'" in bad.stderr
