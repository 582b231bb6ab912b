"""Shared fixtures: small deterministic token sets and the recorded habitat-sim frames."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from segpilot.perception.tokens import VisualTokens

REPO = Path(__file__).resolve().parents[1]
HABITAT_FIXTURES = Path(os.environ.get("SEGPILOT_SHARED", REPO.parent / "shared")) / "fixtures" / "habitat"


def make_tokens(n_views: int = 4, grid: int = 5, dim: int = 16, seed: int = 0, nan_share: float = 0.1) -> VisualTokens:
    """Random tokens with some missing positions; deterministic for a seed."""
    gen = torch.Generator().manual_seed(seed)
    t = grid * grid
    feats = torch.randn(n_views, t, dim, generator=gen)
    sal = torch.rand(n_views, t, generator=gen)
    xyz = torch.rand(n_views, t, 3, generator=gen) * 4.0
    xyz[torch.rand(n_views, t, generator=gen) < nan_share] = float("nan")
    return VisualTokens.from_views(feats, sal, xyz, (grid, grid))


def shared_fixture(name: str) -> Path:
    """../shared/fixtures/<name>: CI (SEGPILOT_REQUIRE_FIXTURES) fails without it, elsewhere the test skips."""
    path = HABITAT_FIXTURES.parent / name
    if not path.is_dir():
        if os.environ.get("SEGPILOT_REQUIRE_FIXTURES"):
            pytest.fail(f"{name} fixtures not found at {path}")
        pytest.skip(f"{name} fixtures not found at {path} (set SEGPILOT_SHARED)")
    return path


@pytest.fixture
def habitat_dir() -> Path:
    return shared_fixture("habitat")
