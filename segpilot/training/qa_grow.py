"""Deepening a trained QA model's language model without changing what it answers (block expansion).

The embedded model's 4-layer LM under-fits the questions that need several steps of reasoning over
many tokens: run 10 scored 30.5% on the counting questions of rooms it had trained on (67.6% over all
types), so more rooms alone do not help there; the LM needs depth. Training a deeper LM from scratch
would throw away hundreds of CPU-minutes, so new decoder layers are inserted into the trained one as
in LLaMA Pro's block expansion (Wu et al., 2024): each new layer is a copy of the layer before it with
its two output projections (attention `o_proj`, MLP `down_proj`) set to zero, so its residual branch
adds nothing and the grown model computes exactly what the trained one did; training then moves the
zeroed projections and the new layers start to contribute.

New layers are spread evenly: L trained layers and n new ones give n groups of L / n trained layers,
each followed by one new layer (4 + 2: t t n t t n).
"""

from __future__ import annotations

import copy

import torch

from segpilot.errors import SegpilotError


def grow_language_model(model, new_layers: int) -> list[int]:
    """Insert `new_layers` identity-initialised decoder layers into a Llama LM in place; returns their indices.

    `model` is a `LlavaForConditionalGeneration` (or anything whose `.model.language_model` has `.layers` and a
    Llama-style config); its config's `num_hidden_layers` and every attention's `layer_idx` (the KV-cache slot)
    are updated, so `save_pretrained` / `from_pretrained` and cached generation see the grown model."""
    lm = model.model.language_model
    old = list(lm.layers)
    if new_layers < 1 or new_layers > len(old):
        raise SegpilotError(f"grow_lm_layers must lie in 1..{len(old)} (one new layer per group of trained "
                            f"layers), got {new_layers}")  # fmt: skip
    ends = {round((g + 1) * len(old) / new_layers) - 1 for g in range(new_layers)}  # last trained layer of each group
    layers, added = [], []
    for i, layer in enumerate(old):
        layers.append(layer)
        if i in ends:
            new = copy.deepcopy(layer)
            with torch.no_grad():
                new.self_attn.o_proj.weight.zero_()
                new.mlp.down_proj.weight.zero_()
                for proj in (new.self_attn.o_proj, new.mlp.down_proj):
                    if proj.bias is not None:
                        proj.bias.zero_()
            added.append(len(layers))
            layers.append(new)
    lm.layers = torch.nn.ModuleList(layers)
    for idx, layer in enumerate(lm.layers):
        layer.self_attn.layer_idx = idx
    for cfg in {id(c): c for c in (lm.config, model.config.text_config)}.values():
        cfg.num_hidden_layers = len(layers)
        if getattr(cfg, "layer_types", None) is not None:
            cfg.layer_types = [cfg.layer_types[0]] * len(layers)
    return added
