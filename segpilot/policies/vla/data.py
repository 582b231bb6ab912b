"""Expert demonstrations for behaviour cloning: object-goal navigation in generated rooms.

Each episode is run by the shortest-path expert (privileged map) in the embedded simulator;
every step records the policy's inputs (RGB, depth at the policy's image size, the
instruction) and the expert's next `chunk` actions (stop after the episode ends). With
probability `noise` the agent executes a random move instead of the expert's (DART-style
noise injection), while the label stays the expert's: the policy sees how to recover from
its own mistakes, which plain behaviour cloning never shows it.

The expert first turns left in place until the goal object is in view (at least
`SEEN_SHARE` of the image; at most one full turn), then follows the shortest path. The map-based expert alone would head
for goals it cannot see, which no camera-only policy can imitate; a look-around first is
what the policy can learn from its own observations. Each step also records the action
executed before it (the policy's only memory, like a VLA's proprioception input), and the
share of every image patch covered by the goal object: the target of an auxiliary grounding
loss (which patches show the instructed object), which the expert's privileged view provides
for free and which teaches the instruction-FiLM encoder what to look for.

Goals are furniture (`NAV_GOAL_CATEGORIES`), like habitat-lab ObjectNav's goal categories
(chair, bed, sofa, ...): objects a 64 px camera can see across a room. A cup 3 m away covers
about one pixel of the policy's image, so no camera policy at this size can find it.
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

NAV_GOAL_CATEGORIES = FURNITURE
MAX_DEPTH_M = 5.0
SEEN_SHARE = 0.005  # 20 pixels of a 64 x 64 image
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
    goal_patches: np.ndarray  # (N, P) float16 share of each policy patch (row-major) showing the goal object


def patch_coverage(mask: np.ndarray, patch_size: int) -> np.ndarray:
    """(S, S) bool -> (P,) share of each patch_size x patch_size patch that is True, row-major."""
    g = mask.shape[0] // patch_size
    return mask[: g * patch_size, : g * patch_size].reshape(g, patch_size, g, patch_size).mean(axis=(1, 3)).ravel()


class NoisyExpert:
    """Executes the expert's action, or with probability `noise` a random move (DART)."""

    def __init__(self, noise: float, seed: int):
        self.noise, self.rng = noise, np.random.default_rng(seed)

    def start(self, episode) -> None:
        pass

    def act(self, observation, expert_action: str) -> str:
        if expert_action != "stop" and self.rng.random() < self.noise:
            return DISCRETE_NAV_ACTIONS[int(self.rng.integers(1, 4))]
        return expert_action


def collect(n_rooms: int, seed: int, image_size: int, chunk: int, per_room: int = 6, noise: float = 0.15,
            progress: bool = False, patch_size: int = 8, driver=None, max_steps: int | None = None,
            ) -> tuple[Demos, dict]:  # fmt: skip
    """Episodes in rooms seed .. seed + n_rooms - 1, labelled by the expert; returns the demos and a summary.

    `driver` (`start(episode)`, `act(observation, expert_action)`) picks the executed action:
    by default the expert with DART noise; a policy (see `dagger`) gives DAgger's relabelled
    rollouts. Chunk labels are the expert's labels at the next states actually visited.
    """
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import make_nav_episodes
    from segpilot.sim.planning import ShortestPathExpert, distance_field, goal_region
    from segpilot.sim.scenes import generate_scene

    driver = driver or NoisyExpert(noise, seed)
    rgbs, depths, instructions, labels, episode_ids, previous, goal_patches = [], [], [], [], [], [], []
    n_episodes = 0
    index = {a: i for i, a in enumerate(DISCRETE_NAV_ACTIONS)}
    for r in range(n_rooms):
        scene = generate_scene(seed + r)
        sim = EmbeddedSimulator(scene, vla_sim_config(image_size))
        for ep in make_nav_episodes(scene, sim.grid, per_room, seed + r, categories=NAV_GOAL_CATEGORIES):
            g = ep.goals[0]
            field = distance_field(sim.grid, goal_region(sim.grid, g["bbox_min"], g["bbox_max"],
                                                         ep.success_distance - 0.15))  # fmt: skip
            expert = ShortestPathExpert(sim.grid, field, sim.config)
            expert.reset()
            driver.start(ep)
            obs = sim.reset(ep.start_pose)
            steps: list[int] = []
            seen, before = False, PREVIOUS_NONE
            full_turn = int(np.ceil(360.0 / sim.config.turn_step_deg))
            for t in range(min(ep.max_steps, max_steps or ep.max_steps)):
                # Look around until the goal is in view; after a full turn without it, go anyway.
                goal = obs.object_ids == g["object_id"]
                seen = seen or t >= full_turn or np.count_nonzero(goal) >= SEEN_SHARE * goal.size
                goal_patches.append(patch_coverage(goal, patch_size).astype(np.float16))
                label = expert.act(obs) if seen else "turn_left"
                previous.append(before)
                rgbs.append(obs.frame.rgb)
                depths.append(obs.frame.depth.astype(np.float16))
                instructions.append(ep.instruction)
                steps.append(index[label])
                episode_ids.append(n_episodes)
                action = driver.act(obs, label)
                if action == "stop":
                    break
                obs = sim.step(action)
                before = index[action]
            padded = steps + [index["stop"]] * chunk
            labels.extend(padded[i : i + chunk] for i in range(len(steps)))
            n_episodes += 1
        sim.close()
        if progress and (r + 1) % 20 == 0:
            print(f"rooms {r + 1}/{n_rooms}: {len(rgbs)} steps", flush=True)
    demos = Demos(np.stack(rgbs), np.stack(depths), instructions, np.asarray(labels, dtype=np.int64),
                  np.asarray(previous, dtype=np.int64), np.asarray(episode_ids), np.stack(goal_patches))  # fmt: skip
    counts = np.bincount(demos.actions[:, 0], minlength=len(DISCRETE_NAV_ACTIONS))
    summary = {"rooms": n_rooms, "seed": seed, "episodes": n_episodes, "steps": len(rgbs), "noise": noise,
               "action_share": {a: round(float(c) / max(1, len(rgbs)), 4)
                                for a, c in zip(DISCRETE_NAV_ACTIONS, counts, strict=True)}}  # fmt: skip
    return demos, summary


def concat(parts: list[Demos]) -> Demos:
    """One dataset from several (episode indices kept distinct)."""
    offset, episodes = 0, []
    for d in parts:
        episodes.append(d.episode + offset)
        offset += int(d.episode.max()) + 1 if len(d.episode) else 0
    return Demos(np.concatenate([d.rgb for d in parts]), np.concatenate([d.depth for d in parts]),
                 [s for d in parts for s in d.instruction], np.concatenate([d.actions for d in parts]),
                 np.concatenate([d.previous for d in parts]), np.concatenate(episodes),
                 np.concatenate([d.goal_patches for d in parts]))  # fmt: skip
