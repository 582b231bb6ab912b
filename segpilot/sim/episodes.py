"""Navigation and question episodes (JSON, habitat-lab field names where they overlap), their
generation in generated rooms, per-episode metrics and the loop that runs an agent.

Positions are [x, y, z] in the scene's world (z up, the agent on the floor at z = 0);
rotations are quaternions about +z in (x, y, z, w) order, as habitat-lab stores them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.sim.base import AgentPose
from segpilot.sim.planning import distance_field, footprint_distance, goal_region
from segpilot.sim.scenes import Scene

SCHEMA_VERSION = 1


def yaw_to_quat_xyzw(yaw: float) -> list[float]:
    return [0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]


def quat_xyzw_to_yaw(q: Sequence[float]) -> float:
    return 2.0 * math.atan2(q[2], q[3])


@dataclass
class NavigationEpisode:
    """ObjectNav-style episode: reach `goals[0]`'s object and call stop within success_distance."""

    episode_id: str
    scene_id: str
    start_position: list[float]
    start_rotation: list[float]
    instruction: str
    object_category: str
    goals: list[dict]
    success_distance: float = 1.0
    max_steps: int = 500
    info: dict = field(default_factory=dict)

    @property
    def start_pose(self) -> AgentPose:
        return AgentPose(self.start_position[0], self.start_position[1], quat_xyzw_to_yaw(self.start_rotation))


@dataclass
class QuestionEpisode:
    """EQA-style episode: a view-collection trajectory and a question with its answers."""

    episode_id: str
    scene_id: str
    start_position: list[float]
    start_rotation: list[float]
    trajectory: list[list[float]]  # [x, y, yaw] per view
    question: dict  # question_text, answer_text, answers, question_type, object_ids


def save_episodes(path: str | Path, episodes: Sequence[NavigationEpisode | QuestionEpisode]) -> None:
    Path(path).write_text(json.dumps({"schema_version": SCHEMA_VERSION, "episodes": [asdict(e) for e in episodes]}))


def load_episodes(path: str | Path) -> list[NavigationEpisode | QuestionEpisode]:
    path = Path(path)
    if not path.exists():
        raise SegpilotError(f"episode file not found: {path}")
    try:
        data = json.loads(path.read_text())
        if data.get("schema_version") != SCHEMA_VERSION:
            raise SegpilotError(f"{path}: expected schema_version {SCHEMA_VERSION}, got {data.get('schema_version')}")
        return [(QuestionEpisode if "question" in e else NavigationEpisode)(**e) for e in data["episodes"]]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise SegpilotError(f"{path} is not a segpilot episode file: {exc}") from None


def describe_goal(scene: Scene, obj) -> tuple[str, str]:
    """An instruction that names the object unambiguously, and its category."""
    same_cat = scene.of_category(obj.category)
    if len(same_cat) == 1:
        return f"find the {obj.category}", obj.category
    same = [o for o in same_cat if o.colour == obj.colour]
    if len(same) == 1:
        return f"go to the {obj.colour} {obj.category}", obj.category
    return "", obj.category


def make_nav_episodes(scene: Scene, grid, n: int, seed: int, success_distance: float = 1.0, max_steps: int = 400,
                      categories: Sequence[str] | None = None):  # fmt: skip
    """Episodes with a reachable goal, an unambiguous instruction and a start >= 1.5 m away;
    `categories` limits the goals (like habitat-lab ObjectNav's goal categories)."""
    rng = np.random.default_rng(seed)
    targets = [o for o in scene.objects if o.kind != "structure" and describe_goal(scene, o)[0]
               and (categories is None or o.category in categories)]  # fmt: skip
    episodes: list[NavigationEpisode] = []
    for _ in range(50 * n):
        if len(episodes) == n or not targets:
            break
        obj = targets[int(rng.integers(len(targets)))]
        region = goal_region(grid, obj.bbox_min, obj.bbox_max, success_distance - 0.15)
        field_ = distance_field(grid, region)
        far = np.argwhere(np.isfinite(field_) & (field_ >= 1.5))
        if len(far) == 0:
            continue
        r, c = far[int(rng.integers(len(far)))]
        x, y = grid.cell_center(r, c)
        yaw = float(rng.uniform(-math.pi, math.pi))
        instruction, category = describe_goal(scene, obj)
        episodes.append(NavigationEpisode(
            episode_id=f"{scene.scene_id}_nav{len(episodes):03d}", scene_id=scene.scene_id,
            start_position=[x, y, 0.0], start_rotation=yaw_to_quat_xyzw(yaw), instruction=instruction,
            object_category=category,
            goals=[{"object_id": obj.id, "position": [*map(float, obj.center[:2]), 0.0],
                    "bbox_min": obj.bbox_min, "bbox_max": obj.bbox_max}],
            success_distance=success_distance, max_steps=max_steps,
            info={"geodesic_distance": float(field_[r, c])},
        ))  # fmt: skip
    return episodes


def episode_in_room(scene: Scene, config, index: int, categories: Sequence[str] | None = None) -> NavigationEpisode:
    """Navigation episode `index` of a segpilot room (seeded by the room's seed): the same start and goal in
    every backend that renders that room (the embedded simulator, or Habitat on its export)."""
    from segpilot.sim.embedded import OccupancyGrid

    grid = OccupancyGrid(scene, config.grid_resolution_m, config.agent_radius_m)
    episodes = make_nav_episodes(scene, grid, index + 1, scene.seed, categories=categories)
    if len(episodes) <= index:
        raise SegpilotError(f"room {scene.scene_id} has only {len(episodes)} navigation episodes, asked for {index}")
    return episodes[index]


@dataclass
class EpisodeResult:
    """Per-episode metrics (habitat-lab definitions)."""

    episode_id: str
    success: bool
    spl: float
    steps: int
    collisions: int
    path_length: float
    geodesic_distance: float
    distance_to_goal: float


def run_nav_episode(sim, agent, episode: NavigationEpisode, on_step=None) -> EpisodeResult:
    """Run `agent` (reset / act) in `sim` until stop or the step limit; score the episode.

    Success: stop called with the agent within `success_distance` of the goal's footprint.
    SPL = success * geodesic / max(geodesic, path length).
    """
    goal = episode.goals[0]
    obs = sim.reset(episode.start_pose)
    agent.reset()
    path, collisions, steps = 0.0, 0, 0
    stopped = False
    while steps < episode.max_steps:
        action = agent.act(obs)
        steps += 1
        if action == "stop":
            stopped = True
            break
        prev = obs.pose
        obs = sim.step(action)
        collisions += int(obs.collided)
        path += math.hypot(obs.pose.x - prev.x, obs.pose.y - prev.y)
        if on_step is not None:
            on_step(obs, action)
    dist = footprint_distance(obs.pose, goal["bbox_min"], goal["bbox_max"])
    success = stopped and dist <= episode.success_distance
    geo = float(episode.info.get("geodesic_distance", 0.0))
    spl = float(success) * geo / max(geo, path, 1e-9)
    return EpisodeResult(episode.episode_id, success, spl, steps, collisions, path, geo, dist)
