"""`Frame`: one RGB-D observation with its camera and pose, checked at construction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import check_rigid


@dataclass(frozen=True, eq=False)
class Frame:
    """An RGB-D frame in segpilot's conventions.

    Attributes:
        rgb: (H, W, 3) uint8, RGB order, row 0 at the top.
        depth: (H, W) float32 z-depth in metres along the optical axis; 0 or non-finite = invalid.
        camera: intrinsics of both images (they are pixel-aligned).
        T_world_cam: (4, 4) float64 rigid transform, OpenCV camera frame -> world frame.
        stamp: time in seconds.
        frame_id: name of the camera's optical frame (ROS header.frame_id).
    """

    rgb: np.ndarray
    depth: np.ndarray
    camera: PinholeCamera
    T_world_cam: np.ndarray
    stamp: float = 0.0
    frame_id: str = "camera_optical_frame"

    def __post_init__(self) -> None:
        rgb, depth = np.asarray(self.rgb), np.asarray(self.depth)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SegpilotError(f"Frame.rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth.ndim != 2:
            raise SegpilotError(f"Frame.depth must be (H, W) metres, got shape {depth.shape}")
        if depth.shape != rgb.shape[:2]:
            raise SegpilotError(f"Frame.rgb {rgb.shape[:2]} and Frame.depth {depth.shape} must have the same H, W")
        if (self.camera.height, self.camera.width) != depth.shape:
            raise SegpilotError(
                f"camera is {self.camera.width}x{self.camera.height} "
                f"but the images are {depth.shape[1]}x{depth.shape[0]}"
            )
        object.__setattr__(self, "rgb", rgb)
        object.__setattr__(self, "depth", depth.astype(np.float32, copy=False))
        object.__setattr__(self, "T_world_cam", check_rigid(self.T_world_cam, "Frame.T_world_cam"))

    @property
    def valid_depth(self) -> np.ndarray:
        """(H, W) bool: finite and > 0."""
        return np.isfinite(self.depth) & (self.depth > 0)


@runtime_checkable
class FrameSource(Protocol):
    """A scan the pipeline reads frames from (every reader in `eval.datasets` is one): the core names this
    interface instead of importing a reader, so data flows in from the adapters and never the other way.
    A source with `depth_only_frames = True` also takes `frames(ids, rgb=False)` (black colour placeholders):
    coverage view selection then reads the candidates' depth only and the chosen views' colour."""

    scene_id: str
    root: Path

    def valid_frame_ids(self) -> list[int]:
        """Ids of the frames that have a usable pose, in order."""
        ...

    def frames(self, ids: Iterable[int] | None = None) -> list[Frame]:
        """The frames for `ids` (default: every valid frame)."""
        ...
