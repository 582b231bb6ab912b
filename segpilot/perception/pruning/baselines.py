"""Baselines every pruning study reports: random, uniform (strided) and saliency (top-k)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from segpilot.perception.pruning.base import BudgetedPruner
from segpilot.perception.pruning.registry import register_pruner
from segpilot.perception.tokens import VisualTokens


@dataclass(frozen=True)
class _Seeded(BudgetedPruner):
    seed: int = 0
    """Seed of the method's random choices (ignored by deterministic methods)."""


@dataclass(frozen=True)
class SeedConfig:
    """Parameters of the `random` pruner (CLI flags and ROS parameters `random.<field>`)."""

    seed: int = 0
    """Seed of the random choice of tokens."""


@register_pruner("random")
class RandomPruner(_Seeded):
    """K tokens uniformly at random without replacement; reproducible from `seed`."""

    Config = SeedConfig

    name = "random"

    def _choose(self, tokens: VisualTokens, k: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed)  # CPU generator: same result on any device
        return torch.randperm(len(tokens), generator=gen)[:k].to(tokens.features.device)


@register_pruner("uniform")
class UniformPruner(_Seeded):
    """Strided selection: token floor(i * N / K) for i < K, i.e. evenly over views and patches."""

    name = "uniform"

    def _choose(self, tokens: VisualTokens, k: int) -> Tensor:
        return torch.div(torch.arange(k, device=tokens.features.device) * len(tokens), k, rounding_mode="floor")


@register_pruner("saliency")
class SaliencyPruner(_Seeded):
    """FasterVLM / VTC-CLS style: the K tokens with the highest encoder attention.

    Ties go to the lower index (stable sort), so the result is deterministic.
    """

    name = "saliency"

    def _choose(self, tokens: VisualTokens, k: int) -> Tensor:
        return torch.argsort(tokens.saliency, descending=True, stable=True)[:k]
