"""`bag qa` with the camera pose from /tf + /tf_static (a robot's transform tree), and drop explanations."""

from __future__ import annotations

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.geometry.conventions import invert_pose, quat_xyzw_from_rotation
from segpilot.ros_nodes.bag import BagTopics, read_keyframes
from segpilot.ros_nodes.keyframes import MemoryConfig
from segpilot.ros_nodes.tf_buffer import TransformBuffer
from tests.ros_nodes.test_bag_qa import frames  # noqa: F401 - the shared module fixture

# base_link -> camera_link -> optical frame: a camera 1 m up, 0.2 m forward, optical axes (z forward).
T_BASE_CAMLINK = np.array([[1, 0, 0, 0.2], [0, 1, 0, 0.0], [0, 0, 1, 1.0], [0, 0, 0, 1.0]])
T_CAMLINK_OPT = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]])


def _tf(T, parent, child, stamp, types):
    q = quat_xyzw_from_rotation(T[:3, :3])
    return types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=stamp, frame_id=parent), child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](*map(float, T[:3, 3])),
            rotation=types["geometry_msgs/msg/Quaternion"](*map(float, q))))  # fmt: skip


def _write_tf_bag(path, frames, depth_shape=None):  # noqa: F811
    """Images + camera info, and map -> odom (static), odom -> base_link (dynamic, 50 Hz), base_link ->
    camera_link -> camera_color_optical_frame (static) such that the chain gives each frame's pose."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    T = ts.types
    T_map_odom = np.eye(4)
    T_map_odom[:3, 3] = [0.5, -0.25, 0.0]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        wiring = (("color", "/color/image_raw", "sensor_msgs/msg/Image"),
                  ("depth", "/depth/image_raw", "sensor_msgs/msg/Image"),
                  ("info", "/color/camera_info", "sensor_msgs/msg/CameraInfo"),
                  ("tf", "/tf", "tf2_msgs/msg/TFMessage"), ("tf_static", "/tf_static", "tf2_msgs/msg/TFMessage"))
        c = {n: writer.add_connection(t, k, typestore=ts) for n, t, k in wiring}
        zero = T["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
        static = T["tf2_msgs/msg/TFMessage"](transforms=[
            _tf(T_map_odom, "map", "odom", zero, T), _tf(T_BASE_CAMLINK, "base_link", "camera_link", zero, T),
            _tf(T_CAMLINK_OPT, "camera_link", "camera_color_optical_frame", zero, T)])  # fmt: skip
        writer.write(c["tf_static"], 1, ts.serialize_cdr(static, c["tf_static"].msgtype))
        for i, f in enumerate(frames):
            sec = 10 + i
            stamp = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=0)
            T_odom_base = invert_pose(T_map_odom) @ f.T_world_cam @ invert_pose(T_CAMLINK_OPT) @ invert_pose(
                T_BASE_CAMLINK)  # fmt: skip
            for dt_ns in (-20_000_000, 0, 20_000_000):  # neighbours that are off by a metre: nearest must win
                off = T_odom_base.copy()
                off[0, 3] += 0 if dt_ns == 0 else 1.0
                st = T["builtin_interfaces/msg/Time"](sec=sec - (dt_ns < 0), nanosec=dt_ns % 1_000_000_000)
                msg = T["tf2_msgs/msg/TFMessage"](transforms=[_tf(off, "odom", "base_link", st, T)])
                writer.write(c["tf"], sec * 10**9 + dt_ns, ts.serialize_cdr(msg, c["tf"].msgtype))
            header = T["std_msgs/msg/Header"](stamp=stamp, frame_id="camera_color_optical_frame")
            h, w = f.depth.shape
            dh, dw = depth_shape or (h, w)
            color = T["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="rgb8", is_bigendian=0,
                                               step=3 * w, data=np.ascontiguousarray(f.rgb).reshape(-1))  # fmt: skip
            mm = np.resize(np.nan_to_num(f.depth * 1000).astype("<u2"), (dh, dw))
            depth = T["sensor_msgs/msg/Image"](header=header, height=dh, width=dw, encoding="16UC1", is_bigendian=0,
                                               step=2 * dw, data=mm.view(np.uint8).reshape(-1))  # fmt: skip
            cam = f.camera
            roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
            info = T["sensor_msgs/msg/CameraInfo"](
                header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5),
                k=np.array([cam.fx, 0, cam.cx, 0, cam.fy, cam.cy, 0, 0, 1.0]), r=np.eye(3).reshape(-1),
                p=np.zeros(12), binning_x=0, binning_y=0, roi=roi)  # fmt: skip
            for name, msg in (("color", color), ("depth", depth), ("info", info)):
                writer.write(c[name], sec * 10**9, ts.serialize_cdr(msg, c[name].msgtype))


def test_camera_pose_from_the_tf_chain(tmp_path, frames):  # noqa: F811
    _write_tf_bag(tmp_path / "bag", frames[:4])
    keyframes, stats = read_keyframes(tmp_path / "bag", BagTopics(camera_pose="/tf"), MemoryConfig(min_translation_m=0))
    assert stats["frames"] == 4 and len(keyframes) == 4
    for k, f in zip(keyframes, frames[:4], strict=True):
        assert np.allclose(k.T_world_cam, f.T_world_cam, atol=1e-5)
    with pytest.raises(SegpilotError, match="no transform chain from world"):
        read_keyframes(tmp_path / "bag", BagTopics(camera_pose="/tf", fixed_frame="world"), MemoryConfig())


def test_no_set_says_how_many_were_dropped_and_why(tmp_path, frames):  # noqa: F811
    h, w = frames[0].depth.shape
    _write_tf_bag(tmp_path / "bag", frames[:3], depth_shape=(h // 2, w // 2))
    with pytest.raises(SegpilotError, match=rf"3 sets dropped: colour {w}x{h} vs depth {w // 2}x{h // 2}"):
        read_keyframes(tmp_path / "bag", BagTopics(camera_pose="/tf"), MemoryConfig())


def test_transform_buffer_inverts_edges_and_refuses_stale_samples():
    buf = TransformBuffer(max_gap_s=0.1)
    A = np.eye(4)
    A[:3, 3] = [1, 2, 3]
    buf.add("map", "odom", 0.0, A, static=True)
    buf.add("base", "odom", 5.0, A)  # odom is base's child here: the walk map -> odom -> base inverts it
    assert np.allclose(buf.lookup("map", "base", 5.05), A @ invert_pose(A))
    with pytest.raises(SegpilotError, match="within 0.1 s"):
        buf.lookup("map", "base", 6.0)
