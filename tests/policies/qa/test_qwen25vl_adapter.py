"""Qwen2.5-VL adapter on a tiny random-init model built offline: patches, multimodal RoPE, pruning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from segpilot.errors import SegpilotError
from segpilot.perception.pruning.registry import make_pruner
from segpilot.policies.qa.pipeline import load_adapter
from segpilot.policies.qa.qwen25vl import CLIP_MEAN, CLIP_STD, Qwen25VLAdapter
from tests.policies.qa.test_llava_adapter import _frames, tiny_tokenizer

TEMPLATE = "USER: <image>\n{question} ASSISTANT:"
QUESTION = "what color is the chair ?"
IMAGE, START, END = 60, 61, 62


@pytest.fixture(scope="module")
def model():
    cfg = Qwen2_5_VLConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=48,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1]),
        text_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=64, bos_token_id=1, eos_token_id=2,
                         rope_parameters={"rope_type": "default", "mrope_section": [2, 2, 2], "rope_theta": 1e4}),
        image_token_id=IMAGE, video_token_id=63, vision_start_token_id=START, vision_end_token_id=END,
    )  # fmt: skip
    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration._from_config(cfg).eval()


@pytest.fixture
def adapter(model):
    return Qwen25VLAdapter(model, tiny_tokenizer(), template=TEMPLATE, image_size=112)


def _reference_inputs(adapter, frames, tokens_per_view):
    tok = adapter.tokenizer
    before = tok("USER: ", add_special_tokens=False, return_tensors="pt").input_ids[0]
    after = tok(f"\n{QUESTION} ASSISTANT:", add_special_tokens=False, return_tensors="pt").input_ids[0]
    view = [START] + [IMAGE] * tokens_per_view + [END]
    ids = torch.cat([before, torch.tensor(view * len(frames)), after])[None]
    patches, grids = zip(*(adapter.pixel_values(f.rgb) for f in frames), strict=True)
    return {"input_ids": ids, "pixel_values": torch.cat(patches), "image_grid_thw": torch.cat(grids),
            "mm_token_type_ids": (ids == IMAGE).int()}  # fmt: skip


def test_patches_match_qwens_own_image_processor(adapter):
    from transformers import Qwen2VLImageProcessorPil

    rgb = np.random.default_rng(1).integers(0, 255, (84, 112, 3), dtype=np.uint8)
    proc = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=10**6, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    ref = proc(images=[rgb], return_tensors="pt")
    ours, grid = adapter.pixel_values(rgb)
    assert grid.tolist() == ref["image_grid_thw"].tolist() == [[1, 6, 8]]
    assert torch.allclose(ours, ref["pixel_values"], atol=1e-5)


def test_nothing_pruned_equals_the_models_own_path(adapter, model):
    frames = _frames(2)  # 48 x 64 -> 84 x 112 px -> 6 x 8 patches -> 3 x 4 merged tokens per view
    tokens = adapter.encode(frames)
    assert len(tokens) == 24 and tokens.grid_hw == (3, 4)
    ours = adapter.logits(tokens, torch.arange(24), QUESTION)
    with torch.no_grad():
        ref = model(**_reference_inputs(adapter, frames, 12)).logits
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5)


def test_unpruned_greedy_answer_equals_hf_generate(adapter, model):
    frames = _frames(1)
    tokens = adapter.encode(frames)
    ans = adapter.answer(tokens, torch.arange(12), QUESTION, max_new_tokens=5)
    inputs = _reference_inputs(adapter, frames, 12)
    model.model.rope_deltas = None
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False, eos_token_id=None, pad_token_id=0)
    expected = adapter.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert ans.text == expected


def test_kept_tokens_keep_their_positions(adapter):
    tokens = adapter.encode(_frames(2))
    full_emb, full_pos = adapter.prompt(tokens, torch.arange(24), QUESTION)
    kept = make_pruner("segpruner").select(tokens, 0.25)
    emb, pos = adapter.prompt(tokens, kept, QUESTION)
    assert full_emb.shape[1] - emb.shape[1] == 24 - len(kept) == 18
    ids, is_image = adapter.full_prompt_ids(2, 12, QUESTION)
    keep = ~is_image
    keep[torch.nonzero(is_image)[:, 0][torch.sort(kept).values]] = True
    assert torch.equal(pos, full_pos[:, :, keep])
    assert torch.equal(pos[:, 0, -1], full_pos[:, 0, -1])  # the text after the views does not move


@pytest.mark.parametrize("method", ["segpruner", "random", "saliency"])
def test_pruned_paths_run_and_honour_the_budget(model, method):
    adapter = Qwen25VLAdapter(model, tiny_tokenizer(), template=TEMPLATE, image_size=112, use_3d_position=True)
    tokens = adapter.encode(_frames(2))
    # Saliency is an attention distribution: each view's received attention sums to 1 over its patches.
    assert torch.allclose(tokens.saliency.reshape(2, -1).sum(1) * 4, torch.ones(2), atol=1e-4)
    kept = make_pruner(method).select(tokens, 0.25)
    ans = adapter.answer(tokens, kept, QUESTION, max_new_tokens=3)
    assert len(ans.kept) == 6 and ans.n_tokens == 24


def test_bad_inputs(model, tmp_path):
    with pytest.raises(SegpilotError, match="at least 28"):
        Qwen25VLAdapter(model, tiny_tokenizer(), template=TEMPLATE, image_size=20)
    adapter = Qwen25VLAdapter(model, tiny_tokenizer(), template=TEMPLATE, image_size=112)
    with pytest.raises(SegpilotError, match="empty"):
        adapter.answer(adapter.encode(_frames(1)), torch.arange(4), " ")
    with pytest.raises(SegpilotError, match="no config.json"):
        Qwen25VLAdapter.from_pretrained(tmp_path)


def test_round_trip_through_a_local_folder(model, tmp_path):
    model.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    adapter = load_adapter(tmp_path, template=TEMPLATE, image_size=112)  # dispatched by config.json's model_type
    assert type(adapter) is Qwen25VLAdapter
    tokens = adapter.encode(_frames(1))
    assert adapter.answer(tokens, torch.arange(12), QUESTION, max_new_tokens=2).n_tokens == 12


def test_the_shared_prefix_cache_answers_like_the_whole_prompt(model):
    """Questions about the same kept tokens reuse one KV cache of the views (issue 20); every greedy answer equals
    decoding the whole prompt with its multimodal RoPE positions, and another kept set gets its own prefix."""
    from segpilot.policies.qa.base import greedy_generate

    adapter = Qwen25VLAdapter(model, tiny_tokenizer(), template=TEMPLATE, image_size=112, use_3d_position=True)
    tokens = adapter.encode(_frames(2))
    questions = [QUESTION, "where is the table ?", "what is on the table ?"]
    for kept in (torch.arange(24), make_pruner("segpruner").select(tokens, 0.25)):
        first = None
        for q in questions:
            ans = adapter.answer(tokens, kept, q, max_new_tokens=4)
            first = first or adapter._prefix
            assert adapter._prefix is first and first[2] == adapter.prefix_length(tokens, kept)
            embeds, positions = adapter.prompt(tokens, kept, q)
            whole, _ = greedy_generate(model, embeds, 4, adapter.tokenizer.eos_token_id, position_ids=positions)
            assert ans.text == adapter.tokenizer.decode(whole, skip_special_tokens=True).strip()
            assert ans.timings["prefill"] > 0
