"""Robot-free scene QA: the embedded simulator's camera -> memory -> scene QA (ROS 2 Jazzy / Kilted).

    ros2 launch segpilot sim_qa.launch.py room_seed:=7002

Drive it with /cmd_vel (e.g. teleop_twist_keyboard), then ask on /scene_qa/question.
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
    seed = DeclareLaunchArgument("room_seed", default_value="7002",
                                 description="seed of the generated room the simulator renders (7002: held out)")
    sim = Node(package="segpilot", executable="sim_bridge", name="sim_bridge", output="screen",
               parameters=[str(config / "sim_bridge.yaml"),
                           {"room_seed": LaunchConfiguration("room_seed"), "mode": "velocity",
                            "width": 320, "height": 240, "hfov_deg": 60.0,
                            "max_steps": 0}])  # fmt: skip - keeps streaming however long it is driven
    memory = Node(package="segpilot", executable="rgbd_memory", name="rgbd_memory", output="screen",
                  parameters=[str(config / "rgbd_memory.yaml")])  # fmt: skip
    qa = Node(package="segpilot", executable="scene_qa", name="scene_qa", output="screen",
              parameters=[str(config / "prune.yaml"), str(config / "scene_qa.yaml")])  # fmt: skip
    return LaunchDescription([shm, localhost, discovery, seed, sim, memory, qa])
