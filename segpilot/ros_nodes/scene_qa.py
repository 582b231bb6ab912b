"""`scene_qa` node: keyframes from rgbd_memory + questions -> answers from pruned 3D tokens.

Questions arrive on `~/question` (std_msgs/String: plain text, or JSON {"question_id",
"question"}); answers leave on `~/answer` (std_msgs/String, JSON with the question id, the
answer, tokens kept / total and per-stage timings, or an "error"); the kept tokens are
published as a visualization_msgs/MarkerArray on `~/kept_tokens` for RViz. It runs the same
`QAPipeline` as `segpilot ask`, over the newest `max_keyframes` keyframes.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

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
    """frame_id of the kept-token markers."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.max_keyframes < 1:
            raise SegpilotError("max_new_tokens and max_keyframes must be >= 1")


class SceneQANode(SegpilotNode):
    configs = (SceneQAConfig, PruneConfig)

    def __init__(self):
        super().__init__("scene_qa")

    def configure(self) -> None:
        from visualization_msgs.msg import MarkerArray

        from segpilot.policies.qa.pipeline import QAPipeline, load_adapter

        cfg = self.config(SceneQAConfig)
        prune = self.config(PruneConfig)
        self.cfg = cfg
        adapter = load_adapter(cfg.model or None, use_3d_position=cfg.use_3d_position, device=prune.device)
        self.pipeline = QAPipeline(adapter, prune, cfg.max_new_tokens)
        self.frames: deque = deque(maxlen=cfg.max_keyframes)
        self.received = 0
        self.answer_pub = self.create_publisher(String, "~/answer", RELIABLE_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "~/kept_tokens", RELIABLE_QOS)
        self.create_subscription(String, "~/question", self.on_question, RELIABLE_QOS)
        self.input = RGBDInput(self, self.on_frame, 0.0, 1.0, 1e6, prefix=cfg.keyframe_prefix, reliable=True)

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
        reply: dict = {"question_id": qid, "question": text}
        try:
            if not self.frames:
                raise SegpilotError("no keyframes received yet")
            key = f"{self.received - len(self.frames)}-{self.received}"
            answer = self.pipeline.answer_frames(list(self.frames), text, key)
            prepared = self.pipeline.prepare_frames(list(self.frames), key)
            reply.update(answer=answer.text, tokens_kept=len(answer.kept), tokens_total=answer.n_tokens,
                         keyframes=len(self.frames), timings_s=answer.timings)  # fmt: skip
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.cfg.world_frame)
            self.marker_pub.publish(convert.kept_markers(prepared.tokens.xyz[prepared.kept].cpu().numpy(), header))
            self.counts["answers"] += 1
        except SegpilotError as exc:
            reply["error"] = str(exc)
        self.answer_pub.publish(String(data=json.dumps(reply)))


MAX_QUESTION_BYTES = 16384
"""Largest question message accepted (the answer path also bounds the question in tokens)."""


def main(args=None) -> None:
    run_node(SceneQANode, args)


if __name__ == "__main__":
    main()
