"""What every segpilot node shares: parameters from config dataclasses, a configure step that
loads models without crashing the node, counted + throttled drops of bad input, stats.

Nodes are `rclpy.lifecycle.LifecycleNode`s: models load in `on_configure` (a failure is
logged and the node stays up, unconfigured, so a lifecycle manager or a later `configure`
can retry); subscriptions start working in `on_activate`. With the `autostart` parameter
(default true, as nav2's lifecycle manager does) the executable configures and activates
itself. Every config dataclass field is a declared parameter with its docstring as the
description; a `set_parameters` call is validated by building the dataclass, so a bad value
is refused with the dataclass's one-line reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import typing
from collections import Counter

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from std_msgs.msg import String

from segpilot.config import build_config, field_docs, literal_choices
from segpilot.errors import SegpilotError


def _extra_parameters(cls: type) -> dict:
    """A config class's parameters beside its fields (PruneConfig: the pruning methods' own), if it has any."""
    return getattr(cls, "extra_parameters", dict)()


def _build(cls: type, values: dict):
    """`cls` from the node's parameter values: its fields and extra parameters (through `from_params` when the
    class has one)."""
    names = {f.name for f in dataclasses.fields(cls) if not isinstance(f.default, tuple | list)}
    picked = {k: v for k, v in values.items() if k in names or k in _extra_parameters(cls)}
    return cls.from_params(picked) if hasattr(cls, "from_params") else build_config(cls, picked)


SENSOR_QOS = qos_profile_sensor_data
RELIABLE_QOS = QoSProfile(depth=10)
KEYFRAME_QOS = QoSProfile(depth=24, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Keyframes stay available to late joiners (a scene_qa started or activated after rgbd_memory gets the newest
24 keyframes, rgbd_memory's default max_keyframes) - with volatile keyframes a still camera was never answered."""


class SegpilotNode(LifecycleNode):
    """A lifecycle node whose parameters are the fields of `configs` (dataclasses)."""

    configs: tuple[type, ...] = ()

    def __init__(self, name: str, **kwargs):
        """`kwargs` go to rclpy's LifecycleNode (e.g. `context=` in tests, `namespace=`)."""
        super().__init__(name, **kwargs)
        self._configured: tuple[list, list, list] = ([], [], [])
        self.declare_parameter("autostart", True, ParameterDescriptor(description="configure and activate at start"))
        for cls in self.configs:
            docs, hints = field_docs(cls), typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                if f.default is dataclasses.MISSING or isinstance(f.default, tuple | list):
                    continue
                self._declare(f.name, f.default, hints[f.name], docs.get(f.name, ""))
            for name, (default, annotation, doc) in _extra_parameters(cls).items():
                self._declare(name, default, annotation, doc)
        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._apply)
        self._reconfigure_timer = None
        self.drops: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.active = False
        self._stats_pub = self.create_publisher(String, "~/stats", RELIABLE_QOS)
        self.create_timer(1.0, self.publish_stats)

    def _declare(self, name: str, default, annotation, doc: str) -> None:
        """One parameter with its doc as the description and a Literal's values as its constraint."""
        choices = literal_choices(annotation)
        desc = ParameterDescriptor(description=doc, dynamic_typing=True,
                                   additional_constraints=f"one of: {', '.join(map(str, choices))}"
                                   if choices else "")  # fmt: skip
        self.declare_parameter(name, default, desc)

    def config(self, cls: type):
        """The current parameter values as a `cls` instance."""
        return _build(cls, {n: self.get_parameter(n).value for n in self._parameters})

    def _validate(self, params) -> SetParametersResult:
        values = {n: self.get_parameter(n).value for n in self._parameters}
        values.update({p.name: p.value for p in params})
        try:
            for cls in self.configs:
                _build(cls, values)
        except (SegpilotError, TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply(self, params) -> None:
        """A parameter set on a configured node takes effect: the node reconfigures itself (deactivate, cleanup,
        configure, activate) on its executor right after the set call, instead of answering "successful" and
        going on with the old values."""
        if {p.name for p in params} <= {"autostart"} or self._state_machine.current_state[1] not in (
                "inactive", "active") or self._reconfigure_timer is not None:  # fmt: skip
            return
        self._reconfigure_timer = self.create_timer(0.0, self._reconfigure)

    def _reconfigure(self) -> None:
        self.destroy_timer(self._reconfigure_timer)
        self._reconfigure_timer = None
        was_active = self._state_machine.current_state[1] == "active"
        if was_active:
            self.trigger_deactivate()
        self.trigger_cleanup()
        self.trigger_configure()
        if was_active and self._state_machine.current_state[1] == "inactive":
            self.trigger_activate()
        self.get_logger().info("parameters applied (reconfigured)")

    def drop(self, reason: str, detail: str = "") -> None:
        """Count one dropped message and warn at most every 2 s per node."""
        self.drops[reason] += 1
        self.get_logger().warning(
            f"dropped a message ({reason}: {detail}); dropped so far: {dict(self.drops)}", throttle_duration_sec=2.0
        )

    def publish_stats(self) -> None:
        self._stats_pub.publish(String(data=json.dumps({"dropped": dict(self.drops), "counts": dict(self.counts),
                                                        "active": self.active})))  # fmt: skip

    # Lifecycle: subclasses implement configure() (may raise) and get activation for free.
    def configure(self) -> None:
        """Load models and create publishers / subscriptions; raise to fail the transition."""

    def on_configure(self, state) -> TransitionCallbackReturn:
        before = (set(self.publishers), set(self.subscriptions), set(self.timers))
        try:
            self.configure()
        except Exception as exc:  # noqa: BLE001 - a failed configure is logged, never fatal
            self.get_logger().error(f"configure failed: {exc}")
            self._destroy(self._made_since(before))
            return TransitionCallbackReturn.FAILURE
        self._configured = self._made_since(before)
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Undo configure (ros2/demos' lifecycle pattern): everything it created is destroyed, so cleanup ->
        configure -> activate leaves one set of publishers, subscriptions and timers, not two."""
        self.cleanup()
        self._destroy(self._configured)
        self._configured = ([], [], [])
        return TransitionCallbackReturn.SUCCESS

    def _made_since(self, before) -> tuple[list, list, list]:
        """Publishers, subscriptions and timers created since the `before` snapshot."""
        return tuple([e for e in now if e not in old]
                     for now, old in zip((self.publishers, self.subscriptions, self.timers), before, strict=True))

    def _destroy(self, entities: tuple[list, list, list]) -> None:
        for group, destroy in zip(entities, (self.destroy_publisher, self.destroy_subscription, self.destroy_timer),
                                  strict=True):  # fmt: skip
            for entity in group:
                destroy(entity)

    def cleanup(self) -> None:
        """Release what configure made besides ROS entities (threads, models); subclasses override."""

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.active = True
        self.get_logger().info(f"{self.get_name()} active")  # one line, so a launch shows the bring-up finished
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.active = False
        return super().on_deactivate(state)


def run_node(factory, args=None) -> None:
    """Entry point body: init, construct, autostart, spin until SIGINT / SIGTERM, then exit at once.

    After a clean shutdown the process leaves with `os._exit(0)`: the interpreter's teardown of torch
    and its threads took 5-6.5 s, longer than `ros2 launch` waits after Ctrl-C before escalating to
    SIGTERM (reported as "process has died ... exit code -15")."""
    # A launch log is not a terminal: no download / weight-loading progress bars from huggingface_hub and
    # transformers (read when they are first imported), unless the user asked for them.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    rclpy.init(args=args)
    node = factory()
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    if node.get_parameter("autostart").value:
        node.trigger_configure()
        if node.active is False and node._state_machine.current_state[1] == "inactive":
            node.trigger_activate()
    threads = getattr(node, "executor_threads", 1)
    executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # Ctrl-C / SIGTERM shut the context down while the executor was building its wait set: rclpy raises
        # RCLError ("the given context is not valid") instead of ExternalShutdownException (seen once in CI,
        # vla_policy exiting 1 after SIGINT). After a shutdown that is a clean exit; anything else is a bug.
        if rclpy.ok():
            raise
    finally:
        # After Ctrl-C the context is already shut down: the node's logger would also try /rosout and print
        # "Failed to publish log message to rosout"; a logger of another name logs to the console only.
        rclpy.logging.get_logger(f"{node.get_name()}.shutdown").info(f"{node.get_name()} shutting down")
        node.destroy_node()
        rclpy.try_shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
