"""Contract every registered pruner honours (lerobot-style: parametrised over the registry)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segpilot.errors import SegpilotError
from segpilot.perception.pruning.registry import available_pruners, make_pruner
from segpilot.perception.tokens import VisualTokens
from tests.conftest import make_tokens

METHODS = available_pruners()
SEGPRUNER_MODES = [("segpruner", {"mode": m}) for m in ("per_view", "global", "hierarchical")]
CASES = [(m, {}) for m in METHODS] + SEGPRUNER_MODES


def _check(idx: torch.Tensor, n: int, k: int) -> None:
    assert idx.dtype == torch.long
    assert idx.numel() == min(k, n)
    assert len(set(idx.tolist())) == idx.numel()
    if idx.numel():
        assert int(idx.min()) >= 0 and int(idx.max()) < n
        assert torch.equal(idx, torch.sort(idx).values)


@pytest.mark.parametrize("name,params", CASES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_views=st.integers(1, 4),
    grid=st.integers(1, 6),
    dim=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    budget=st.integers(0, 200),
    nan_share=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_exact_budget_distinct_sorted_deterministic(name, params, n_views, grid, dim, seed, budget, nan_share):
    tokens = make_tokens(n_views, grid, dim, seed, nan_share)
    pruner = make_pruner(name, **params)
    first = pruner.select(tokens, budget)
    _check(first, len(tokens), budget)
    assert torch.equal(first, make_pruner(name, **params).select(tokens, budget))


@pytest.mark.parametrize("name,params", CASES)
def test_fraction_budgets_and_edges(name, params):
    tokens = make_tokens(3, 6, 8, seed=1)
    n = len(tokens)
    pruner = make_pruner(name, **params)
    _check(pruner.select(tokens, 0.09), n, round(0.09 * n))
    assert pruner.select(tokens, 0).numel() == 0
    assert pruner.select(tokens, 0.0).numel() == 0
    assert torch.equal(pruner.select(tokens, n + 50), torch.arange(n))
    assert torch.equal(pruner.select(tokens, 1.0), torch.arange(n))
    with pytest.raises(SegpilotError, match="budget"):
        pruner.select(tokens, -1)
    with pytest.raises(SegpilotError, match="budget"):
        pruner.select(tokens, 1.5)


@pytest.mark.parametrize("name,params", CASES)
def test_single_view_and_identical_tokens(name, params):
    one_view = make_tokens(1, 5, 4, seed=3)
    _check(make_pruner(name, **params).select(one_view, 7), len(one_view), 7)
    # All tokens identical (features, saliency, position): ties everywhere, still exact.
    same = VisualTokens.from_views(torch.ones(2, 9, 4), torch.zeros(2, 9), torch.zeros(2, 9, 3), (3, 3))
    _check(make_pruner(name, **params).select(same, 5), 18, 5)


@pytest.mark.parametrize("name,params", CASES)
def test_empty_tokens(name, params):
    empty = VisualTokens.from_views(torch.zeros(0, 4, 3), torch.zeros(0, 4), torch.zeros(0, 4, 3), (2, 2))
    assert make_pruner(name, **params).select(empty, 5).numel() == 0


def test_random_depends_on_seed():
    tokens = make_tokens(4, 6, 8)
    a = make_pruner("random", seed=1).select(tokens, 20)
    b = make_pruner("random", seed=2).select(tokens, 20)
    assert not torch.equal(a, b)
