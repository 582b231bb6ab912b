"""ROS messages <-> segpilot arrays, with one-line errors naming what was expected.

Conventions (REP 103 / REP 105): images are row-major with row 0 at the top; the camera
pose is that of the *optical* frame (x right, y down, z forward), the same OpenCV frame
`Frame.T_world_cam` uses, expressed in the world frame named by the pose's header; depth is
16UC1 millimetres (times `depth_scale`) or 32FC1 metres, 0 / NaN / inf meaning "no return".
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import pose_from_position_quat_xyzw, quat_xyzw_from_rotation
from segpilot.geometry.depth import depth_to_metres

COLOUR_ENCODINGS = {"rgb8": False, "bgr8": True}
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def stamp_seconds(header: Header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def to_stamp(seconds: float) -> Time:
    sec = int(math.floor(seconds))
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


def _rows(msg: Image, channels: int, itemsize: int) -> np.ndarray:
    h, w = msg.height, msg.width
    if h == 0 or w == 0:
        raise SegpilotError(f"image is {w}x{h}: expected a non-empty image")
    row = w * channels * itemsize
    if msg.step < row or len(msg.data) < msg.step * h:
        raise SegpilotError(f"{msg.encoding} image {w}x{h} needs step >= {row} and {msg.step * h} bytes, "
                            f"got step {msg.step} and {len(msg.data)} bytes")  # fmt: skip
    buf = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, bytes | memoryview) else msg.data, np.uint8)
    return buf[: msg.step * h].reshape(h, msg.step)[:, :row]


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8 / bgr8 Image."""
    if msg.encoding not in COLOUR_ENCODINGS:
        raise SegpilotError(f"colour image encoding {msg.encoding!r}: expected rgb8 or bgr8")
    img = _rows(msg, 3, 1).reshape(msg.height, msg.width, 3)
    return np.ascontiguousarray(img[..., ::-1] if COLOUR_ENCODINGS[msg.encoding] else img)


def image_to_depth(msg: Image, depth_scale: float = 0.001, max_depth_m: float = 10.0) -> np.ndarray:
    """(H, W) float32 metres from a 16UC1 (x depth_scale) or 32FC1 Image; invalid pixels -> NaN."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise SegpilotError(f"depth image encoding {msg.encoding!r}: expected 16UC1 (mm) or 32FC1 (m)")
    wide = msg.encoding == "32FC1"
    raw = _rows(msg, 1, 4 if wide else 2).copy()
    dtype = np.dtype(np.float32 if wide else np.uint16).newbyteorder(">" if msg.is_bigendian else "<")
    image = raw.view(dtype).reshape(msg.height, msg.width)
    # The one depth check every path shares (markers, far cut, implausible-scale warning).
    return depth_to_metres(image.astype(image.dtype.newbyteorder("=")), None if wide else 1.0 / depth_scale,
                           max_depth_m, source=f"depth image {msg.header.frame_id or '(no frame_id)'}",
                           fill=np.nan)  # fmt: skip


def camera_from_info(msg: CameraInfo) -> PinholeCamera:
    k = np.asarray(msg.k, dtype=np.float64)
    if msg.width == 0 or msg.height == 0:
        raise SegpilotError(f"CameraInfo is {msg.width}x{msg.height}: expected the image size")
    if not np.all(np.isfinite(k)) or k[0] <= 0 or k[4] <= 0:
        raise SegpilotError(f"CameraInfo K has fx={k[0]}, fy={k[4]}: expected positive focal lengths")
    return PinholeCamera(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(msg.width), int(msg.height))


def pose_to_matrix(msg: PoseStamped | Odometry) -> np.ndarray:
    """4x4 optical-frame-to-world transform from a PoseStamped or an Odometry message."""
    pose = msg.pose.pose if isinstance(msg, Odometry) or hasattr(msg.pose, "pose") else msg.pose  # rosbags types too
    return _matrix(pose.position, pose.orientation)


def transform_to_matrix(msg) -> np.ndarray:
    """4x4 child-to-parent transform from a geometry_msgs/TransformStamped (a tf2 lookup's result)."""
    return _matrix(msg.transform.translation, msg.transform.rotation)


def _matrix(p, q) -> np.ndarray:
    quat = np.array([q.x, q.y, q.z, q.w])
    norm = float(np.linalg.norm(quat))
    if not np.all(np.isfinite([p.x, p.y, p.z])) or not math.isfinite(norm) or norm < 1e-6:
        raise SegpilotError("camera pose has a non-finite position or a zero quaternion")
    return pose_from_position_quat_xyzw(np.array([p.x, p.y, p.z]), quat / norm)


def rgb_to_image(rgb: np.ndarray, header: Header) -> Image:
    h, w = rgb.shape[:2]
    return Image(header=header, height=h, width=w, encoding="rgb8", is_bigendian=0, step=3 * w,
                 data=np.ascontiguousarray(rgb, np.uint8).tobytes())  # fmt: skip


def depth_to_image(depth_m: np.ndarray, header: Header) -> Image:
    h, w = depth_m.shape
    return Image(header=header, height=h, width=w, encoding="32FC1", is_bigendian=0, step=4 * w,
                 data=np.ascontiguousarray(depth_m, "<f4").tobytes())  # fmt: skip


def camera_info_msg(camera: PinholeCamera, header: Header) -> CameraInfo:
    k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return CameraInfo(header=header, width=camera.width, height=camera.height, distortion_model="plumb_bob",
                      d=[0.0] * 5, k=k, r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=p)  # fmt: skip


def pose_msg(T: np.ndarray, header: Header) -> PoseStamped:  # noqa: N803
    msg = PoseStamped(header=header)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in T[:3, 3])
    q = quat_xyzw_from_rotation(T[:3, :3])
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = (
        float(v) for v in q
    )
    return msg


def points_to_cloud(xyz: np.ndarray, values: np.ndarray, header: Header, value_name: str = "saliency") -> PointCloud2:
    """PointCloud2 with float32 x, y, z and one value field; NaN points (no depth) are left out."""
    xyz = np.asarray(xyz, np.float32)
    keep = np.all(np.isfinite(xyz), axis=1)
    data = np.concatenate([xyz[keep], np.asarray(values, np.float32)[keep, None]], axis=1)
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
              for i, n in enumerate(("x", "y", "z", value_name))]  # fmt: skip
    return PointCloud2(header=header, height=1, width=len(data), fields=fields, is_bigendian=False, point_step=16,
                       row_step=16 * len(data), data=data.astype("<f4").tobytes(), is_dense=True)  # fmt: skip


def cloud_to_points(msg: PointCloud2) -> np.ndarray:
    """(N, 4) float32 rows of a cloud written by `points_to_cloud`."""
    return np.frombuffer(bytes(msg.data), "<f4").reshape(msg.width * msg.height, 4)


def kept_markers(xyz: np.ndarray, header: Header, scale_m: float = 0.08) -> MarkerArray:
    """The kept tokens as one SPHERE_LIST marker (RViz), orange like the overlays."""
    from geometry_msgs.msg import Point

    marker = Marker(header=header, ns="segpilot_kept_tokens", id=0, type=Marker.SPHERE_LIST, action=Marker.ADD)
    marker.scale.x = marker.scale.y = marker.scale.z = scale_m
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = 1.0, 0.35, 0.0, 0.9
    marker.pose.orientation.w = 1.0
    marker.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in xyz if np.all(np.isfinite(p))]
    return MarkerArray(markers=[marker])
