"""Baselines every pruning study reports: random, uniform (strided) and saliency (top-k)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from segpilot.perception.pruning.base import Budget, finalize, resolve_budget
from segpilot.perception.pruning.registry import register_pruner
from segpilot.perception.tokens import VisualTokens


def _trivial(n: int, k: int, device: torch.device) -> Tensor | None:
    """The answer when there is nothing to choose (keep all or keep none)."""
    if k >= n:
        return torch.arange(n, device=device)
    if k == 0:
        return torch.zeros(0, dtype=torch.long, device=device)
    return None


@dataclass(frozen=True)
class _Seeded:
    seed: int = 0
    """Seed of the method's random choices (ignored by deterministic methods)."""


@register_pruner("random")
class RandomPruner(_Seeded):
    """K tokens uniformly at random without replacement; reproducible from `seed`."""

    name = "random"

    def select(self, tokens: VisualTokens, budget: Budget, query: str | None = None) -> Tensor:
        n, device = len(tokens), tokens.features.device
        k = resolve_budget(budget, n)
        if (done := _trivial(n, k, device)) is not None:
            return done
        gen = torch.Generator().manual_seed(self.seed)  # CPU generator: same result on any device
        return finalize(torch.randperm(n, generator=gen)[:k].to(device), n, k)


@register_pruner("uniform")
class UniformPruner(_Seeded):
    """Strided selection: token floor(i * N / K) for i < K, i.e. evenly over views and patches."""

    name = "uniform"

    def select(self, tokens: VisualTokens, budget: Budget, query: str | None = None) -> Tensor:
        n, device = len(tokens), tokens.features.device
        k = resolve_budget(budget, n)
        if (done := _trivial(n, k, device)) is not None:
            return done
        idx = torch.div(torch.arange(k, device=device) * n, k, rounding_mode="floor")
        return finalize(idx, n, k)


@register_pruner("saliency")
class SaliencyPruner(_Seeded):
    """FasterVLM / VTC-CLS style: the K tokens with the highest encoder attention.

    Ties go to the lower index (stable sort), so the result is deterministic.
    """

    name = "saliency"

    def select(self, tokens: VisualTokens, budget: Budget, query: str | None = None) -> Tensor:
        n, device = len(tokens), tokens.features.device
        k = resolve_budget(budget, n)
        if (done := _trivial(n, k, device)) is not None:
            return done
        order = torch.argsort(tokens.saliency, descending=True, stable=True)
        return finalize(order[:k], n, k)
