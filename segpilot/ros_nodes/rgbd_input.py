"""Camera topics -> synchronised `Frame`s: the input side shared by rgbd_memory and vla_policy.

Subscribes colour Image, depth Image, CameraInfo (sensor-data QoS) and the camera pose
(PoseStamped, or nav_msgs/Odometry with `pose_type: odometry`), pairs them with
`ApproximateSync`, converts them (see `convert`) and calls `on_frame(frame)`. Every bad
message or set is counted and dropped with a throttled warning by the owning node.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.base import RELIABLE_QOS, SENSOR_QOS, SegpilotNode
from segpilot.ros_nodes.sync import ApproximateSync


class RGBDInput:
    """Synchronised RGB-D + pose input of `node`, delivering `Frame`s to `on_frame`."""

    def __init__(self, node: SegpilotNode, on_frame, slop_s: float, depth_scale: float, max_depth_m: float,
                 pose_type: str = "pose", prefix: str = "", reliable: bool = False):  # fmt: skip
        if pose_type not in ("pose", "odometry"):
            raise SegpilotError(f"pose_type {pose_type!r}: expected 'pose' or 'odometry'")
        self.node, self.on_frame = node, on_frame
        self.depth_scale, self.max_depth_m = depth_scale, max_depth_m
        self.sync = ApproximateSync(4, slop_s, self._on_set)
        qos = RELIABLE_QOS if reliable else SENSOR_QOS
        topics = [("color/image_raw", Image), ("depth/image_raw", Image), ("color/camera_info", CameraInfo),
                  ("camera_pose", PoseStamped) if pose_type == "pose" else ("odom", Odometry)]  # fmt: skip
        self.subs = [
            node.create_subscription(
                kind,
                prefix + topic,
                lambda msg, i=i: self._add(i, msg),
                RELIABLE_QOS if kind in (PoseStamped, Odometry) else qos,
            )  # fmt: skip
            for i, (topic, kind) in enumerate(topics)
        ]

    def _add(self, stream: int, msg) -> None:
        """Convert on arrival, so every malformed message is counted (not only those that pair up)."""
        if not self.node.active:
            return
        self.node.counts["messages"] += 1
        try:
            stamp = convert.stamp_seconds(msg.header)
            if stream == 0:
                value = (convert.image_to_rgb(msg), msg.header.frame_id or "camera_optical_frame")
            elif stream == 1:
                value = convert.image_to_depth(msg, self.depth_scale, self.max_depth_m)
            elif stream == 2:
                value = convert.camera_from_info(msg)
            else:
                value = convert.pose_to_matrix(msg)
        except SegpilotError as exc:
            self.node.drop("invalid", str(exc))
            return
        except (AttributeError, ValueError, TypeError) as exc:
            self.node.drop("malformed", f"stream {stream}: {exc}")
            return
        if not self.sync.add(stream, stamp, (stamp, value)):
            self.node.drop("stamp_out_of_order", f"stream {stream} went back to {stamp:.3f} s")

    def _on_set(self, color, depth, info, pose) -> None:
        (stamp, (rgb, frame_id)), (_, depth_m), (_, camera), (_, T) = color, depth, info, pose
        try:
            frame = Frame(rgb, depth_m, camera, T, stamp=stamp, frame_id=frame_id)
        except SegpilotError as exc:
            self.node.drop("invalid", str(exc))
            return
        if not np.any(frame.valid_depth):
            self.node.drop("no_valid_depth", "every depth pixel is 0, NaN, inf or beyond max_depth_m")
            return
        self.node.counts["frames"] += 1
        self.on_frame(frame)
