"""`sim_bridge` node: the embedded simulator (or habitat-sim) as a robot on ROS topics.

Publishes `color/image_raw` (rgb8), `depth/image_raw` (32FC1 metres, 0 = no return),
`color/camera_info` and `camera_pose` (PoseStamped of the optical frame, x right / y down /
z forward, in `world_frame`), all with one stamp per observation: the node clock when the
observation was made (wall time, the clock every other node of a launch stamps with; sim
time when the user sets use_sim_time), kept when the view is re-sent. It executes geometry_msgs/Twist on
`cmd_vel` (velocity mode, stepped at rate_hz) or discrete actions on `action`
(std_msgs/String: move_forward, turn_left, turn_right, stop; discrete mode, one observation
per action, the current one re-sent at rate_hz until the next action) - a robot-free closed
loop. The episode (a generated room, its start and goal) is reported on `~/episode` when the
agent calls stop or runs out of steps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from geometry_msgs.msg import PoseStamped, Twist
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String

from segpilot.errors import SegpilotError
from segpilot.nav.base import CameraConfig
from segpilot.policies.vla.configuration import VLAConfig
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.base import RELIABLE_QOS, SENSOR_QOS, SegpilotNode, run_node
from segpilot.sim.scenes import FURNITURE

ACTIONS = ("move_forward", "turn_left", "turn_right", "stop")
VLA_CAMERA = VLAConfig().camera
"""The embedded VLA policy's camera: sim_bridge's default, so sim_vla renders what the policy was trained on."""


@dataclass(frozen=True)
class SimBridgeConfig:
    """Parameters of the sim_bridge node."""

    simulator: Literal["embedded", "habitat"] = "embedded"
    """embedded (a generated room), or habitat with `habitat_scene`."""
    habitat_scene: str = ""
    """Scene file habitat-sim loads when simulator is habitat (a stage config from `segpilot sim export-habitat`,
    or any .glb / .ply / stage config)."""
    gpu_device_id: int = -1
    """habitat: -1 renders on the CPU, >= 0 on that CUDA device."""
    room_seed: int = 30000
    """Seed of the generated room (held-out rooms start at 30000). habitat: an exported room brings its own seed;
    other scenes draw their start from the navmesh with room_seed + episode_index."""
    episode_index: int = 0
    """Which generated navigation episode of the room gives the start pose and the goal."""
    goal_categories: str = ",".join(FURNITURE)
    """Comma-separated object categories episodes may name as goals (the VLA's furniture); empty = any object."""
    mode: Literal["discrete", "velocity"] = "discrete"
    """discrete: step on each `action`; velocity: integrate `cmd_vel` at rate_hz."""
    rate_hz: float = 10.0
    """Velocity mode: simulation steps per second; discrete mode: re-send rate of the current view."""
    width: int = VLA_CAMERA.width
    """Camera width, pixels (default: the embedded VLA policy's camera, `VLAConfig.camera`)."""
    height: int = VLA_CAMERA.height
    """Camera height, pixels."""
    hfov_deg: float = VLA_CAMERA.hfov_deg
    """Camera horizontal field of view, degrees."""
    camera_height_m: float = VLA_CAMERA.height_m
    """Camera height above the floor, metres."""
    camera_pitch_deg: float = VLA_CAMERA.pitch_deg
    """Camera pitch, degrees (negative looks down): the camera_pitch_deg in the VLA policy's config.json."""
    max_linear_mps: float = 1.0
    """Velocity mode: cmd_vel linear.x is clamped to +-this (a robot base's limit), m/s."""
    max_angular_rps: float = 2.0
    """Velocity mode: cmd_vel angular.z is clamped to +-this, rad/s."""
    cmd_vel_timeout_s: float = 0.5
    """Velocity mode: a cmd_vel older than this is replaced by zero velocity (a stopped driver must not leave the
    robot moving), seconds; keep it above the command publisher's period (vla_policy publishes at its rate_hz, 5 Hz
    by default: 0.2 s)."""
    max_steps: int = 400
    """Steps before the episode ends without a stop; 0 = no limit (a QA bring-up driven by hand)."""
    world_frame: str = "map"
    """frame_id of camera_pose."""
    camera_frame: str = "camera_color_optical_frame"
    """frame_id of the images and camera info."""

    @property
    def camera(self) -> CameraConfig:
        """The camera this bridge renders (checked by CameraConfig)."""
        return CameraConfig(self.width, self.height, self.hfov_deg, self.camera_height_m, self.camera_pitch_deg)

    def __post_init__(self) -> None:
        self.camera  # noqa: B018 - the camera's own checks
        if self.simulator not in ("embedded", "habitat") or self.mode not in ("discrete", "velocity"):
            raise SegpilotError("simulator must be embedded or habitat; mode must be discrete or velocity")
        if self.simulator == "habitat" and not self.habitat_scene.strip():
            raise SegpilotError("simulator habitat needs habitat_scene (a .glb / .ply or a .stage_config.json file)")
        if self.gpu_device_id < -1:
            raise SegpilotError(f"gpu_device_id must be -1 (CPU) or a CUDA device index, got {self.gpu_device_id}")
        if not (self.max_linear_mps > 0 and self.max_angular_rps > 0 and self.cmd_vel_timeout_s > 0):
            raise SegpilotError("max_linear_mps, max_angular_rps and cmd_vel_timeout_s must be > 0")
        if self.rate_hz <= 0 or self.max_steps < 0:  # the image size and field of view: checked by CameraConfig
            raise SegpilotError("rate_hz must be > 0 and max_steps >= 0")


class SimBridgeNode(SegpilotNode):
    configs = (SimBridgeConfig,)

    def __init__(self, **kwargs):
        super().__init__("sim_bridge", **kwargs)

    def configure(self) -> None:
        from segpilot.sim.base import SimConfig
        from segpilot.sim.embedded import EmbeddedSimulator
        from segpilot.sim.episodes import episode_in_room
        from segpilot.sim.scenes import Scene, generate_scene

        cfg = self.config(SimBridgeConfig)
        self.cfg = cfg
        sim_config = SimConfig.with_camera(cfg.camera)
        categories = [c.strip() for c in cfg.goal_categories.split(",") if c.strip()] or None
        if cfg.simulator == "habitat":
            from segpilot.sim.registry import make_simulator

            self.sim = make_simulator("habitat", cfg.habitat_scene, sim_config, gpu_device_id=cfg.gpu_device_id)
            if self.sim.scene_graph is not None:  # an exported segpilot room: the embedded backend's episodes
                self.episode = episode_in_room(Scene.load(self.sim.scene_graph), sim_config, cfg.episode_index,
                                               categories)  # fmt: skip
                start = self.episode.start_pose
            else:
                self.episode = None
                start = self.sim.random_start(cfg.room_seed + cfg.episode_index)
                self.get_logger().info("habitat scene without segpilot episodes: random navigable start, no goal")
        else:
            self.sim = EmbeddedSimulator(generate_scene(cfg.room_seed), sim_config)
            self.episode = episode_in_room(self.sim.scene, sim_config, cfg.episode_index, categories)
            start = self.episode.start_pose
        self.obs = self.sim.reset(start)
        self.obs_stamp = self.get_clock().now().to_msg()
        self.steps, self.done, self.path_m = 0, False, 0.0
        self.twist, self.twist_time = Twist(), 0.0
        self.pubs = {"color": self.create_publisher(Image, "color/image_raw", SENSOR_QOS),
                     "depth": self.create_publisher(Image, "depth/image_raw", SENSOR_QOS),
                     "info": self.create_publisher(CameraInfo, "color/camera_info", SENSOR_QOS),
                     "pose": self.create_publisher(PoseStamped, "camera_pose", RELIABLE_QOS),
                     "episode": self.create_publisher(String, "~/episode", RELIABLE_QOS)}  # fmt: skip
        self.create_subscription(String, "action", self.on_action, RELIABLE_QOS)
        self.create_subscription(Twist, "cmd_vel", self.on_twist, RELIABLE_QOS)
        self.create_timer(1.0 / cfg.rate_hz, self.on_tick)

    def publish_observation(self) -> None:
        f = self.obs.frame
        stamp = self.obs_stamp
        header = Header(stamp=stamp, frame_id=self.cfg.camera_frame)
        self.pubs["color"].publish(convert.rgb_to_image(f.rgb, header))
        depth = f.depth.copy()
        depth[~f.valid_depth] = 0.0
        self.pubs["depth"].publish(convert.depth_to_image(depth, header))
        self.pubs["info"].publish(convert.camera_info_msg(f.camera, header))
        self.pubs["pose"].publish(convert.pose_msg(f.T_world_cam, Header(stamp=stamp, frame_id=self.cfg.world_frame)))
        self.counts["observations"] += 1

    def on_tick(self) -> None:
        if not self.active:
            return
        if self.done:  # keep reporting the result for late subscribers, and keep the camera streaming
            self.pubs["episode"].publish(String(data=json.dumps(self.report)))
            self.publish_observation()
            return
        if self.cfg.mode == "velocity":
            fresh = time.monotonic() - self.twist_time < self.cfg.cmd_vel_timeout_s
            lin, ang = (self.twist.linear.x, self.twist.angular.z) if fresh else (0.0, 0.0)
            # Clamped to the declared limits: one absurd command (1e12 m/s) must not become a huge step.
            lin = max(-self.cfg.max_linear_mps, min(self.cfg.max_linear_mps, lin))
            ang = max(-self.cfg.max_angular_rps, min(self.cfg.max_angular_rps, ang))
            self._step_with(lambda: self._command(lin, ang))
        else:
            self.publish_observation()

    def _command(self, linear: float, angular: float):
        from segpilot.sim.base import BaseCommand

        return BaseCommand(linear, angular, 1.0 / self.cfg.rate_hz)

    def on_twist(self, msg: Twist) -> None:
        import math

        if not all(math.isfinite(v) for v in (msg.linear.x, msg.angular.z)):
            self.drop("invalid", "cmd_vel has a non-finite velocity")
            return
        self.twist, self.twist_time = msg, time.monotonic()

    def on_action(self, msg: String) -> None:
        if not self.active or self.done:
            return
        action = msg.data.strip()
        if action not in ACTIONS:
            self.drop("invalid", f"action {action!r}: expected one of {', '.join(ACTIONS)}")
            return
        if self.cfg.mode != "discrete":
            self.drop("invalid", "discrete action received in velocity mode")
            return
        if action == "stop":
            self.finish(stopped=True)
            return
        self._step_with(lambda: action)

    def _step_with(self, make_action) -> None:
        import math

        prev = self.obs.pose
        self.obs = self.sim.step(make_action())
        self.obs_stamp = self.get_clock().now().to_msg()
        self.steps += 1
        self.path_m += math.hypot(self.obs.pose.x - prev.x, self.obs.pose.y - prev.y)
        self.publish_observation()
        if self.cfg.max_steps and self.steps >= self.cfg.max_steps:
            self.finish(stopped=False)

    def finish(self, stopped: bool) -> None:
        from segpilot.sim.planning import footprint_distance

        self.done = True
        report: dict = {"stopped": stopped, "steps": self.steps, "path_length_m": self.path_m, "goal": None}
        if self.episode is not None:
            goal = self.episode.goals[0]
            dist = footprint_distance(self.obs.pose, goal["bbox_min"], goal["bbox_max"])
            report.update(episode_id=self.episode.episode_id, instruction=self.episode.instruction, goal=goal,
                          distance_to_goal=dist, success=stopped and dist <= self.episode.success_distance)  # fmt: skip
        self.report = report
        self.pubs["episode"].publish(String(data=json.dumps(report)))


def main(args=None) -> None:
    run_node(SimBridgeNode, args)


if __name__ == "__main__":
    main()
