"""Robot-free VLA navigation: the embedded simulator + memory + the VLA policy (ROS 2 Jazzy / Kilted).

    ros2 launch segpilot sim_vla.launch.py room_seed:=30000 episode_index:=0
    ros2 topic pub --once /vla_policy/instruction std_msgs/String "{data: 'find the sofa'}"
    ros2 topic echo /sim_bridge/episode

The simulator and the policy run in lock-step on discrete actions (the policy's training
action space); on a robot, run vla_policy with mode:=velocity to get cmd_vel Twists.
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
    args = [DeclareLaunchArgument("room_seed", default_value="30000",
                                  description="seed of the generated room (30000+: held out from training)"),
            DeclareLaunchArgument("episode_index", default_value="0",
                                  description="which navigation episode of the room gives the start and the goal")]
    sim = Node(package="segpilot", executable="sim_bridge", name="sim_bridge", output="screen",
               parameters=[str(config / "sim_bridge.yaml"),
                           {"room_seed": LaunchConfiguration("room_seed"),
                            "episode_index": LaunchConfiguration("episode_index"), "mode": "discrete"}])  # fmt: skip
    memory = Node(package="segpilot", executable="rgbd_memory", name="rgbd_memory", output="screen",
                  parameters=[str(config / "rgbd_memory.yaml")])  # fmt: skip
    vla = Node(package="segpilot", executable="vla_policy", name="vla_policy", output="screen",
               parameters=[str(config / "vla_policy.yaml"), {"mode": "discrete"}])  # fmt: skip
    return LaunchDescription([shm, localhost, discovery, *args, sim, memory, vla])
