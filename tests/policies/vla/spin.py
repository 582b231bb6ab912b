"""Shared by the memory and goal-belief tests: an agent turning on the spot, its inputs observed live."""

from __future__ import annotations

import numpy as np

from segpilot.policies.vla.agent import VLAAgent
from segpilot.policies.vla.data import vla_sim_config
from segpilot.sim.base import AgentPose
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.scenes import generate_scene


def spin(policy, steps: int, input_name: str, observe_live) -> tuple[list, list, list]:
    """Turn left `steps` times in room 5 with a VLAAgent (open-loop chunks of 4) driving `policy`.

    Returns the frames, `observe_live(frame, words, valid)` at every step (the input built live,
    step by step) and the `input_name` keyword of every forward pass the agent made."""
    sim = EmbeddedSimulator(generate_scene(5), vla_sim_config(32))
    free = np.argwhere(~sim.grid.blocked)
    obs = sim.reset(AgentPose(*sim.grid.cell_center(*free[len(free) // 2]), 0.0))
    words, valid = policy.encode_instruction([["find", "the", "lamp"]])
    frames, stepwise, seen = [], [], []
    original = policy.forward
    policy.forward = lambda *a, **k: (seen.append(k[input_name]), original(*a, **k))[1]
    agent = VLAAgent(policy, "find the lamp", replan_every=4)
    for _ in range(steps):
        frames.append(obs.frame)
        stepwise.append(observe_live(obs.frame, words, valid))
        agent.act(obs)
        obs = sim.step("turn_left")
    return frames, stepwise, seen
