"""The agent's own floor map from depth, and the shortest path on it towards the 3D goal belief.

The default policy learns obstacle avoidance from 64 x 64 pixels and forgets what it walked
past; with the goal belief on the right object it still ends against the wrong furniture
(`goal_belief`). Detours around furniture are geometry, not something a small policy should
have to re-learn from pixels: every depth pixel is back-projected into the world (z up, as in
ROS REP-103), points between `FLOOR_M` and `CEILING_M` above the floor block their floor cell,
and blocked cells are grown by the agent's radius. Cells never seen count as free (the
optimistic assumption of map-building navigation: an unseen passage is tried, not ruled out).

`FloorMap.plan` runs the same geodesic distance field and one-action look-ahead as the
simulator's shortest-path expert (`sim.planning`), but on this perceived map and towards the
belief's estimate, so it needs no simulator state: only frames with their camera poses. The
policy reads the suggested action as an input (`VLAConfig.goal_plan`); it stays the policy that
decides.
"""

from __future__ import annotations

import math

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.nav.grid import FloorGrid

CELL_M = 0.1
"""Floor cell of the map, metres."""
FLOOR_M = 0.1
"""Points below this height (metres above the floor) are floor."""
CEILING_M = 1.8
"""Points above this height are not obstacles (the agent passes under them)."""
BUMP_AHEAD_M = (0.25, 0.35)
"""Where a blocked forward step marks an obstacle: one step ahead of the camera, and a little beyond."""
FIELD_EVERY = 4
"""Frames between recomputations of the distance field (sooner when the goal moves or a step was blocked):
the field is most of the cost of a plan, and four frames add little to the map."""
MARGIN_CELLS = 10
"""Planning window: the cells seen so far, the agent and the goal, and this margin around them."""


MAX_WINDOW_M = 200.0
"""Largest planning window side, metres (an indoor map; a pose jump must not allocate gigabytes)."""


class PlanGrid(FloorGrid):
    """A window of the floor map, in the simulator grid's interface (what `sim.planning` plans on)."""

    def __init__(self, blocked: np.ndarray, resolution: float, origin_xy: tuple[float, float]):
        self.blocked, self.resolution, self.origin = blocked, resolution, origin_xy


class FloorMap:
    """Obstacle evidence on a world floor grid, built from depth frames; `plan` suggests the next action."""

    def __init__(self, agent_radius_m: float = 0.18, cell_m: float = CELL_M):
        if agent_radius_m < 0 or cell_m <= 0:
            raise SegpilotError(f"agent_radius_m must be >= 0 and cell_m > 0, got {agent_radius_m} and {cell_m}")
        self.radius, self.cell_m = agent_radius_m, cell_m
        self.obstacle: set[tuple[int, int]] = set()  # (x, y) cell indices of obstacle points
        self.seen_lo: np.ndarray | None = None  # bounds of the cells seen so far (x, y cell indices)
        self.seen_hi: np.ndarray | None = None
        self._last_camera: np.ndarray | None = None
        self._last_turn = 0  # the planner's turn direction, kept across steps as the expert keeps it
        self._frames = 0
        self._field: tuple | None = None  # (goal cell, frame count, grid, field) of the last distance field

    def update(self, depth: np.ndarray, camera, T_world_cam: np.ndarray) -> None:  # noqa: N803
        """Add one depth frame (metres, 0 / NaN = no return) seen by `camera` at `T_world_cam` (world z up).

        Two frames in a row from the same camera pose mean a forward step that did not move the agent (a turn
        changes the heading, stop ends the episode): the cells ahead of it are blocked by something the
        camera misses - too low, or below its view - and are marked so the plan stops walking into it."""
        from segpilot.geometry.unproject import depth_to_world

        T = np.asarray(T_world_cam, dtype=np.float64)
        if self._last_camera is not None and np.allclose(T[:3], self._last_camera[:3], atol=1e-3):
            yaw = math.atan2(T[1, 2], T[0, 2])
            for ahead in BUMP_AHEAD_M:
                self.bump(T[0, 3], T[1, 3], yaw, ahead)
            self._field = None  # the map changed where it matters most
        self._last_camera = T
        self._frames += 1

        xyz = depth_to_world(depth, camera, T_world_cam).reshape(-1, 3)
        xyz = xyz[np.isfinite(xyz).all(axis=1)]
        if not len(xyz):
            return
        cells = np.floor(xyz[:, :2] / self.cell_m).astype(np.int64)
        lo, hi = cells.min(axis=0), cells.max(axis=0)
        self.seen_lo = lo if self.seen_lo is None else np.minimum(self.seen_lo, lo)
        self.seen_hi = hi if self.seen_hi is None else np.maximum(self.seen_hi, hi)
        high = cells[(xyz[:, 2] > FLOOR_M) & (xyz[:, 2] < CEILING_M)]
        self.obstacle.update(zip(high[:, 0].tolist(), high[:, 1].tolist(), strict=True))

    def bump(self, x: float, y: float, yaw: float, ahead_m: float) -> None:
        """A forward step from (x, y) along `yaw` did not move the agent: something the camera missed (too low,
        or below its view) blocks the cell `ahead_m` in front of it."""
        key = (math.floor((x + ahead_m * math.cos(yaw)) / self.cell_m),
               math.floor((y + ahead_m * math.sin(yaw)) / self.cell_m))  # fmt: skip
        self.obstacle.add(key)

    def window(self, *points_xy) -> PlanGrid:
        """The blocked cells (grown by the agent radius) around everything seen and `points_xy`."""
        keys = np.asarray([np.floor(np.asarray(p) / self.cell_m).astype(np.int64) for p in points_xy]
                          + ([self.seen_lo, self.seen_hi] if self.seen_lo is not None else []))  # fmt: skip
        lo = keys.min(axis=0) - MARGIN_CELLS
        hi = keys.max(axis=0) + MARGIN_CELLS
        if np.any((hi - lo) * self.cell_m > MAX_WINDOW_M):  # a pose jump or a far goal: refuse, never allocate it
            raise SegpilotError(f"floor map window of {(hi - lo) * self.cell_m} m exceeds {MAX_WINDOW_M} m; reset "
                                "the map after a pose jump")  # fmt: skip
        blocked = np.zeros((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), bool)  # rows = y, cols = x
        if self.obstacle:
            obs = np.asarray(list(self.obstacle)) - lo
            blocked[obs[:, 1], obs[:, 0]] = True
        grow = int(math.ceil(self.radius / self.cell_m))
        blocked = _dilate_disk(blocked, grow)
        return PlanGrid(blocked, self.cell_m, (float(lo[0] * self.cell_m), float(lo[1] * self.cell_m)))

    def plan(self, pose, goal_xy, config, reach_m: float = 0.75):
        """The shortest-path action ('move_forward', 'turn_left', 'turn_right' or 'stop') from `pose` (x, y, yaw)
        towards the free cells within `reach_m` of `goal_xy` (or, when the goal sits deep inside an obstacle,
        the nearest free cells plus 0.3 m), and the geodesic metres left; (None, inf) when no path exists."""
        from segpilot.nav.planning import ShortestPathExpert

        goal_key = tuple(np.floor(np.asarray(goal_xy) / self.cell_m).astype(int))
        stale = self._field is None or self._field[0] != goal_key or self._frames - self._field[1] >= FIELD_EVERY
        for fresh in (False, True):
            if stale or fresh:
                self._field = (goal_key, self._frames, *self._distance_field(pose, goal_xy, reach_m))
            expert = ShortestPathExpert(*self._field[2:], config)
            here = expert.value(pose.x, pose.y)
            if math.isfinite(here) or stale:
                break
        if not math.isfinite(here):
            return None, math.inf
        expert.last_turn = self._last_turn
        action = expert.act(_PoseOnly(pose))
        self._last_turn = expert.last_turn
        return action, here

    def _distance_field(self, pose, goal_xy, reach_m: float) -> tuple[PlanGrid, np.ndarray]:
        from segpilot.nav.planning import distance_field

        grid = self.window((pose.x, pose.y), goal_xy)
        r, c = grid.cell(pose.x, pose.y)
        grid.blocked[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2] = False  # the agent stands here: free
        ys = grid.origin[1] + (np.arange(grid.shape[0]) + 0.5) * self.cell_m
        xs = grid.origin[0] + (np.arange(grid.shape[1]) + 0.5) * self.cell_m
        dist = np.hypot(xs[None, :] - goal_xy[0], ys[:, None] - goal_xy[1])
        free_dist = np.where(grid.blocked, np.inf, dist)
        reach = max(reach_m, float(free_dist.min()) + 0.3)
        return grid, distance_field(grid, free_dist <= reach, opening=1)


class _PoseOnly:
    """The observation interface `ShortestPathExpert.act` reads (only the pose)."""

    def __init__(self, pose):
        self.pose = pose


def _dilate_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    padded = np.pad(mask, radius)
    rows, cols = mask.shape
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            if dr * dr + dc * dc <= radius * radius:
                out |= padded[radius + dr : radius + dr + rows, radius + dc : radius + dc + cols]
    return out
