"""DAgger for the VLA: roll the policy out, label every visited state with the expert, retrain.

Behaviour cloning only ever sees states near the expert's path; once the policy drifts (a
wrong turn, a stop too early) it is in states it never saw and errors compound. DAgger
(Ross et al., 2011) runs the current policy - re-planning every step, routing on in half of
the episodes - executes the expert's action instead with probability `beta`, and records
the expert's label (look around first, then the shortest path) at each visited state. The
aggregated data teaches the policy how to recover from its own mistakes.
"""

from __future__ import annotations

import numpy as np

from segpilot.policies.vla.agent import VLAAgent
from segpilot.policies.vla.data import Demos, collect


class PolicyDriver:
    """Executes the policy's action (re-planned every step), or the expert's with probability `beta`."""

    def __init__(self, policy, beta: float, seed: int):
        self.policy, self.beta = policy, beta
        self.rng = np.random.default_rng(seed)
        self.episodes = 0

    def start(self, episode) -> None:
        self.agent = VLAAgent(self.policy, episode.instruction, replan_every=1, routing=self.episodes % 2 == 0)
        self.episodes += 1

    def act(self, observation, expert_action: str) -> str:
        action = self.agent.act(observation)
        if self.rng.random() < self.beta:
            action = expert_action
        self.agent.executed(action)
        return action


def dagger_collect(policy, n_rooms: int, seed: int, chunk: int, per_room: int, beta: float, max_steps: int,
                   progress: bool = False) -> tuple[Demos, dict]:  # fmt: skip
    """Relabelled rollouts of `policy` in rooms seed .. seed + n_rooms - 1."""
    was_training = policy.training
    policy.eval()
    try:
        return collect(n_rooms, seed, policy.config.image_size, chunk, per_room, progress=progress,
                       patch_size=policy.config.patch_size, driver=PolicyDriver(policy, beta, seed),
                       max_steps=max_steps)  # fmt: skip
    finally:
        policy.train(was_training)
