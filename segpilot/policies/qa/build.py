"""Random-init LLaVA-architecture models of a given size (training from scratch, latency benches)."""

from __future__ import annotations

import torch


def build_llava(
    image_size: int, patch_size: int, vision_hidden: int, vision_layers: int, lm_hidden: int, lm_layers: int,
    lm_intermediate: int, vocab: int, image_token: int, seed: int = 0, vision_feature_layer: int = -2,
    **text_kwargs,
):  # fmt: skip
    """CLIP tower + projector + Llama LM, 64-wide attention heads, LLaVA's default feature selection."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=4 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=max(1, vision_hidden // 64),
        image_size=image_size,
        patch_size=patch_size,
    )
    heads = max(1, lm_hidden // 64)
    text = LlamaConfig(
        hidden_size=lm_hidden,
        intermediate_size=lm_intermediate,
        num_hidden_layers=lm_layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        vocab_size=vocab,
        **text_kwargs,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token,
        vision_feature_layer=vision_feature_layer,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration._from_config(config)
