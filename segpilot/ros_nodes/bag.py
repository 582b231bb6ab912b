"""`segpilot bag qa`: answer a question from a recorded rosbag2 (.db3 or .mcap), no ROS graph needed.

Reads the same topics the nodes subscribe to (colour, depth, camera info, and a camera pose,
odometry, or the `/tf` + `/tf_static` chain from a fixed frame to the camera's optical frame, as
robot bags carry it) with the `rosbags` library, pairs them with the same approximate-time
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
from segpilot.ros_nodes.tf_buffer import TransformBuffer


@dataclass(frozen=True)
class BagTopics:
    """Topic names in the bag (as a robot_qa launch would remap them)."""

    color: str = "/color/image_raw"
    depth: str = "/depth/image_raw"
    camera_info: str = "/color/camera_info"
    camera_pose: str = "/camera_pose"
    """PoseStamped / Odometry of the optical frame, or `/tf` for a transform chain (with /tf_static)."""
    fixed_frame: str = "map"
    """With /tf: the world frame the chain starts from (map, odom, ...)."""
    camera_frame: str = ""
    """With /tf: the camera's optical frame (empty: the colour image's header.frame_id)."""

    @property
    def uses_tf(self) -> bool:
        return self.camera_pose.rstrip("/").endswith("/tf") or self.camera_pose in ("tf", "/tf")


def read_keyframes(bag: str | Path, topics: BagTopics, memory: MemoryConfig) -> tuple[list[Frame], Counter]:
    """Keyframes of a bag, in recording order, and counts of frames seen and messages dropped."""
    from rosbags.highlevel import AnyReader

    path = Path(bag)
    if not path.exists():
        raise SegpilotError(f"bag not found: {path}")
    keyframes = KeyframeMemory(memory)
    stats: Counter = Counter()
    reasons: Counter = Counter()
    names = [topics.color, topics.depth, topics.camera_info] + ([] if topics.uses_tf else [topics.camera_pose])
    try:
        with AnyReader([path]) as reader:
            tf = _read_tf(reader, path) if topics.uses_tf else None

            def on_set(color, depth, info, pose=None) -> None:
                try:
                    stamp = convert.stamp_seconds(color.header)
                    camera = topics.camera_frame or color.header.frame_id
                    T = convert.pose_to_matrix(pose) if tf is None else tf.lookup(topics.fixed_frame, camera, stamp)
                    frame = Frame(convert.image_to_rgb(color), convert.image_to_depth(depth, memory.depth_scale,
                                  memory.max_depth_m), convert.camera_from_info(info), T, stamp=stamp)  # fmt: skip
                except SegpilotError as exc:
                    stats["dropped_invalid"] += 1
                    reasons[_reason(exc, color, depth)] += 1
                    return
                if not frame.valid_depth.any():  # what the nodes drop, bag qa drops too
                    stats["dropped_no_valid_depth"] += 1
                    reasons["every depth pixel is 0, NaN, inf or beyond max_depth_m"] += 1
                    return
                stats["frames"] += 1
                keyframes.offer(frame)

            sync = ApproximateSync(len(names), memory.slop_s, on_set, queue_size=30)
            conns = [c for c in reader.connections if c.topic in names]
            missing = set(names) - {c.topic for c in conns}
            if missing:
                found = ", ".join(sorted({c.topic for c in reader.connections}))
                raise SegpilotError(f"{path}: topics {sorted(missing)} not in the bag (it has: {found})")
            for conn, _t, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                stats[f"messages {conn.topic}"] += 1
                if not sync.add(names.index(conn.topic), convert.stamp_seconds(msg.header), msg):
                    stats["dropped_out_of_order"] += 1
    except (OSError, ValueError, KeyError) as exc:
        raise SegpilotError(f"cannot read bag {path}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # rosbags' own errors (AnyReaderError, ...) on a corrupt or foreign file
        if type(exc).__module__.startswith("rosbags"):
            raise SegpilotError(f"cannot read bag {path}: {str(exc).splitlines()[0]}") from None
        raise
    if not keyframes.frames:
        seen = ", ".join(f"{v} on {k.removeprefix('messages ')}" for k, v in stats.items() if k.startswith("messages"))
        why = "; ".join(f"{n} sets dropped: {r}" for r, n in reasons.most_common(3)) or (
            f"no set of {', '.join(names)} within slop_s {memory.slop_s} s")
        raise SegpilotError(f"{path}: no complete RGB-D + pose set ({why}; messages: {seen or 'none'})")
    return list(keyframes.frames.values()), stats


def _reason(exc: SegpilotError, color, depth) -> str:
    if (color.width, color.height) != (depth.width, depth.height):
        return f"colour {color.width}x{color.height} vs depth {depth.width}x{depth.height}"
    return str(exc)


def _read_tf(reader, path: Path) -> TransformBuffer:
    """Every /tf and /tf_static transform of the bag (tf2_msgs/TFMessage)."""
    buffer = TransformBuffer()
    conns = [c for c in reader.connections if c.topic in ("/tf", "/tf_static")]
    if not conns:
        raise SegpilotError(f"{path}: --camera-pose-topic /tf but the bag has no /tf or /tf_static")
    for conn, _t, raw in reader.messages(connections=conns):
        for tr in reader.deserialize(raw, conn.msgtype).transforms:
            buffer.add(tr.header.frame_id, tr.child_frame_id, convert.stamp_seconds(tr.header),
                       convert.transform_to_matrix(tr), static=conn.topic == "/tf_static")  # fmt: skip
    return buffer
