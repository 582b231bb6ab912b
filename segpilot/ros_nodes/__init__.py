"""ROS 2 nodes (rclpy): rgbd_memory, scene_qa, vla_policy, sim_bridge.

Only this package imports rclpy and ROS messages; the pieces that need no ROS (the
approximate-time synchroniser, the keyframe memory) are plain Python and tested as such.
"""
