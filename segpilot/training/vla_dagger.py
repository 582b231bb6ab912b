"""DAgger for the VLA: roll the policy out, label every visited state with the expert, retrain.

Behaviour cloning only ever sees states near the expert's path; once the policy drifts (a
wrong turn, a stop too early) it is in states it never saw and errors compound. DAgger
(Ross et al., 2011) runs the current policy as it is deployed - re-planning every step,
moves sampled at `temperature`, routing on at every other step - executes the expert's
action instead with probability `beta`, and records the expert's label (look around first,
then the shortest path) at each visited state. The aggregated data teaches the policy how
to recover from its own mistakes.

The rollouts run `batch` rooms in lockstep, one batched forward pass per step: a policy
this small costs about as much for 16 observations as for one, so rollouts are an order of
magnitude cheaper than one agent at a time.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from segpilot.policies.vla.agent import choose_actions
from segpilot.policies.vla.goal_belief import new_belief, observe_goal
from segpilot.policies.vla.memory import TokenMemory, observe
from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS
from segpilot.training.vla_demos import Demos, LabelledEpisode, rooms, stack_episodes, to_inputs, words_of


class _Room:
    """A batch slot: one room's simulator running its episodes one after another (`finished` in order)."""

    def __init__(self, sim, episodes: list, patch_size: int, max_steps: int, memory: tuple[int, float] = (0, 0.5),
                 belief=None, plan_labels: bool = False):  # fmt: skip
        self.sim, self.patch_size, self.max_steps, self.memory, self.belief = sim, patch_size, max_steps, memory, belief
        self.plan_labels = plan_labels
        self.queue = deque(episodes)
        self.finished: list[LabelledEpisode] = []
        self._next()

    def _next(self) -> None:
        if self.queue:
            memory = TokenMemory(*self.memory) if self.memory[0] else None
            belief = new_belief(self.belief) if self.belief else None
            self.current = LabelledEpisode(self.sim, self.queue.popleft(), self.patch_size, self.max_steps, memory,
                                           belief, self.plan_labels)  # fmt: skip
        else:
            self.current = None
            self.sim.close()

    def advance(self, action: str) -> None:
        self.current.advance(action)
        if self.current.done:
            self.finished.append(self.current)
            self._next()


@torch.inference_mode()
def _policy_actions(policy, episodes: list[LabelledEpisode], routing: bool, temperature: float,
                    generator: torch.Generator) -> tuple[list[str], list[str]]:  # fmt: skip
    """Label each episode's current observation and return the policy's first action there (one batched pass)."""
    frames = [e.obs.frame for e in episodes]
    rgb, depth = to_inputs(np.stack([f.rgb for f in frames]), np.stack([f.depth for f in frames]))
    ids, valid = policy.encode_instruction([words_of(e.episode.instruction) for e in episodes])
    memory = observe(policy, [e.token_memory for e in episodes], frames, ids, valid) if policy.config.memory_tokens \
        else None  # fmt: skip
    goal = observe_goal(policy, [e.goal_belief for e in episodes], frames, ids, valid) if policy.config.goal_belief \
        else None  # fmt: skip
    labels = [e.label(None if memory is None else memory[i], None if goal is None else goal[i])
              for i, e in enumerate(episodes)]  # fmt: skip
    previous = torch.as_tensor([e.before for e in episodes])
    logits = policy(rgb, depth, ids, valid, routing=routing, memory=memory, previous=previous, goal=goal)[:, 0]
    return labels, [DISCRETE_NAV_ACTIONS[int(i)] for i in choose_actions(logits, temperature, generator)]


def dagger_collect(policy, n_rooms: int, seed: int, chunk: int, per_room: int, beta: float, max_steps: int,
                   temperature: float = 1.0, batch: int = 16, progress: bool = False, plan_labels: bool = False,
                   ) -> tuple[Demos, dict]:  # fmt: skip
    """Relabelled rollouts of `policy` in rooms seed .. seed + n_rooms - 1, `batch` rooms at a time."""
    was_training = policy.training
    policy.eval()
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    pending = rooms(n_rooms, seed, per_room, policy.config.image_size, policy.config.camera_pitch_deg)
    slots: list[_Room] = []
    memory = (policy.config.memory_tokens, policy.config.memory_importance)
    tick = 0
    try:
        while True:
            active = [s for s in slots if s.current is not None]
            while len(active) < batch and (room := next(pending, None)) is not None:
                _, sim, room_episodes = room
                slots.append(_Room(sim, room_episodes, policy.config.patch_size, max_steps, memory,
                                   policy.config if policy.config.goal_belief else None, plan_labels))  # fmt: skip
                active += [slots[-1]] if slots[-1].current is not None else []
            if not active:
                break
            episodes = [s.current for s in active]
            labels, chosen = _policy_actions(policy, episodes, tick % 2 == 0, temperature, generator)
            for slot, label, action in zip(active, labels, chosen, strict=True):
                slot.advance(label if rng.random() < beta else action)
            tick += 1
            if progress and tick % 100 == 0:
                print(f"DAgger step {tick}: {sum(len(s.finished) for s in slots)} episodes done", flush=True)
    finally:
        policy.train(was_training)
    # Slots are created in room order and each runs its room's episodes in order: no sorting needed.
    demos, summary = stack_episodes([e for s in slots for e in s.finished], chunk, seed, n_rooms, 0.0)
    return demos, {**summary, "beta": beta, "temperature": temperature}
