"""A small transform buffer for recorded `/tf` and `/tf_static` (tf2_ros is not installable everywhere).

Robot bags carry the camera pose as a chain of transforms - e.g. map -> odom -> base_link ->
camera_link -> camera_color_optical_frame - each a geometry_msgs/TransformStamped (parent
`header.frame_id`, child `child_frame_id`, the child's pose in the parent). `lookup(fixed, camera, t)`
walks the tree between the two frames and composes, per edge, the sample nearest to `t` (static
edges at any time), as tf2 does without interpolation. Pure Python + numpy: no rclpy.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.conventions import invert_pose


class TransformBuffer:
    """Edges parent -> child with time-stamped 4x4 T_parent_child samples."""

    def __init__(self, max_gap_s: float = 0.5):
        self.max_gap_s = max_gap_s
        self.samples: dict[tuple[str, str], tuple[list[float], list[np.ndarray]]] = {}
        self.static: dict[tuple[str, str], np.ndarray] = {}
        self.links: dict[str, set[str]] = defaultdict(set)

    def add(self, parent: str, child: str, stamp: float, T_parent_child: np.ndarray, static: bool = False) -> None:  # noqa: N803
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise SegpilotError(f"transform {parent!r} -> {child!r}: expected two different, non-empty frame names")
        self.links[parent].add(child)
        self.links[child].add(parent)
        if static:
            self.static[(parent, child)] = T_parent_child
            return
        stamps, values = self.samples.setdefault((parent, child), ([], []))
        i = bisect.bisect_right(stamps, stamp)
        stamps.insert(i, stamp)
        values.insert(i, T_parent_child)

    def _edge(self, parent: str, child: str, stamp: float) -> np.ndarray:
        if (parent, child) in self.static:
            return self.static[(parent, child)]
        stamps, values = self.samples[(parent, child)]
        i = bisect.bisect_left(stamps, stamp)
        best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)), key=lambda j: abs(stamps[j] - stamp))
        if abs(stamps[best] - stamp) > self.max_gap_s:
            raise SegpilotError(f"no {parent} -> {child} transform within {self.max_gap_s} s of t = {stamp:.3f}")
        return values[best]

    def lookup(self, fixed: str, frame: str, stamp: float) -> np.ndarray:
        """T_fixed_frame at `stamp` (a camera-to-world pose when `frame` is the camera's optical frame)."""
        fixed, frame = fixed.lstrip("/"), frame.lstrip("/")
        if fixed == frame:
            return np.eye(4)
        previous: dict[str, str | None] = {fixed: None}
        queue = deque([fixed])
        while queue and frame not in previous:
            node = queue.popleft()
            for nxt in self.links.get(node, ()):
                if nxt not in previous:
                    previous[nxt] = node
                    queue.append(nxt)
        if frame not in previous:
            known = ", ".join(sorted(self.links)) or "none"
            raise SegpilotError(f"no transform chain from {fixed} to {frame} in /tf and /tf_static (frames: {known})")
        path = [frame]
        while previous[path[-1]] is not None:
            path.append(previous[path[-1]])
        T = np.eye(4)
        for a, b in zip(path[::-1], path[-2::-1], strict=False):  # fixed ... frame
            T = T @ (self._edge(a, b, stamp) if (a, b) in self.static or (a, b) in self.samples
                     else invert_pose(self._edge(b, a, stamp)))  # fmt: skip
        return T
