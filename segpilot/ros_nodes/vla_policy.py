"""`vla_policy` node: an instruction + the camera topics -> robot actions from the VLA.

The instruction arrives on `~/instruction` (std_msgs/String; "stop" or an empty string stops
the robot, a new instruction restarts the policy). In velocity mode the node publishes
geometry_msgs/Twist on `cmd_vel` at `rate_hz` (a discrete move becomes `linear_speed_mps`,
a turn `angular_speed_dps`, stop zero); in discrete mode it publishes one std_msgs/String
action on `action` per new observation (the simulator's lock-step loop).

Velocity mode runs two timers on two executor threads: the policy decides on the newest frame
as often as `rate_hz` and its inference allow, and the current command is published at
`rate_hz` whatever the inference takes (a policy step of 0.7 s used to bring cmd_vel down to
1.4 Hz, and a base that zeroes stale commands stalled between them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Literal

import numpy as np
from geometry_msgs.msg import Twist
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import String

from segpilot.errors import SegpilotError
from segpilot.ros_nodes.base import RELIABLE_QOS, SegpilotNode, run_node
from segpilot.ros_nodes.rgbd_input import CameraInputConfig, RGBDInput

PITCH_TOLERANCE_DEG = 5.0


@dataclass(frozen=True)
class VLANodeConfig:
    """Parameters of the vla_policy node."""

    policy: str = ""
    """VLA policy folder; empty = the embedded default policy."""
    mode: Literal["discrete", "velocity"] = "velocity"
    """velocity: Twist on cmd_vel at rate_hz; discrete: one action String per new observation."""
    rate_hz: float = 5.0
    """Velocity mode: Twist messages (and policy actions) per second."""
    replan_every: int = 1
    """Actions executed per decoded chunk (0 = the whole chunk)."""
    temperature: float = 1.0
    """Sample moves at this temperature, seeded per instruction (0 = always the most likely action)."""
    routing: bool = True
    """LFP routing in the language layers."""
    linear_speed_mps: float = 0.25
    """Velocity mode: forward speed of a move_forward action, m/s."""
    angular_speed_dps: float = 30.0
    """Velocity mode: turn rate of a turn action, degrees per second."""
    slop_s: float = 0.02
    """Approximate-time synchroniser slop, seconds."""
    depth_scale: float = 0.001
    """Metres per unit of a 16UC1 depth image."""
    max_depth_m: float = 10.0
    """Depth beyond this is invalid."""
    world_frame: str = "map"
    """Fixed frame the camera poses are given in (a pose in another frame is dropped and counted)."""

    def __post_init__(self) -> None:
        if self.mode not in ("velocity", "discrete"):
            raise SegpilotError(f"mode {self.mode!r}: expected velocity or discrete")
        rates = (self.replan_every, self.linear_speed_mps, self.angular_speed_dps, self.temperature)
        if self.rate_hz <= 0 or min(rates) < 0:
            raise SegpilotError("rate_hz must be > 0; replan_every, temperature and the speeds must be >= 0")


class VLAPolicyNode(SegpilotNode):
    configs = (VLANodeConfig, CameraInputConfig)
    executor_threads = 2  # velocity mode: the command timer runs while the policy decides

    def __init__(self, **kwargs):
        super().__init__("vla_policy", **kwargs)

    def configure(self) -> None:
        from segpilot.policies.vla.io import load_policy

        cfg = self.config(VLANodeConfig)
        self.cfg = cfg
        self.policy = load_policy(cfg.policy or None)
        self.agent = None
        self.latest, self.last_acted = None, -math.inf
        self.pitch_checked = False
        self.twist_pub = self.create_publisher(Twist, "cmd_vel", RELIABLE_QOS)
        self.action_pub = self.create_publisher(String, "action", RELIABLE_QOS)
        self.create_subscription(String, "~/instruction", self.on_instruction, RELIABLE_QOS)
        self.input = RGBDInput(self, self.on_frame, cfg.slop_s, cfg.depth_scale, cfg.max_depth_m,
                               self.config(CameraInputConfig), world_frame=cfg.world_frame)  # fmt: skip
        self.command: Twist | None = None
        if cfg.mode == "velocity":
            self.create_timer(1.0 / cfg.rate_hz, self.on_tick)
            self.create_timer(1.0 / cfg.rate_hz, self.publish_command, callback_group=MutuallyExclusiveCallbackGroup())

    def on_instruction(self, msg: String) -> None:
        from segpilot.policies.vla.agent import VLAAgent

        text = msg.data.strip()
        if not text or text.lower() == "stop":
            self.agent = None
            self._send("stop")
            return
        try:
            self.agent = VLAAgent(self.policy, text, self.cfg.replan_every or None, self.cfg.routing,
                                  temperature=self.cfg.temperature)  # fmt: skip
        except SegpilotError as exc:
            self.agent = None
            self.drop("invalid_instruction", str(exc))
            self._send("stop")
            return
        self.last_acted = -math.inf
        self.counts["instructions"] += 1

    def on_frame(self, frame) -> None:
        position = frame.T_world_cam[:3, 3]
        if not np.all(np.abs(position) <= MAX_COORD_M):
            self.drop("invalid", f"camera pose {position.tolist()} lies beyond +-{MAX_COORD_M:g} m")
            return
        if self.latest is not None and self.agent is not None:
            jump = float(np.linalg.norm(position - self.latest.T_world_cam[:3, 3]))
            if jump > MAX_JUMP_M:  # a relocalisation or a teleport: maps built so far no longer line up
                self.get_logger().warning(f"camera pose jumped {jump:.1f} m: the agent's maps start over")
                self.agent.reset()
        self.latest = frame
        if not self.pitch_checked:
            self._check_pitch(frame)
        if self.cfg.mode == "discrete" and self.agent is not None and frame.stamp > self.last_acted:
            self._act()

    def _check_pitch(self, frame) -> None:
        """Warn once when the camera looks at another pitch, or has another field of view, than the camera the
        policy was trained with (`VLAConfig.camera`)."""
        import math

        from segpilot.geometry.conventions import optical_pitch_deg

        self.pitch_checked = True
        trained = self.policy.config.camera
        pitch = optical_pitch_deg(frame.T_world_cam)
        if abs(pitch - trained.pitch_deg) > PITCH_TOLERANCE_DEG:
            self.get_logger().warning(
                f"camera pitch {pitch:.1f} deg (from the camera pose) differs from the {trained.pitch_deg:.1f} deg the "
                f"policy was trained with (camera_pitch_deg in its config.json): expect worse actions"
            )
        hfov = math.degrees(2 * math.atan(frame.camera.width / (2 * frame.camera.fx)))
        if abs(hfov - trained.hfov_deg) > PITCH_TOLERANCE_DEG:
            self.get_logger().warning(f"camera field of view {hfov:.1f} deg differs from the {trained.hfov_deg:.1f} "
                                      "deg the policy was trained with: expect worse actions")  # fmt: skip

    def on_tick(self) -> None:
        if self.active and self.agent is not None and self.latest is not None:
            self._act()

    def _act(self) -> None:
        self.last_acted = self.latest.stamp
        try:
            action = self.agent.act(SimpleNamespace(frame=self.latest))
        except SegpilotError as exc:  # one bad frame must not kill the node
            self.drop("invalid", f"frame {self.latest.stamp:.3f}: {exc}")
            return
        self.counts["actions"] += 1
        self._send(action)
        if action == "stop":
            self.agent = None

    def _send(self, action: str) -> None:
        if self.cfg.mode == "discrete":
            self.action_pub.publish(String(data=action))
            return
        twist = Twist()
        if action == "move_forward":
            twist.linear.x = self.cfg.linear_speed_mps
        elif action in ("turn_left", "turn_right"):
            sign = 1.0 if action == "turn_left" else -1.0  # REP 103: positive yaw turns left
            twist.angular.z = sign * math.radians(self.cfg.angular_speed_dps)
        # publish_command sends it at rate_hz until the next decision; a stop is sent at once, then nothing
        self.command = None if action == "stop" else twist
        if action == "stop":
            self.twist_pub.publish(twist)
            self.counts["cmd_vel"] += 1

    def publish_command(self) -> None:
        """Velocity mode, at rate_hz on its own thread: the current command, while the policy drives."""
        command = self.command
        if self.active and command is not None and self.agent is not None:
            self.twist_pub.publish(command)
            self.counts["cmd_vel"] += 1


MAX_COORD_M = 1e4
"""Camera positions beyond +-10 km are not a robot's (a 1e30 m pose used to crash the floor map)."""
MAX_JUMP_M = 20.0
"""A camera jump larger than this between two frames resets the agent's maps (memory, belief, floor map)."""


def main(args=None) -> None:
    run_node(VLAPolicyNode, args)


if __name__ == "__main__":
    main()
