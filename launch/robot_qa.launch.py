"""Memory + scene QA on a robot's RGB-D camera (ROS 2 Jazzy / Kilted, launch_ros).

    ros2 launch segpilot robot_qa.launch.py color:=/camera/color/image_raw \\
        depth:=/camera/aligned_depth_to_color/image_raw camera_info:=/camera/color/camera_info \\
        camera_pose:=/camera_pose

With the camera pose on tf instead (tf2_ros is part of every ROS 2 desktop install):
    ros2 launch segpilot robot_qa.launch.py pose_type:=tf world_frame:=map

With wheel odometry of base_link and the camera's mount on the base (published on /tf_static):
    ros2 launch segpilot robot_qa.launch.py pose_type:=odometry camera_pose:=/odom world_frame:=odom \
        mount_x_m:=0.2 mount_z_m:=1.1 mount_pitch_deg:=15

Ask:    ros2 topic pub --once /scene_qa/question std_msgs/String "{data: 'What color is the sofa?'}"
Answer: ros2 topic echo /scene_qa/answer
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    config = Path(get_package_share_directory("segpilot")) / "config"
    # 640x480 images over shared memory (config/fastdds_shm.xml), unless the user already set a profile
    shm = SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", EnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE", default_value=str(config / "fastdds_shm.xml")))
    # Safe by default: DDS discovery (and so questions, instructions and cmd_vel) stays on this host.
    localhost = DeclareLaunchArgument("localhost_only", default_value="true",
                                      description="keep ROS 2 discovery on this machine (false: reachable from "
                                                  "the whole ROS_DOMAIN_ID network; see the README on SROS2)")
    discovery = SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST",
                                       condition=IfCondition(LaunchConfiguration("localhost_only")))
    args = {
        "color": ("/camera/color/image_raw", "colour image topic (rgb8 / bgr8)"),
        "depth": ("/camera/aligned_depth_to_color/image_raw", "depth topic registered to colour (16UC1 mm / 32FC1 m)"),
        "camera_info": ("/camera/color/camera_info", "CameraInfo of the colour image"),
        "camera_pose": ("/camera_pose", "PoseStamped of the optical frame (pose_type pose) or Odometry (odometry)"),
        "model": ("", "local VLM checkpoint folder (empty: the embedded default model)"),
        "pose_type": ("pose", "pose, odometry or tf (world_frame <- image frame_id through tf2)"),
        "world_frame": ("map", "fixed frame the camera poses are given in"),
        "image_reliability": ("auto", "image QoS: auto (follow the driver's publishers), reliable or best_effort"),
        "base_frame": ("base_link", "pose_type odometry: the odometry's child frame"),
        "camera_frame": ("camera_color_optical_frame", "pose_type odometry: the images' optical frame"),
        "mount_x_m": ("0.0", "pose_type odometry: camera position on the base, forward, metres"),
        "mount_y_m": ("0.0", "pose_type odometry: camera position on the base, left, metres"),
        "mount_z_m": ("0.0", "pose_type odometry: camera position on the base, up, metres"),
        "mount_roll_deg": ("0.0", "pose_type odometry: camera roll on the base, degrees"),
        "mount_pitch_deg": ("0.0", "pose_type odometry: camera pitch on the base, degrees (positive looks down)"),
        "mount_yaw_deg": ("0.0", "pose_type odometry: camera yaw on the base, degrees (positive turns left)"),
    }
    declared = [DeclareLaunchArgument(name, default_value=value, description=text)
                for name, (value, text) in args.items()]
    remaps = [
        ("color/image_raw", LaunchConfiguration("color")),
        ("depth/image_raw", LaunchConfiguration("depth")),
        ("color/camera_info", LaunchConfiguration("camera_info")),
        ("camera_pose", LaunchConfiguration("camera_pose")),
        ("odom", LaunchConfiguration("camera_pose")),  # pose_type odometry subscribes odom
    ]
    memory = Node(package="segpilot", executable="rgbd_memory", name="rgbd_memory", output="screen",
                  parameters=[str(config / "rgbd_memory.yaml"), {
                      "pose_type": LaunchConfiguration("pose_type"), "world_frame": LaunchConfiguration("world_frame"),
                      "image_reliability": LaunchConfiguration("image_reliability"),
                      "base_frame": LaunchConfiguration("base_frame"),
                      "camera_frame": LaunchConfiguration("camera_frame"),
                      "mount_x_m": LaunchConfiguration("mount_x_m"), "mount_y_m": LaunchConfiguration("mount_y_m"),
                      "mount_z_m": LaunchConfiguration("mount_z_m"),
                      "mount_roll_deg": LaunchConfiguration("mount_roll_deg"),
                      "mount_pitch_deg": LaunchConfiguration("mount_pitch_deg"),
                      "mount_yaw_deg": LaunchConfiguration("mount_yaw_deg")}],
                  remappings=remaps)  # fmt: skip
    qa = Node(package="segpilot", executable="scene_qa", name="scene_qa", output="screen",
              parameters=[str(config / "prune.yaml"), str(config / "scene_qa.yaml"),
                          {"model": LaunchConfiguration("model"),
                           "world_frame": LaunchConfiguration("world_frame")}])  # fmt: skip
    return LaunchDescription([shm, localhost, discovery, *declared, memory, qa])
