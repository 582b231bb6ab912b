"""sim_bridge + vla_policy as separate processes over DDS, started with the launch files' YAML files:
a closed-loop episode in a held-out generated room, driven action by action over DDS until the
policy calls stop at its goal.

The episode is the first held-out one (room 30000, "find the cabinet"), which the embedded policy
solves in-process in 29 steps with the node's sampling seed (0); over DDS the node sees the same
observations and samples with the same seed, so it must reach the goal the same way."""

from __future__ import annotations

import json

import pytest
from std_msgs.msg import String

from segpilot.ros_nodes.harness import CONFIG, Client, start_node, stop
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.episodes import make_nav_episodes
from segpilot.sim.scenes import generate_scene

pytestmark = pytest.mark.slow  # starts processes or runs models end to end: `make test-fast` skips it

ROOM_SEED, EPISODE_INDEX, MAX_STEPS = 30000, 0, 400


def test_closed_loop_episode_runs_over_dds():
    run_closed_loop(CONFIG)


def run_closed_loop(config_dir, bin_dir=None) -> None:
    """The episode over DDS with the executables in `bin_dir` and the parameter files in `config_dir`."""
    from segpilot.policies.vla.data import NAV_GOAL_CATEGORIES, vla_sim_config

    scene = generate_scene(ROOM_SEED)
    grid = EmbeddedSimulator(scene, vla_sim_config(64)).grid
    episode = make_nav_episodes(scene, grid, EPISODE_INDEX + 1, ROOM_SEED, categories=NAV_GOAL_CATEGORIES)[
        EPISODE_INDEX
    ]
    overrides = [
        f"room_seed:={ROOM_SEED}",
        f"episode_index:={EPISODE_INDEX}",
        "mode:=discrete",
        f"max_steps:={MAX_STEPS}",
    ]
    sim = start_node("sim_bridge", "--params-file", str(config_dir / "sim_bridge.yaml"),
                     *[a for o in overrides for a in ("-p", o)], bin_dir=bin_dir)  # fmt: skip
    vla = start_node("vla_policy", "--params-file", str(config_dir / "vla_policy.yaml"), "-p", "mode:=discrete",
                     bin_dir=bin_dir)  # fmt: skip
    client = Client()
    try:
        instruct = client.publisher(String, "vla_policy/instruction")
        client.listen(String, "sim_bridge/episode")
        client.listen(String, "vla_policy/stats")
        client.spin_until(lambda: instruct.get_subscription_count() > 0, 60, "vla_policy to subscribe")
        client.spin_until(lambda: client.stats("vla_policy/stats").get("active"), 60, "vla_policy to activate")
        instruct.publish(String(data=episode.instruction))
        client.spin_until(lambda: client.received["sim_bridge/episode"], 240, "the episode to end")
        report = json.loads(client.received["sim_bridge/episode"][0].data)
    finally:
        client.close()
        log = stop(sim, vla)
    assert sim.returncode == 0 and vla.returncode == 0, log[-2000:]  # a clean SIGINT shutdown
    assert report["instruction"] == episode.instruction and report["episode_id"] == episode.episode_id, log[-2000:]
    # The policy called stop within success distance of the goal, after real steps over DDS.
    assert report["stopped"] and report["success"], (report, log[-2000:])
    assert 0 < report["steps"] < MAX_STEPS and report["distance_to_goal"] <= episode.success_distance


def test_velocity_mode_holds_its_command_rate_while_the_policy_thinks():
    """Velocity mode over DDS: sim_bridge integrates cmd_vel at 10 Hz, vla_policy decides on its frames; the
    command must arrive at vla_policy's rate_hz (5 Hz) however long a decision takes, with no gap beyond
    sim_bridge's cmd_vel_timeout_s (0.5 s) - at 1.4 Hz the simulated robot stalled between commands."""
    import time

    from geometry_msgs.msg import Twist

    sim = start_node("sim_bridge", "--params-file", str(CONFIG / "sim_bridge.yaml"), "-p", "mode:=velocity",
                     "-p", f"room_seed:={ROOM_SEED}", "-p", "max_steps:=0")  # fmt: skip
    vla = start_node("vla_policy", "--params-file", str(CONFIG / "vla_policy.yaml"), "-p", "mode:=velocity")
    client = Client()
    arrivals: list[float] = []
    try:
        instruct = client.publisher(String, "vla_policy/instruction")
        client.node.create_subscription(Twist, "cmd_vel", lambda _: arrivals.append(time.monotonic()), 10)
        client.listen(String, "vla_policy/stats")
        client.spin_until(lambda: instruct.get_subscription_count() > 0, 60, "vla_policy to subscribe")
        client.spin_until(lambda: client.stats("vla_policy/stats").get("active"), 60, "vla_policy to activate")
        instruct.publish(String(data="find the cabinet"))
        client.spin_until(lambda: len(arrivals) >= 3, 60, "the first commands")
        windows: list[tuple[float, float, int]] = []
        while len(windows) < WINDOWS and not any(map(window_ok, windows)):
            windows.append(measure_window(client, arrivals))
    finally:
        client.close()
        log = stop(sim, vla)
    for rate, gap, decisions in windows:
        print(f"cmd_vel {rate:.2f} Hz (rate_hz 5), largest gap {gap:.2f} s, {decisions} policy decisions in the window")
    assert vla.returncode == 0 and sim.returncode == 0, log[-2000:]
    # A regression (the command published only after each decision: 1.4 Hz in issue 19) fails every window; a
    # shared 2-core machine that stalls whole processes for a second or two (one CI run: 2.0 Hz and a quarter of
    # the usual decisions in one window) passes the next one.
    assert any(map(window_ok, windows)), (windows, log[-2000:])


WINDOWS, WINDOW_S = 3, 6.0


def measure_window(client, arrivals: list[float]) -> tuple[float, float, int]:
    """(cmd_vel rate in Hz, largest gap between two commands in s, policy decisions) over WINDOW_S seconds."""
    start, before = len(arrivals), client.stats("vla_policy/stats").get("counts", {}).get("actions", 0)
    client.spin_for(WINDOW_S)
    window = arrivals[start:]
    decisions = client.stats("vla_policy/stats").get("counts", {}).get("actions", 0) - before
    if len(window) < 2:
        return 0.0, WINDOW_S, decisions
    rate = (len(window) - 1) / (window[-1] - window[0])
    return rate, max(b - a for a, b in zip(window, window[1:], strict=False)), decisions


def window_ok(window: tuple[float, float, int]) -> bool:
    """The command kept coming at >= 2 Hz (rate_hz 5) while the policy went on deciding (>= 3 decisions)."""
    rate, _gap, decisions = window
    return rate >= 2.0 and decisions >= 3
