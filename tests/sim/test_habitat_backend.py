"""Habitat backend: pure conversions checked on real habitat-sim recordings; lazy import."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.sim.base import SimConfig, next_pose
from segpilot.sim.habitat_backend import (
    export_habitat_scene,
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


def test_export_for_habitat_is_y_up(tmp_path):
    scene = generate_scene(2)
    cfg = export_habitat_scene(scene.mesh, tmp_path, scene.scene_id)
    stage = json.loads(cfg.read_text())
    assert stage["up"] == [0, 1, 0] and (tmp_path / stage["render_asset"]).exists()
    import open3d as o3d

    mesh = o3d.io.read_triangle_mesh(str(tmp_path / stage["render_asset"]))
    v = np.asarray(mesh.vertices)
    assert v[:, 1].max() == pytest.approx(scene.mesh.vertices[:, 2].max(), abs=1e-5)  # height is +Y
    assert np.allclose(np.sort(-v[:, 2]), np.sort(scene.mesh.vertices[:, 1]), atol=1e-5)


def test_unknown_simulator_name():
    with pytest.raises(SegpilotError, match="unknown simulator 'gazebo'"):
        make_simulator("gazebo", "x")
