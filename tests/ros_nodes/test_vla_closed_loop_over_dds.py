"""sim_bridge + vla_policy as separate processes over DDS, started with the launch files' YAML files:
a closed-loop episode in a held-out generated room that reaches its goal; plus the stop command."""

from __future__ import annotations

import json

from std_msgs.msg import String

from segpilot.ros_nodes.harness import CONFIG, Client, start_node, stop
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.episodes import make_nav_episodes
from segpilot.sim.scenes import generate_scene

# A held-out episode the committed default policy solves in-process (see the VLA model card's
# evaluation: same room, same start, same policy -> the same actions over DDS).
ROOM_SEED, EPISODE_INDEX = 30000, 0


def test_closed_loop_episode_reaches_its_goal():
    from segpilot.policies.vla.data import vla_sim_config

    scene = generate_scene(ROOM_SEED)
    grid = EmbeddedSimulator(scene, vla_sim_config(64)).grid
    episode = make_nav_episodes(scene, grid, EPISODE_INDEX + 1, ROOM_SEED)[EPISODE_INDEX]
    sim = start_node("sim_bridge", "--params-file", str(CONFIG / "sim_bridge.yaml"), "-p", f"room_seed:={ROOM_SEED}",
                     "-p", f"episode_index:={EPISODE_INDEX}", "-p", "mode:=discrete")  # fmt: skip
    vla = start_node("vla_policy", "--params-file", str(CONFIG / "vla_policy.yaml"), "-p", "mode:=discrete")
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
    assert report["instruction"] == episode.instruction
    assert report["stopped"] and report["success"], (report, log[-2000:])
