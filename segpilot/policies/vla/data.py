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

from segpilot.nav.base import SimConfig
from segpilot.nav.vocab import COLOURS, FURNITURE, FURNITURE_COLOURS, SMALL
from segpilot.policies.vla.configuration import vla_camera
from segpilot.policies.vla.processor import MAX_DEPTH_M, to_inputs  # noqa: F401 - re-exported
from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS

NAV_GOAL_CATEGORIES = FURNITURE
SEEN_SHARE = 0.005  # 20 pixels of a 64 x 64 image
PREVIOUS_NONE = len(DISCRETE_NAV_ACTIONS)  # "no previous action" (the first step of an episode)
# The expert stops this far inside the success distance: a 64 px camera policy judges distance
# roughly and tends to stop a little before the expert did, so the expert's stops leave room.
STOP_MARGIN_M = 0.4
PLAN_TRUST_M = 0.5
"""With plan labels, a step is labelled with the floor-map plan's action where the belief's estimate lies this
close to the goal's footprint (the plan then leads to the goal; elsewhere the expert's label stays)."""


def instruction_vocab() -> tuple[str, ...]:
    """Every word the generated instructions use ("find the lamp", "go to the red chair")."""
    words = {"find", "the", "go", "to", *FURNITURE, *SMALL, *COLOURS, *FURNITURE_COLOURS}
    return ("<pad>", "<unk>", *sorted(words))


def words_of(instruction: str) -> list[str]:
    return re.findall(r"[a-z]+", instruction.lower())


def vla_sim_config(image_size: int, camera_pitch_deg: float = SimConfig.camera_pitch_deg) -> SimConfig:
    """The simulator rendering the camera a policy with this image size and pitch sees (`VLAConfig.camera`)."""
    return SimConfig.with_camera(vla_camera(image_size, camera_pitch_deg))


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
    memory: np.ndarray | None = None  # (N, K, D) float16 memory inputs of a policy with a token memory
    goal: np.ndarray | None = None  # (N, GOAL_FEATURES) float32 goal-belief inputs of a policy reading the belief


def patch_coverage(mask: np.ndarray, patch_size: int) -> np.ndarray:
    """(S, S) bool -> (P,) share of each patch_size x patch_size patch that is True, row-major."""
    g = mask.shape[0] // patch_size
    return mask[: g * patch_size, : g * patch_size].reshape(g, patch_size, g, patch_size).mean(axis=(1, 3)).ravel()


def concat(parts: list[Demos]) -> Demos:
    """One dataset from several (episode indices kept distinct)."""
    offset, episodes = 0, []
    for d in parts:
        episodes.append(d.episode + offset)
        offset += int(d.episode.max()) + 1 if len(d.episode) else 0
    return Demos(
        np.concatenate([d.rgb for d in parts]),
        np.concatenate([d.depth for d in parts]),
        [s for d in parts for s in d.instruction],
        np.concatenate([d.actions for d in parts]),
        np.concatenate([d.previous for d in parts]),
        np.concatenate(episodes),
        np.concatenate([d.goal_patches for d in parts]),
        np.concatenate([d.memory for d in parts]) if all(d.memory is not None for d in parts) else None,
        np.concatenate([d.goal for d in parts]) if all(d.goal is not None for d in parts) else None,
    )
