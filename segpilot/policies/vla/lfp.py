"""LFP-Routing and CAtten (CogVLA) around transformers' Llama decoder layers.

- CAtten: vision and language attend causally; the action placeholder block attends to
  everything before it and bidirectionally within itself, so one forward pass decodes a
  whole chunk. Padding keys are masked out.
- LFP-Routing: before each layer a router, FiLM-conditioned on the mean text hidden state,
  scores the visual tokens (Linear(hidden, 2) -> softmax, the "keep" probability). The layer
  runs on the top r_l share of visual tokens plus every text and action token; dropped
  visual tokens skip it unchanged (mixture-of-depths). The kept visual tokens' MLP output is
  scaled by their router weight, which is how the router gets a gradient.
  r_l = max(floor, cos(l * pi / L) / 2 + 0.5) (the shifted cosine), so layer 0 keeps all.
With routing off the layer computes exactly `LlamaDecoderLayer.forward` (tested).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from segpilot.policies.vla.efa import FiLM


def keep_ratio(layer: int, n_layers: int, floor: float = 0.15) -> float:
    """CogVLA's shifted-cosine share of visual tokens layer `layer` (0-based) keeps."""
    return max(floor, math.cos(layer * math.pi / n_layers) / 2 + 0.5)


def keep_counts(n_visual: int, n_layers: int, floor: float = 0.15) -> list[int]:
    """Visual tokens each layer keeps: round(r_l * N), at least one when there are any."""
    return [min(n_visual, max(1, round(keep_ratio(i, n_layers, floor) * n_visual))) if n_visual else 0
            for i in range(n_layers)]  # fmt: skip


def catten_mask(n_prefix: int, n_action: int, key_valid: Tensor | None = None) -> Tensor:
    """(B or 1, 1, N, N) boolean "may attend": causal over the prefix, bidirectional in the action block."""
    n = n_prefix + n_action
    allowed = torch.ones(n, n).tril().bool()
    allowed[n_prefix:, n_prefix:] = True
    allowed = allowed[None, None]
    if key_valid is not None:
        allowed = allowed & key_valid[:, None, None, :].bool()
        allowed = allowed | torch.eye(n, dtype=torch.bool)  # a padding query still attends to itself
    return allowed


def additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Boolean "may attend" -> the additive float mask transformers' attention takes."""
    return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)


class RoutedLayer(nn.Module):
    """One Llama decoder layer with an LFP router in front of it."""

    def __init__(self, layer: nn.Module, hidden: int):
        super().__init__()
        self.layer = layer
        self.film = FiLM(hidden, hidden)
        self.router = nn.Linear(hidden, 2)

    def scores(self, visual: Tensor, text_mean: Tensor) -> Tensor:
        """(B, Nv) probability that each visual token is worth this layer's compute."""
        return torch.softmax(self.router(self.film(visual, text_mean)), dim=-1)[..., 1]

    def forward(self, x: Tensor, mask: Tensor, cos: Tensor, sin: Tensor, n_visual: int, keep: int | None,
                text_mean: Tensor) -> Tensor:  # fmt: skip
        """x (B, N, H) with the visual tokens first; keep = None runs every token (routing off)."""
        if keep is None or keep >= n_visual:
            idx = torch.arange(x.shape[1]).expand(x.shape[0], -1)
            weight = torch.ones(x.shape[:2], dtype=x.dtype)
            if keep is not None and n_visual:
                weight[:, :n_visual] = self.scores(x[:, :n_visual], text_mean)
        else:
            score = self.scores(x[:, :n_visual], text_mean)
            top = torch.topk(score, keep, dim=1).indices.sort(dim=1).values
            rest = torch.arange(n_visual, x.shape[1]).expand(x.shape[0], -1)
            idx = torch.cat([top, rest], dim=1)
            weight = torch.cat([torch.gather(score, 1, top), torch.ones(rest.shape, dtype=x.dtype)], dim=1)
        sub = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))
        sub_mask = torch.gather(torch.gather(mask.expand(x.shape[0], -1, -1, -1), 2,
                                             idx[:, None, :, None].expand(-1, 1, -1, mask.shape[-1])), 3,
                                idx[:, None, None, :].expand(-1, 1, idx.shape[1], -1))  # fmt: skip
        pos = (torch.gather(cos, 1, idx[..., None].expand(-1, -1, cos.shape[-1])),
               torch.gather(sin, 1, idx[..., None].expand(-1, -1, sin.shape[-1])))  # fmt: skip
        layer = self.layer
        h = sub + layer.self_attn(layer.input_layernorm(sub), position_embeddings=pos, attention_mask=sub_mask)[0]
        out = h + weight[..., None] * layer.mlp(layer.post_attention_layernorm(h))
        return x.scatter(1, idx[..., None].expand(-1, -1, x.shape[2]), out)


def lm_flops(policy, n_visual: int, n_text: int, routing: bool) -> float:
    """Forward FLOPs of the language layers for one chunk."""
    cfg = policy.lm_config
    h, inter = cfg.hidden_size, cfg.intermediate_size
    per_token = 2 * (4 * h * h + 3 * h * inter)
    keeps = (
        keep_counts(n_visual, cfg.num_hidden_layers, policy.config.lfp_floor)
        if routing
        else [n_visual] * len(policy.layers)
    )
    total = 0.0
    for keep in keeps:
        n = keep + n_text + policy.n_action
        total += per_token * n + 4 * n * n * h
    return total
