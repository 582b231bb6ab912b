"""`segpilot train qa` smoke test: a few steps on one generated room; the checkpoint loads and answers."""

from __future__ import annotations

import json

import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.policies.qa.train import TrainConfig, train
from segpilot.sim.make_qa import make_qa


def test_a_few_steps_give_a_loadable_checkpoint(tmp_path):
    make_qa(tmp_path / "data", 1, seed=50)
    cfg = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "model"), views=2, image_size=32, patch_size=16,
                      vision_hidden=32, vision_layers=2, lm_hidden=32, lm_layers=1, steps=4)  # fmt: skip
    summary = train(cfg, progress=False)
    assert summary["steps_done"] == 4 and summary["log"][-1]["step"] == 4
    assert json.loads((tmp_path / "model" / "training_log.json").read_text())["config"]["steps"] == 4
    assert list((tmp_path / "model").glob("*.safetensors"))
    adapter = LlavaAdapter.from_pretrained(tmp_path / "model")
    tokens = adapter.encode(_frames(tmp_path / "data"))
    answer = adapter.answer(tokens, torch.arange(len(tokens)), "What color is the table?", max_new_tokens=3)
    assert isinstance(answer.text, str) and len(tokens) == 2 * 4


def _frames(data):
    from segpilot.eval.datasets.scannet import ScanNetScene

    scene = ScanNetScene(next((data / "scans").iterdir()))
    return scene.frames(scene.frame_ids[:2])


def test_bad_train_config():
    with pytest.raises(SegpilotError, match="multiple of patch_size"):
        TrainConfig(image_size=100, patch_size=16)
    with pytest.raises(SegpilotError, match="steps must be >= 1"):
        TrainConfig(steps=0)
