"""The package as `ros2 launch` sees it - built with colcon into a fresh workspace, or the README's pip install
with `segpilot ros-index` (what `make install` runs) writing the ament layout into a prefix - resolved through the
ament index the way launch_ros resolves `Node(package=, executable=)` and `get_package_share_directory`, then the
installed executables started with the installed parameter files: a question answered, the VLA episode run to
its goal, and a clean SIGINT shutdown. (launch itself is not installable here; a real `ros2 launch` of every
launch file is checked on a ROS machine.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from segpilot.ros_nodes.base import SENSOR_QOS
from segpilot.ros_nodes.harness import REPO, Client, frame_messages, start_node, stop
from tests.ros_nodes.test_launch_files import LAUNCH_FILES, _nodes

pytestmark = pytest.mark.slow  # starts processes or runs models end to end: `make test-fast` skips it


@pytest.fixture(scope="module", params=["colcon", "pip"])
def installed(request, tmp_path_factory):
    """The install prefix that goes on AMENT_PREFIX_PATH."""
    if request.param == "pip":
        prefix = tmp_path_factory.mktemp("prefix")
        proc = subprocess.run([str(Path(sys.executable).parent / "segpilot"), "ros-index", "--prefix", str(prefix)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0 and "AMENT_PREFIX_PATH" in proc.stdout, proc.stdout + proc.stderr
        return prefix
    ws = tmp_path_factory.mktemp("ws")
    ignore = shutil.ignore_patterns(".venv", ".git", "runs", "build", "install", "log", "__pycache__", "*.egg-info",
                                    ".pytest_cache")  # fmt: skip
    shutil.copytree(REPO, ws / "src" / "segpilot", ignore=ignore)
    colcon = Path(sys.executable).parent / "colcon"
    proc = subprocess.run([str(colcon), "build", "--symlink-install", "--event-handlers", "console_direct-"],
                          cwd=ws, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return ws / "install" / "segpilot"


def _index(installed, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(installed))
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    return Path(get_package_prefix("segpilot")), Path(get_package_share_directory("segpilot"))


def test_launch_ros_resolves_every_executable_and_parameter_file(installed, monkeypatch):
    prefix, share = _index(installed, monkeypatch)
    launch_files = sorted((share / "launch").glob("*.launch.py"))
    assert [p.name for p in launch_files] == [p.name for p in LAUNCH_FILES]
    for path in launch_files:
        for executable, files, _ in _nodes(path):
            assert (prefix / "lib" / "segpilot" / executable).is_file(), f"{path.name}: {executable}"
            for name in files:
                assert (share / "config" / name).is_file(), f"{path.name}: config/{name}"


def test_installed_qa_bringup_answers_and_shuts_down_cleanly(installed, monkeypatch):
    prefix, share = _index(installed, monkeypatch)
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.sim.cached_scan import generated_scan

    scene = ScanNetScene(generated_scan())
    frames = scene.frames(scene.valid_frame_ids()[::12][:6])
    bin_dir, config = prefix / "lib" / "segpilot", share / "config"
    memory = start_node("rgbd_memory", "--params-file", str(config / "rgbd_memory.yaml"), bin_dir=bin_dir)
    qa = start_node("scene_qa", "--params-file", str(config / "prune.yaml"), "--params-file",
                    str(config / "scene_qa.yaml"), "-p", "views:=4", bin_dir=bin_dir)  # fmt: skip
    client = Client()
    try:
        pubs = [client.publisher(Image, "color/image_raw", SENSOR_QOS),
                client.publisher(Image, "depth/image_raw", SENSOR_QOS),
                client.publisher(CameraInfo, "color/camera_info", SENSOR_QOS),
                client.publisher(PoseStamped, "camera_pose")]  # fmt: skip
        question = client.publisher(String, "scene_qa/question")
        client.listen(String, "scene_qa/answer")
        client.spin_until(lambda: all(p.get_subscription_count() > 0 for p in [*pubs, question]), 90, "the nodes")
        for i, frame in enumerate(frames):
            for pub, msg in zip(pubs, frame_messages(frame, 50.0 + 0.1 * i), strict=True):
                pub.publish(msg)
            client.spin_for(0.1)
        answers = client.received["scene_qa/answer"]
        for _ in range(20):
            question.publish(String(data=json.dumps({"question_id": "q1", "question": "What is on the table?"})))
            client.spin_for(3.0)
            if any("answer" in json.loads(a.data) for a in answers):
                break
        replies = [json.loads(a.data) for a in answers]
    finally:
        client.close()
        log = stop(memory, qa)
    assert any("answer" in r and r["keyframes"] >= 2 for r in replies), (replies, log[-2000:])
    assert memory.returncode == 0 and qa.returncode == 0 and "Traceback" not in log


def test_installed_vla_bringup_reaches_its_goal(installed, monkeypatch):
    from tests.ros_nodes.test_vla_closed_loop_over_dds import run_closed_loop

    prefix, share = _index(installed, monkeypatch)
    run_closed_loop(share / "config", bin_dir=prefix / "lib" / "segpilot")
