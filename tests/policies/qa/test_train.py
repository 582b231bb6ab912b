"""`segpilot train qa` smoke test: a few steps on one generated room; the checkpoint loads and answers."""

from __future__ import annotations

import json
import random

import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.sim.make_qa import make_qa
from segpilot.training.qa_train import TrainConfig, train


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


def test_batched_loss_equals_the_one_sequence_definition():
    """logits[p] predicts token p + 1: the last prompt position predicts the first answer token."""
    from segpilot.eval.datasets.scanqa import ScanQAItem
    from segpilot.training.qa_train import _batch, answer_loss, build_model, build_tokenizer

    items = [ScanQAItem("q0", "s", "What color is the sofa?", ["grey"]),
             ScanQAItem("q1", "s", "Where is the cup?", ["on the table"])]  # fmt: skip
    tok = build_tokenizer(items)
    cfg = TrainConfig(image_size=32, patch_size=16, vision_hidden=32, vision_layers=2, lm_hidden=32, lm_layers=1)
    adapter = LlavaAdapter(build_model(cfg, len(tok), tok.convert_tokens_to_ids("<image>")), tok)
    inputs, mask, targets = _batch(adapter, torch.zeros(3, 32), items, random.Random(0))
    logits = torch.randn(*targets.shape, len(tok))
    per_item = []
    for b, item in enumerate(items):
        prompt = adapter.prompt_embeddings(_FakeTokens(), torch.arange(3), item.question)  # what inference feeds
        n_prompt = prompt.shape[1]
        answer = torch.tensor(tok(" " + item.answers[0], add_special_tokens=False).input_ids + [tok.eos_token_id])
        assert torch.allclose(inputs[b, :n_prompt], prompt[0])
        assert int(mask[b].sum()) == n_prompt + len(answer) - 1
        one = torch.nn.functional.cross_entropy(logits[b, n_prompt - 1 : n_prompt - 1 + len(answer)], answer,
                                                reduction="sum")  # fmt: skip
        per_item.append((one, len(answer)))
    expected = sum(x for x, _ in per_item) / sum(n for _, n in per_item)
    assert torch.allclose(answer_loss(logits, targets), expected)


class _FakeTokens:
    """Three zero visual tokens in LM space (what _batch gets as `visual`)."""

    xyz = torch.zeros(3, 3)

    def lm_embeddings(self, kept):
        return torch.zeros(len(kept), 32)
