"""Pose messages -> camera-to-world matrices, and the tf2 pose input where tf2_ros is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from geometry_msgs.msg import TransformStamped
from std_msgs.msg import Header

from segpilot.errors import SegpilotError
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.rgbd_input import tf_listener


def _pose():
    yaw = np.deg2rad(30.0)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
    T[:3, 3] = [1.0, -2.0, 0.5]
    return T


def test_a_tf_transform_gives_the_same_matrix_as_the_pose_message():
    T = _pose()
    pose = convert.pose_msg(T, Header(frame_id="map"))
    tf = TransformStamped(header=Header(frame_id="map"), child_frame_id="camera_color_optical_frame")
    tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = (float(v) for v in T[:3, 3])
    q = pose.pose.orientation
    tf.transform.rotation.x, tf.transform.rotation.y, tf.transform.rotation.z, tf.transform.rotation.w = (
        q.x, q.y, q.z, q.w)  # fmt: skip
    assert np.allclose(convert.transform_to_matrix(tf), T, atol=1e-9)
    assert np.allclose(convert.pose_to_matrix(pose), T, atol=1e-9)
    tf.transform.rotation.w = tf.transform.rotation.z = 0.0
    tf.transform.rotation.x = tf.transform.rotation.y = 0.0
    with pytest.raises(SegpilotError, match="zero quaternion"):
        convert.transform_to_matrix(tf)


def test_tf_pose_input_without_tf2_ros_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2_ros", None)  # the import fails, as on a machine without it
    with pytest.raises(SegpilotError, match=r"pose_type 'tf' needs tf2_ros .* use pose_type 'pose' or 'odometry'"):
        tf_listener(None)
