"""ament_python / pip install script for segpilot (one package named after the ROS package)."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "segpilot"
HERE = Path(__file__).resolve().parent  # colcon --symlink-install runs a link in its build folder


def requirements(name: str = "requirements.txt") -> list[str]:
    lines = (HERE / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]


def package_data() -> list[str]:
    root = HERE / PACKAGE
    return [str(p.relative_to(root)) for p in (root / "data").rglob("*") if p.is_file()]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["tests", "tests.*"]),
    package_data={PACKAGE: package_data()},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=requirements(),
    # rclpy and the messages from PyPI wheels, only where no ROS 2 is installed (`pip install .[ros]`): on a
    # robot with an apt ROS 2 they would be a second rclpy.
    extras_require={"ros": requirements("requirements-ros.txt")},
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="segpilot developers",
    description="3D-aware visual token pruning for VLMs and VLA policies on multi-view RGB-D",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"segpilot = {PACKAGE}.cli:run",
            f"rgbd_memory = {PACKAGE}.ros_nodes.rgbd_memory:main",
            f"scene_qa = {PACKAGE}.ros_nodes.scene_qa:main",
            f"vla_policy = {PACKAGE}.ros_nodes.vla_policy:main",
            f"sim_bridge = {PACKAGE}.ros_nodes.sim_bridge:main",
        ]
    },
)
