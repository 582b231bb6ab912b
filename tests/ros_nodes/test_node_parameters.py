"""Node parameters come from the config dataclasses (with descriptions) and are validated on set."""

from __future__ import annotations


def test_parameters_are_declared_with_descriptions_and_validated(rclpy_context):
    from rclpy.parameter import Parameter

    from segpilot.ros_nodes.sim_bridge import SimBridgeConfig, SimBridgeNode

    node = SimBridgeNode(context=rclpy_context)  # rclpy keyword arguments pass through: no monkeypatching
    try:
        assert node.get_parameter("rate_hz").value == SimBridgeConfig().rate_hz
        desc = node.describe_parameter("room_seed")
        assert "Seed of the generated room" in desc.description
        bad = node.set_parameters([Parameter("rate_hz", value=-1.0)])[0]
        assert not bad.successful and "rate_hz must be > 0" in bad.reason
        unknown_mode = node.set_parameters([Parameter("mode", value="teleport")])[0]
        assert not unknown_mode.successful and "mode must be one of discrete, velocity" in unknown_mode.reason
        assert node.describe_parameter("mode").additional_constraints == "one of: discrete, velocity"
        ok = node.set_parameters([Parameter("rate_hz", value=20.0)])[0]
        assert ok.successful and node.config(SimBridgeConfig).rate_hz == 20.0
    finally:
        node.destroy_node()


def test_a_failed_configure_is_logged_not_fatal(rclpy_context, tmp_path):
    from rclpy.parameter import Parameter

    from segpilot.ros_nodes.vla_policy import VLAPolicyNode

    node = VLAPolicyNode(context=rclpy_context)
    try:
        node.set_parameters([Parameter("policy", value=str(tmp_path / "missing"))])
        node.trigger_configure()
        assert node._state_machine.current_state[1] == "unconfigured"  # still alive, can retry
        node.set_parameters([Parameter("policy", value="")])  # the embedded default: the retry succeeds
        node.trigger_configure()
        assert node._state_machine.current_state[1] == "inactive"
    finally:
        node.destroy_node()


def test_sim_bridge_goals_default_to_the_vla_goal_categories():
    from segpilot.policies.vla.data import NAV_GOAL_CATEGORIES
    from segpilot.ros_nodes.sim_bridge import SimBridgeConfig

    assert tuple(SimBridgeConfig().goal_categories.split(",")) == tuple(NAV_GOAL_CATEGORIES)
