from __future__ import annotations

import json

import numpy as np
from PIL import Image

from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.sim.make_qa import make_qa, questions_for
from segpilot.sim.scenes import generate_scene


def test_make_qa_writes_scannet_scenes_and_scanqa_splits(tmp_path):
    summary = make_qa(tmp_path, 3, seed=20)
    assert summary["scenes"] == 3 and all(summary["questions"][s] > 0 for s in ("train", "val", "test"))
    seen_scenes = {}
    for split in ("train", "val", "test"):
        items = json.loads((tmp_path / f"ScanQA_v1.0_{split}.json").read_text())
        for q in items:
            assert {"question_id", "scene_id", "question", "answers", "object_ids", "object_names"} <= set(q)
            seen_scenes.setdefault(q["scene_id"], set()).add(split)
    assert all(len(s) == 1 for s in seen_scenes.values())  # split by scene
    scene = ScanNetScene(tmp_path / "scans" / next(iter(seen_scenes)))
    frame = scene.frame(scene.frame_ids[0])
    assert frame.rgb.shape == (240, 320, 3) and frame.depth.max() > 0
    assert set(summary["type_mix"]) == {"object", "color", "number", "place", "relation"}


def test_answers_follow_the_scene_graph():
    scene = generate_scene(21)
    for q in questions_for(scene):
        objs = [scene.by_id(i) for i in q["object_ids"]]
        if q["question"].startswith("How many"):
            assert q["answers"][1] == str(len(objs))
        if q["question"].startswith("Are there more"):
            counts = {}
            for o in objs:
                counts[o.category] = counts.get(o.category, 0) + 1
            winner = max(counts, key=counts.get)
            assert q["answers"] == [winner + ("es" if winner.endswith("x") else "s")]
            assert len(set(counts.values())) == 2
        if q["type"] == "color" and q["question"].startswith("What color is the") and " on the " not in q["question"]:
            assert q["answers"] == [objs[0].colour]


def test_question_episodes_written(tmp_path):
    from segpilot.sim.episodes import QuestionEpisode, load_episodes

    make_qa(tmp_path, 1, seed=22)
    eps = load_episodes(tmp_path / "eqa_episodes_train.json")
    assert eps and all(isinstance(e, QuestionEpisode) for e in eps)
    qa = json.loads((tmp_path / "ScanQA_v1.0_train.json").read_text())
    assert [e.question["question_text"] for e in eps] == [q["question"] for q in qa]
    assert len(eps[0].trajectory) == len(ScanNetScene(tmp_path / "scans" / eps[0].scene_id).frame_ids)


def test_make_qa_writes_instance_labels_baselines_and_the_colour_report(tmp_path):
    summary = make_qa(tmp_path, 3, seed=20)
    scene_id = json.loads((tmp_path / "ScanQA_v1.0_train.json").read_text())[0]["scene_id"]
    scan = tmp_path / "scans" / scene_id
    ids = np.asarray(Image.open(scan / "instance-filt" / "0.png"))
    graph = json.loads((tmp_path / "scenes" / f"{scene_id}.json").read_text())
    assert ids.shape == (240, 320) and set(np.unique(ids)) <= {0} | {o["id"] for o in graph["objects"]}
    assert len(list((scan / "instance-filt").iterdir())) == len(list((scan / "color").iterdir()))
    for held_out in ("val", "test"):
        for row in summary["question_only_baselines"][held_out].values():
            assert row["best"] == max(row["per_type"], row["per_template"], row["per_question"])
    # more ambient light keeps every shaded colour nameable (at 0.45, orange and yellow fell under 10%)
    assert all(c["nearest_colour_recovers_pct"] >= 90 for c in summary["colour_recovery"].values())
    unbalanced = json.loads((tmp_path / "questions_unbalanced.json").read_text())
    assert sum(map(len, unbalanced.values())) == sum(summary["questions_before_balancing"].values())


def test_balancing_caps_every_answer_share_and_baselines_measure_it():
    from segpilot.sim.qa_balance import MAX_SHARE, SLACK, balance, question_only_baselines, template

    rng = np.random.default_rng(0)
    # "Where is the cup?" answered "on the table" 80% of the time: a prior a model could learn blind
    items = [{"i": i, "question": f"Where is the {c}?", "question_type": "place",
              "answers": ["on the table" if rng.random() < 0.8 else str(rng.choice(["on the bed", "on the shelf"]))]}
             for i, c in enumerate(rng.choice(["cup", "vase", "lamp"], 3000))]  # fmt: skip
    before = question_only_baselines(items[:2000], items[2000:])["place"]
    assert before["best"] > 70
    kept = balance(items, seed=1)
    assert [it["i"] for it in kept] == sorted({it["i"] for it in kept})  # a subset, in order
    table = {}
    for it in kept:
        key = template(it["question"])
        table.setdefault(key, []).append(it["answers"][0])
    for answers in table.values():
        assert max(answers.count(a) for a in set(answers)) <= MAX_SHARE * len(answers) + SLACK
    half = len(kept) // 2
    assert question_only_baselines(kept[:half], kept[half:])["place"]["best"] <= 40
    assert template("What color is the red box on the table?") == "what color is the <x> <x> on the <x>?"


def test_make_qa_records_the_shapes_version_and_combining_refuses_to_mix_versions(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    summary = make_qa(tmp_path / "v2", 1, seed=22, shapes=2)
    assert summary["shapes"] == 2
    graph = json.loads(next((tmp_path / "v2" / "scenes").glob("*.json")).read_text())
    assert graph["shapes"] == 2
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "summary.json").write_text(json.dumps({"scenes": 1}))  # written before versions were recorded: 1
    script = Path(__file__).resolve().parents[2] / "scripts" / "qa_combine.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "v2"), "--all-splits", str(v1), "--out",
                          str(tmp_path / "both")], capture_output=True, text=True)  # fmt: skip
    assert run.returncode != 0 and "different small-object shapes" in run.stderr
