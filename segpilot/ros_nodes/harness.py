"""Real rclpy over DDS for tests and benchmarks: node executables in subprocesses, a client node here.

Traffic stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) on a domain id
unique to this process, so parallel runs on a shared machine never see each other. Images go
over shared memory with config/fastdds_shm.xml (as the launch files set it) unless the caller
chose another Fast DDS profile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"  # the source checkout's parameter files (an installed package has them in share/)
DOMAIN = os.environ.get("ROS_DOMAIN_ID") or str(10 + os.getpid() % 200)  # the caller's domain wins
FASTDDS_PROFILE = CONFIG / "fastdds_shm.xml"
PROFILE = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
ENV = {**os.environ, "ROS_DOMAIN_ID": DOMAIN, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "PYTHONUNBUFFERED": "1",
       "FASTDDS_DEFAULT_PROFILES_FILE": PROFILE}  # fmt: skip
ROS_ENV = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")


def start_node(executable: str, *ros_args: str, bin_dir: Path | None = None) -> subprocess.Popen:
    """The installed console script with `--ros-args ...`, as a launch file would start it (from `bin_dir`, e.g. a
    colcon install's lib/segpilot; default: this interpreter's bin/)."""
    exe = (bin_dir or Path(sys.executable).parent) / executable
    return subprocess.Popen([str(exe), "--ros-args", *ros_args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def stop(*procs: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    """Stop nodes the way `ros2 launch` does on Ctrl-C (SIGINT); their output."""
    out = []
    for p in procs:
        p.send_signal(sig)
        try:
            out.append(p.communicate(timeout=10)[0] or "")
        except subprocess.TimeoutExpired:
            p.kill()
            out.append(p.communicate()[0] or "")
    return "\n".join(out)


class Client:
    """A test-side rclpy node in its own context: publishers, latest messages per topic, spinning."""

    def __init__(self, name: str = "test_client"):
        os.environ.update({k: ENV[k] for k in ROS_ENV})
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = {}

    def publisher(self, kind, topic: str, qos=None):
        from segpilot.ros_nodes.base import RELIABLE_QOS

        return self.node.create_publisher(kind, topic, qos or RELIABLE_QOS)

    def listen(self, kind, topic: str) -> None:
        from segpilot.ros_nodes.base import RELIABLE_QOS

        self.received[topic] = []
        self.node.create_subscription(kind, topic, self.received[topic].append, RELIABLE_QOS)

    def spin_until(self, predicate, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if predicate():
                return
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def stats(self, topic: str) -> dict:
        msgs = self.received.get(topic) or []
        return json.loads(msgs[-1].data) if msgs else {}

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def frame_messages(frame, stamp: float, world: str = "map"):
    """(colour rgb8, depth 16UC1 mm, CameraInfo, PoseStamped) of one Frame."""
    from std_msgs.msg import Header

    from segpilot.ros_nodes import convert

    header = Header(stamp=convert.to_stamp(stamp), frame_id="camera_color_optical_frame")
    color = convert.rgb_to_image(frame.rgb, header)
    mm = np.nan_to_num(frame.depth * 1000.0, nan=0.0).clip(0, 65535).astype("<u2")
    from sensor_msgs.msg import Image

    depth = Image(header=header, height=mm.shape[0], width=mm.shape[1], encoding="16UC1", is_bigendian=0,
                  step=2 * mm.shape[1], data=mm.tobytes())  # fmt: skip
    info = convert.camera_info_msg(frame.camera, header)
    pose = convert.pose_msg(frame.T_world_cam, Header(stamp=header.stamp, frame_id=world))
    return color, depth, info, pose
