"""EFA-Routing (CogVLA): instruction-FiLM inside every vision block and aggregation tokens.

Each vision stream is a ViT whose blocks are followed by FiLM from the mean instruction
embedding, x <- x * (1 + gamma) + beta, so what the encoder keeps depends on the task.
Learnable aggregation tokens are appended to the patches; only they leave the encoder, so
the LM sees `aggregation_tokens` per stream instead of every patch. The FiLM projections
start at zero (identity), so training starts from a plain ViT. With two streams (here RGB
and depth) a small instruction-conditioned router mixes their aggregation tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def instruction_condition(embed: nn.Embedding, words: Tensor, word_valid: Tensor) -> Tensor:
    """Mean embedding of the instruction's words (B, dim): the FiLM and router condition."""
    text = embed(words)
    valid = word_valid.to(text.dtype)[..., None]
    return (text * valid).sum(1) / valid.sum(1).clamp(min=1)


class FiLM(nn.Module):
    """x * (1 + gamma) + beta with gamma, beta = Linear(condition); zero-initialised (identity)."""

    def __init__(self, cond_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        gamma, beta = self.proj(cond).unsqueeze(1).chunk(2, dim=-1)
        return x * (1 + gamma) + beta


class EFAEncoder(nn.Module):
    """A ViT over one image stream with FiLM after every block and appended aggregation tokens."""

    def __init__(self, in_channels: int, image_size: int, patch_size: int, dim: int, layers: int, heads: int,
                 aggregation_tokens: int, cond_dim: int):  # fmt: skip
        super().__init__()
        self.n_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.position = nn.Parameter(torch.randn(self.n_patches + aggregation_tokens, dim) * 0.02)
        self.aggregation = nn.Parameter(torch.randn(aggregation_tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )  # fmt: skip
            for _ in range(layers)
        )
        self.films = nn.ModuleList(FiLM(cond_dim, dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, images: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W), (B, cond_dim) -> aggregation tokens (B, A, dim) and patch tokens (B, P, dim)."""
        patches = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([patches, self.aggregation.expand(len(images), -1, -1)], dim=1) + self.position
        for block, film in zip(self.blocks, self.films, strict=True):
            x = film(block(x), cond)
        x = self.norm(x)
        return x[:, self.n_patches :], x[:, : self.n_patches]


class StreamRouter(nn.Module):
    """Instruction-conditioned softmax weights over vision streams, mixing their aggregation tokens."""

    def __init__(self, cond_dim: int, streams: int):
        super().__init__()
        self.proj = nn.Linear(cond_dim, streams)

    def forward(self, per_stream: list[Tensor], cond: Tensor) -> Tensor:
        weights = torch.softmax(self.proj(cond), dim=-1)  # (B, S)
        return sum(w[:, None, None] * x for w, x in zip(weights.unbind(-1), per_stream, strict=True))
