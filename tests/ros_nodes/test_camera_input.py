"""The camera input of rgbd_memory / vla_policy: odometry composed with the declared camera mount, frame names
checked, image QoS reliability following the publishers (real rclpy nodes in-process)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.ros_nodes.rgbd_input import CameraInputConfig


def test_the_mount_puts_the_optical_axes_where_rep_103_says():
    level = CameraInputConfig(mount_z_m=1.2).T_base_optical()
    np.testing.assert_allclose(level[:3, 2], [1, 0, 0], atol=1e-12)  # optical z (forward) = base x
    np.testing.assert_allclose(level[:3, 0], [0, -1, 0], atol=1e-12)  # optical x (right) = base -y
    np.testing.assert_allclose(level[:3, 1], [0, 0, -1], atol=1e-12)  # optical y (down) = base -z
    assert level[2, 3] == 1.2
    down = CameraInputConfig(mount_pitch_deg=20).T_base_optical()[:3, 2]
    np.testing.assert_allclose(down, [math.cos(math.radians(20)), 0, -math.sin(math.radians(20))], atol=1e-12)
    left = CameraInputConfig(mount_yaw_deg=90).T_base_optical()[:3, 2]
    np.testing.assert_allclose(left, [0, 1, 0], atol=1e-12)
    with pytest.raises(SegpilotError, match="image_reliability must be one of auto, reliable, best_effort"):
        CameraInputConfig(image_reliability="sometimes")
    with pytest.raises(SegpilotError, match="mount_"):
        CameraInputConfig(mount_x_m=float("nan"))


def _odometry(frame_id="odom", child="base_link", x=2.0):
    from nav_msgs.msg import Odometry

    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = frame_id, child
    msg.header.stamp.sec = 5
    msg.pose.pose.position.x = x
    msg.pose.pose.orientation.w = 1.0
    return msg


def test_odometry_is_the_base_pose_composed_with_the_mount_and_wrong_frames_are_dropped(rclpy_context):
    from rclpy.parameter import Parameter

    from segpilot.ros_nodes.rgbd_memory import RGBDMemoryNode

    overrides = [Parameter("pose_type", value="odometry"), Parameter("world_frame", value="odom"),
                 Parameter("mount_z_m", value=1.25), Parameter("mount_pitch_deg", value=20.0)]  # fmt: skip
    node = RGBDMemoryNode(context=rclpy_context, parameter_overrides=overrides)
    try:
        node.trigger_configure()
        node.trigger_activate()
        T = node.input._pose(_odometry())
        np.testing.assert_allclose(T[:3, 3], [2.0, 0.0, 1.25])  # the camera sits on the base, 1.25 m up
        assert T[2, 2] < -0.3  # and looks down 20 degrees
        for bad, reason in ((_odometry(frame_id="map"), "expected world_frame 'odom'"),
                            (_odometry(child="camera_link"), "expected base_frame 'base_link'")):  # fmt: skip
            with pytest.raises(SegpilotError, match=reason):
                node.input._pose(bad)
            node.input._add(3, bad)
        assert node.drops["invalid"] == 2 and node.counts["messages"] == 2
    finally:
        node.destroy_node()


def test_auto_reliability_follows_the_publishers(rclpy_context):
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from segpilot.ros_nodes.rgbd_memory import RGBDMemoryNode

    node = RGBDMemoryNode(context=rclpy_context)
    try:
        node.trigger_configure()
        node.trigger_activate()
        assert node.input.reliability[0] == ReliabilityPolicy.BEST_EFFORT  # nothing to follow yet: sensor data
        driver = node.create_publisher(Image, "color/image_raw", QoSProfile(depth=10))  # default QoS: reliable
        node.input._follow_publishers()
        assert node.input.reliability[0] == ReliabilityPolicy.RELIABLE and node.counts["qos_changes"] == 1
        node.destroy_publisher(driver)
        node.create_publisher(Image, "color/image_raw", qos_profile_sensor_data)  # a best-effort driver
        node.input._follow_publishers()
        assert node.input.reliability[0] == ReliabilityPolicy.BEST_EFFORT and node.counts["qos_changes"] == 2
        subs = len(list(node.subscriptions))
        node.input._follow_publishers()
        assert len(list(node.subscriptions)) == subs  # re-subscribed, not added
    finally:
        node.destroy_node()
