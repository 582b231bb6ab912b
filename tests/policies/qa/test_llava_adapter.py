"""LLaVA adapter on a tiny random-init model built offline from configs, with an in-process tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.frame import Frame
from segpilot.perception.encoders.base import to_pixel_values
from segpilot.perception.pruning.registry import make_pruner
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.policies.qa.position3d import sinusoidal_xyz

WORDS = ["<unk>", "<s>", "</s>", "USER:", "ASSISTANT:", "what", "color", "is", "the", "chair", "?", "red", "blue"]
IMAGE_TOKEN = 60


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


@pytest.fixture(scope="module")
def model():
    vc = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                          image_size=56, patch_size=14)  # fmt: skip
    tc = LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=64)  # fmt: skip
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=IMAGE_TOKEN, vision_feature_layer=-2,
                      vision_feature_select_strategy="default")  # fmt: skip
    torch.manual_seed(0)
    return LlavaForConditionalGeneration._from_config(cfg).eval()


def _frames(n=2):
    rng = np.random.default_rng(0)
    cam = PinholeCamera(40.0, 40.0, 31.5, 23.5, 64, 48)
    return [Frame(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), np.full((48, 64), 2.0 + i, np.float32), cam,
                  np.eye(4)) for i in range(n)]  # fmt: skip


def test_nothing_pruned_equals_the_models_own_path(model):
    adapter = LlavaAdapter(model, tiny_tokenizer())
    frames = _frames(1)
    tokens = adapter.encode(frames)
    assert len(tokens) == 16 and tokens.grid_hw == (4, 4)
    ours = adapter.logits(tokens, torch.arange(16), "what color is the chair ?")
    tok = adapter.tokenizer
    before = tok("USER: ", return_tensors="pt").input_ids[0]
    after = tok("\nwhat color is the chair ? ASSISTANT:", add_special_tokens=False, return_tensors="pt").input_ids[0]
    ids = torch.cat([before, torch.full((16,), IMAGE_TOKEN), after])[None]
    px = to_pixel_values([frames[0].rgb], 56, adapter.vision.mean, adapter.vision.std)
    with torch.no_grad():
        ref = model(input_ids=ids, pixel_values=px).logits
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("method", ["segpruner", "random", "saliency"])
def test_pruned_paths_run_and_honour_the_budget(model, method):
    adapter = LlavaAdapter(model, tiny_tokenizer(), use_3d_position=True)
    tokens = adapter.encode(_frames(2))
    kept = make_pruner(method).select(tokens, 0.25)
    ans = adapter.answer(tokens, kept, "what color is the chair ?", max_new_tokens=3)
    assert len(ans.kept) == 8 and ans.n_tokens == 32
    assert set(ans.timings) == {"prefix", "prefill", "decode"}
    full = adapter.prompt_embeddings(tokens, torch.arange(32), "what color is the chair ?")
    pruned = adapter.prompt_embeddings(tokens, kept, "what color is the chair ?")
    assert full.shape[1] - pruned.shape[1] == 24


def test_position_embedding():
    xyz = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [float("nan")] * 3])
    emb = sinusoidal_xyz(xyz, 48)
    assert emb.shape == (3, 48) and torch.all(emb[2] == 0)
    assert not torch.allclose(emb[0], emb[1])


def test_bad_inputs(model, tmp_path):
    adapter = LlavaAdapter(model, tiny_tokenizer())
    tokens = adapter.encode(_frames(1))
    with pytest.raises(SegpilotError, match="empty"):
        adapter.answer(tokens, torch.arange(4), "   ")
    with pytest.raises(SegpilotError, match="no config.json"):
        LlavaAdapter.from_pretrained(tmp_path)
    with pytest.raises(SegpilotError, match="exactly one <image>"):
        LlavaAdapter(model, tiny_tokenizer(), template="{question}")


def test_round_trip_through_a_local_folder(model, tmp_path):
    model.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    adapter = LlavaAdapter.from_pretrained(tmp_path)
    tokens = adapter.encode(_frames(1))
    assert adapter.answer(tokens, torch.arange(16), "what color is the chair ?", max_new_tokens=2).n_tokens == 16


def test_the_shared_prefix_cache_answers_like_the_whole_prompt(model):
    """Questions about the same kept tokens reuse one KV cache of the prompt up to the visual tokens; every answer
    equals greedy decoding of the whole prompt, and another kept set gets its own prefix."""
    from segpilot.policies.qa.base import crop_cache, greedy_generate

    adapter = LlavaAdapter(model, tiny_tokenizer(), use_3d_position=True)
    tokens = adapter.encode(_frames(2))
    questions = ["what color is the chair ?", "where is the table ?", "what is on the table ?"]
    for kept in (torch.arange(32), make_pruner("segpruner").select(tokens, 0.25)):
        first = None
        for q in questions:
            ans = adapter.answer(tokens, kept, q, max_new_tokens=4)
            first = first or adapter._prefix
            assert adapter._prefix is first  # computed once for this kept set
            whole, _ = greedy_generate(adapter.model, adapter.prompt_embeddings(tokens, kept, q), 4,
                                       adapter.tokenizer.eos_token_id)  # fmt: skip
            assert ans.text == adapter.tokenizer.decode(whole, skip_special_tokens=True).strip()
            with torch.inference_mode():
                cached = adapter.model(inputs_embeds=adapter.prompt_embeddings(tokens, kept, q)).logits[0, -1]
                cache, n = adapter._prefix_cache(tokens, kept)
                ids = adapter.tokenizer(f"\n{q} ASSISTANT:", add_special_tokens=False, return_tensors="pt").input_ids
                split = adapter.model(inputs_embeds=adapter.model.get_input_embeddings()(ids), past_key_values=cache,
                                      use_cache=True).logits[0, -1]  # fmt: skip
                crop_cache(cache, n)
            torch.testing.assert_close(split, cached, rtol=1e-4, atol=1e-5)


def test_a_view_cache_encodes_each_keyframe_once_and_changes_nothing(model):
    """scene_qa's keyframe set grows by one view at a time: with the view cache each new keyframe set encodes only
    its new views, and tokens, kept indices and answers equal those of a pipeline that re-encodes everything."""
    from segpilot.pipeline import PruneConfig
    from segpilot.policies.qa.pipeline import QAPipeline

    config = PruneConfig(views=3, view_selection="uniform", budget_fraction=0.5)
    frames = _frames(5)
    for i, f in enumerate(frames):
        f.T_world_cam[0, 3] = 0.5 * i
    cached = QAPipeline(LlavaAdapter(model, tiny_tokenizer()), config, max_new_tokens=2, view_cache=8)
    plain = QAPipeline(LlavaAdapter(model, tiny_tokenizer()), config, max_new_tokens=2)
    encoded = []
    for n in (3, 4, 5):  # a keyframe arrives between questions
        a = cached.answer_frames(frames[:n], "what color is the chair ?", key=f"0-{n}")
        b = plain.answer_frames(frames[:n], "what color is the chair ?", key=f"0-{n}")
        pa, pb = cached.prepare_frames(frames[:n], f"0-{n}"), plain.prepare_frames(frames[:n], f"0-{n}")
        torch.testing.assert_close(pa.tokens.features, pb.tokens.features)
        assert torch.equal(pa.tokens.view, pb.tokens.view) and torch.equal(pa.kept, pb.kept)
        assert a.text == b.text and a.kept == b.kept
        assert a.timings["encode"] > 0
        encoded.append(cached.view_cache.encoded_views)
        again = cached.answer_frames(frames[:n], "what is the chair ?", key=f"0-{n}")
        assert again.timings["encode"] == 0.0 and again.timings["prune"] == 0.0  # this question's cost, not a copy
    # uniform 3 of 3, 4, 5 frames picks views {0,1,2}, {0,1,2}, {0,1,3}: 3 + 0 + 1 encodes instead of 9
    assert encoded == [3, 3, 4]
