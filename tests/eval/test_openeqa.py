"""OpenEQA: episode-frame layouts (ScanNet and HM3D extraction) and the eval command with a local judge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segpilot.cli import demo_scene_path
from segpilot.errors import SegpilotError
from segpilot.eval.datasets.openeqa import OpenEQAEpisode, load_openeqa
from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.eval.llm_match import llm_match_score, parse_mark
from segpilot.geometry.conventions import opencv_to_opengl_pose

REPO = Path(__file__).resolve().parents[2]


def write_episode(folder: Path, source: str, n: int = 3) -> list:
    """The bundled scene's frames written the way OpenEQA's extraction scripts write them."""
    folder.mkdir(parents=True, exist_ok=True)
    scene = ScanNetScene(demo_scene_path())
    frames = scene.frames(scene.frame_ids[:n])
    K = np.eye(4)
    K[:3, :3] = frames[0].camera.K
    np.savetxt(folder / "intrinsic_depth.txt", K)
    width = 6 if source == "scannet" else 5
    for i, f in enumerate(frames):
        stem = str(i * 10).zfill(width)
        Image.fromarray(f.rgb).save(folder / f"{stem}-rgb.png")
        scale = 1000.0 if source == "scannet" else 65535.0 / 10.0
        Image.fromarray(np.round(f.depth * scale).astype(np.uint16)).save(folder / f"{stem}-depth.png")
        pose = f.T_world_cam if source == "scannet" else opencv_to_opengl_pose(f.T_world_cam)
        np.savetxt(folder / f"{stem}.txt", pose)
    return frames


@pytest.mark.parametrize("source", ["scannet", "hm3d"])
def test_episode_frames_read_back(tmp_path, source):
    originals = write_episode(tmp_path / "ep", source)
    ep = OpenEQAEpisode(tmp_path / "ep", source)
    assert ep.valid_frame_ids() == [0, 10, 20]
    back = ep.frames([0, 10, 20])
    for a, b in zip(originals, back, strict=True):
        assert np.allclose(a.T_world_cam, b.T_world_cam, atol=1e-6)  # HM3D's OpenGL pose converted back
        assert np.abs(a.depth - b.depth).max() < 2e-3
        assert np.array_equal(a.rgb, b.rgb)


def test_judge_parsing_and_score():
    assert parse_mark("Your mark: 4") == 4 and parse_mark("5") == 5 and parse_mark("no idea") is None
    assert llm_match_score([1, 5, 3]) == pytest.approx(50.0)


def test_bad_openeqa_input(tmp_path):
    (tmp_path / "q.json").write_text(json.dumps([{"question": "x"}]))
    with pytest.raises(SegpilotError, match="lacks question_id, answer, episode_history"):
        load_openeqa(tmp_path / "q.json")
    (tmp_path / "q.json").write_text(json.dumps([{"question_id": "a", "question": "q", "answer": "x",
                                                   "episode_history": "e"}, "not an object"]))  # fmt: skip
    with pytest.raises(SegpilotError, match="item 1 must be an object"):
        load_openeqa(tmp_path / "q.json")
    with pytest.raises(SegpilotError, match="episode frames not found"):
        OpenEQAEpisode(tmp_path / "nope", "scannet")


def test_eval_openeqa_with_a_local_judge(tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.policies.qa.test_llava_adapter import tiny_tokenizer
    from tests.policies.qa.test_qa_commands import _run

    root = tmp_path / "frames"
    write_episode(root / "scannet-v0" / "001-scannet-scene0001_00", "scannet")
    write_episode(root / "hm3d-v0" / "000-hm3d-abc", "hm3d")
    qa = [{"question_id": "a", "question": "What color is the sofa?", "answer": "red", "category": "attribute",
           "episode_history": "scannet-v0/001-scannet-scene0001_00"},
          {"question_id": "b", "question": "Where is the cup?", "answer": "on the table", "category": "localization",
           "episode_history": "hm3d-v0/000-hm3d-abc", "extra_answers": ["on the desk"]},
          {"question_id": "c", "question": "Where is it?", "answer": "here", "category": "localization",
           "episode_history": "hm3d-v0/999-hm3d-not-extracted"}]  # fmt: skip
    (tmp_path / "qa.json").write_text(json.dumps(qa))
    judge = tmp_path / "judge"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 num_key_value_heads=1, vocab_size=64)).save_pretrained(judge)  # fmt: skip
    tiny_tokenizer().save_pretrained(judge)
    model = _tiny_llava(tmp_path / "vlm")
    proc = _run("eval", "openeqa", "--qa", str(tmp_path / "qa.json"), "--frames", str(root), "--model", str(model),
                "--out", str(tmp_path / "run"), "--judge", str(judge), "--no-meteor", "--views", "2",
                "--max-new-tokens", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n"] == 2 and 0.0 <= metrics["LLM-Match"] <= 100.0 and metrics["llm_match_judge"] == str(judge)
    assert len((tmp_path / "run" / "judge.jsonl").read_text().splitlines()) == 2
    assert metrics["skipped_missing_scene"] == {"questions": 1, "scenes": 1} and metrics["model"] == str(model)
    records = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert {tuple(r["answers"]) for r in records} == {("red",), ("on the table", "on the desk")}
    (tmp_path / "subset.json").write_text(json.dumps(["a"]))
    proc = _run("eval", "openeqa", "--qa", str(tmp_path / "qa.json"), "--frames", str(root), "--model", str(model),
                "--out", str(tmp_path / "run2"), "--subset", str(tmp_path / "subset.json"), "--no-meteor",
                "--views", "2", "--max-new-tokens", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["n"] == 1


def _tiny_llava(path: Path) -> Path:
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from tests.policies.qa.test_llava_adapter import tiny_tokenizer

    vc = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          image_size=56, patch_size=14)  # fmt: skip
    tc = LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=64)  # fmt: skip
    torch.manual_seed(0)
    LlavaForConditionalGeneration._from_config(
        LlavaConfig(vision_config=vc, text_config=tc, image_token_index=60)
    ).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path
