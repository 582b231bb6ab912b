"""Nodes that one message cannot kill or block: the messages that did (huge poses, pose jumps, absurd cmd_vel,
deeply nested JSON questions), sent to real rclpy nodes in-process."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest


def _node(cls, context, monkeypatch):
    node = cls(context=context)  # nodes pass keyword arguments to rclpy: no monkeypatching
    node.trigger_configure()
    node.trigger_activate()
    return node


def _frame(position):
    from segpilot.geometry.camera import PinholeCamera
    from segpilot.geometry.frame import Frame

    T = np.eye(4)
    T[:3, 3] = position
    return Frame(np.zeros((64, 64, 3), np.uint8), np.full((64, 64), 2.0, np.float32),
                 PinholeCamera(32, 32, 31.5, 31.5, 64, 64), T, stamp=1.0)  # fmt: skip


def test_vla_policy_survives_a_pose_at_1e30_and_a_1e5_m_jump(rclpy_context, monkeypatch):
    from std_msgs.msg import String

    from segpilot.ros_nodes.vla_policy import VLAPolicyNode

    node = _node(VLAPolicyNode, rclpy_context, monkeypatch)
    try:
        node.on_instruction(String(data="find the table"))
        for position in ([1.0, 1.0, 1.25], [1e30, 0.0, 1.25], [1e3, 1e3, 1.25], [1e3 + 0.1, 1e3, 1.25]):
            node.on_frame(_frame(position))  # the 1.4 km jump resets the maps instead of a 3 GB floor window
            node.on_tick()
        assert node.drops["invalid"] == 1  # the 1e30 m pose: dropped, counted, alive
        assert node.counts["actions"] == 4 and node.agent is not None
    finally:
        node.destroy_node()


def test_sim_bridge_clamps_absurd_velocities(rclpy_context, monkeypatch):
    from geometry_msgs.msg import Twist

    from segpilot.ros_nodes.sim_bridge import SimBridgeNode

    node = _node(SimBridgeNode, rclpy_context, monkeypatch)
    try:
        node.cfg = type(node.cfg)(**{**node.cfg.__dict__, "mode": "velocity"})
        start = node.obs.pose
        twist = Twist()
        twist.linear.x = 1e12
        twist.angular.z = -1e9
        node.on_twist(twist)
        node.on_tick()
        moved = math.hypot(node.obs.pose.x - start.x, node.obs.pose.y - start.y)
        assert moved <= node.cfg.max_linear_mps / node.cfg.rate_hz + 1e-6
    finally:
        node.destroy_node()


def test_scene_qa_drops_nested_huge_and_non_text_questions(rclpy_context, monkeypatch):
    from std_msgs.msg import String

    from segpilot.ros_nodes.scene_qa import MAX_QUESTION_BYTES, SceneQANode

    node = _node(SceneQANode, rclpy_context, monkeypatch)
    replies = []
    node.answer_pub.publish = lambda msg: replies.append(json.loads(msg.data))
    try:
        for text in ("{" + '"a":[' * 100000 + "]" * 100000 + "}", '{"question": null}', '{"question": [1, 2]}',
                     "x" * (MAX_QUESTION_BYTES + 1)):  # fmt: skip
            node.on_question(String(data=text))
        assert node.drops["malformed_question"] == 4 and replies == []
        node.on_question(String(data='{"question": "What is on the table?", "question_id": 3}'))
        node.answer_pending()
        assert replies[-1]["question_id"] == 3 and "no keyframes" in replies[-1]["error"]
        # A burst: beyond max_pending_questions the oldest is answered with an error and counted, never lost.
        for i in range(30):
            node.on_question(String(data=json.dumps({"question": "What?", "question_id": i})))
        assert node.drops["backlog_full"] == 30 - node.cfg.max_pending_questions
        assert [r["question_id"] for r in replies[-(30 - node.cfg.max_pending_questions):]] == list(
            range(30 - node.cfg.max_pending_questions))  # fmt: skip
        node.pending[0] = (node.pending[0][0] - 1e3, *node.pending[0][1:])  # the oldest waited too long
        node.answer_pending()
        assert node.drops["too_late"] == 1 and "waited" in replies[-1]["error"]
    finally:
        node.destroy_node()


@pytest.mark.parametrize("name", ["scene_qa", "vla_policy", "sim_bridge", "rgbd_memory"])
def test_configure_cleanup_cycles_leave_one_set_of_entities(rclpy_context, name):
    """ros2/demos' lifecycle pattern: created in configure, destroyed in cleanup (subs 5 -> 10 before)."""
    import importlib

    module = importlib.import_module(f"segpilot.ros_nodes.{name}")
    cls = next(v for k, v in vars(module).items() if k.endswith("Node") and k != "SegpilotNode" and isinstance(v, type))
    node = cls(context=rclpy_context)
    try:
        base = (len(list(node.publishers)), len(list(node.subscriptions)), len(list(node.timers)))
        counts = []
        for _ in range(3):
            node.trigger_configure()
            counts.append((len(list(node.publishers)), len(list(node.subscriptions)), len(list(node.timers))))
            node.trigger_cleanup()
            assert (len(list(node.publishers)), len(list(node.subscriptions)), len(list(node.timers))) == base
        assert counts[0] == counts[1] == counts[2] and counts[0] != base
    finally:
        node.destroy_node()


def test_a_parameter_set_at_runtime_takes_effect_and_bad_choices_are_refused(rclpy_context):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from segpilot.ros_nodes.sim_bridge import SimBridgeNode
    from segpilot.ros_nodes.vla_policy import VLAPolicyNode

    node = SimBridgeNode(context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    try:
        node.trigger_configure()
        node.trigger_activate()
        assert node.set_parameters([Parameter("max_linear_mps", value=0.25)])[0].successful
        for _ in range(20):
            executor.spin_once(timeout_sec=0.05)
        assert node.cfg.max_linear_mps == 0.25 and node.active  # the node, not only the parameter store
        assert node._state_machine.current_state[1] == "active"
    finally:
        executor.remove_node(node)
        node.destroy_node()
    vla = VLAPolicyNode(context=rclpy_context)
    try:
        bad = vla.set_parameters([Parameter("pose_type", value="banana")])[0]
        assert not bad.successful and "pose_type must be one of pose, odometry, tf" in bad.reason
    finally:
        vla.destroy_node()


def test_sim_bridge_keeps_streaming_after_the_episode_and_without_a_step_limit(rclpy_context, monkeypatch):
    from segpilot.ros_nodes.sim_bridge import SimBridgeNode

    node = _node(SimBridgeNode, rclpy_context, monkeypatch)
    try:
        node.finish(stopped=True)
        before = node.counts["observations"]
        node.on_tick()
        node.on_tick()
        assert node.counts["observations"] == before + 2  # a QA bring-up's camera never goes dark
        node.cfg = type(node.cfg)(**{**node.cfg.__dict__, "max_steps": 0, "mode": "velocity"})
        node.done = False
        for _ in range(5):
            node.on_tick()
        assert not node.done
    finally:
        node.destroy_node()
