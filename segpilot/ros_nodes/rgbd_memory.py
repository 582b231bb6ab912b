"""`rgbd_memory` node: camera topics -> keyframes by camera motion -> per-view visual tokens.

Publishes the 3D positions (and saliency) of every token in memory as `~/tokens`
(sensor_msgs/PointCloud2, in `world_frame`), and each new keyframe on `~/keyframe/` + the input
topic names (one stamp per keyframe, reliable and transient-local: a scene_qa that joins late still gets the
newest keyframes) for `scene_qa` to consume.

Keyframes are encoded on a worker thread, not in the subscription callback: an encoder pass
takes far longer than a frame period at 30 Hz, and while the callback is busy the best-effort
image topics overflow and frames are lost. The callback only converts, pairs and selects
keyframes; the worker encodes the pending keyframes in order (skipping any the memory has
already evicted) and publishes the cloud after each. `encoder_threads` caps torch's threads
so the callback keeps a core.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from std_msgs.msg import Header

from segpilot.pipeline import PruneConfig
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.base import KEYFRAME_QOS, RELIABLE_QOS, SegpilotNode, run_node
from segpilot.ros_nodes.keyframes import KeyframeMemory, MemoryConfig
from segpilot.ros_nodes.rgbd_input import CameraInputConfig, RGBDInput


class RGBDMemoryNode(SegpilotNode):
    configs = (MemoryConfig, CameraInputConfig)

    def __init__(self, **kwargs):
        super().__init__("rgbd_memory", **kwargs)

    def configure(self) -> None:
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        from segpilot.perception.encoders.base import make_encoder

        cfg = self.config(MemoryConfig)
        self.cfg = cfg
        if cfg.encoder_threads:
            import torch

            torch.set_num_threads(cfg.encoder_threads)
        self.encoder = make_encoder(cfg.encoder)
        self.lock = threading.Lock()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyframe_encoder")
        self.memory = KeyframeMemory(cfg)
        self.min_valid = PruneConfig().min_valid_fraction
        self.tokens_pub = self.create_publisher(PointCloud2, "~/tokens", RELIABLE_QOS)
        self.kf_pubs = {
            "color": self.create_publisher(Image, "~/keyframe/color/image_raw", KEYFRAME_QOS),
            "depth": self.create_publisher(Image, "~/keyframe/depth/image_raw", KEYFRAME_QOS),
            "info": self.create_publisher(CameraInfo, "~/keyframe/color/camera_info", KEYFRAME_QOS),
            "pose": self.create_publisher(PoseStamped, "~/keyframe/camera_pose", KEYFRAME_QOS),
        }
        self.input = RGBDInput(self, self.on_frame, cfg.slop_s, cfg.depth_scale, cfg.max_depth_m,
                               self.config(CameraInputConfig), world_frame=cfg.world_frame)  # fmt: skip

    def on_frame(self, frame) -> None:
        with self.lock:
            key = self.memory.offer(frame)
        if key is None:
            return
        self.counts["keyframes"] += 1
        self.worker.submit(self.encode, key, frame)
        header = Header(stamp=convert.to_stamp(frame.stamp), frame_id=frame.frame_id)
        depth = np.nan_to_num(frame.depth, nan=0.0)
        self.kf_pubs["color"].publish(convert.rgb_to_image(frame.rgb, header))
        self.kf_pubs["depth"].publish(convert.depth_to_image(depth, header))
        self.kf_pubs["info"].publish(convert.camera_info_msg(frame.camera, header))
        world = Header(stamp=header.stamp, frame_id=self.cfg.world_frame)
        self.kf_pubs["pose"].publish(convert.pose_msg(frame.T_world_cam, world))

    def encode(self, key: int, frame) -> None:
        """Worker thread: one keyframe's tokens, then the cloud of every token in memory."""
        from segpilot.perception.tokenize import tokens_from_frames

        with self.lock:
            if key not in self.memory.frames:
                return  # evicted while waiting
        try:
            tokens = tokens_from_frames([frame], self.encoder, self.min_valid)
        except Exception as exc:  # noqa: BLE001 - a failed encode drops one keyframe, never the node
            self.drop("encode_failed", str(exc))
            return
        with self.lock:
            if key not in self.memory.frames:
                return
            self.memory.tokens[key] = tokens
            held = list(self.memory.tokens.values())
        self.counts["encoded"] += 1
        xyz = np.concatenate([t.xyz.numpy() for t in held])
        saliency = np.concatenate([t.saliency.numpy() for t in held])
        world = Header(stamp=convert.to_stamp(frame.stamp), frame_id=self.cfg.world_frame)
        self.tokens_pub.publish(convert.points_to_cloud(xyz, saliency, world))

    def cleanup(self) -> None:
        if hasattr(self, "worker"):
            self.worker.shutdown(wait=True, cancel_futures=True)
            del self.worker

    def destroy_node(self):
        self.cleanup()
        return super().destroy_node()


def main(args=None) -> None:
    run_node(RGBDMemoryNode, args)


if __name__ == "__main__":
    main()
