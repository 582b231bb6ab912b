"""LLaVA-OneVision adapter on a tiny random-init SigLIP + Qwen2 model built offline from configs."""

from __future__ import annotations

import pytest
import torch
from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, Qwen2Config, SiglipVisionConfig

from segpilot.errors import SegpilotError
from segpilot.perception.encoders.base import to_pixel_values
from segpilot.perception.pruning.registry import make_pruner
from segpilot.policies.qa.onevision import OneVisionAdapter
from segpilot.policies.qa.pipeline import load_adapter
from tests.policies.qa.test_llava_adapter import IMAGE_TOKEN, _frames, tiny_tokenizer

TEMPLATE = "USER: <image>\n{question} ASSISTANT:"


@pytest.fixture(scope="module")
def model():
    vc = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            image_size=56, patch_size=14)  # fmt: skip
    tc = Qwen2Config(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=64)  # fmt: skip
    cfg = LlavaOnevisionConfig(vision_config=vc, text_config=tc, image_token_index=IMAGE_TOKEN, vision_feature_layer=-1,
                               vision_feature_select_strategy="full")  # fmt: skip
    torch.manual_seed(0)
    return LlavaOnevisionForConditionalGeneration._from_config(cfg).eval()


def test_nothing_pruned_equals_the_models_own_multi_image_path(model):
    adapter = OneVisionAdapter(model, tiny_tokenizer(), template=TEMPLATE)
    frames = _frames(2)
    tokens = adapter.encode(frames)
    assert len(tokens) == 32 and tokens.grid_hw == (4, 4)
    ours = adapter.logits(tokens, torch.arange(32), "what color is the chair ?")
    tok = adapter.tokenizer
    before = tok("USER: ", return_tensors="pt").input_ids[0]
    after = tok("\nwhat color is the chair ? ASSISTANT:", add_special_tokens=False, return_tensors="pt").input_ids[0]
    # Each view: 16 patch tokens + the image_newline token, as OneVision's multi-image mode packs it.
    ids = torch.cat([before, torch.full((2 * 17,), IMAGE_TOKEN), after])[None]
    px = to_pixel_values([f.rgb for f in frames], 56, adapter.vision.mean, adapter.vision.std)[:, None]
    with torch.no_grad():
        ref = model(input_ids=ids, pixel_values=px, image_sizes=torch.tensor([[56, 56]] * 2),
                    batch_num_images=torch.tensor([2])).logits  # fmt: skip
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5)


def test_pruned_path_closes_each_view_with_its_newline(model):
    adapter = OneVisionAdapter(model, tiny_tokenizer(), template=TEMPLATE)
    tokens = adapter.encode(_frames(3))
    kept = make_pruner("segpruner").select(tokens, 0.25)
    emb = adapter.visual_embeddings(tokens, kept)
    views = len(set(tokens.view[kept].tolist()))
    assert emb.shape[0] == len(kept) + views
    newline = model.model.image_newline
    assert sum(bool(torch.equal(row, newline)) for row in emb) == views
    ans = adapter.answer(tokens, kept, "what color is the chair ?", max_new_tokens=3)
    assert len(ans.kept) == 12 and ans.n_tokens == 48


def test_wrong_feature_strategy_is_refused(model):
    model.config.vision_feature_select_strategy = "default"
    try:
        with pytest.raises(SegpilotError, match="'full'"):
            OneVisionAdapter(model, tiny_tokenizer(), template=TEMPLATE)
    finally:
        model.config.vision_feature_select_strategy = "full"


def test_round_trip_through_a_local_folder(model, tmp_path):
    model.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    adapter = load_adapter(tmp_path, template=TEMPLATE)  # dispatched by config.json's model_type
    assert type(adapter) is OneVisionAdapter
    tokens = adapter.encode(_frames(1))
    assert adapter.answer(tokens, torch.arange(16), "what color is the chair ?", max_new_tokens=2).n_tokens == 16


def test_the_shared_prefix_cache_answers_like_the_whole_prompt(model):
    """OneVision shares LLaVA's scene prefix cache (views with their newlines); every greedy answer equals decoding
    the whole prompt (issue 20: a test per VLM family)."""
    from segpilot.policies.qa.base import greedy_generate

    adapter = OneVisionAdapter(model, tiny_tokenizer(), template=TEMPLATE)
    tokens = adapter.encode(_frames(3))
    for kept in (torch.arange(48), make_pruner("segpruner").select(tokens, 0.25)):
        first = None
        for q in ("what color is the chair ?", "where is the table ?", "what is on the table ?"):
            ans = adapter.answer(tokens, kept, q, max_new_tokens=4)
            first = first or adapter._prefix
            assert adapter._prefix is first
            whole, _ = greedy_generate(model, adapter.prompt_embeddings(tokens, kept, q), 4,
                                       adapter.tokenizer.eos_token_id)  # fmt: skip
            assert ans.text == adapter.tokenizer.decode(whole, skip_special_tokens=True).strip()
