"""The `Pruner` protocol and the budget rules every pruner shares.

A pruner is a pure function of (tokens, budget, query) -> kept indices. It never mutates the
tokens or any model, so it can sit in a ROS node, a batch evaluator or a training loop alike.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.perception.tokens import VisualTokens

Budget = int | float


@runtime_checkable
class Pruner(Protocol):
    """Selects which visual tokens to keep.

    `select` returns exactly min(budget, N) distinct indices, sorted ascending (the order the
    tokens are fed to the language model: view-major, row-major patches), as a LongTensor on
    the tokens' device. Results are deterministic for a given `seed` of the pruner.
    """

    name: str

    def select(self, tokens: VisualTokens, budget: Budget, query: str | None = None) -> Tensor: ...


def resolve_budget(budget: Budget, n_tokens: int) -> int:
    """Number of tokens to keep: an int is a count, a float in [0, 1] a fraction of N.

    Counts above N keep everything; a fraction rounds to the nearest count (at least one
    token when the fraction is positive). Negative, NaN, bool or fractions above 1 are errors.
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise SegpilotError(f"budget must be an int count or a float fraction in [0, 1], got {budget!r}")
    if isinstance(budget, float):
        if math.isnan(budget) or budget < 0.0 or budget > 1.0:
            raise SegpilotError(f"a fractional budget must lie in [0, 1], got {budget}")
        count = round(budget * n_tokens)
        return max(count, 1) if budget > 0.0 and n_tokens > 0 else count
    if budget < 0:
        raise SegpilotError(f"budget must be >= 0 tokens, got {budget}")
    return min(budget, n_tokens)


def split_budget(counts: Tensor, total: int) -> Tensor:
    """Split `total` over groups of sizes `counts` as evenly as possible, never above a size.

    Water-filling: every group gets the same share, groups too small to take theirs give
    the rest to the others; left-over units go to the first groups. Loops over groups only.
    """
    counts = counts.to(torch.long).cpu()
    share = torch.zeros_like(counts)
    remaining = min(int(total), int(counts.sum()))
    open_ = counts > 0
    while remaining > 0 and bool(open_.any()):
        n_open = int(open_.sum())
        each = remaining // n_open
        if each == 0:  # hand out single units to the first open groups
            first = torch.nonzero(open_).flatten()[:remaining]
            share[first] += 1
            break
        room = counts - share
        give = torch.where(open_, torch.clamp(room, max=each), torch.zeros_like(room))
        share += give
        remaining -= int(give.sum())
        open_ = share < counts
    return share


def finalize(index: Tensor, n_tokens: int, k: int) -> Tensor:
    """Sort, check the contract (k distinct in-range indices) and return a LongTensor."""
    index = torch.sort(index.to(torch.long)).values
    if index.numel() != k or (k and (int(index[0]) < 0 or int(index[-1]) >= n_tokens)):
        raise AssertionError(f"pruner produced {index.numel()} indices for a budget of {k}")
    if k > 1 and bool((index[1:] == index[:-1]).any()):
        raise AssertionError("pruner produced duplicate indices")
    return index


def view_layout(view: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Padded per-view layout of flat tokens, without a loop over tokens.

    Returns (slot, counts, order): `order` sorts tokens by view (stable), `counts` (V,) are
    tokens per view, and `slot` (V, T_max) holds flat token indices, -1 for padding.
    """
    _, inverse, counts = torch.unique(view, return_inverse=True, return_counts=True)
    order = torch.argsort(inverse, stable=True)
    n_views, t_max = counts.numel(), int(counts.max()) if counts.numel() else 0
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(view.numel(), device=view.device) - starts[inverse[order]]
    slot = torch.full((n_views, t_max), -1, dtype=torch.long, device=view.device)
    slot[inverse[order], pos] = order
    return slot, counts, order


class BudgetedPruner:
    """Shared `select`: resolve the budget, answer keep-all / keep-none, check the contract.

    Subclasses implement `_choose(tokens, k)` for 0 < k < N and may return indices in any order.
    """

    name = ""

    def select(self, tokens: VisualTokens, budget: Budget, query: str | None = None) -> Tensor:
        n, device = len(tokens), tokens.features.device
        k = resolve_budget(budget, n)
        if k >= n:
            return torch.arange(n, device=device)
        if k == 0:
            return torch.zeros(0, dtype=torch.long, device=device)
        return finalize(self._choose(tokens, k), n, k)

    def _choose(self, tokens: VisualTokens, k: int) -> Tensor:
        raise NotImplementedError
