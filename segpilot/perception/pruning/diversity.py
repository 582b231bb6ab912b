"""Diversity baselines, all on the same exact greedy kernel as SeGPruner (`kernels.py`).

Greedy max-min selection (Gonzalez' k-center rule) is the core of DivPrune and ToDRE alike;
they differ in the distance and the first centre, and so do these:
- `divprune`: cosine distance between features, no attention - as DivPrune; the first centre
  is official DivPrune's: the token whose nearest neighbour is farthest (largest distance to
  its closest other token), then max-min.
- `kcenter`: ToDRE-style k-center over features seeded at the most salient token, so the
  cover grows from what the encoder attends to.
- `fps3d`: geometry-only farthest-point sampling of token positions (tokens without a
  position are taken last), first centre the token farthest from the positions' centroid.
- `mmr`: IDPruner-style maximal marginal relevance: score = theta * relevance
  - (1 - theta) * max similarity to the kept set, with relevance the cosine similarity to the
  mean feature (centrality; no attention maps). MMR is the same greedy rule with a
  per-token bias: min_c [theta * rel_j + (1 - theta) * (1 - cos(j, c))] - (1 - theta).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.perception.pruning.base import BudgetedPruner
from segpilot.perception.pruning.fps import SNAP_SCALE, quantize_unit_features
from segpilot.perception.pruning.kernels import batched_fps
from segpilot.perception.pruning.registry import register_pruner
from segpilot.perception.tokens import VisualTokens


class _GreedyBase(BudgetedPruner):
    """Shared body: one global greedy problem over all tokens."""

    def _weights(self) -> tuple[float, float]:
        return 0.0, 1.0  # feature distance only

    def _bias(self, tokens: VisualTokens, unit: Tensor) -> Tensor | None:
        return None

    def _start(self, tokens: VisualTokens, unit: Tensor) -> int:
        raise NotImplementedError

    def _inv_dmax(self, tokens: VisualTokens, start: int) -> float:
        return 1.0

    def _xyz(self, tokens: VisualTokens) -> Tensor:
        return torch.full_like(tokens.xyz, float("nan"))  # geometry unused

    def _choose(self, tokens: VisualTokens, k: int) -> Tensor:
        n, device = len(tokens), tokens.features.device
        q = quantize_unit_features(tokens.features)
        unit = q.double() / SNAP_SCALE  # exact float64 cosines (fps.py): the same start on every device
        start = self._start(tokens, unit)
        w_geo, w_feat = self._weights()
        bias = self._bias(tokens, unit)
        picks = batched_fps(
            q[None],
            self._xyz(tokens)[None].float(),
            torch.ones(1, n, dtype=torch.bool, device=device),
            torch.tensor([k], device=device),
            torch.tensor([start], device=device),
            torch.tensor([self._inv_dmax(tokens, start)], device=device),
            w_geo,
            w_feat,
            None if bias is None else bias[None].float(),
        )
        return picks[0]


@register_pruner("divprune")
@dataclass(frozen=True)
class DivPrunePruner(_GreedyBase):
    """Max-min feature diversity; first centre = the token whose nearest neighbour is farthest (official start)."""

    seed: int = 0
    """Unused (deterministic); accepted for a uniform signature."""
    name = "divprune"

    def _start(self, tokens: VisualTokens, unit: Tensor) -> int:
        return nearest_neighbour_farthest(unit)


def nearest_neighbour_farthest(unit: Tensor, block: int = 1024) -> int:
    """Index of the token whose most similar other token is least similar (DivPrune's first pick: the largest
    second-smallest cosine distance per column), in row blocks so N x N similarities never sit in memory.

    The N x N products run in float32 (a float64 pass over 12 x 729 tokens took 2 s more); for `unit` on the
    snapping grid (`fps.snap_unit_features`, exact in float32) every float32 dot product is within
    D * 2^-24 * |a| |b| of the exact one whatever the summation order, so only the tokens within twice that of
    the float32 minimum can be the exact argmin: their rows are recomputed exactly in float64 and the first of the
    exact minima wins, as `torch.argmin` on exact values would."""
    n = len(unit)
    if n < 2:
        return 0
    u32 = unit.float()
    nearest = torch.empty(n, dtype=torch.float32, device=unit.device)
    for lo in range(0, n, block):
        sim = u32[lo : lo + block] @ u32.T  # (b, N)
        rows = torch.arange(lo, min(lo + block, n), device=unit.device)
        sim[rows - lo, rows] = -float("inf")  # not its own neighbour
        nearest[lo : lo + block] = sim.max(dim=1).values
    exact = unit.double()
    norm = float(torch.linalg.vector_norm(exact, dim=1).max())
    error = unit.shape[1] * 2.0**-24 * 1.01 * norm * norm + 1e-7  # float32 dot-product error bound
    candidates = torch.nonzero(nearest <= nearest.min() + 2 * error).flatten()  # ascending indices
    best, arg = float("inf"), 0
    for c in candidates.tolist():
        row = exact @ exact[c]
        row[c] = -float("inf")
        value = float(row.max())
        if value < best:  # strict: ties keep the lower index
            best, arg = value, c
    return arg


@register_pruner("kcenter")
@dataclass(frozen=True)
class KCenterPruner(_GreedyBase):
    """ToDRE-style greedy k-center over features, seeded at the most salient token."""

    seed: int = 0
    """Unused (deterministic); accepted for a uniform signature."""
    name = "kcenter"

    def _start(self, tokens: VisualTokens, unit: Tensor) -> int:
        return int(torch.argmax(tokens.saliency))


@register_pruner("fps3d")
@dataclass(frozen=True)
class FPS3DPruner(_GreedyBase):
    """Geometry-only farthest-point sampling of token positions."""

    seed: int = 0
    """Unused (deterministic); accepted for a uniform signature."""
    name = "fps3d"

    def _weights(self) -> tuple[float, float]:
        return 1.0, 0.0

    def _xyz(self, tokens: VisualTokens) -> Tensor:
        return tokens.xyz

    def _start(self, tokens: VisualTokens, unit: Tensor) -> int:
        has = tokens.has_xyz
        if not bool(has.any()):
            return 0
        centroid = tokens.xyz[has].mean(0)
        dist = torch.linalg.vector_norm(tokens.xyz - centroid, dim=-1)
        return int(torch.argmax(torch.where(has, dist, torch.full_like(dist, -1.0))))

    def _inv_dmax(self, tokens: VisualTokens, start: int) -> float:
        has = tokens.has_xyz
        if not bool(has[start]):
            return 1.0
        d_max = float(torch.linalg.vector_norm(tokens.xyz[has] - tokens.xyz[start], dim=-1).max())
        return 1.0 / d_max if d_max > 0 else 1.0


@dataclass(frozen=True)
class MMRConfig:
    """Parameters of the `mmr` pruner (CLI flags and ROS parameters `mmr.<field>`)."""

    theta: float = 0.5
    """Weight of relevance against redundancy, in [0, 1]."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.theta <= 1.0:
            raise SegpilotError(f"mmr theta must lie in [0, 1], got {self.theta}")


@register_pruner("mmr")
@dataclass(frozen=True)
class MMRPruner(_GreedyBase):
    """Maximal marginal relevance between centrality and diversity (IDPruner-style)."""

    theta: float = 0.5
    """Weight of relevance against redundancy, in [0, 1]."""
    seed: int = 0
    """Unused (deterministic); accepted for a uniform signature."""
    name = "mmr"
    Config = MMRConfig

    def __post_init__(self) -> None:
        if not 0.0 <= self.theta <= 1.0:
            raise SegpilotError(f"mmr theta must lie in [0, 1], got {self.theta}")

    def _weights(self) -> tuple[float, float]:
        return 0.0, 1.0 - self.theta

    def _relevance(self, unit: Tensor) -> Tensor:
        mean = unit.mean(0)
        return (unit @ (mean / mean.norm().clamp_min(1e-12))).float()

    def _bias(self, tokens: VisualTokens, unit: Tensor) -> Tensor:
        return self.theta * self._relevance(unit)

    def _start(self, tokens: VisualTokens, unit: Tensor) -> int:
        return int(torch.argmax(self._relevance(unit)))
