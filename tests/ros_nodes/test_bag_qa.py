"""`segpilot bag qa` on rosbag2 files this test writes (sqlite3 .db3 and .mcap) with the rosbags library."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.ros_nodes.bag import BagTopics, read_keyframes
from segpilot.ros_nodes.harness import REPO
from segpilot.ros_nodes.keyframes import MemoryConfig

pytestmark = pytest.mark.slow  # starts processes or runs models end to end: `make test-fast` skips it


def _write_bag(path, frames, storage: str, corrupt_one: bool = False) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    T = ts.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        wiring = [("color", "/color/image_raw", "sensor_msgs/msg/Image"),
                  ("depth", "/depth/image_raw", "sensor_msgs/msg/Image"),
                  ("info", "/color/camera_info", "sensor_msgs/msg/CameraInfo"),
                  ("pose", "/camera_pose", "geometry_msgs/msg/PoseStamped")]  # fmt: skip
        conns = {name: writer.add_connection(topic, kind, typestore=ts) for name, topic, kind in wiring}
        for i, f in enumerate(frames):
            sec, ns = 10 + i, 0
            header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=ns),
                                              frame_id="camera_color_optical_frame")  # fmt: skip
            h, w = f.depth.shape
            rgb = f.rgb if not (corrupt_one and i == 1) else f.rgb[:, :-1]
            color = T["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="rgb8", is_bigendian=0,
                                               step=3 * w, data=np.ascontiguousarray(rgb).reshape(-1))  # fmt: skip
            mm = np.nan_to_num(f.depth * 1000).astype("<u2")
            depth = T["sensor_msgs/msg/Image"](header=header, height=h, width=w, encoding="16UC1", is_bigendian=0,
                                               step=2 * w, data=mm.view(np.uint8).reshape(-1))  # fmt: skip
            c = f.camera
            roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
            info = T["sensor_msgs/msg/CameraInfo"](
                header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5),
                k=np.array([c.fx, 0, c.cx, 0, c.fy, c.cy, 0, 0, 1.0]), r=np.eye(3).reshape(-1),
                p=np.array([c.fx, 0, c.cx, 0, 0, c.fy, c.cy, 0, 0, 0, 1.0, 0]), binning_x=0, binning_y=0, roi=roi,
            )  # fmt: skip
            from segpilot.geometry.conventions import quat_xyzw_from_rotation

            q = quat_xyzw_from_rotation(f.T_world_cam[:3, :3])
            pose = T["geometry_msgs/msg/PoseStamped"](
                header=T["std_msgs/msg/Header"](stamp=header.stamp, frame_id="map"),
                pose=T["geometry_msgs/msg/Pose"](
                    position=T["geometry_msgs/msg/Point"](*map(float, f.T_world_cam[:3, 3])),
                    orientation=T["geometry_msgs/msg/Quaternion"](*map(float, q)),
                ),
            )  # fmt: skip
            t_ns = sec * 1_000_000_000
            for name, msg in (("color", color), ("depth", depth), ("info", info), ("pose", pose)):
                writer.write(conns[name], t_ns, ts.serialize_cdr(msg, conns[name].msgtype))


@pytest.fixture(scope="module")
def frames():
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.sim.cached_scan import generated_scan

    scene = ScanNetScene(generated_scan())
    ids = scene.valid_frame_ids()
    return scene.frames([ids[i] for i in np.linspace(0, len(ids) - 1, 8).astype(int)])


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_qa_answers_from_a_recorded_bag(tmp_path, frames, storage):
    bag = tmp_path / f"bag_{storage}"
    _write_bag(bag, frames, storage, corrupt_one=True)
    keyframes, stats = read_keyframes(bag, BagTopics(), MemoryConfig())
    assert stats["frames"] == 7 and stats["dropped_invalid"] == 1  # the corrupted colour image is counted
    assert 1 < len(keyframes) <= 7
    proc = subprocess.run([sys.executable, "-m", "segpilot.cli", "bag", "qa", "--bag", str(bag), "--question",
                           "What color is the box on the table?", "--views", "4"], capture_output=True, text=True,
                          cwd=REPO, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "answer: " in proc.stdout and "keyframes" in proc.stdout and "tokens kept" in proc.stdout


def test_bag_errors(tmp_path, frames):
    with pytest.raises(SegpilotError, match="bag not found"):
        read_keyframes(tmp_path / "nope", BagTopics(), MemoryConfig())
    _write_bag(tmp_path / "b", frames[:2], "mcap")
    with pytest.raises(SegpilotError, match=r"topics \['/odom'\] not in the bag"):
        read_keyframes(tmp_path / "b", BagTopics(camera_pose="/odom"), MemoryConfig())
