"""Every launch file names executables setup.py installs, parameter files config/ has, and
parameter overrides the node's YAML declares (launch_ros is not installable here: parse the text)."""

from __future__ import annotations

import ast
import re

import pytest
import yaml

from segpilot.ros_nodes.harness import CONFIG, REPO

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def _console_scripts() -> set[str]:
    text = (REPO / "setup.py").read_text()
    return set(re.findall(r'f?"(\w+) = \{PACKAGE\}\.', text)) | set(re.findall(r'"(\w+) = segpilot\.', text))


def _nodes(path):
    """(executable, parameter file names, override keys) of every launch_ros Node(...) call."""
    tree = ast.parse(path.read_text())
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            executable = ast.literal_eval(kw["executable"])
            files = [n.right.value for n in ast.walk(kw.get("parameters", ast.List([]))) if
                     isinstance(n, ast.BinOp) and isinstance(n.right, ast.Constant)]  # fmt: skip
            keys = [k.value for n in ast.walk(kw.get("parameters", ast.List([]))) if isinstance(n, ast.Dict)
                    for k in n.keys]  # fmt: skip
            yield executable, files, keys


def test_the_three_launch_files_exist_and_are_installed():
    assert {p.name for p in LAUNCH_FILES} == {"robot_qa.launch.py", "sim_qa.launch.py", "sim_vla.launch.py"}
    assert 'glob("launch/*.launch.py")' in (REPO / "setup.py").read_text()
    assert 'glob("config/*.yaml")' in (REPO / "setup.py").read_text()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_installed_executables_and_existing_parameters(path):
    scripts = _console_scripts()
    nodes = list(_nodes(path))
    assert nodes, f"{path.name} starts no Node"
    for executable, files, keys in nodes:
        assert executable in scripts, f"{path.name}: {executable} is not a console script in setup.py"
        declared: set[str] = set()
        for name in files:
            assert (CONFIG / name).exists(), f"{path.name}: config/{name} does not exist"
            for section in yaml.safe_load((CONFIG / name).read_text()).values():
                declared |= set(section["ros__parameters"])
        for key in keys:
            assert key in declared, f"{path.name}: {executable} override {key!r} is not in {files}"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_carry_camera_images_over_shared_memory(path):
    import xml.etree.ElementTree as ET

    from segpilot.ros_nodes.harness import ENV

    text = path.read_text()
    # set only when the user has no profile of their own
    default = '"FASTDDS_DEFAULT_PROFILES_FILE", default_value=str(config / "fastdds_shm.xml"))'
    assert f"EnvironmentVariable(\n        {default}" in text
    assert "shm," in text.split("LaunchDescription([")[-1]  # the variable is set before the nodes start
    assert 'glob("config/*.xml")' in (REPO / "setup.py").read_text()
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(CONFIG / "fastdds_shm.xml").getroot()
    segment = int(root.find(".//d:transport_descriptor[d:type='SHM']/d:segment_size", ns).text)
    assert segment >= 8 * 640 * 480 * 4  # several 640x480 32FC1 / rgb8 samples fit in one segment
    assert ENV["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_shm.xml")  # tests and benches use it too


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_keep_discovery_on_localhost_by_default(path):
    """DDS binds every interface; only ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST kept packets off the network, so the
    launch files set it - before any node starts - unless `localhost_only:=false`."""
    tree = ast.parse(path.read_text())
    calls = {getattr(c.func, "id", ""): [] for c in ast.walk(tree) if isinstance(c, ast.Call)}
    for c in ast.walk(tree):
        if isinstance(c, ast.Call):
            calls[getattr(c.func, "id", "")].append(c)
    declared = {c.args[0].value: {k.arg: k.value for k in c.keywords} for c in calls["DeclareLaunchArgument"]
                if isinstance(c.args[0], ast.Constant)}  # fmt: skip
    assert ast.literal_eval(declared["localhost_only"]["default_value"]) == "true"
    assert "description" in declared["localhost_only"]
    env = [c for c in calls["SetEnvironmentVariable"] if ast.literal_eval(c.args[0]) == "ROS_AUTOMATIC_DISCOVERY_RANGE"]
    assert len(env) == 1 and ast.literal_eval(env[0].args[1]) == "LOCALHOST"
    condition = {k.arg: k.value for k in env[0].keywords}["condition"]
    assert ast.unparse(condition) == "IfCondition(LaunchConfiguration('localhost_only'))"
    order = path.read_text().split("LaunchDescription([")[-1]
    assert order.index("discovery") < min(order.index(n) for n in ("sim", "memory", "qa", "vla") if n in order)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_launch_argument_has_a_description(path):
    """`ros2 launch ... --show-args` prints each one's description instead of "no description given"."""
    tree = ast.parse(path.read_text())
    calls = [c for c in ast.walk(tree)
             if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "DeclareLaunchArgument"]  # fmt: skip
    assert calls and all(any(k.arg == "description" for k in c.keywords) for c in calls)
