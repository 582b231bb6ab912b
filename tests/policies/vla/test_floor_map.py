"""The agent's own floor map: obstacles from depth, blocked steps, and the shortest path to a goal on it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.policies.vla.floor_map import FloorMap
from segpilot.sim.base import AgentPose, SimConfig, next_pose
from tests.policies.vla.test_goal_belief import _camera

CAMERA = PinholeCamera.from_hfov(90.0, 32, 32)


def test_a_wall_in_the_depth_image_blocks_its_cells_and_the_floor_does_not():
    floor_map = FloorMap()
    # A level camera 1.25 m up, a wall 2 m ahead filling the view: z-depth 2 everywhere.
    floor_map.update(np.full((32, 32), 2.0, np.float32), CAMERA, _camera(0.0, 0.0, 0.0))
    xs = {x for x, _ in floor_map.obstacle}
    assert xs == {20}  # x = 2.0 m, cells of 0.1 m
    ys = sorted(y for _, y in floor_map.obstacle)
    assert ys[0] <= -15 and ys[-1] >= 14  # the wall spans the view: +-2 m at 2 m with a 90 degree lens
    lo, hi = floor_map.seen_lo, floor_map.seen_hi
    assert lo[0] == hi[0] == 20
    looking_down = FloorMap()  # only the floor in view: nothing is an obstacle
    T = _camera(0.0, 0.0, 0.0)
    pitch = math.radians(-60)  # optical axis tilted down, towards the floor
    R = np.array([[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)], [0, -math.sin(pitch), math.cos(pitch)]])
    T[:3, :3] = T[:3, :3] @ R.T
    rays = np.linalg.inv(CAMERA.K) @ np.stack([*np.meshgrid(np.arange(32.0), np.arange(32.0)), np.ones((32, 32))]
                                              ).reshape(3, -1)  # fmt: skip
    down = (T[:3, :3] @ rays)[2]  # world z of each ray (camera-frame z = 1)
    depth = np.where(down < 0, 1.25 / -np.minimum(down, -1e-9), 0.0).reshape(32, 32)
    looking_down.update(depth.astype(np.float32), CAMERA, T)
    assert not looking_down.obstacle and looking_down.seen_lo is not None


def test_the_same_camera_pose_twice_is_a_blocked_step_and_marks_the_cells_ahead():
    floor_map = FloorMap()
    nothing = np.zeros((32, 32), np.float32)  # no depth returns: only the pose counts
    floor_map.update(nothing, CAMERA, _camera(1.0, 1.0, math.pi / 2))
    assert not floor_map.obstacle
    floor_map.update(nothing, CAMERA, _camera(1.0, 1.0, math.pi / 2))
    assert floor_map.obstacle == {(10, 12), (10, 13)}  # 0.25 and 0.35 m ahead along +y
    floor_map.update(nothing, CAMERA, _camera(1.0, 1.0, math.pi))  # a turn: not a blocked step
    assert len(floor_map.obstacle) == 2


def _walk(floor_map: FloorMap, pose: AgentPose, goal, limit: int = 300) -> tuple[AgentPose, list[AgentPose]]:
    config, path = SimConfig(), [pose]
    for _ in range(limit):
        action, _ = floor_map.plan(pose, goal, config)
        assert action is not None
        if action == "stop":
            return pose, path
        pose = next_pose(pose, action, config)
        path.append(pose)
    raise AssertionError("the plan never stopped")


def test_the_plan_walks_round_a_wall_to_the_goal_and_stops_within_reach():
    floor_map = FloorMap()
    floor_map.obstacle = {(20, y) for y in range(-10, 11)}  # a wall at x = 2 m from y = -1 to 1 m
    floor_map.seen_lo, floor_map.seen_hi = np.array([-10, -15]), np.array([40, 15])
    goal = (3.0, 0.0)
    end, path = _walk(floor_map, AgentPose(1.0, 0.0, 0.0), goal)
    assert math.hypot(end.x - goal[0], end.y - goal[1]) <= 0.75
    assert all(not 1.75 < p.x < 2.25 or abs(p.y) > 1.1 for p in path)  # never through the wall (+ radius)
    assert max(abs(p.y) for p in path) > 1.1  # it went round


def test_no_path_is_reported_and_bad_sizes_are_refused():
    floor_map = FloorMap()
    ring = {(x, y) for x in range(25, 36) for y in range(-5, 6) if x in (25, 35) or y in (-5, 5)}
    floor_map.obstacle = ring  # the goal at (3, 0) m is walled in
    floor_map.seen_lo, floor_map.seen_hi = np.array([-10, -15]), np.array([40, 15])
    action, left = floor_map.plan(AgentPose(0.0, 0.0, 0.0), (3.0, 0.0), SimConfig())
    assert action is None and left == math.inf
    with pytest.raises(SegpilotError, match="agent_radius_m"):
        FloorMap(agent_radius_m=-0.1)
    with pytest.raises(SegpilotError, match="depth is"):
        FloorMap().update(np.zeros((8, 8), np.float32), CAMERA, _camera(0, 0, 0))
