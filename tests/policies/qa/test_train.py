"""`segpilot train qa`: the shared-prefix loss is the one-sequence loss; a short run gives a loadable checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.policies.qa.position3d import POSITION_3D_CONFIG_KEY
from segpilot.sim.make_qa import make_qa
from segpilot.training.qa_train import (
    TrainConfig,
    build_model,
    build_tokenizer,
    countable,
    shared_prefix_loss,
    train,
)

TINY = dict(image_size=32, patch_size=16, vision_hidden=32, vision_layers=2, lm_hidden=32, lm_layers=1)


def test_a_short_run_gives_a_loadable_checkpoint_that_records_its_3d_embedding(tmp_path):
    make_qa(tmp_path / "data", 3, seed=50)
    cfg = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "model"), views=2, steps=4, tower_minutes=0.02,
                      tower_batch=4, **TINY)  # fmt: skip
    summary = train(cfg, progress=False)
    assert summary["steps_done"] == 4 and summary["tower"]["steps"] >= 1
    assert set(summary["tower"]["held_out_patch_accuracy"]) >= {"category_small", "colour_small", "place_small"}
    assert json.loads((tmp_path / "model" / "training_log.json").read_text())["config"]["steps"] == 4
    adapter = LlavaAdapter.from_pretrained(tmp_path / "model")
    assert adapter.use_3d_position and getattr(adapter.model.config, POSITION_3D_CONFIG_KEY)["unit"] == "m"
    assert not any("head" in k for k in adapter.model.state_dict() if k != "lm_head.weight")  # aux heads dropped
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
    with pytest.raises(SegpilotError, match="tower_minutes"):
        TrainConfig(tower_minutes=-1)


def test_shared_prefix_loss_equals_the_one_sequence_loss_inference_reads():
    """Each question's answer loss, computed on the full prompt as inference builds it (`prompt_embeddings`)
    and averaged over answer tokens, equals the batched loss with the visual prefix computed once."""
    items = [ScanQAItem("q0", "s", "What color is the sofa?", ["grey"]),
             ScanQAItem("q1", "s", "Where is the cup?", ["on the table"]),
             ScanQAItem("q2", "s", "How many cups are there in the room?", ["two", "2"])]  # fmt: skip
    tok = build_tokenizer(items)
    torch.manual_seed(0)
    adapter = LlavaAdapter(build_model(TrainConfig(**TINY), len(tok), tok.convert_tokens_to_ids("<image>")), tok)
    visual = torch.randn(5, 32)
    batched = shared_prefix_loss(adapter, visual, items)
    nll, count = 0.0, 0
    for item in items:
        prompt = adapter.prompt_embeddings(_Tokens(visual), torch.arange(5), item.question)
        answer = tok(" " + item.answers[0], add_special_tokens=False).input_ids + [tok.eos_token_id]
        seq = torch.cat([prompt[0], adapter.model.get_input_embeddings()(torch.tensor(answer[:-1]))])
        logits = adapter.model(inputs_embeds=seq[None]).logits[0]
        n = prompt.shape[1]
        nll += torch.nn.functional.cross_entropy(logits[n - 1 : n - 1 + len(answer)], torch.tensor(answer),
                                                 reduction="sum").item()  # fmt: skip
        count += len(answer)
    np.testing.assert_allclose(batched.item(), nll / count, rtol=1e-4)


def _grounded_questions_and_model():
    """Three questions with object ids and a tiny seeded model over their words."""
    items = [ScanQAItem("q0", "s", "What color is the sofa?", ["grey"], object_ids=(7,)),
             ScanQAItem("q1", "s", "Where is the cup?", ["on the table"], object_ids=(9,)),
             ScanQAItem("q2", "s", "How many cups are there?", ["two", "2"], object_ids=(9, 3))]  # fmt: skip
    tok = build_tokenizer(items)
    torch.manual_seed(0)
    return items, LlavaAdapter(build_model(TrainConfig(**TINY), len(tok), tok.convert_tokens_to_ids("<image>")), tok)


def test_packed_grounding_loss_equals_each_questions_own_sequence():
    """The grounding term read from the packed suffixes equals the one read from each question's own full prompt
    (middle-layer hidden state at its last prompt position against the visual tokens')."""
    items, adapter = _grounded_questions_and_model()
    visual, objects = torch.randn(6, 32), torch.tensor([0, 7, 7, 3, 9, 0])
    answer_only = shared_prefix_loss(adapter, visual, items).item()
    both = shared_prefix_loss(adapter, visual, items, objects, grounding_weight=0.7).item()
    lm = adapter.model.model.language_model
    layer, terms = len(lm.layers) // 2, []
    n_pre, prefix_keys = _visual_hidden(lm, adapter, visual, layer)
    for item in items:
        prompt = adapter.prompt_embeddings(_Tokens(visual), torch.arange(6), item.question)
        hidden = lm(inputs_embeds=prompt, output_hidden_states=True).hidden_states[layer][0]
        keys = hidden[n_pre : n_pre + 6]
        np.testing.assert_allclose(keys.detach().numpy(), prefix_keys, atol=1e-5)  # the same visual positions
        scores = hidden[-1] @ keys.T / keys.shape[1] ** 0.5
        target = torch.isin(objects, torch.tensor(item.object_ids))
        terms.append((torch.logsumexp(scores, 0) - torch.logsumexp(scores[target], 0)).item())
    np.testing.assert_allclose(both, answer_only + 0.7 * np.mean(terms), rtol=1e-5)



@pytest.mark.parametrize("pad_to", [1, 8, 64])
def test_padding_to_fixed_shapes_leaves_the_loss_and_its_gradients_unchanged(pad_to):
    """Padding the prefix and the packed suffixes (for bfloat16 autocast's per-shape kernels) adds positions nothing
    attends to and no loss reads: the same loss and the same gradients, grounding term included."""
    items, adapter = _grounded_questions_and_model()
    visual, objects = torch.randn(7, 32), torch.tensor([0, 7, 7, 3, 9, 0, 9])
    results = []
    for pad in (0, pad_to):
        adapter.model.zero_grad()
        loss = shared_prefix_loss(adapter, visual, items, objects, grounding_weight=0.5, pad_to=pad)
        loss.backward()
        grads = [p.grad.clone() for p in adapter.model.model.language_model.parameters() if p.grad is not None]
        results.append((loss.item(), grads))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    assert len(results[0][1]) == len(results[1][1]) > 0
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)

def _visual_hidden(lm, adapter, visual, layer):
    """Middle-layer hidden states of the visual tokens when the prompt prefix runs alone (what the loss reads)."""
    from segpilot.policies.qa.llava import DEFAULT_TEMPLATE, IMAGE_PLACEHOLDER

    before = DEFAULT_TEMPLATE.split(IMAGE_PLACEHOLDER)[0]
    pre = adapter.model.get_input_embeddings()(adapter.tokenizer(before, return_tensors="pt").input_ids[0])
    hidden = lm(inputs_embeds=torch.cat([pre, visual])[None], output_hidden_states=True).hidden_states[layer][0]
    return len(pre), hidden[len(pre) :].detach().numpy()


class _Tokens:
    """Visual tokens already in LM space, without a position (what the trainer passes as `visual`)."""

    def __init__(self, visual):
        self.visual, self.xyz = visual, torch.full((len(visual), 3), float("nan"))

    def lm_embeddings(self, kept):
        return self.visual[kept]


def test_grounding_loss_points_the_question_at_its_objects_tokens():
    items = [ScanQAItem("q0", "s", "What color is the sofa?", ["grey"], object_ids=(7,)),
             ScanQAItem("q1", "s", "Where is the cup?", ["on the table"], object_ids=(9,))]  # fmt: skip
    tok = build_tokenizer(items)
    torch.manual_seed(0)
    adapter = LlavaAdapter(build_model(TrainConfig(**TINY), len(tok), tok.convert_tokens_to_ids("<image>")), tok)
    visual = torch.randn(6, 32, requires_grad=True)
    objects = torch.tensor([0, 7, 7, 3, 9, 0])
    answer_only = shared_prefix_loss(adapter, visual, items)
    both = shared_prefix_loss(adapter, visual, items, objects, grounding_weight=1.0)
    assert both.item() > answer_only.item()  # -log of the mass on the right tokens is > 0
    both.backward()
    assert visual.grad is not None and visual.grad.abs().sum() > 0
    # questions whose objects were pruned away add nothing
    none_kept = shared_prefix_loss(adapter, visual, items, torch.zeros(6, dtype=torch.long), grounding_weight=1.0)
    np.testing.assert_allclose(none_kept.item(), answer_only.item(), rtol=1e-6)



def test_a_bfloat16_autocast_run_trains_and_saves_float32_weights(tmp_path):
    make_qa(tmp_path / "data", 2, seed=51)
    cfg = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "model"), views=2, steps=3, tower_minutes=0,
                      bf16_autocast=True, **TINY)  # fmt: skip
    summary = train(cfg, progress=False)
    assert summary["steps_done"] == 3 and summary["config"]["bf16_autocast"]
    adapter = LlavaAdapter.from_pretrained(tmp_path / "model")
    assert {p.dtype for p in adapter.model.parameters()} == {torch.float32}
    assert all(torch.isfinite(p).all() for p in adapter.model.parameters())


def test_countable_keeps_a_count_only_when_every_counted_object_has_a_kept_token():
    count = ScanQAItem("q0", "s", "How many cups are there in the room?", ("two",), object_ids=(4, 7),
                       question_type="number")  # fmt: skip
    colour = ScanQAItem("q1", "s", "What color is the cup?", ("red",), object_ids=(4,), question_type="color")
    both = torch.tensor([0, 4, 4, 7])
    assert countable([count, colour], both) == [count, colour]
    assert countable([count, colour], torch.tensor([0, 4, 4])) == [colour]  # cup 7 pruned away: a wrong label
    assert countable([count, colour], torch.tensor([], dtype=torch.long)) == [colour]


def test_a_run_with_visible_counts_only_trains_and_records_it(tmp_path):
    make_qa(tmp_path / "data", 2, seed=51)
    cfg = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "model"), views=2, steps=3, tower_minutes=0,
                      visible_counts_only=True, full_token_share=0.0, **TINY)  # fmt: skip
    summary = train(cfg, progress=False)
    assert 1 <= summary["steps_done"] <= 3
    assert json.loads((tmp_path / "model" / "training_log.json").read_text())["config"]["visible_counts_only"]
