"""Action spaces of the VLA: what one action is, how a chunk of them is shaped and normalised.

- `discrete_nav`: Habitat's discrete navigation actions (stop, move_forward, turn_left,
  turn_right); one placeholder token per chunk step, the head emits 4 logits per step
  (cross-entropy). Shape of a chunk: (chunk,) integer ids.
- `base_velocity`: a ROS Twist's (linear.x m/s, angular.z rad/s); action_dim 2.
- `ee_delta_7d`: end-effector deltas (dx, dy, dz m; droll, dpitch, dyaw rad) + gripper in
  [0 closed, 1 open], as OpenVLA / CogVLA on LIBERO; action_dim 7.
Continuous spaces get one placeholder per (step, dimension), the head emits one value each
(L1 regression) in [-1, 1]; `normalize` / `unnormalize` map to and from physical units with
per-dimension bounds (OpenVLA's q01 / q99 scheme: the bounds are statistics of the training
actions, stored in the policy's config; values outside are clipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from segpilot.errors import SegpilotError

DISCRETE_NAV_ACTIONS = ("stop", "move_forward", "turn_left", "turn_right")


@dataclass(frozen=True)
class ActionSpace:
    """One action space: its name, dimensions, head outputs per placeholder and default bounds."""

    name: str
    action_dim: int
    discrete: tuple[str, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def head_outputs(self) -> int:
        """Values the action head emits per placeholder token (logits, or one regressed value)."""
        return len(self.discrete) if self.discrete else 1

    def placeholders(self, chunk: int) -> int:
        """Action placeholder tokens for a chunk: one per (step, dimension), plus CogVLA's end token."""
        return chunk * self.action_dim + 1

    def normalize(self, actions: Tensor, low=None, high=None) -> Tensor:
        """(..., action_dim) physical units -> [-1, 1], clipped at the bounds."""
        lo, hi = self._bounds(actions, low, high)
        return (2 * (actions - lo) / (hi - lo) - 1).clamp(-1, 1)

    def unnormalize(self, values: Tensor, low=None, high=None) -> Tensor:
        """(..., action_dim) in [-1, 1] -> physical units."""
        lo, hi = self._bounds(values, low, high)
        return lo + (values.clamp(-1, 1) + 1) * (hi - lo) / 2

    def _bounds(self, x: Tensor, low, high) -> tuple[Tensor, Tensor]:
        if self.discrete:
            raise SegpilotError(f"action space {self.name} is discrete: nothing to normalise")
        if x.shape[-1] != self.action_dim:
            raise SegpilotError(f"{self.name} actions need {self.action_dim} values, got shape {tuple(x.shape)}")
        lo = torch.as_tensor(low if low is not None else self.low, dtype=x.dtype)
        hi = torch.as_tensor(high if high is not None else self.high, dtype=x.dtype)
        if torch.any(hi <= lo):
            raise SegpilotError(f"{self.name}: every upper bound must exceed its lower bound")
        return lo, hi


SPACES = {
    "discrete_nav": ActionSpace("discrete_nav", 1, discrete=DISCRETE_NAV_ACTIONS),
    "base_velocity": ActionSpace("base_velocity", 2, low=(-0.5, -1.0), high=(0.5, 1.0)),
    "ee_delta_7d": ActionSpace(
        "ee_delta_7d", 7, low=(-0.05,) * 3 + (-0.3,) * 3 + (0.0,), high=(0.05,) * 3 + (0.3,) * 3 + (1.0,)
    ),  # fmt: skip
}


def get_space(name: str) -> ActionSpace:
    if name not in SPACES:
        raise SegpilotError(f"unknown action space {name!r}; expected one of {', '.join(sorted(SPACES))}")
    return SPACES[name]
