"""The work behind `segpilot sim ...` and `segpilot bench sim` (the CLI only parses arguments)."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

from segpilot.sim.base import AgentPose, SimConfig
from segpilot.sim.embedded import EmbeddedSimulator, free_point_near  # noqa: F401 - re-exported
from segpilot.sim.episodes import make_nav_episodes, run_nav_episode, save_episodes
from segpilot.sim.planning import ShortestPathExpert, distance_field, goal_region
from segpilot.sim.scenes import generate_scene


def render(seed: int, out: Path, views: int = 4, shapes: int = 1) -> list[Path]:
    """Montage (RGB / depth / ids) of a few views of scene `seed` (small-object mesh version `shapes`) and its
    top-down map."""
    from segpilot.viz.sim_views import montage, top_down_map

    out.mkdir(parents=True, exist_ok=True)
    scene = generate_scene(seed, shapes=shapes)
    scene.save(out)
    sim = EmbeddedSimulator(scene)
    x, y = free_point_near(sim, scene.width / 2, scene.depth / 2)
    poses = [AgentPose(x, y, 2 * math.pi * i / views) for i in range(views)]
    montage([sim.render(p) for p in poses]).save(out / "montage.png")
    top_down_map(scene, sim.grid, poses[:1]).save(out / "topdown.png")
    return [out / "montage.png", out / "topdown.png"]


def run_expert(n_episodes: int, seed: int, out: Path | None = None, per_scene: int = 4) -> dict:
    """Generate navigation episodes and run the shortest-path expert; metrics as a dict."""
    results, episodes = [], []
    scene_index = 0
    while len(results) < n_episodes:
        scene = generate_scene(seed + scene_index)
        scene_index += 1
        sim = EmbeddedSimulator(scene)
        for ep in make_nav_episodes(scene, sim.grid, min(per_scene, n_episodes - len(results)), seed + scene_index):
            g = ep.goals[0]
            field = distance_field(
                sim.grid, goal_region(sim.grid, g["bbox_min"], g["bbox_max"], ep.success_distance - 0.15)
            )
            path = [ep.start_pose]
            res = run_nav_episode(sim, ShortestPathExpert(sim.grid, field, sim.config), ep,
                                  on_step=lambda obs, _a, path=path: path.append(obs.pose))  # fmt: skip
            results.append(res)
            episodes.append(ep)
            if out is not None and len(results) <= 4:
                from segpilot.viz.sim_views import top_down_map

                out.mkdir(parents=True, exist_ok=True)
                top_down_map(scene, sim.grid, path, g).save(out / f"{ep.episode_id}.png")
    summary = {
        "episodes": len(results),
        "success_rate": statistics.mean(r.success for r in results),
        "spl": statistics.mean(r.spl for r in results),
        "mean_steps": statistics.mean(r.steps for r in results),
        "collisions": sum(r.collisions for r in results),
    }
    if out is not None:
        save_episodes(out / "episodes.json", episodes)
        (out / "expert_metrics.json").write_text(json.dumps(summary, indent=1))
    return summary


def bench(seeds: int = 3, frames: int = 200, config: SimConfig | None = None) -> list[dict]:
    """Frames per second of the embedded simulator (render only, and step with collisions)."""
    rows = []
    for seed in range(seeds):
        scene = generate_scene(seed)
        sim = EmbeddedSimulator(scene, config)
        x, y = free_point_near(sim, scene.width / 2, scene.depth / 2)
        sim.reset(AgentPose(x, y, 0.0))
        sim.render(AgentPose(x, y, 0.0))  # warm-up
        t0 = time.perf_counter()
        for i in range(frames):
            sim.render(AgentPose(x, y, 2 * math.pi * i / frames))
        render_fps = frames / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(frames):
            sim.step("move_forward" if i % 3 else "turn_left")
        step_fps = frames / (time.perf_counter() - t0)
        rows.append({"scene": scene.scene_id, "triangles": len(scene.mesh.triangles), "render_fps": render_fps,
                     "step_fps": step_fps, "width": sim.config.width, "height": sim.config.height})  # fmt: skip
    return rows


def habitat_scan(stage: Path, out: Path, episodes_file: Path | None = None, gpu_device_id: int = -1) -> Path:
    """Render a QA view-collection trajectory through habitat-sim into a ScanNet-layout scan.

    The trajectory is the first question episode's (an `eqa_episodes_*.json` of `sim make-qa`) or, for an
    exported segpilot room, the room's coverage trajectory; `segpilot ask --scene OUT` and
    `eval scanqa --scenes` then answer from Habitat's frames."""
    from segpilot.errors import SegpilotError
    from segpilot.eval.datasets.scannet import write_scene
    from segpilot.sim.episodes import QuestionEpisode, load_episodes
    from segpilot.sim.make_qa import QA_SIM_CONFIG, coverage_trajectory
    from segpilot.sim.registry import make_simulator
    from segpilot.sim.scenes import Scene

    out.mkdir(parents=True, exist_ok=True)
    sim = make_simulator("habitat", stage, QA_SIM_CONFIG, gpu_device_id=gpu_device_id)
    try:
        if episodes_file is not None:
            episodes = [e for e in load_episodes(episodes_file) if isinstance(e, QuestionEpisode)]
            if not episodes:
                raise SegpilotError(f"{episodes_file} holds no question episodes")
            poses = [AgentPose(*map(float, p)) for p in episodes[0].trajectory]
        elif sim.scene_graph is not None:
            poses = coverage_trajectory(EmbeddedSimulator(Scene.load(sim.scene_graph), QA_SIM_CONFIG))
        else:
            raise SegpilotError("this Habitat scene has no segpilot scene graph: give --episodes-file")
        return write_scene(out, (sim.reset(p).frame for p in poses))  # rendered and written one at a time
    finally:
        sim.close()
