"""The VLA's goal input as named parts with declared shapes (as habitat-lab declares its sensors' observation
spaces), instead of positional slices of one vector.

A policy with `goal_belief` reads `goal_belief` (where the belief places the instructed object, relative to the
agent); with `goal_plan` also `goal_plan` (the next action of the shortest path on the agent's floor map). Each
part is checked against its spec by name; the model concatenates them in spec order only inside its goal
embedding (`GoalInput.vector`), and stored training data (one row per step) is split back by the same specs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from segpilot.errors import SegpilotError

BELIEF_FEATURES = 8
"""Length of the belief's features: [has estimate, forward, left, distance (/ RANGE_M), cos and sin of the bearing,
log(1 + evidence), log(1 + total evidence)] (see `goal_belief.GoalBelief.features`)."""
PLAN_FEATURES = 6
"""Length of the floor-map plan's features: [has a path, one-hot move_forward / turn_left / turn_right / stop,
geodesic metres left / RANGE_M] (see `goal_belief.GoalBelief.plan_features`)."""


@dataclass(frozen=True)
class InputSpec:
    """One named input of a policy: its per-sample shape and what it holds."""

    name: str
    shape: tuple[int, ...]
    description: str


GOAL_BELIEF = InputSpec("goal_belief", (BELIEF_FEATURES,), "the 3D goal belief relative to the agent's heading")
GOAL_PLAN = InputSpec("goal_plan", (PLAN_FEATURES,), "the floor-map path's next action and the metres left")


def goal_specs(config) -> tuple[InputSpec, ...]:
    """The goal inputs a policy with `config` (a VLAConfig) reads, in the goal embedding's order."""
    if not config.goal_belief:
        return ()
    return (GOAL_BELIEF, GOAL_PLAN) if config.goal_plan else (GOAL_BELIEF,)


def goal_input_size(config) -> int:
    """Width of the goal embedding's input: the specs' sizes summed."""
    return sum(int(np.prod(s.shape)) for s in goal_specs(config))


@dataclass(frozen=True)
class GoalInput:
    """A batch of goal inputs: `belief` (B, 8) and, for policies that read the plan, `plan` (B, 6)."""

    belief: Tensor
    plan: Tensor | None = None

    def parts(self) -> dict[str, Tensor | None]:
        return {GOAL_BELIEF.name: self.belief, GOAL_PLAN.name: self.plan}

    def check(self, config, batch: int) -> None:
        """One line naming the input whose presence or shape differs from what `config` declares."""
        wanted = {s.name: (batch, *s.shape) for s in goal_specs(config)}
        for name, value in self.parts().items():
            got = None if value is None else tuple(value.shape)
            if got != wanted.get(name):
                expected = wanted.get(name)
                raise SegpilotError(f"goal input {name}: this policy expects "
                                    f"{'shape ' + str(expected) if expected else 'none'}, got "
                                    f"{'shape ' + str(got) if got else 'none'}")  # fmt: skip

    def vector(self) -> Tensor:
        """(B, goal_input_size) float: the parts in spec order - the goal embedding's input layout."""
        parts = [self.belief] if self.plan is None else [self.belief, self.plan]
        return torch.cat([torch.as_tensor(p, dtype=torch.float32) for p in parts], dim=-1)

    def __len__(self) -> int:
        return len(self.belief)

    def __getitem__(self, index) -> GoalInput:
        return GoalInput(self.belief[index], None if self.plan is None else self.plan[index])

    @staticmethod
    def from_vector(config, rows) -> GoalInput:
        """Rows stored as `vector()` (training data: (B, goal_input_size) or one (goal_input_size,)) -> parts."""
        x = torch.as_tensor(np.asarray(rows), dtype=torch.float32)
        if x.shape[-1] != goal_input_size(config):
            names = ", ".join(s.name for s in goal_specs(config))
            raise SegpilotError(f"stored goal inputs have {x.shape[-1]} values per step, this policy reads "
                                f"{goal_input_size(config)} ({names})")  # fmt: skip
        belief, plan = x[..., :BELIEF_FEATURES], x[..., BELIEF_FEATURES:]
        return GoalInput(belief, plan if config.goal_plan else None)

    @staticmethod
    def stack(items: list[GoalInput]) -> GoalInput:
        """One batch of per-sample inputs (each part (8,) / (6,))."""
        plans = [i.plan for i in items]
        return GoalInput(torch.stack([torch.as_tensor(i.belief) for i in items]),
                         None if plans[0] is None else torch.stack([torch.as_tensor(p) for p in plans]))  # fmt: skip

    @staticmethod
    def zeros(config, batch: int) -> GoalInput:
        """An empty belief (and no plan) for `batch` samples: benchmarks and shape checks."""
        return GoalInput.from_vector(config, np.zeros((batch, goal_input_size(config)), np.float32))
