"""Habitat backend: pure conversions checked on real habitat-sim recordings; lazy import."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.sim.base import SimConfig, next_pose
from segpilot.sim.habitat_backend import (
    habitat_position,
    habitat_rotation_wxyz,
    pose_from_habitat,
)
from segpilot.sim.registry import make_simulator
from segpilot.sim.scenes import generate_scene


def _states(habitat_dir):
    return [json.loads((habitat_dir / "frames" / f"state_{i}.json").read_text()) for i in range(9)]


def test_pose_conversion_round_trip_on_recorded_states(habitat_dir):
    for st in _states(habitat_dir):
        pose = pose_from_habitat(st["agent"]["position"], st["agent"]["rotation_wxyz"])
        assert np.allclose(habitat_position(pose, st["agent"]["position"][1]), st["agent"]["position"], atol=1e-6)
        q = habitat_rotation_wxyz(pose)
        assert (
            min(np.abs(q - st["agent"]["rotation_wxyz"]).max(), np.abs(q + st["agent"]["rotation_wxyz"]).max()) < 1e-6
        )


def test_our_kinematics_reproduce_habitats_actions(habitat_dir):
    """The embedded simulator's actions, applied to recorded poses, give Habitat's next poses."""
    states = _states(habitat_dir)
    config = SimConfig()
    for before, after in zip(states, states[1:], strict=False):
        p0 = pose_from_habitat(before["agent"]["position"], before["agent"]["rotation_wxyz"])
        p1 = pose_from_habitat(after["agent"]["position"], after["agent"]["rotation_wxyz"])
        predicted = next_pose(p0, after["action"], config)
        assert predicted.x == pytest.approx(p1.x, abs=1e-5) and predicted.y == pytest.approx(p1.y, abs=1e-5)
        assert math.cos(predicted.yaw - p1.yaw) == pytest.approx(1.0, abs=1e-9)


def test_missing_habitat_sim_is_one_clear_error(tmp_path):
    try:
        import habitat_sim  # noqa: F401
    except ImportError:
        with pytest.raises(SegpilotError, match="conda install habitat-sim"):
            make_simulator("habitat", tmp_path / "x.glb")
    else:  # pragma: no cover - only where habitat-sim is installed
        pytest.skip("habitat-sim is installed here")


def test_unknown_simulator_name():
    with pytest.raises(SegpilotError, match="unknown simulator 'gazebo'"):
        make_simulator("gazebo", "x")


# --- The backend against habitat-sim's documented behaviour (tests/sim/fake_habitat_sim.py) ---

def _export_fixture():
    from tests.conftest import shared_fixture

    return shared_fixture("habitat_export")


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    from segpilot.sim.habitat_export import export_habitat_scene

    return export_habitat_scene(generate_scene(30000), tmp_path_factory.mktemp("hab"))


def _use(monkeypatch, version="0.3.3", no_navmesh=False):
    import sys

    from tests.sim import fake_habitat_sim

    hs = fake_habitat_sim.make_module(version, no_navmesh)
    monkeypatch.setitem(sys.modules, "habitat_sim", hs)
    return hs


@pytest.mark.parametrize("version", ["0.2.2", "0.3.3"])
def test_navmesh_settings_agent_and_gpu_reach_habitat(monkeypatch, stage, version):
    from segpilot.sim.habitat_backend import HabitatSimulator

    _use(monkeypatch, version)
    sim = HabitatSimulator(stage, SimConfig(), gpu_device_id=1)
    cfg = sim.sim.sim_cfg
    assert cfg.gpu_device_id == 1 and cfg.enable_physics is False
    if version.startswith("0.3"):  # no navmesh at all in 0.2.5+ / 0.3.x without it
        assert cfg.navmesh_settings.agent_radius == SimConfig().agent_radius_m
        assert cfg.navmesh_settings.agent_height == 1.5
    assert sim.has_navmesh and sim.scene_graph is not None


def test_camera_sits_at_the_configured_height_and_reproduces_the_recording(monkeypatch, stage):
    """Recorded poses of the corrected export: camera 1.25 m above the floor (not above the navmesh at 0.1 m)
    and the depth real habitat-sim rendered there."""
    from segpilot.sim.habitat_backend import HabitatSimulator

    fixture = _export_fixture()
    _use(monkeypatch)
    sim = HabitatSimulator(stage, SimConfig())
    poses = json.loads((fixture / "poses.json").read_text())
    real = np.load(fixture / "b_corrected" / "frames.npz")
    for k, p in enumerate(poses["segpilot_poses_ground_frame"]):
        from segpilot.sim.base import AgentPose

        obs = sim.reset(AgentPose(p["x"], p["y"], p["yaw_rad"]))
        assert obs.frame.T_world_cam[2, 3] == pytest.approx(SimConfig().camera_height_m, abs=1e-5)
        hab = poses["b_corrected"][k]["depth_sensor_position_xyz"]
        assert np.allclose(obs.frame.T_world_cam[:3, 3], [hab[0], -hab[2], hab[1]], atol=1e-5)
        assert np.mean(np.abs(obs.frame.depth - real["depth"][k]) <= 0.01) >= 0.99


def test_start_check_uses_the_distance_to_the_navmesh_not_is_navigable_of_a_snapped_point():
    """Real snap points: the corrected export's starts lie within a navmesh cell; the old export's poses 2
    and 3 snapped 1.9 m away (the room on its side) - silently moved before, refused now."""
    from segpilot.sim.base import AgentPose
    from segpilot.sim.habitat_backend import check_start

    fixture = _export_fixture()
    poses = json.loads((fixture / "poses.json").read_text())
    for k, p in enumerate(poses["segpilot_poses_ground_frame"]):
        start = AgentPose(p["x"], p["y"], p["yaw_rad"])
        check_start(start, poses["b_corrected"][k]["navmesh_snap_point"])
        if k >= 2:
            with pytest.raises(SegpilotError, match="not navigable"):
                check_start(start, poses["a_as_exported"][k]["navmesh_snap_point"])
    with pytest.raises(SegpilotError, match="not navigable"):
        check_start(AgentPose(1.0, 1.0, 0.0), [float("nan")] * 3)


def test_reset_refuses_a_start_inside_furniture_like_the_embedded_backend(monkeypatch, stage):
    from segpilot.sim.base import AgentPose
    from segpilot.sim.habitat_backend import HabitatSimulator
    from segpilot.sim.scenes import Scene

    _use(monkeypatch)
    sim = HabitatSimulator(stage, SimConfig())
    scene = Scene.load(sim.scene_graph)
    table = next(o for o in scene.objects if o.kind != "structure" and o.support is None)
    inside = AgentPose(*map(float, table.center[:2]), 0.0)
    with pytest.raises(SegpilotError, match="not navigable"):
        sim.reset(inside)
    with pytest.raises(SegpilotError, match="inside furniture"):
        make_simulator("embedded", scene.save(stage.parent / "embedded")).reset(inside)


def test_moves_stop_at_walls_and_velocity_commands_work(monkeypatch, stage):
    from segpilot.sim.base import AgentPose, BaseCommand
    from segpilot.sim.habitat_backend import HabitatSimulator

    _use(monkeypatch)
    sim = HabitatSimulator(stage, SimConfig(width=32, height=24))
    obs = sim.reset(AgentPose(1.726, 1.719, math.pi))  # facing the x = 0 wall
    collided = []
    for _ in range(12):
        obs = sim.step("move_forward")
        collided.append(obs.collided)
    assert any(collided) and obs.pose.x >= SimConfig().agent_radius_m - 1e-6
    moved = sim.step(BaseCommand(0.0, 1.0, 0.5))
    assert moved.pose.yaw == pytest.approx(obs.pose.yaw + 0.5, abs=1e-5)


def test_without_a_navmesh_moves_fail_with_one_line(monkeypatch, stage):
    from segpilot.sim.base import AgentPose, BaseCommand
    from segpilot.sim.habitat_backend import HabitatSimulator

    _use(monkeypatch, no_navmesh=True)
    with pytest.warns(UserWarning, match="no navmesh"):
        sim = HabitatSimulator(stage, SimConfig(width=32, height=24))
    sim.reset(AgentPose(1.726, 1.719, 0.0))
    sim.step("turn_left")  # turning needs no navmesh
    for action in ("move_forward", BaseCommand(0.5, 0.0, 0.1)):
        with pytest.raises(SegpilotError, match="no navmesh"):
            sim.step(action)


def test_empty_or_missing_scene_and_bad_gpu_are_one_line_errors(monkeypatch, stage, tmp_path):
    from segpilot.ros_nodes.sim_bridge import SimBridgeConfig
    from segpilot.sim.habitat_backend import HabitatSimulator

    _use(monkeypatch)
    for scene, match in (("", "no Habitat scene given"), ("  ", "no Habitat scene given"),
                         (tmp_path / "none.glb", "Habitat scene not found")):  # fmt: skip
        with pytest.raises(SegpilotError, match=match):
            HabitatSimulator(scene)
    with pytest.raises(SegpilotError, match="gpu_device_id"):
        HabitatSimulator(stage, gpu_device_id=-2)
    with pytest.raises(SegpilotError, match="needs habitat_scene"):
        SimBridgeConfig(simulator="habitat", habitat_scene="")


def test_run_vla_in_habitat_matches_the_embedded_run_of_the_same_room(monkeypatch, stage, tmp_path):
    """run-vla --habitat: the policy's camera, both routing modes, --episodes and --seed honoured, --out
    created; on the exported room it takes the same steps as the embedded backend."""
    from segpilot.eval.vla_runs import run_vla_habitat
    from segpilot.policies.vla.agent import VLAAgent
    from segpilot.policies.vla.data import NAV_GOAL_CATEGORIES, vla_sim_config
    from segpilot.policies.vla.io import load_policy
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import make_nav_episodes, run_nav_episode

    _use(monkeypatch)
    out = tmp_path / "new" / "run"
    report = run_vla_habitat(None, stage, n_episodes=1, seed=7, out=out, temperature=0.0)
    assert set(report["modes"]) == {"routing_on", "routing_off"} and report["episodes"] == 1
    assert json.loads((out / "metrics.json").read_text())["seed"] == 7
    policy = load_policy(None)
    scene = generate_scene(30000)
    embedded = EmbeddedSimulator(scene, vla_sim_config(policy.config.image_size, policy.config.camera_pitch_deg))
    ep = make_nav_episodes(scene, embedded.grid, 1, 7, categories=NAV_GOAL_CATEGORIES)[0]
    assert report["modes"]["routing_on"]["per_episode"][0]["episode_id"] == ep.episode_id
    ref = run_nav_episode(embedded, VLAAgent(policy, ep.instruction, None, True, temperature=0.0, seed=0), ep)
    hab = report["modes"]["routing_on"]["per_episode"][0]
    assert (hab["steps"], hab["success"]) == (ref.steps, ref.success)


def test_habitat_scan_renders_the_rooms_qa_trajectory_into_a_scannet_scan(monkeypatch, stage, tmp_path):
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.sim.commands import habitat_scan

    _use(monkeypatch)
    scan = ScanNetScene(habitat_scan(stage, tmp_path / "scan"))
    assert len(scan.frame_ids) == 3 * 3 * 12  # the room's coverage trajectory: 3 x 3 standing points x 12 headings
    frame = scan.frame(0)
    assert frame.T_world_cam[2, 3] == pytest.approx(SimConfig().camera_height_m, abs=1e-3)  # z up, 1.25 m
    assert frame.valid_depth.mean() > 0.5
