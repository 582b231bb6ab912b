"""A fresh rclpy context per test (init / shutdown), on the test harness's localhost DDS domain."""

from __future__ import annotations

import os

import pytest

from segpilot.ros_nodes.harness import ENV, ROS_ENV


@pytest.fixture
def rclpy_context():
    os.environ.update({k: ENV[k] for k in ROS_ENV})
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)
