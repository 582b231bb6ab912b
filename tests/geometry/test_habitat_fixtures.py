"""Real habitat-sim frames: converted to segpilot conventions, object pixels land in their boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segpilot.geometry.unproject import depth_to_world, patch_xyz
from segpilot.sim.habitat_convert import frame_from_habitat, habitat_T_world_cam


def _frame(habitat_dir, i):
    state = json.loads((habitat_dir / "frames" / f"state_{i}.json").read_text())
    sensor = state["sensors"]["depth"]
    frame = frame_from_habitat(
        np.asarray(Image.open(habitat_dir / "frames" / f"rgb_{i}.png").convert("RGB")),
        np.load(habitat_dir / "frames" / f"depth_{i}.npy"),
        np.asarray(sensor["position"]),
        np.asarray(sensor["rotation_wxyz"]),
        state["hfov_deg"],
    )
    return frame, state


def test_pose_matches_the_recorded_opencv_pose(habitat_dir):
    for i in range(9):
        frame, state = _frame(habitat_dir, i)
        assert np.allclose(frame.T_world_cam, state["T_world_from_camera_opencv"], atol=1e-6)
        intr = state["intrinsics"]
        got = (frame.camera.fx, frame.camera.fy, frame.camera.cx, frame.camera.cy)
        assert np.allclose(got, (intr["fx"], intr["fy"], intr["cx"], intr["cy"]), rtol=1e-12)


def test_object_pixels_land_in_their_boxes(habitat_dir):
    objects = json.loads((habitat_dir / "objects.json").read_text())["objects"]
    checked = 0
    for i in range(9):
        frame, _ = _frame(habitat_dir, i)
        sem = np.asarray(Image.open(habitat_dir / "frames" / f"semantic_{i}.png"))
        world = depth_to_world(frame.depth, frame.camera, frame.T_world_cam)
        for obj in objects:
            mask = (sem == obj["semantic_id"]) & frame.valid_depth
            if mask.sum() == 0:
                continue
            pts = world[mask]
            lo, hi = np.array(obj["aabb_min"]) - 0.03, np.array(obj["aabb_max"]) + 0.03
            inside = ((pts >= lo) & (pts <= hi)).all(axis=1).mean()
            assert inside >= 0.95, f"frame {i} {obj['name']}: {inside:.3f} of pixels in the box"
            checked += 1
    assert checked >= 40  # the fixture's visibility table lists 46 (object, frame) pairs


def test_ray_distance_reading_would_fail(habitat_dir):
    """Guard against the classic mistake: treating Habitat depth as distance along the ray."""
    frame, _ = _frame(habitat_dir, 1)
    objects = json.loads((habitat_dir / "objects.json").read_text())["objects"]
    sem = np.asarray(Image.open(habitat_dir / "frames" / "semantic_1.png"))
    cube = objects[0]
    mask = (sem == cube["semantic_id"]) & frame.valid_depth
    v, u = np.nonzero(mask)
    cam = frame.camera
    ray = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u, float)], 1)
    wrong_z = frame.depth[mask] / np.linalg.norm(ray, axis=1)  # depth misread as ray length
    pts = (ray * wrong_z[:, None]) @ frame.T_world_cam[:3, :3].T + frame.T_world_cam[:3, 3]
    inside = ((pts >= np.array(cube["aabb_min"]) - 0.03) & (pts <= np.array(cube["aabb_max"]) + 0.03)).all(1).mean()
    assert inside < 0.95


def test_patch_positions_of_an_object_fall_near_it(habitat_dir):
    frame, _ = _frame(habitat_dir, 6)
    xyz = patch_xyz(frame.depth, frame.camera, frame.T_world_cam, (27, 27))
    assert np.isfinite(xyz).any(axis=1).sum() > 400
    T = habitat_T_world_cam(np.zeros(3), np.array([1.0, 0, 0, 0]))
    assert np.allclose(T[:3, :3] @ [0, 0, 1], [0, 0, -1])  # OpenCV +z = Habitat -z


def test_frames_in_the_ground_frame_agree_with_the_agent_pose(habitat_dir):
    """z up: the camera 1.35 m above Habitat's y = 0, over the agent's ground (x, y), looking along its yaw."""
    from segpilot.geometry.conventions import optical_pitch_deg
    from segpilot.sim.habitat_backend import pose_from_habitat
    from segpilot.sim.habitat_convert import to_ground

    for i in range(9):
        frame, state = _frame(habitat_dir, i)
        ground = to_ground(frame)
        pose = pose_from_habitat(state["agent"]["position"], state["agent"]["rotation_wxyz"])
        T = ground.T_world_cam  # noqa: N806
        assert np.allclose(T[:3, 3], [pose.x, pose.y, state["sensors"]["depth"]["position"][1]], atol=1e-6)
        assert np.allclose(T[:2, 2], [np.cos(pose.yaw), np.sin(pose.yaw)], atol=1e-6)
        assert abs(optical_pitch_deg(T)) < 1e-6  # the recorded sensor is level
        floor_z = np.nanmin(depth_to_world(ground.depth, ground.camera, T)[..., 2])  # the room's floor, Habitat y = 0
        assert floor_z == pytest.approx(0.0, abs=0.01)
