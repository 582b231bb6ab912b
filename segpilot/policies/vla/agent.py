"""A VLA policy as a Habitat-style agent (`reset` / `act`): chunk execution with re-planning.

The policy decodes a chunk of `chunk` actions per forward pass; the agent executes the first
`replan_every` of them open-loop and then asks again (`replan_every = chunk`: fully open-loop
chunks, 1: re-plan every step). Frames of any size (Habitat's, a robot's) are resized to the
policy's square input. Optional SeGPruner memory: the RGB stream's patch tokens of the last
`memory_views` frames, with their 3D positions moved into the current agent frame, are
pruned by SeGPruner and passed to the policy with a sinusoidal position embedding.

With `temperature` > 0 the agent samples each action from the policy's distribution (seeded
per episode, so runs repeat exactly) instead of taking the most likely one. A deterministic
camera policy facing the same view twice acts the same way twice: pushed against a table, or
turning in a spot where nothing changes, it repeats itself until the step limit. Sampling
the moves breaks such loops, as habitat-lab's learned agents do; stop is taken only where it
is the most likely action.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import torch
from PIL import Image

from segpilot.errors import SegpilotError
from segpilot.policies.vla.data import to_inputs, words_of
from segpilot.policies.vla.model import CogVLAPolicy
from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS


def resize_frame(rgb: np.ndarray, depth: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB (bilinear) and depth (nearest, no mixing across edges) to size x size."""
    rgb, depth = np.asarray(rgb), np.asarray(depth)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or depth.shape != rgb.shape[:2]:
        raise SegpilotError(f"expected RGB (H, W, 3) and depth (H, W) of one size, got {rgb.shape} and {depth.shape}")
    if rgb.shape[:2] == (size, size):
        return rgb, depth
    r = np.asarray(Image.fromarray(rgb.astype(np.uint8)).resize((size, size), Image.BILINEAR))
    d = np.asarray(Image.fromarray(depth.astype(np.float32)).resize((size, size), Image.NEAREST))
    return r, d


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
                 memory_views: int = 0, memory_budget: float = 0.09, temperature: float = 0.0,
                 seed: int = 0):  # fmt: skip
        if policy.space.name != "discrete_nav":
            raise SegpilotError(f"VLAAgent drives discrete navigation actions; this policy emits {policy.space.name}")
        self.policy, self.routing = policy.eval(), routing
        self.replan_every = replan_every or policy.config.chunk
        if not 1 <= self.replan_every <= policy.config.chunk:
            raise SegpilotError(f"replan_every must lie in 1..{policy.config.chunk}, got {self.replan_every}")
        self.words, self.valid = policy.encode_instruction([words_of(instruction)])
        self.memory_views, self.memory_budget = memory_views, memory_budget
        if temperature < 0:
            raise SegpilotError(f"temperature must be >= 0 (0 = most likely action), got {temperature}")
        self.temperature, self.seed = temperature, seed
        self.chunk_seconds: list[float] = []
        self.reset()

    def reset(self) -> None:
        self._queue: list[str] = []
        self._previous: str | None = None
        self._history: deque = deque(maxlen=max(1, self.memory_views))
        self._rng = torch.Generator().manual_seed(self.seed)

    def act(self, observation) -> str:
        if not self._queue:
            self._queue = self._plan(observation)[: self.replan_every]
        self._previous = self._queue.pop(0)
        return self._previous

    @torch.inference_mode()
    def _plan(self, observation) -> list[str]:
        t0 = time.perf_counter()
        size = self.policy.config.image_size
        rgb, depth = resize_frame(observation.frame.rgb, observation.frame.depth, size)
        x, d = to_inputs(rgb[None], depth[None])
        memory = self._memory(observation, x) if self.memory_views else None
        none = len(DISCRETE_NAV_ACTIONS)
        previous = torch.tensor([none if self._previous is None else DISCRETE_NAV_ACTIONS.index(self._previous)])
        logits = self.policy(x, d, self.words, self.valid, routing=self.routing, memory=memory, previous=previous)
        chosen = choose_actions(logits[0], self.temperature, self._rng)
        self.chunk_seconds.append(time.perf_counter() - t0)
        return [DISCRETE_NAV_ACTIONS[int(i)] for i in chosen]

    def _memory(self, observation, x: torch.Tensor) -> torch.Tensor:
        from segpilot.geometry.conventions import invert_pose
        from segpilot.geometry.unproject import patch_xyz
        from segpilot.perception.pruning.registry import make_pruner
        from segpilot.perception.tokens import VisualTokens
        from segpilot.policies.qa.position3d import sinusoidal_xyz

        f = observation.frame
        grid = self.policy.config.image_size // self.policy.config.patch_size
        xyz = patch_xyz(f.depth, f.camera, f.T_world_cam, (grid, grid))
        patches = self.policy.streams[0](x, self.policy.instruction_vector(self.words, self.valid))[1][0]
        self._history.append((patches, torch.from_numpy(xyz)))
        feats = torch.stack([h[0] for h in self._history])
        world = torch.stack([h[1] for h in self._history]).float()
        tokens = VisualTokens.from_views(feats, feats.norm(dim=-1), world, (grid, grid))
        kept = make_pruner("segpruner", mode="global").select(tokens, self.memory_budget)
        to_cam = torch.from_numpy(invert_pose(f.T_world_cam)).float()
        local = tokens.xyz[kept] @ to_cam[:3, :3].T + to_cam[:3, 3]  # positions in the current camera frame
        return (tokens.features[kept] + sinusoidal_xyz(local, feats.shape[-1]))[None]
