"""Geodesic distance fields on the occupancy grid and the shortest-path expert that follows them.

The distance field is exact Dijkstra on the 8-connected grid (computed by vectorised
relaxation: each sweep lets distances flow one cell further, until nothing changes). The
expert is the demonstrator for behaviour cloning: at every step it looks one action ahead -
each heading it can reach by turning, one forward step along it - and takes the action that
leads towards the lowest geodesic distance; it stops inside the goal region.
"""

from __future__ import annotations

import math

import numpy as np

from segpilot.nav.base import AgentPose, Observation, SimConfig
from segpilot.nav.grid import FloorGrid

_SQRT2 = math.sqrt(2.0)


def _shift_all(mask: np.ndarray, radius: int, combine) -> np.ndarray:
    """`combine` (np.logical_and / np.logical_or) of `mask` shifted over a (2r+1)^2 square; outside = False."""
    out = mask.copy()
    padded = np.pad(mask, radius)
    rows, cols = mask.shape
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            combine(out, padded[radius + dr : radius + dr + rows, radius + dc : radius + dc + cols], out=out)
    return out


def traversable(grid: FloorGrid, radius: int = 2) -> np.ndarray:
    """Free cells of passages at least 2 * radius + 1 cells wide (morphological opening of free space).

    The 8-connected grid lets a path squeeze through a one-cell gap that an agent moving in
    0.25 m steps and 10 degree turns cannot thread; a planner that counts on it leaves the
    expert stuck at such gaps, turning in place."""
    free = ~grid.blocked
    return _shift_all(_shift_all(free, radius, np.logical_and), radius, np.logical_or) & free


def distance_field(grid: FloorGrid, goal_mask: np.ndarray, opening: int = 2) -> np.ndarray:
    """(rows, cols) geodesic metres from every traversable cell (passages 2 * `opening` + 1 cells wide) to
    `goal_mask`; inf where unreachable."""
    res = grid.resolution
    free = traversable(grid, opening)
    d = np.where(goal_mask & free, 0.0, np.inf)
    shifts = [(dr, dc, res * (_SQRT2 if dr and dc else 1.0)) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    while True:
        new = d.copy()
        for dr, dc, cost in shifts:
            src = d[max(0, -dr) : d.shape[0] - max(0, dr), max(0, -dc) : d.shape[1] - max(0, dc)]
            dst = new[max(0, dr) : d.shape[0] - max(0, -dr), max(0, dc) : d.shape[1] - max(0, -dc)]
            np.minimum(dst, src + cost, out=dst)
        new[~free] = np.inf
        if np.array_equal(new, d):
            return d
        d = new


def goal_region(grid: FloorGrid, bbox_min, bbox_max, radius: float) -> np.ndarray:
    """Cells whose centre is within `radius` metres (2D) of an object's footprint."""
    ys = (np.arange(grid.shape[0]) + 0.5) * grid.resolution
    xs = (np.arange(grid.shape[1]) + 0.5) * grid.resolution
    gx, gy = np.meshgrid(xs, ys)
    dx = np.maximum(np.maximum(bbox_min[0] - gx, 0), gx - bbox_max[0])
    dy = np.maximum(np.maximum(bbox_min[1] - gy, 0), gy - bbox_max[1])
    return np.hypot(dx, dy) <= radius


def footprint_distance(pose: AgentPose, bbox_min, bbox_max) -> float:
    """2D distance from the agent to an object's footprint (0 inside it)."""
    dx = max(bbox_min[0] - pose.x, 0.0, pose.x - bbox_max[0])
    dy = max(bbox_min[1] - pose.y, 0.0, pose.y - bbox_max[1])
    return math.hypot(dx, dy)


class ShortestPathExpert:
    """Habitat-style agent (`reset` / `act`) that follows a geodesic distance field."""

    def __init__(self, grid: FloorGrid, field: np.ndarray, config: SimConfig):
        self.grid, self.field, self.config = grid, field, config
        self.last_turn = 0

    def reset(self) -> None:
        self.last_turn = 0  # +1 left, -1 right: no immediate reversal (boundary flicker)

    def value(self, x: float, y: float) -> float:
        r, c = self.grid.cell(x, y)
        if not (0 <= r < self.field.shape[0] and 0 <= c < self.field.shape[1]):
            return math.inf
        return float(self.field[r, c])

    def act(self, observation: Observation) -> str:
        pose = observation.pose
        here = self.value(pose.x, pose.y)
        if here == 0.0:
            return "stop"
        turn = math.radians(self.config.turn_step_deg)
        step = self.config.forward_step_m
        best, best_k = here - 1e-6, None
        n_turns = int(math.ceil(math.pi / turn))
        for k in sorted(range(-n_turns, n_turns + 1), key=abs):
            yaw = pose.yaw + k * turn
            tx, ty = pose.x + step * math.cos(yaw), pose.y + step * math.sin(yaw)
            v = self.value(tx, ty) + 1e-3 * abs(k)  # prefer fewer turns among equals
            if v < best and self.grid.segment_free((pose.x, pose.y), (tx, ty)):
                best, best_k = v, k
        if best_k == 0:
            self.last_turn = 0
            return "move_forward"
        direction = 1 if best_k is None else (1 if best_k > 0 else -1)
        if self.last_turn and direction != self.last_turn:
            # Reversing the last turn would oscillate on a collision-check boundary: keep turning.
            direction = self.last_turn
        self.last_turn = direction
        return "turn_left" if direction > 0 else "turn_right"
