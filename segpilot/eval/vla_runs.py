"""`segpilot sim run-vla`: held-out navigation episodes with the VLA, routing on and off.

Rooms for evaluation start at seed 30000, far from the training rooms (20000 + i), so every
room, start and goal is new to the policy. Both routing modes run the same episodes in one
process, so their latency and LM-FLOP ratios are measured side by side. The LM FLOPs are
counted analytically per layer from the tokens that actually run it (projections and MLP:
2 * params * tokens; attention scores and mixing: 4 * tokens^2 * hidden).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.policies.vla.agent import VLAAgent
from segpilot.policies.vla.data import NAV_GOAL_CATEGORIES, vla_sim_config
from segpilot.policies.vla.io import load_policy
from segpilot.policies.vla.lfp import lm_flops

EVAL_SEED = 30000


def _episodes(n: int, seed: int):
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import make_nav_episodes
    from segpilot.sim.scenes import generate_scene

    out, room = [], 0
    while len(out) < n:
        scene = generate_scene(seed + room)
        grid = EmbeddedSimulator(scene, vla_sim_config(64)).grid
        out += [
            (scene, ep)
            for ep in make_nav_episodes(scene, grid, min(2, n - len(out)), seed + room, categories=NAV_GOAL_CATEGORIES)
        ]
        room += 1
    return out


def run_vla(policy_dir: str | Path | None, n_episodes: int, seed: int = EVAL_SEED, out: Path | None = None,
            replan_every: int | None = None, routing_modes=(True, False),
            pictures: int = 2, temperature: float = 0.0) -> dict:  # fmt: skip
    """Success rate, SPL, steps and chunk latency per routing mode on generated held-out rooms."""
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import run_nav_episode

    if n_episodes < 1:
        raise SegpilotError(f"--episodes must be >= 1, got {n_episodes}")
    policy = load_policy(policy_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    episodes = _episodes(n_episodes, seed)
    report: dict = {"episodes": n_episodes, "seed": seed, "replan_every": replan_every or policy.config.chunk,
                    "memory_tokens": policy.config.memory_tokens, "temperature": temperature, "modes": {}}  # fmt: skip
    n_visual = policy.config.n_visual
    for routing in routing_modes:
        name = "routing_on" if routing else "routing_off"
        results, latencies = [], []
        for i, (scene, ep) in enumerate(episodes):
            sim = EmbeddedSimulator(scene, vla_sim_config(policy.config.image_size, policy.config.camera_pitch_deg))
            agent = VLAAgent(policy, ep.instruction, replan_every, routing, temperature=temperature, seed=i)
            path = [ep.start_pose]
            res = run_nav_episode(sim, agent, ep, on_step=lambda obs, _a, path=path: path.append(obs.pose))
            results.append(res)
            latencies += agent.chunk_seconds
            if out is not None and i < pictures:
                from segpilot.viz.sim_views import top_down_map

                top_down_map(scene, sim.grid, path, ep.goals[0]).save(out / f"{name}_{ep.episode_id}.png")
            sim.close()
        report["modes"][name] = {
            "success_rate": statistics.mean(r.success for r in results),
            "spl": statistics.mean(r.spl for r in results),
            "mean_steps": statistics.mean(r.steps for r in results),
            "chunk_latency_ms_median": 1000 * statistics.median(latencies),
            "lm_gflops_per_chunk": lm_flops(policy, n_visual, 4, routing) / 1e9,
            "per_episode": [asdict(r) for r in results],
        }
    if len(report["modes"]) == 2:
        on, off = report["modes"]["routing_on"], report["modes"]["routing_off"]
        report["routing_latency_ratio_off_over_on"] = off["chunk_latency_ms_median"] / on["chunk_latency_ms_median"]
        report["routing_lm_flops_ratio_off_over_on"] = off["lm_gflops_per_chunk"] / on["lm_gflops_per_chunk"]
        report["routing_success_cost_points"] = 100 * (off["success_rate"] - on["success_rate"])
    if out is not None:
        from segpilot.eval.runner import write_json_atomic

        write_json_atomic(out / "metrics.json", report)
    return report


def _habitat_episodes(sim, episodes_file, n_episodes: int, seed: int) -> list:
    """The first `n_episodes` of a habitat-lab style episode file, or, for an exported segpilot room
    (its scene graph beside the stage config), episodes generated in it as the embedded backend does."""
    from segpilot.sim.embedded import OccupancyGrid
    from segpilot.sim.episodes import NavigationEpisode, load_episodes, make_nav_episodes
    from segpilot.sim.scenes import Scene

    if episodes_file is not None:
        episodes = [e for e in load_episodes(episodes_file) if isinstance(e, NavigationEpisode)]
        if not episodes:
            raise SegpilotError(f"{episodes_file} holds no navigation episodes")
        return episodes[:n_episodes]
    if sim.scene_graph is None:
        raise SegpilotError("this Habitat scene has no segpilot scene graph beside it (from `segpilot sim "
                            "export-habitat`): give --episodes-file with its navigation episodes")  # fmt: skip
    scene = Scene.load(sim.scene_graph)
    grid = OccupancyGrid(scene, sim.config.grid_resolution_m, sim.config.agent_radius_m)
    episodes = make_nav_episodes(scene, grid, n_episodes, seed, categories=NAV_GOAL_CATEGORIES)
    if not episodes:
        raise SegpilotError(f"no navigation episode could be generated in {scene.scene_id}")
    return episodes


def run_vla_habitat(policy_dir: str | Path | None, scene: str | Path, episodes_file: str | Path | None = None,
                    n_episodes: int = 20, seed: int = EVAL_SEED, out: Path | None = None,
                    replan_every: int | None = None, routing_modes=(True, False), temperature: float = 0.0,
                    gpu_device_id: int = -1) -> dict:  # fmt: skip
    """The same policy and agent through the Habitat backend: the policy's own camera (size, pitch), the
    first `n_episodes` episodes, every routing mode asked for; metrics.json in `out`."""
    from segpilot.sim.episodes import run_nav_episode
    from segpilot.sim.registry import make_simulator

    if n_episodes < 1:
        raise SegpilotError(f"--episodes must be >= 1, got {n_episodes}")
    policy = load_policy(policy_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)  # before the work: a bad --out fails now, not after the episodes
    camera = vla_sim_config(policy.config.image_size, policy.config.camera_pitch_deg)
    sim = make_simulator("habitat", scene, camera, gpu_device_id=gpu_device_id)
    report: dict = {"scene": str(scene), "seed": seed, "temperature": temperature, "modes": {}}
    try:
        episodes = _habitat_episodes(sim, episodes_file, n_episodes, seed)
        report["episodes"] = len(episodes)
        for routing in routing_modes:
            results = [run_nav_episode(sim, VLAAgent(policy, ep.instruction, replan_every, routing,
                                                     temperature=temperature, seed=i), ep)
                       for i, ep in enumerate(episodes)]  # fmt: skip
            report["modes"]["routing_on" if routing else "routing_off"] = {
                "success_rate": statistics.mean(r.success for r in results),
                "spl": statistics.mean(r.spl for r in results),
                "mean_steps": statistics.mean(r.steps for r in results),
                "per_episode": [asdict(r) for r in results],
            }
    finally:
        sim.close()
    if out is not None:
        from segpilot.eval.runner import write_json_atomic

        write_json_atomic(out / "metrics.json", report)
    return report
