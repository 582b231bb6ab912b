"""Table-driven bad input over every command: exit status 2 and exactly one line on stderr, before any work.

Each row is (argv, text the line must contain). Files the rows need are made by `bad_files`.
"""

from __future__ import annotations

import json

import pytest

from segpilot.cli import main


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty").mkdir()
    (d / "afile").write_text("x")
    (d / "binary.json").write_bytes(b"\xff\xfe\x00\x81" * 50)
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "bool.yaml").write_text("/**:\n  ros__parameters:\n    views: true\n")
    (d / "list_config").mkdir()
    (d / "list_config" / "config.json").write_text("[1, 2]")
    (d / "corrupt_model").mkdir()
    (d / "corrupt_model" / "config.json").write_text(json.dumps({"model_type": "llava"}))
    (d / "corrupt_model" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00not a header")
    (d / "noweights").mkdir()
    (d / "noweights" / "config.json").write_text("{}")
    (d / "qa_obj.json").write_text(json.dumps([{"question_id": "a", "question": "q", "answer": "x",
                                               "episode_history": "e"}, 7]))  # fmt: skip
    (d / "qa_escape.json").write_text(json.dumps([{"question_id": "a", "question": "q", "scene_id": "../../etc"}]))
    (d / "corrupt.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 64)
    item = {"question_id": "a", "question": "q", "answer": "x", "episode_history": "e"}
    (d / "oeqa.json").write_text(json.dumps([item]))
    (d / "scans" / "scene0000_00").mkdir(parents=True)
    (d / "qa_ok.json").write_text(json.dumps([{"question_id": "a", "question": "q", "scene_id": "scene0000_00"}]))
    (d / "data").mkdir()
    (d / "data" / "ScanQA_v1.0_train.json").write_text(json.dumps([{"question_id": "a", "question": "q",
                                                                    "scene_id": "s", "answers": ["x"]}]))  # fmt: skip
    (d / "oeqa_escape.json").write_text(json.dumps([{**item, "episode_history": "../../etc"}]))
    (d / "nonempty").mkdir()
    (d / "nonempty" / "x").write_text("x")
    return d


def rows(d):
    e, f = str(d / "empty"), str(d / "afile")
    qa = ["--qa", str(d / "qa_escape.json"), "--scenes", e, "--out", str(d / "run")]
    return [
        (["prune", "--budget-fraction", "inf"], "finite"),
        (["prune", "--budget-fraction", "2.5"], "budget_fraction must lie in"),
        (["prune", "--views", "0"], "views must"),
        (["prune", "--views", "1000000"], "views must lie in [1, 256]"),
        (["prune", "--random.seed", "-1"], "--random.seed must be >= 0"),
        (["prune", "--device", "foo"], "not a torch device"),
        (["prune", "--device", "cuda"], "no CUDA"),
        (["prune", "--out", ""], "empty string"),
        (["prune", "--out", f], "is a file"),
        (["prune", "--scene", e], "no known RGB-D scan format"),
        (["prune", "--scene", "/does/not/exist"], "scan not found"),
        (["prune", "--format", "kinect"], "invalid choice"),
        (["prune", "--intrinsics", "1,2"], "--intrinsics"),
        (["prune", "--max-depth-m", "0"], "max-depth-m"),
        (["prune", "--params-file", str(d / "list.yaml")], "parameter mapping"),
        (["prune", "--params-file", str(d / "bool.yaml")], "must be int"),
        (["prune", "--params-file", e], "Is a directory"),
        (["prune", "--params-file", str(d / "binary.json")], "UnicodeDecodeError"),
        (["prune", "--method", "nope"], "unknown pruning method"),
        (["prune", "--segpruner.lam", "nan"], "finite"),
        (["prune", "--mmr.theta", "2"], "mmr theta must lie in [0, 1]"),
        (["prune", "--tum-camera", "fr1"], "TUM RGB-D sequences only"),
        (["ask", "What?", "--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
        (["ask", "What?", "--max-new-tokens", "-5"], "--max-new-tokens must be >= 1"),
        (["ask", "What?", "--model", e], "no config.json"),
        (["ask", "What?", "--room-seed", "-5"], ">= 0"),
        (["ask", "What?", "--model", str(d / "list_config")], "config.json"),
        (["ask", "What?", "--model", str(d / "corrupt_model")], "corrupt_model"),
        (["ask", "word " * 3000], "tokens"),
        (["ask", "   "], "non-empty text"),
        (["ask", "--questions", str(d / "list.yaml")], "not valid JSON"),
        (["ask", "--questions", str(d / "qa_obj.json")], "entry 1 must be a text or an object"),
        (["ask", "--questions", e], "is a folder"),
        (["ask"], "needs a question or --questions"),
        (["ask", "--questions", "examples", "--scene", e], "without --scene"),
        (["sim", "make-qa", "--scenes", "2", "--workers", "0", "--out", str(d / "mq")], "--workers must be >= 1"),
        (["eval", "scanqa", "--qa", e, "--scenes", e, "--out", str(d / "r1")], "is a folder"),
        (["eval", "scanqa", "--qa", str(d / "binary.json"), "--scenes", e, "--out", str(d / "r2")], "JSON"),
        (["eval", "scanqa", *qa, "--limit", "-1"], "positive integer"),
        (["eval", "scanqa", *qa, "--limit", "0"], "positive integer"),
        (["eval", "scanqa", *qa, "--max-new-tokens", "0"], "--max-new-tokens"),
        (["eval", "scanqa", *qa[:2], "--scenes", "/does/not/exist", "--out", str(d / "r3")], "scenes root not found"),
        (["eval", "scanqa", *qa], "plain name"),
        (["eval", "scanqa", "--qa", str(d / "qa_ok.json"), "--scenes", str(d / "scans"), "--out", str(d / "rr"),
          "--engine", "ray", "--ray-address", "127.0.0.1:1"], "no Ray cluster"),
        (["eval", "scanqa", *qa, "--out", ""], "empty string"),
        (["eval", "openeqa", "--qa", str(d / "qa_obj.json"), "--frames", e, "--out", str(d / "r4")], "item 1 must be"),
        (["eval", "openeqa", "--qa", str(d / "oeqa.json"), "--frames", e, "--out", str(d / "r5"), "--subset",
          str(d / "afile")], "JSON"),
        (["train", "qa", "--lr", "nan"], "finite"),
        (["train", "qa", "--steps", "0"], "steps must be >= 1"),
        (["train", "qa", "--init-from", str(d / "noweights"), "--data", str(d / "data"), "--out", str(d / "tq")],
         ".safetensors"),
        (["train", "qa", "--out", ""], "empty string"),
        (["train", "vla", "--lr", "nan"], "finite"),
        (["train", "grounder", "--max-minutes", "nan"], "finite"),
        (["train", "grounder", "--rooms", "0"], "rooms"),
        (["sim", "make-qa", "--scenes", "0", "--out", str(d / "mq")], "--scenes must be >= 1"),
        (["sim", "run-vla", "--episodes", "0"], "--episodes must be >= 1"),
        (["sim", "run-vla", "--habitat", ""], "empty string"),
        (["sim", "run-vla", "--routing", "sideways"], "invalid choice"),
        (["sim", "run-vla", "--temperature", "nan"], "finite"),
        (["sim", "export-habitat", "--seed", "-1", "--out", e], ">= 0"),
        (["sim", "habitat-scan", "--habitat", f, "--out", str(d / "hs")], "habitat"),
        (["sim", "expert", "--episodes", "0"], "--episodes must be >= 1"),
        (["bench", "prune", "--budget", "2"], "--budget must be a fraction"),
        (["bench", "prune", "--budget", "0"], "fraction"),
        (["bench", "prune", "--shapes", "1x1x1"], "fewer than 2 tokens"),
        (["bench", "prune", "--shapes", "2x5x4"], "square"),
        (["bench", "prune", "--json", e], "is a folder"),
        (["bench", "prune", "--repeats", "0"], "--repeats"),
        (["bench", "qa", "--views", "100000"], "--views <= 256"),
        (["bench", "vla", "--json", e], "is a folder"),
        (["bench", "ros", "--json", e], "is a folder"),
        (["bag", "qa", "--bag", "/does/not/exist", "--question", "q"], "bag not found"),
        (["bag", "qa", "--bag", str(d / "corrupt.mcap"), "--question", "q"], "cannot read bag"),
        (["bag", "qa", "--bag", f, "--question", "q", "--slop-s", "-1"], "slop_s"),
        (["convert", "/does/not/exist", str(d / "cv")], "not found"),
        (["convert", e, str(d / "nonempty")], "no known RGB-D scan format"),
        (["study", "budget", "--qa", f, "--scenes", e, "--model", e, "--out", str(d / "sb"), "--budgets", "0,2"],
         "--budgets"),
        (["study", "budget", "--qa", f, "--scenes", e, "--model", e, "--out", str(d / "sb"), "--limit", "0"],
         "positive"),
        (["methods", "--bogus"], "unrecognized arguments"),
        (["ros-index", "--prefix", str(d / "afile")], "cannot write the ament index"),
        (["bench", "prune", "--shapes", "2x16x4", "--budget", "0.5", "--repeats", "1", "--json", "/dev/full"],
         "No space left on device"),
        (["eval", "openeqa", "--qa", str(d / "oeqa_escape.json"), "--frames", e, "--out", str(d / "r6")], "'..'"),
    ]  # fmt: skip


def test_every_bad_input_is_one_line_and_exit_2(bad, capsys):
    failures = []
    table = rows(bad)
    for argv, needle in table:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        err = capsys.readouterr().err.strip().splitlines()
        lines = [line for line in err if "error" in line]
        if code != 2 or len(lines) != 1 or needle not in lines[0]:
            failures.append((argv[:3], code, err[-3:], needle))
    assert not failures, f"{len(failures)} of {len(table)} rows failed: " + "\n".join(map(str, failures))
