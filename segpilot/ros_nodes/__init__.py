"""rclpy nodes and ROS message conversions (thin adapters around segpilot.pipeline)."""
