"""`segpilot bag qa`: answer a question from a recorded rosbag2 (.db3 or .mcap), no ROS graph needed.

Reads the same topics the nodes subscribe to (colour, depth, camera info, camera pose or
odometry) with the `rosbags` library, pairs them with the same approximate-time
synchroniser, keeps keyframes by camera motion like `rgbd_memory`, and answers with the
same `QAPipeline` as `scene_qa`. Messages that fail conversion are counted, not fatal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.keyframes import KeyframeMemory, MemoryConfig
from segpilot.ros_nodes.sync import ApproximateSync


@dataclass(frozen=True)
class BagTopics:
    """Topic names in the bag (as a robot_qa launch would remap them)."""

    color: str = "/color/image_raw"
    depth: str = "/depth/image_raw"
    camera_info: str = "/color/camera_info"
    camera_pose: str = "/camera_pose"


def read_keyframes(bag: str | Path, topics: BagTopics, memory: MemoryConfig) -> tuple[list[Frame], Counter]:
    """Keyframes of a bag, in recording order, and counts of frames seen and messages dropped."""
    from rosbags.highlevel import AnyReader

    path = Path(bag)
    if not path.exists():
        raise SegpilotError(f"bag not found: {path}")
    keyframes = KeyframeMemory(memory)
    stats: Counter = Counter()
    names = [topics.color, topics.depth, topics.camera_info, topics.camera_pose]

    def on_set(color, depth, info, pose) -> None:
        try:
            frame = Frame(convert.image_to_rgb(color), convert.image_to_depth(depth, memory.depth_scale,
                          memory.max_depth_m), convert.camera_from_info(info), convert.pose_to_matrix(pose),
                          stamp=convert.stamp_seconds(color.header))  # fmt: skip
        except SegpilotError:
            stats["dropped_invalid"] += 1
            return
        stats["frames"] += 1
        keyframes.offer(frame)

    sync = ApproximateSync(4, memory.slop_s, on_set, queue_size=30)
    try:
        with AnyReader([path]) as reader:
            conns = [c for c in reader.connections if c.topic in names]
            missing = set(names) - {c.topic for c in conns}
            if missing:
                found = ", ".join(sorted({c.topic for c in reader.connections}))
                raise SegpilotError(f"{path}: topics {sorted(missing)} not in the bag (it has: {found})")
            for conn, _t, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                if not sync.add(names.index(conn.topic), convert.stamp_seconds(msg.header), msg):
                    stats["dropped_out_of_order"] += 1
    except (OSError, ValueError) as exc:
        raise SegpilotError(f"cannot read bag {path}: {str(exc).splitlines()[0]}") from None
    if not keyframes.frames:
        raise SegpilotError(f"{path}: no complete RGB-D + pose set in the bag")
    return list(keyframes.frames.values()), stats
