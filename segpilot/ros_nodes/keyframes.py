"""A bounded keyframe memory chosen by camera motion (pure: no rclpy).

A synchronised RGB-D frame becomes a keyframe when the camera has moved at least
`min_translation_m` or turned at least `min_rotation_deg` since the last keyframe (the
first frame always is). The memory keeps the newest `max_keyframes`; each keyframe keeps
its per-patch visual tokens (features, saliency, 3D positions) so a question never
re-encodes old views.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame


@dataclass(frozen=True)
class MemoryConfig:
    """Parameters of the rgbd_memory node (and of the keyframe memory inside scene_qa)."""

    slop_s: float = 0.02
    """Approximate-time synchroniser: largest stamp difference within one RGB-D + pose set, seconds."""
    min_translation_m: float = 0.3
    """Camera translation since the last keyframe that makes a new keyframe, metres."""
    min_rotation_deg: float = 20.0
    """Camera rotation since the last keyframe that makes a new keyframe, degrees."""
    max_keyframes: int = 24
    """Keyframes kept (the oldest is dropped first)."""
    depth_scale: float = 0.001
    """Metres per unit of a 16UC1 depth image (32FC1 depth is already in metres)."""
    max_depth_m: float = 10.0
    """Depth beyond this (and 0, NaN, inf) is treated as invalid."""
    encoder: str = "efficientnet-lite0"
    """Encoder of the per-keyframe tokens published as a point cloud."""
    encoder_threads: int = 1
    """torch threads of the keyframe encoder (0 = torch's default); leaves the other cores to the callbacks."""
    world_frame: str = "map"
    """frame_id of the published token cloud (the frame the camera poses are given in)."""

    def __post_init__(self) -> None:
        if self.slop_s < 0 or self.min_translation_m < 0 or self.min_rotation_deg < 0:
            raise SegpilotError("slop_s, min_translation_m and min_rotation_deg must be >= 0")
        if self.max_keyframes < 1 or self.depth_scale <= 0 or self.max_depth_m <= 0 or self.encoder_threads < 0:
            raise SegpilotError("expected max_keyframes >= 1, depth_scale, max_depth_m > 0, encoder_threads >= 0")


def moved_enough(a: np.ndarray, b: np.ndarray, min_translation_m: float, min_rotation_deg: float) -> bool:
    """Whether camera pose b (4x4, camera-to-world) is a new viewpoint relative to a."""
    translation = float(np.linalg.norm(b[:3, 3] - a[:3, 3]))
    cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
    rotation = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
    return translation >= min_translation_m or rotation >= min_rotation_deg


class KeyframeMemory:
    """Newest keyframes by id (a monotonically increasing counter), with optional tokens each."""

    def __init__(self, config: MemoryConfig):
        self.config = config
        self.frames: OrderedDict[int, Frame] = OrderedDict()
        self.tokens: dict[int, object] = {}
        self._next = 0

    def offer(self, frame: Frame) -> int | None:
        """Store `frame` if it is a new viewpoint; returns its keyframe id or None."""
        if self.frames:
            last = next(reversed(self.frames.values()))
            if not moved_enough(last.T_world_cam, frame.T_world_cam, self.config.min_translation_m,
                                self.config.min_rotation_deg):  # fmt: skip
                return None
        key = self._next
        self._next += 1
        self.frames[key] = frame
        while len(self.frames) > self.config.max_keyframes:
            old, _ = self.frames.popitem(last=False)
            self.tokens.pop(old, None)
        return key

    def __len__(self) -> int:
        return len(self.frames)
