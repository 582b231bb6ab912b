"""`train qa --grow-lm-layers`: the grown LM first computes exactly what the trained one did, then can learn."""

from __future__ import annotations

import json

import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.sim.make_qa import make_qa
from segpilot.training.qa_grow import grow_language_model
from segpilot.training.qa_train import TrainConfig, build_model, build_tokenizer, train

TINY = dict(image_size=32, patch_size=16, vision_hidden=32, vision_layers=2, lm_hidden=32, lm_layers=4)


def _model():
    items = [ScanQAItem("q0", "scene0", "What color is the table?", answers=("red",), question_type="color")]
    tok = build_tokenizer(items)
    model = build_model(TrainConfig(**TINY), len(tok), tok.convert_tokens_to_ids("<image>"))
    with torch.no_grad():  # trained-looking weights: no zero projection that would make any layer an identity
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_grown_lm_gives_the_same_logits_and_its_new_layers_learn():
    model = _model()
    lm = model.model.language_model
    x = torch.randn(1, 9, 32)
    before = lm(inputs_embeds=x, output_hidden_states=True)
    added = grow_language_model(model, 2)
    assert added == [2, 5] and len(lm.layers) == 6  # t t n t t n
    assert model.config.text_config.num_hidden_layers == 6
    assert [layer.self_attn.layer_idx for layer in lm.layers] == list(range(6))
    after = lm(inputs_embeds=x, output_hidden_states=True)
    torch.testing.assert_close(after.last_hidden_state, before.last_hidden_state, rtol=0, atol=1e-6)
    torch.testing.assert_close(after.hidden_states[3], before.hidden_states[2], rtol=0, atol=1e-6)  # middle layer
    new = lm.layers[2]
    assert torch.equal(new.self_attn.q_proj.weight, lm.layers[1].self_attn.q_proj.weight)  # a copy of the one before
    assert new.self_attn.q_proj.weight.data_ptr() != lm.layers[1].self_attn.q_proj.weight.data_ptr()
    lm(inputs_embeds=x).last_hidden_state.square().sum().backward()
    assert new.self_attn.o_proj.weight.grad.abs().sum() > 0 and new.mlp.down_proj.weight.grad.abs().sum() > 0


def test_grow_rejects_impossible_depths():
    with pytest.raises(SegpilotError, match="grow_lm_layers must lie in 1..4"):
        grow_language_model(_model(), 5)
    with pytest.raises(SegpilotError, match="only with init_from"):
        TrainConfig(grow_lm_layers=1)


def test_a_continued_run_grows_saves_and_reloads_the_deeper_model(tmp_path):
    make_qa(tmp_path / "data", 2, seed=70)
    small = dict(TINY, lm_layers=2)
    first = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "a"), views=2, steps=2, tower_minutes=0,
                        **small)  # fmt: skip
    train(first, progress=False)
    grown = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "b"), views=2, steps=2, tower_minutes=0,
                        init_from=str(tmp_path / "a"), grow_lm_layers=1, **small)  # fmt: skip
    summary = train(grown, progress=False)
    assert summary["grown_lm_layers"] == {"inserted_at": [2], "lm_layers": 3}
    assert json.loads((tmp_path / "b" / "config.json").read_text())["text_config"]["num_hidden_layers"] == 3
    adapter = LlavaAdapter.from_pretrained(tmp_path / "b")
    assert len(adapter.model.model.language_model.layers) == 3
    tokens = adapter.encode(_frames(tmp_path / "data"))
    answer = adapter.answer(tokens, torch.arange(len(tokens)), "What color is the table?", max_new_tokens=3)
    assert isinstance(answer.text, str)  # cached generation runs over the renumbered layers


def _frames(data):
    from segpilot.eval.datasets.scannet import ScanNetScene

    scene = ScanNetScene(next((data / "scans").iterdir()))
    return scene.frames(scene.frame_ids[:2])
