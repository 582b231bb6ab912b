"""The simulator protocol every backend implements, its actions, poses and configuration.

Agents live on the floor plane: a pose is (x, y, yaw) in the backend's ground coordinates,
yaw counter-clockwise from +x seen from above, in radians. Observations come back as a
segpilot `Frame` (OpenCV camera axes, z-depth in metres, T_world_cam) plus an object-id
image, so everything downstream is backend-agnostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame

DISCRETE_ACTIONS = ("move_forward", "turn_left", "turn_right", "stop")
DEFAULT_CAMERA_PITCH_DEG = -10.0
"""Pitch of the camera every backend renders by default and the default VLA policy was trained with (negative
looks down): the one source for SimConfig, VLAConfig, the trainers and sim_bridge."""


@dataclass(frozen=True)
class AgentPose:
    """Agent base on the floor: position (x, y) metres, heading yaw radians (CCW from +x)."""

    x: float
    y: float
    yaw: float

    def distance_to(self, xy) -> float:
        return math.hypot(self.x - xy[0], self.y - xy[1])


@dataclass(frozen=True)
class BaseCommand:
    """Continuous base velocity, as a ROS geometry_msgs/Twist would give it, held for dt seconds."""

    linear_mps: float
    angular_rps: float
    dt: float = 0.1

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.linear_mps, self.angular_rps, self.dt)) or self.dt <= 0:
            raise SegpilotError(f"base command needs finite velocities and dt > 0, got {self}")


@dataclass(frozen=True)
class CameraConfig:
    """The agent's RGB-D camera: image size, pinhole field of view, mount height and pitch - the one camera
    description the simulators render (`SimConfig.camera`), a VLA policy was trained with (`VLAConfig.camera`)
    and sim_bridge publishes. Checked once, here."""

    width: int = 320
    """Image width in pixels."""
    height: int = 240
    """Image height in pixels."""
    hfov_deg: float = 90.0
    """Horizontal field of view of the pinhole camera, degrees."""
    height_m: float = 1.25
    """Camera height above the floor, metres."""
    pitch_deg: float = DEFAULT_CAMERA_PITCH_DEG
    """Camera pitch, degrees (negative looks down)."""

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise SegpilotError(f"image size must be at least 8x8, got {self.width}x{self.height}")
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise SegpilotError(f"hfov_deg must lie in [1, 170], got {self.hfov_deg}")
        if not -89.0 <= self.pitch_deg <= 89.0:
            raise SegpilotError(f"camera_pitch_deg must lie in [-89, 89], got {self.pitch_deg}")
        if not self.height_m > 0:
            raise SegpilotError(f"camera_height_m must be > 0, got {self.height_m}")

    def intrinsics(self):
        """The pinhole intrinsics (square pixels, principal point at the image centre)."""
        from segpilot.geometry.camera import PinholeCamera

        return PinholeCamera.from_hfov(self.hfov_deg, self.width, self.height)


CAMERA = CameraConfig()


@dataclass(frozen=True)
class SimConfig:
    """Sensor and agent settings shared by all backends (one field = one CLI flag / ROS parameter). The camera
    fields are a `CameraConfig` (`camera`, `with_camera`), kept flat for the flags and parameters."""

    width: int = CAMERA.width
    """Image width in pixels."""
    height: int = CAMERA.height
    """Image height in pixels."""
    hfov_deg: float = CAMERA.hfov_deg
    """Horizontal field of view of the RGB-D camera, degrees."""
    camera_height_m: float = CAMERA.height_m
    """Camera height above the floor, metres."""
    camera_pitch_deg: float = CAMERA.pitch_deg
    """Camera pitch, degrees (negative looks down)."""
    agent_radius_m: float = 0.18
    """Agent radius for collisions, metres."""
    forward_step_m: float = 0.25
    """Distance of move_forward, metres (Habitat default)."""
    turn_step_deg: float = 10.0
    """Angle of turn_left / turn_right, degrees (Habitat default)."""
    grid_resolution_m: float = 0.05
    """Cell size of the 2D occupancy grid, metres."""
    ambient_light: float = 0.45
    """Flat Lambert shading: a surface shows ambient + (1 - ambient) |normal . light| of its colour. The QA data
    renders with more ambient light (0.75) so shaded colours keep their names (make-qa's colour report)."""

    def __post_init__(self) -> None:
        self.camera  # noqa: B018 - the camera's own checks
        if not 0.0 <= self.ambient_light <= 1.0:
            raise SegpilotError(f"ambient_light must lie in [0, 1], got {self.ambient_light}")
        for name in ("agent_radius_m", "forward_step_m", "turn_step_deg", "grid_resolution_m"):
            if not getattr(self, name) > 0:
                raise SegpilotError(f"{name} must be > 0, got {getattr(self, name)}")

    @property
    def camera(self) -> CameraConfig:
        return CameraConfig(self.width, self.height, self.hfov_deg, self.camera_height_m, self.camera_pitch_deg)

    @classmethod
    def with_camera(cls, camera: CameraConfig, **settings) -> SimConfig:
        """A SimConfig rendering `camera`, with other `settings` (agent, grid, light) given by name."""
        return cls(width=camera.width, height=camera.height, hfov_deg=camera.hfov_deg, camera_height_m=camera.height_m,
                   camera_pitch_deg=camera.pitch_deg, **settings)  # fmt: skip


@dataclass
class Observation:
    """What a simulator returns after reset / step."""

    frame: Frame
    object_ids: np.ndarray  # (H, W) int32, 0 = nothing hit
    pose: AgentPose
    collided: bool = False


@runtime_checkable
class Simulator(Protocol):
    """reset(start) -> Observation; step(action) -> Observation; actions as in Habitat."""

    config: SimConfig

    def reset(self, start: AgentPose) -> Observation: ...

    def step(self, action: str | BaseCommand) -> Observation: ...

    def close(self) -> None: ...


def check_action(action) -> None:
    """One clear error for anything that is not a known discrete action or a BaseCommand."""
    if isinstance(action, BaseCommand):
        return
    if action not in DISCRETE_ACTIONS:
        raise SegpilotError(
            f"unknown action {action!r}; expected one of {', '.join(DISCRETE_ACTIONS)} or a BaseCommand"
        )


def next_pose(pose: AgentPose, action, config: SimConfig) -> AgentPose:
    """Kinematics of an action, before collision checking."""
    check_action(action)
    if isinstance(action, BaseCommand):
        yaw = pose.yaw + action.angular_rps * action.dt
        mid = pose.yaw + 0.5 * action.angular_rps * action.dt  # midpoint heading integration
        d = action.linear_mps * action.dt
        return AgentPose(pose.x + d * math.cos(mid), pose.y + d * math.sin(mid), _wrap(yaw))
    if action == "move_forward":
        d = config.forward_step_m
        return AgentPose(pose.x + d * math.cos(pose.yaw), pose.y + d * math.sin(pose.yaw), pose.yaw)
    turn = math.radians(config.turn_step_deg)
    if action == "turn_left":
        return AgentPose(pose.x, pose.y, _wrap(pose.yaw + turn))
    if action == "turn_right":
        return AgentPose(pose.x, pose.y, _wrap(pose.yaw - turn))
    return pose  # stop


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
