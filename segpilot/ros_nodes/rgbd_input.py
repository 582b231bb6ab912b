"""Camera topics -> synchronised `Frame`s: the input side shared by rgbd_memory and vla_policy.

Subscribes colour Image, depth Image, CameraInfo (sensor-data QoS) and the camera pose
(PoseStamped, or nav_msgs/Odometry with `pose_type: odometry`; with `pose_type: tf` no pose
topic: the optical frame's pose in `world_frame` is looked up through tf2_ros at each image
stamp, where tf2_ros is installed - it is not pip-installable), pairs them with
`ApproximateSync`, converts them (see `convert`) and calls `on_frame(frame)`. Every bad
message or set is counted and dropped with a throttled warning by the owning node.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from sensor_msgs.msg import CameraInfo, Image

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.base import KEYFRAME_QOS, RELIABLE_QOS, SENSOR_QOS, SegpilotNode
from segpilot.ros_nodes.sync import ApproximateSync

POSE_TYPE_DESCRIPTOR = ParameterDescriptor(
    description="camera pose input: pose (PoseStamped on camera_pose), odometry (Odometry on odom) or tf "
    "(world_frame <- image frame_id through tf2_ros, where installed)",
    additional_constraints="one of: pose, odometry, tf",
)


class RGBDInput:
    """Synchronised RGB-D + pose input of `node`, delivering `Frame`s to `on_frame`."""

    def __init__(self, node: SegpilotNode, on_frame, slop_s: float, depth_scale: float, max_depth_m: float,
                 pose_type: str = "pose", prefix: str = "", reliable: bool = False,
                 world_frame: str = "map"):  # fmt: skip
        if pose_type not in ("pose", "odometry", "tf"):
            raise SegpilotError(f"pose_type {pose_type!r}: expected 'pose', 'odometry' or 'tf'")
        self.node, self.on_frame = node, on_frame
        self.depth_scale, self.max_depth_m, self.world_frame = depth_scale, max_depth_m, world_frame
        topics = [("color/image_raw", Image), ("depth/image_raw", Image), ("color/camera_info", CameraInfo)]
        if pose_type == "tf":
            self.tf_buffer, self._tf_listener = tf_listener(node)
        else:
            topics.append(("camera_pose", PoseStamped) if pose_type == "pose" else ("odom", Odometry))
        self.sync = ApproximateSync(len(topics), slop_s, self._on_set)
        qos = KEYFRAME_QOS if reliable else SENSOR_QOS
        self.subs = [
            node.create_subscription(
                kind,
                prefix + topic,
                lambda msg, i=i: self._add(i, msg),
                qos if reliable else RELIABLE_QOS if kind in (PoseStamped, Odometry) else qos,
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
        resets = self.sync.clock_resets
        if not self.sync.add(stream, stamp, (stamp, value)):
            self.node.drop("stamp_out_of_order", f"stream {stream} went back to {stamp:.3f} s")
        elif self.sync.clock_resets != resets:
            self.node.counts["clock_resets"] += 1
            self.node.get_logger().warning(f"stream {stream} jumped back to {stamp:.3f} s (more than "
                                           f"{self.sync.jump_s:g} s): clock reset, pairing starts over")  # fmt: skip

    def _on_set(self, color, depth, info, pose=None) -> None:
        (stamp, (rgb, frame_id)), (_, depth_m), (_, camera) = color, depth, info
        if pose is not None:
            T = pose[1]
        else:
            T = self._tf_pose(frame_id, stamp)
            if T is None:
                return
        try:
            frame = bounded(Frame(rgb, depth_m, camera, T, stamp=stamp, frame_id=frame_id))
        except SegpilotError as exc:
            self.node.drop("invalid", str(exc))
            return
        if not np.any(frame.valid_depth):
            self.node.drop("no_valid_depth", "every depth pixel is 0, NaN, inf or beyond max_depth_m")
            return
        self.node.counts["frames"] += 1
        self.on_frame(frame)

    def _tf_pose(self, frame_id: str, stamp: float) -> np.ndarray | None:
        """world_frame <- frame_id at `stamp` from tf2, or None (counted, dropped) when tf has no answer."""
        from rclpy.time import Time
        from tf2_ros import TransformException

        try:
            msg = self.tf_buffer.lookup_transform(self.world_frame, frame_id, Time(seconds=stamp))
            return convert.transform_to_matrix(msg)
        except (TransformException, SegpilotError) as exc:
            self.node.drop("tf_unavailable", f"{self.world_frame} <- {frame_id} at {stamp:.3f} s: {exc}")
            return None


MAX_FRAME_SIZE = (640, 480)
"""Frames larger than this (width, height) are downscaled on arrival: every encoder works at <= 448 px, and a
4000x3000 frame set took 55 s per question to encode."""


def bounded(frame: Frame) -> Frame:
    """`frame` downscaled (area colour, nearest depth, scaled intrinsics) to fit `MAX_FRAME_SIZE`."""
    from PIL import Image as PILImage

    h, w = frame.depth.shape
    scale = min(MAX_FRAME_SIZE[0] / w, MAX_FRAME_SIZE[1] / h)
    if scale >= 1.0:
        return frame
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = np.asarray(PILImage.fromarray(frame.rgb).resize(size, PILImage.BOX))
    depth = np.asarray(PILImage.fromarray(frame.depth.astype(np.float32)).resize(size, PILImage.NEAREST))
    return Frame(rgb, depth, frame.camera.scaled(*size), frame.T_world_cam, frame.stamp, frame.frame_id)


def tf_listener(node):
    """A tf2 buffer filled by a TransformListener on `node`; a clear error where tf2_ros is missing."""
    try:
        import tf2_ros
    except ImportError:
        raise SegpilotError("pose_type 'tf' needs tf2_ros (apt install ros-$ROS_DISTRO-tf2-ros, not on PyPI); "
                            "use pose_type 'pose' or 'odometry' without it") from None  # fmt: skip
    buffer = tf2_ros.Buffer()
    return buffer, tf2_ros.TransformListener(buffer, node)
