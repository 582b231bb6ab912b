"""Camera topics -> synchronised `Frame`s: the input side shared by rgbd_memory and vla_policy.

Subscribes colour Image, depth Image, CameraInfo (sensor-data QoS) and the camera pose
(PoseStamped, or nav_msgs/Odometry with `pose_type: odometry`; with `pose_type: tf` no pose
topic: the optical frame's pose in `world_frame` is looked up through tf2_ros at each image
stamp, where tf2_ros is installed - it is not pip-installable), pairs them with
`ApproximateSync`, converts them (see `convert`) and calls `on_frame(frame)`. Every bad
message or set is counted and dropped with a throttled warning by the owning node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.base import KEYFRAME_QOS, RELIABLE_QOS, SENSOR_QOS, SegpilotNode
from segpilot.ros_nodes.sync import ApproximateSync


@dataclass(frozen=True)
class CameraInputConfig:
    """Parameters of the camera input of rgbd_memory and vla_policy (how the camera topics are read)."""

    pose_type: Literal["pose", "odometry", "tf"] = "pose"
    """Camera pose input: pose (PoseStamped of the optical frame on camera_pose), odometry (nav_msgs/Odometry of
    base_frame on odom, with the camera's mount below) or tf (world_frame <- image frame_id through tf2_ros, where
    it is installed)."""
    image_reliability: Literal["auto", "reliable", "best_effort"] = "auto"
    """QoS reliability of the image and camera_info subscriptions: auto follows the camera's publishers (reliable
    when every publisher is reliable, as most drivers' default QoS is: lost UDP fragments of a 640x480 image are
    then resent instead of losing the frame; best effort otherwise), re-checked every second."""
    base_frame: str = "base_link"
    """pose_type odometry: the robot frame the odometry describes (its child_frame_id)."""
    camera_frame: str = "camera_color_optical_frame"
    """pose_type odometry: the camera's optical frame (x right, y down, z forward), the images' frame_id."""
    mount_x_m: float = 0.0
    """pose_type odometry: camera position in base_frame, x (forward), metres."""
    mount_y_m: float = 0.0
    """pose_type odometry: camera position in base_frame, y (left), metres."""
    mount_z_m: float = 0.0
    """pose_type odometry: camera position in base_frame, z (up), metres."""
    mount_roll_deg: float = 0.0
    """pose_type odometry: camera body roll in base_frame (REP 103 body axes: x forward, y left, z up), degrees."""
    mount_pitch_deg: float = 0.0
    """pose_type odometry: camera body pitch in base_frame, degrees (positive looks down, REP 103)."""
    mount_yaw_deg: float = 0.0
    """pose_type odometry: camera body yaw in base_frame, degrees (positive turns left)."""

    def __post_init__(self) -> None:
        if self.pose_type not in ("pose", "odometry", "tf"):
            raise SegpilotError(f"pose_type must be one of pose, odometry, tf, got {self.pose_type!r}")
        if self.image_reliability not in ("auto", "reliable", "best_effort"):
            raise SegpilotError(f"image_reliability must be one of auto, reliable, best_effort, "
                                f"got {self.image_reliability!r}")  # fmt: skip
        mount = (self.mount_x_m, self.mount_y_m, self.mount_z_m, self.mount_roll_deg, self.mount_pitch_deg,
                 self.mount_yaw_deg)  # fmt: skip
        if not all(math.isfinite(v) for v in mount) or max(map(abs, mount[:3])) > 100:
            raise SegpilotError("mount_* must be finite, the mount position within 100 m of base_frame")
        if not self.base_frame.strip() or not self.camera_frame.strip():
            raise SegpilotError("base_frame and camera_frame must be frame names")

    def T_base_optical(self) -> np.ndarray:  # noqa: N802
        """4x4 camera-optical-to-base transform: the body mount (REP 103 x forward, y left, z up) times the fixed
        body-to-optical rotation (optical x right, y down, z forward)."""
        r, p, y = (math.radians(a) for a in (self.mount_roll_deg, self.mount_pitch_deg, self.mount_yaw_deg))
        rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
        ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
        rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
        T = np.eye(4)
        T[:3, :3] = rz @ ry @ rx @ BODY_TO_OPTICAL  # fixed-axis roll, pitch, yaw (as tf2's setRPY)
        T[:3, 3] = (self.mount_x_m, self.mount_y_m, self.mount_z_m)
        return T


FOLLOW_PUBLISHERS_S = 0.1
"""How often `image_reliability: auto` reads the image topics' publishers (rosbag2's default topic polling
interval). Until it re-subscribes reliable, a reliable driver's large images reach the best-effort subscription
as UDP fragments and are lost: with a 1 s period a default-QoS driver at 15 Hz started beside the node lost
7-9 of its first 150 sets (tests/ros_nodes/test_default_qos_camera.py)."""
BODY_TO_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Columns: the optical frame's x (right = body -y), y (down = body -z) and z (forward = body x) in body axes."""


def image_qos(reliability: ReliabilityPolicy) -> QoSProfile:
    """Sensor-data QoS (keep last 5, volatile) with the given reliability."""
    return QoSProfile(depth=SENSOR_QOS.depth, history=SENSOR_QOS.history, durability=SENSOR_QOS.durability,
                      reliability=reliability)  # fmt: skip


class RGBDInput:
    """Synchronised RGB-D + pose input of `node`, delivering `Frame`s to `on_frame`."""

    def __init__(self, node: SegpilotNode, on_frame, slop_s: float, depth_scale: float, max_depth_m: float,
                 camera: CameraInputConfig | None = None, prefix: str = "", reliable: bool = False,
                 world_frame: str = "map"):  # fmt: skip
        camera = camera or CameraInputConfig()
        self.node, self.on_frame, self.camera = node, on_frame, camera
        self.depth_scale, self.max_depth_m, self.world_frame = depth_scale, max_depth_m, world_frame
        self.T_base_optical = camera.T_base_optical() if camera.pose_type == "odometry" else None
        topics = [("color/image_raw", Image), ("depth/image_raw", Image), ("color/camera_info", CameraInfo)]
        if camera.pose_type == "tf":
            self.tf_buffer, self._tf_listener = tf_listener(node)
        else:
            topics.append(("camera_pose", PoseStamped) if camera.pose_type == "pose" else ("odom", Odometry))
        self.sync = ApproximateSync(len(topics), slop_s, self._on_set)
        self.topics = [(prefix + topic, kind) for topic, kind in topics]
        self.reliability: list[ReliabilityPolicy | None] = [None] * len(topics)
        self.subs: list = [None] * len(topics)
        for i, (_, kind) in enumerate(self.topics):
            if reliable:
                self._subscribe(i, KEYFRAME_QOS)
            elif kind in (PoseStamped, Odometry):
                self._subscribe(i, RELIABLE_QOS)
            else:
                self._subscribe(i, image_qos(self._wanted_reliability(i) or ReliabilityPolicy.BEST_EFFORT))
        if not reliable and camera.image_reliability == "auto":
            self._qos_timer = node.create_timer(FOLLOW_PUBLISHERS_S, self._follow_publishers)
        if self.T_base_optical is not None:
            publish_static_mount(node, camera)

    def _subscribe(self, i: int, qos: QoSProfile) -> None:
        topic, kind = self.topics[i]
        if self.subs[i] is not None:
            self.node.destroy_subscription(self.subs[i])
        self.reliability[i] = qos.reliability
        self.subs[i] = self.node.create_subscription(kind, topic, lambda msg, i=i: self._add(i, msg), qos)

    def _wanted_reliability(self, i: int) -> ReliabilityPolicy | None:
        """The image subscription's reliability: the declared one, or (auto) reliable when every publisher of the
        topic is reliable, best effort when any is not; None when auto has no publisher to follow yet."""
        choice = self.camera.image_reliability
        if choice != "auto":
            return ReliabilityPolicy.RELIABLE if choice == "reliable" else ReliabilityPolicy.BEST_EFFORT
        offered = [p.qos_profile.reliability for p in self.node.get_publishers_info_by_topic(self.topics[i][0])]
        if not offered:
            return None
        return ReliabilityPolicy.RELIABLE if all(r == ReliabilityPolicy.RELIABLE for r in offered) \
            else ReliabilityPolicy.BEST_EFFORT  # fmt: skip

    def _follow_publishers(self) -> None:
        """auto: re-subscribe an image topic whose publishers now offer another reliability (a driver started
        after this node, or restarted with other QoS), as rosbag2 adapts its subscriptions."""
        for i, (_, kind) in enumerate(self.topics):
            if kind in (PoseStamped, Odometry):
                continue
            wanted = self._wanted_reliability(i)
            if wanted is not None and wanted != self.reliability[i]:
                self._subscribe(i, image_qos(wanted))
                self.node.counts["qos_changes"] += 1
                self.node.get_logger().info(f"{self.topics[i][0]}: subscribed {wanted.name.lower()} to match its "
                                            "publishers")  # fmt: skip

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
                value = self._pose(msg)
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

    def _pose(self, msg) -> np.ndarray:
        """The optical frame's world pose of a pose message, after checking its frame names (an empty name is
        taken as unset): a PoseStamped is the optical frame's pose in world_frame; an Odometry is base_frame's
        pose in world_frame, composed with the declared camera mount."""
        frame = msg.header.frame_id
        if frame and frame != self.world_frame:
            raise SegpilotError(f"pose in frame {frame!r}, expected world_frame {self.world_frame!r}")
        T = convert.pose_to_matrix(msg)
        if self.T_base_optical is None:
            return T
        child = msg.child_frame_id
        if child and child != self.camera.base_frame:
            raise SegpilotError(f"odometry of child_frame_id {child!r}, expected base_frame {self.camera.base_frame!r}")
        return T @ self.T_base_optical

    def _on_set(self, color, depth, info, pose=None) -> None:
        (stamp, (rgb, frame_id)), (_, depth_m), (_, camera) = color, depth, info
        if pose is not None:
            T = pose[1]
            if self.T_base_optical is not None and frame_id and frame_id != self.camera.camera_frame:
                expected = self.camera.camera_frame
                self.node.drop("invalid", f"image frame_id {frame_id!r}, expected camera_frame {expected!r}")
                return
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


def publish_static_mount(node, camera: CameraInputConfig):
    """Publish base_frame -> camera_frame on /tf_static (transient local, as tf2's static broadcaster does), so
    RViz and tf2 users see the camera where the odometry input places it. tf2_msgs comes with every ROS 2
    install but is not on PyPI: without it this logs one line and publishes nothing."""
    try:
        from geometry_msgs.msg import TransformStamped
        from tf2_msgs.msg import TFMessage
    except ImportError:
        node.get_logger().info("tf2_msgs is not installed: the camera mount is not published on /tf_static")
        return None
    from rclpy.qos import DurabilityPolicy

    from segpilot.geometry.conventions import quat_xyzw_from_rotation

    T = camera.T_base_optical()
    msg = TransformStamped()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id, msg.child_frame_id = camera.base_frame, camera.camera_frame
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = map(float, T[:3, 3])
    q = quat_xyzw_from_rotation(T[:3, :3])
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = map(float, q)
    qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub = node.create_publisher(TFMessage, "/tf_static", qos)
    pub.publish(TFMessage(transforms=[msg]))
    return pub


def tf_listener(node):
    """A tf2 buffer filled by a TransformListener on `node`; a clear error where tf2_ros is missing."""
    try:
        import tf2_ros
    except ImportError:
        raise SegpilotError("pose_type 'tf' needs tf2_ros (apt install ros-$ROS_DISTRO-tf2-ros, not on PyPI); "
                            "use pose_type 'pose' or 'odometry' without it") from None  # fmt: skip
    buffer = tf2_ros.Buffer()
    return buffer, tf2_ros.TransformListener(buffer, node)
