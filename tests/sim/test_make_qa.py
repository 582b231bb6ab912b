from __future__ import annotations

import json

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
