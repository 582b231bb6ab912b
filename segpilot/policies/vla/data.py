"""Expert demonstrations for behaviour cloning: object-goal navigation in generated rooms.

Each episode is run by the shortest-path expert (privileged map) in the embedded simulator;
every step records the policy's inputs (RGB, depth at the policy's image size, the
instruction) and the expert's next `chunk` actions (stop after the episode ends). With
probability `noise` the agent executes a random move instead of the expert's (DART-style
noise injection), while the label stays the expert's: the policy sees how to recover from
its own mistakes, which plain behaviour cloning never shows it.

The expert first turns left in place until the goal object is in view (at least
`SEEN_PIXELS` pixels; at most one full turn), then follows the shortest path. The map-based expert alone would head
for goals it cannot see, which no camera-only policy can imitate; a look-around first is
what the policy can learn from its own observations. Each step also records the action
executed before it (the policy's only memory, like a VLA's proprioception input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS
from segpilot.sim.base import SimConfig
from segpilot.sim.scenes import COLOURS, FURNITURE, FURNITURE_COLOURS, SMALL

MAX_DEPTH_M = 5.0
SEEN_PIXELS = 4
PREVIOUS_NONE = len(DISCRETE_NAV_ACTIONS)  # "no previous action" (the first step of an episode)


def instruction_vocab() -> tuple[str, ...]:
    """Every word the generated instructions use ("find the lamp", "go to the red chair")."""
    words = {"find", "the", "go", "to", *FURNITURE, *SMALL, *COLOURS, *FURNITURE_COLOURS}
    return ("<pad>", "<unk>", *sorted(words))


def words_of(instruction: str) -> list[str]:
    return re.findall(r"[a-z]+", instruction.lower())


def vla_sim_config(image_size: int) -> SimConfig:
    """The simulator camera the policy sees: square, 90 degree field of view."""
    return SimConfig(width=image_size, height=image_size, hfov_deg=90.0)


def to_inputs(rgb: np.ndarray, depth: np.ndarray) -> tuple[Tensor, Tensor]:
    """Batched RGB uint8 (B, S, S, 3) and depth metres (B, S, S) -> normalised (B, 3, S, S), (B, 1, S, S)."""
    x = torch.as_tensor(np.asarray(rgb), dtype=torch.float32).permute(0, 3, 1, 2) / 127.5 - 1
    d = np.nan_to_num(np.asarray(depth, dtype=np.float32), nan=0.0, posinf=0.0)
    dt = torch.as_tensor(np.clip(d, 0, MAX_DEPTH_M) / MAX_DEPTH_M * 2 - 1)[:, None]
    return x, dt


@dataclass
class Demos:
    """Stacked demonstration steps."""

    rgb: np.ndarray  # (N, S, S, 3) uint8
    depth: np.ndarray  # (N, S, S) float16 metres
    instruction: list[str]
    actions: np.ndarray  # (N, chunk) int64 indices into DISCRETE_NAV_ACTIONS
    previous: np.ndarray  # (N,) int64 action executed before this step (PREVIOUS_NONE at the start)
    episode: np.ndarray  # (N,) episode index


def collect(n_rooms: int, seed: int, image_size: int, chunk: int, per_room: int = 6, noise: float = 0.15,
            progress: bool = False) -> tuple[Demos, dict]:  # fmt: skip
    """Run the expert in rooms seed .. seed + n_rooms - 1; returns the demos and a summary."""
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import make_nav_episodes
    from segpilot.sim.planning import ShortestPathExpert, distance_field, goal_region
    from segpilot.sim.scenes import generate_scene

    rng = np.random.default_rng(seed)
    rgbs, depths, instructions, labels, episode_ids, previous = [], [], [], [], [], []
    n_episodes = 0
    index = {a: i for i, a in enumerate(DISCRETE_NAV_ACTIONS)}
    for r in range(n_rooms):
        scene = generate_scene(seed + r)
        sim = EmbeddedSimulator(scene, vla_sim_config(image_size))
        for ep in make_nav_episodes(scene, sim.grid, per_room, seed + r):
            g = ep.goals[0]
            field = distance_field(sim.grid, goal_region(sim.grid, g["bbox_min"], g["bbox_max"],
                                                         ep.success_distance - 0.15))  # fmt: skip
            expert = ShortestPathExpert(sim.grid, field, sim.config)
            expert.reset()
            obs = sim.reset(ep.start_pose)
            steps: list[int] = []
            seen, before = False, PREVIOUS_NONE
            full_turn = int(np.ceil(360.0 / sim.config.turn_step_deg))
            for t in range(ep.max_steps):
                # Look around until the goal is in view; after a full turn without it, go anyway.
                seen = seen or t >= full_turn or int(np.count_nonzero(obs.object_ids == g["object_id"])) >= SEEN_PIXELS
                action = expert.act(obs) if seen else "turn_left"
                previous.append(before)
                rgbs.append(obs.frame.rgb)
                depths.append(obs.frame.depth.astype(np.float16))
                instructions.append(ep.instruction)
                steps.append(index[action])
                episode_ids.append(n_episodes)
                if action == "stop":
                    break
                if rng.random() < noise:
                    action = DISCRETE_NAV_ACTIONS[int(rng.integers(1, 4))]
                obs = sim.step(action)
                before = index[action]
            padded = steps + [index["stop"]] * chunk
            labels.extend(padded[i : i + chunk] for i in range(len(steps)))
            n_episodes += 1
        sim.close()
        if progress and (r + 1) % 20 == 0:
            print(f"rooms {r + 1}/{n_rooms}: {len(rgbs)} steps", flush=True)
    demos = Demos(np.stack(rgbs), np.stack(depths), instructions, np.asarray(labels, dtype=np.int64),
                  np.asarray(previous, dtype=np.int64), np.asarray(episode_ids))  # fmt: skip
    counts = np.bincount(demos.actions[:, 0], minlength=len(DISCRETE_NAV_ACTIONS))
    summary = {"rooms": n_rooms, "seed": seed, "episodes": n_episodes, "steps": len(rgbs), "noise": noise,
               "action_share": {a: round(float(c) / max(1, len(rgbs)), 4)
                                for a, c in zip(DISCRETE_NAV_ACTIONS, counts, strict=True)}}  # fmt: skip
    return demos, summary
