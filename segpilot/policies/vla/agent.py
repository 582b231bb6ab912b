"""A VLA policy as a Habitat-style agent (`reset` / `act`): chunk execution with re-planning.

The policy decodes a chunk of `chunk` actions per forward pass; the agent executes the first
`replan_every` of them open-loop and then asks again (`replan_every = chunk`: fully open-loop
chunks, 1: re-plan every step). Frames of any size (Habitat's, a robot's) are resized to the
policy's square input. A policy with a SeGPruner memory (`memory_tokens` > 0) gets every frame
added to the episode's memory, also the frames of an open-loop chunk (see `memory`); so does
a policy reading the 3D goal belief (`goal_belief`, see that module).

With `temperature` > 0 the agent samples each action from the policy's distribution (seeded
per episode, so runs repeat exactly) instead of taking the most likely one. A deterministic
camera policy facing the same view twice acts the same way twice: pushed against a table, or
turning in a spot where nothing changes, it repeats itself until the step limit. Sampling
the moves breaks such loops, as habitat-lab's learned agents do; stop is taken only where it
is the most likely action.
"""

from __future__ import annotations

import time

import torch

from segpilot.errors import SegpilotError
from segpilot.policies.vla.data import words_of
from segpilot.policies.vla.goal_belief import new_belief, observe_goal
from segpilot.policies.vla.memory import TokenMemory, observe
from segpilot.policies.vla.model import CogVLAPolicy
from segpilot.policies.vla.processor import resize_frame, to_inputs  # noqa: F401 - resize_frame re-exported
from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS


def choose_actions(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """(..., actions) logits -> action indices: the most likely, or with `temperature` > 0 a sampled move.

    Stop is taken only where it is the most likely action: a sampled stop would end the episode
    wherever the agent happens to be, so it is never left to chance.
    """
    chosen = logits.argmax(-1)
    if temperature <= 0:
        return chosen
    stop = DISCRETE_NAV_ACTIONS.index("stop")
    moves = logits.float() / temperature
    moves[..., stop] = -torch.inf
    flat = torch.softmax(moves, dim=-1).reshape(-1, moves.shape[-1])
    sampled = torch.multinomial(flat, 1, generator=generator)[:, 0].reshape(chosen.shape)
    return torch.where(chosen == stop, chosen, sampled)


class VLAAgent:
    """Runs `policy` on an instruction; `act(observation)` returns a discrete navigation action."""

    def __init__(self, policy: CogVLAPolicy, instruction: str, replan_every: int | None = None, routing: bool = True,
                 temperature: float = 0.0, seed: int = 0):  # fmt: skip
        if policy.space.name != "discrete_nav":
            raise SegpilotError(f"VLAAgent drives discrete navigation actions; this policy emits {policy.space.name}")
        self.policy, self.routing = policy.eval(), routing
        self.replan_every = replan_every or policy.config.chunk
        if not 1 <= self.replan_every <= policy.config.chunk:
            raise SegpilotError(f"replan_every must lie in 1..{policy.config.chunk}, got {self.replan_every}")
        self.words, self.valid = policy.encode_instruction([words_of(instruction)])
        if temperature < 0:
            raise SegpilotError(f"temperature must be >= 0 (0 = most likely action), got {temperature}")
        self.temperature, self.seed = temperature, seed
        self.chunk_seconds: list[float] = []
        self.reset()

    def reset(self) -> None:
        self._queue: list[str] = []
        self._previous: str | None = None
        cfg = self.policy.config
        self._memory = TokenMemory(cfg.memory_tokens, cfg.memory_importance) if cfg.memory_tokens else None
        self._memory_inputs: torch.Tensor | None = None
        self._belief = new_belief(cfg) if cfg.goal_belief else None
        self._goal_inputs: torch.Tensor | None = None
        self._observe_seconds = 0.0
        self._rng = torch.Generator().manual_seed(self.seed)

    def act(self, observation) -> str:
        t0 = time.perf_counter()
        with torch.inference_mode():
            if self._memory is not None:
                self._memory_inputs = observe(self.policy, [self._memory], [observation.frame], self.words, self.valid)
            if self._belief is not None:
                self._goal_inputs = observe_goal(self.policy, [self._belief], [observation.frame], self.words,
                                                 self.valid)  # fmt: skip
        self._observe_seconds = time.perf_counter() - t0
        if not self._queue:
            self._queue = self._plan(observation)[: self.replan_every]
        self._previous = self._queue.pop(0)
        return self._previous

    @torch.inference_mode()
    def _plan(self, observation) -> list[str]:
        t0 = time.perf_counter() - self._observe_seconds  # the chunk's latency includes its memory / belief update
        size = self.policy.config.image_size
        rgb, depth = resize_frame(observation.frame.rgb, observation.frame.depth, size)
        x, d = to_inputs(rgb[None], depth[None])
        none = len(DISCRETE_NAV_ACTIONS)
        previous = torch.tensor([none if self._previous is None else DISCRETE_NAV_ACTIONS.index(self._previous)])
        logits = self.policy(x, d, self.words, self.valid, routing=self.routing, memory=self._memory_inputs,
                             previous=previous, goal=self._goal_inputs)  # fmt: skip
        chosen = choose_actions(logits[0], self.temperature, self._rng)
        self.chunk_seconds.append(time.perf_counter() - t0)
        return [DISCRETE_NAV_ACTIONS[int(i)] for i in chosen]
