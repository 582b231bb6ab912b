"""Habitat observations and sensor states -> segpilot `Frame` (pure; no habitat_sim import).

Habitat's conventions (checked against real recordings in ../shared/fixtures/habitat):
- camera frame OpenGL-like: +X right, +Y up, looking along -Z;
- sensor state rotation is np.quaternion(w, x, y, z) mapping camera to world, and the
  state is already in world coordinates (agent pose composed with the sensor offset);
- depth is z-depth in metres (not ray length, not normalised), 0 where nothing was hit;
- pinhole intrinsics from the horizontal FOV with square pixels: fx = fy = (W/2)/tan(hfov/2),
  principal point at the image centre with integer pixel centres: (W/2 - 0.5, H/2 - 0.5).

`frame_from_habitat` keeps Habitat's Y-up world; `to_ground` re-expresses a frame in
segpilot's ground frame (z up, as ROS REP-103 and the embedded simulator), the frame the
simulator backends hand out: Habitat (x, y, z) is ground (x, -z, y), the same map under which
an `AgentPose` (x, y) is the Habitat position (x, height, -y).
"""

from __future__ import annotations

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import opengl_to_opencv_pose, pose_from_position_quat_wxyz
from segpilot.geometry.frame import Frame

T_GROUND_HABITAT = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
"""segpilot's z-up ground frame from Habitat's Y-up world."""


def habitat_camera(hfov_deg: float, width: int, height: int) -> PinholeCamera:
    """Intrinsics of a Habitat pinhole sensor from its `hfov` and resolution."""
    return PinholeCamera.from_hfov(hfov_deg, width, height)


def habitat_T_world_cam(position: np.ndarray, rotation_wxyz: np.ndarray) -> np.ndarray:  # noqa: N802
    """OpenCV-convention T_world_cam of a Habitat sensor state (world position, wxyz quaternion)."""
    return opengl_to_opencv_pose(pose_from_position_quat_wxyz(position, rotation_wxyz))


def frame_from_habitat(
    color: np.ndarray,
    depth: np.ndarray,
    position: np.ndarray,
    rotation_wxyz: np.ndarray,
    hfov_deg: float,
    stamp: float = 0.0,
    frame_id: str = "habitat_camera_optical_frame",
) -> Frame:
    """One `Frame` from a colour (H, W, 3|4) and depth (H, W) observation and the sensor state."""
    color = np.asarray(color)
    if color.ndim != 3 or color.shape[2] not in (3, 4) or color.dtype != np.uint8:
        raise SegpilotError(f"habitat colour observation must be (H, W, 3|4) uint8, got {color.shape} {color.dtype}")
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    h, w = depth.shape[:2]
    return Frame(
        rgb=np.ascontiguousarray(color[..., :3]),
        depth=depth,
        camera=habitat_camera(hfov_deg, w, h),
        T_world_cam=habitat_T_world_cam(position, rotation_wxyz),
        stamp=stamp,
        frame_id=frame_id,
    )


def to_ground(frame: Frame) -> Frame:
    """`frame` with its pose in segpilot's z-up ground frame instead of Habitat's Y-up world: what the goal
    belief's floor grid, the camera-pitch check and ROS consumers (REP-103) expect."""
    from dataclasses import replace

    return replace(frame, T_world_cam=T_GROUND_HABITAT @ frame.T_world_cam)
