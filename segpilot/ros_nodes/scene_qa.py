"""`scene_qa` node: keyframes from rgbd_memory + questions -> answers from pruned 3D tokens.

Questions arrive on `~/question` (std_msgs/String: plain text, or JSON {"question_id",
"question"}); answers leave on `~/answer` (std_msgs/String, JSON with the question id, the
answer, tokens kept / total and per-stage timings, or an "error"); the kept tokens are
published as a visualization_msgs/MarkerArray on `~/kept_tokens` for RViz. It runs the same
`QAPipeline` as `segpilot ask`, over the newest `max_keyframes` keyframes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import QoSProfile
from std_msgs.msg import Header, String

from segpilot.errors import SegpilotError
from segpilot.pipeline import PruneConfig
from segpilot.ros_nodes import convert
from segpilot.ros_nodes.base import RELIABLE_QOS, SegpilotNode, run_node
from segpilot.ros_nodes.rgbd_input import RGBDInput


@dataclass(frozen=True)
class SceneQAConfig:
    """Parameters of the scene_qa node besides the pruning ones (PruneConfig)."""

    model: str = ""
    """Local VLM checkpoint folder; empty = the embedded default model."""
    max_new_tokens: int = 16
    """Answer length limit in tokens."""
    use_3d_position: bool = False
    """Add the sinusoidal 3D position embedding to the visual tokens."""
    max_keyframes: int = 24
    """Keyframes kept for answering (the oldest is dropped first)."""
    keyframe_prefix: str = "rgbd_memory/keyframe/"
    """Topic prefix of rgbd_memory's keyframe topics."""
    world_frame: str = "map"
    """Fixed frame of the keyframe poses (rgbd_memory's world_frame) and frame_id of the kept-token markers."""
    max_pending_questions: int = 16
    """Questions waiting to be answered; a new one beyond this drops (and answers with an error) the oldest."""
    max_wait_s: float = 30.0
    """A question that waited longer than this is answered with an error instead of a stale answer, seconds."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.max_keyframes < 1 or self.max_pending_questions < 1:
            raise SegpilotError("max_new_tokens, max_keyframes and max_pending_questions must be >= 1")
        if not self.max_wait_s > 0:
            raise SegpilotError(f"max_wait_s must be > 0, got {self.max_wait_s}")


class SceneQANode(SegpilotNode):
    """Questions are received on their own callback group (a second executor thread), so a burst arriving while
    an answer is computed is queued, bounded and counted here instead of being overwritten in the DDS history;
    answering, keyframes and timers share the default group and never run at the same time."""

    configs = (SceneQAConfig, PruneConfig)
    executor_threads = 2

    def __init__(self, **kwargs):
        super().__init__("scene_qa", **kwargs)

    def configure(self) -> None:
        from visualization_msgs.msg import MarkerArray

        from segpilot.policies.qa.pipeline import QAPipeline, load_adapter

        cfg = self.config(SceneQAConfig)
        prune = self.config(PruneConfig)
        self.cfg = cfg
        adapter = load_adapter(cfg.model or None, use_3d_position=cfg.use_3d_position, device=prune.device)
        # every keyframe is encoded once (its tokens kept while it is in memory), not once per new keyframe set
        self.pipeline = QAPipeline(adapter, prune, cfg.max_new_tokens, view_cache=cfg.max_keyframes + prune.views)
        self.warm_up_s = warm_up(self.pipeline)
        self.frames: deque = deque(maxlen=cfg.max_keyframes)
        self.received = 0
        self.answer_pub = self.create_publisher(String, "~/answer", RELIABLE_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "~/kept_tokens", RELIABLE_QOS)
        self.pending: deque = deque()
        self.pending_lock = threading.Lock()
        self.create_subscription(String, "~/question", self.on_question, QoSProfile(depth=64),
                                 callback_group=MutuallyExclusiveCallbackGroup())  # fmt: skip
        self.create_timer(0.02, self.answer_pending)
        self.input = RGBDInput(self, self.on_frame, 0.0, 1.0, 1e6, prefix=cfg.keyframe_prefix, reliable=True,
                              world_frame=cfg.world_frame)  # fmt: skip

    def on_frame(self, frame) -> None:
        self.frames.append(frame)
        self.received += 1

    def on_question(self, msg: String) -> None:
        if not self.active:
            return
        if len(msg.data) > MAX_QUESTION_BYTES:
            self.drop("malformed_question", f"question message of {len(msg.data)} bytes (at most {MAX_QUESTION_BYTES})")
            return
        text = msg.data.strip()
        qid = None
        if text.startswith("{"):
            try:
                data = json.loads(text)
                qid, question = data.get("question_id"), data["question"]
            except (json.JSONDecodeError, KeyError, AttributeError, TypeError, RecursionError) as exc:
                self.drop("malformed_question", f"expected plain text or JSON with a 'question' field: "
                          f"{type(exc).__name__}")  # fmt: skip
                return
            if not isinstance(question, str) or not isinstance(qid, str | int | None):
                self.drop("malformed_question", "'question' must be text and 'question_id' text or a number")
                return
            text = question.strip()
        dropped = None
        with self.pending_lock:
            if len(self.pending) >= self.cfg.max_pending_questions:
                dropped = self.pending.popleft()
            self.pending.append((time.monotonic(), qid, text))
        if dropped is not None:
            self.drop("backlog_full", f"more than {self.cfg.max_pending_questions} questions waiting")
            self._reply({"question_id": dropped[1], "question": dropped[2],
                         "error": f"not answered: more than {self.cfg.max_pending_questions} questions waiting"})

    def answer_pending(self) -> None:
        """Answer the oldest waiting question (timer, default callback group)."""
        with self.pending_lock:
            if not self.pending:
                return
            arrived, qid, text = self.pending.popleft()
        reply: dict = {"question_id": qid, "question": text}
        waited = time.monotonic() - arrived
        if waited > self.cfg.max_wait_s:
            self.drop("too_late", f"question waited {waited:.1f} s")
            reply["error"] = f"not answered: waited {waited:.1f} s (more than max_wait_s {self.cfg.max_wait_s:g})"
            self._reply(reply)
            return
        try:
            if not self.frames:
                raise SegpilotError(f"no keyframes received yet on {self.cfg.keyframe_prefix}* (is rgbd_memory "
                                    "running and is its camera publishing colour, depth, camera_info and a pose?)")
            key = f"{self.received - len(self.frames)}-{self.received}"
            answer = self.pipeline.answer_frames(list(self.frames), text, key)
            prepared = self.pipeline.prepare_frames(list(self.frames), key)
            # the one answer record (Answer.to_record) + "answer", its name on this topic since the first release
            reply.update(answer.to_record(), answer=answer.text, keyframes=len(self.frames))
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.cfg.world_frame)
            self.marker_pub.publish(convert.kept_markers(prepared.tokens.xyz[prepared.kept].cpu().numpy(), header))
            self.counts["answers"] += 1
        except SegpilotError as exc:
            reply["error"] = str(exc)
        self._reply(reply)

    def _reply(self, reply: dict) -> None:
        self.answer_pub.publish(String(data=json.dumps(reply)))


def warm_up(pipeline) -> float:
    """Answer once on a synthetic frame set at configure, so the first real question pays no JIT compilation,
    cache load or first-call allocation (33 s on a fresh install, 29 s of it the pruning kernels); seconds."""
    import time

    import numpy as np

    from segpilot.geometry.camera import PinholeCamera
    from segpilot.geometry.frame import Frame

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    frames = []
    for i in range(max(2, min(pipeline.config.views, 4))):
        T = np.eye(4)
        T[0, 3] = 0.3 * i
        frames.append(Frame(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), np.full((120, 160), 2.0, np.float32),
                            PinholeCamera(150, 150, 79.5, 59.5, 160, 120), T))  # fmt: skip
    pipeline.answer_frames(frames, "What is this?", key="warm-up")
    pipeline.clear()
    return time.perf_counter() - t0


MAX_QUESTION_BYTES = 16384
"""Largest question message accepted (the answer path also bounds the question in tokens)."""


def main(args=None) -> None:
    run_node(SceneQANode, args)


if __name__ == "__main__":
    main()
