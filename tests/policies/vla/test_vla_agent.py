"""The VLA as a simulator agent: chunk execution, re-planning, saving and loading (memory: test_vla_memory)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.vla.agent import VLAAgent, resize_frame
from segpilot.policies.vla.io import load_policy, save_policy
from segpilot.policies.vla.lfp import lm_flops
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig
from segpilot.sim.base import AgentPose
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.scenes import generate_scene
from segpilot.training.vla_demos import PREVIOUS_NONE, collect, instruction_vocab, patch_coverage, vla_sim_config

CFG = dict(image_size=32, patch_size=8, vision_hidden=32, vision_layers=1, aggregation_tokens=4, lm_hidden=32,
           lm_layers=2, lm_heads=2, chunk=4, vocab=instruction_vocab())  # fmt: skip


@pytest.fixture(scope="module")
def room():
    scene = generate_scene(5)
    sim = EmbeddedSimulator(scene, vla_sim_config(32))
    free = np.argwhere(~sim.grid.blocked)
    r, c = free[len(free) // 2]
    return sim, AgentPose(*sim.grid.cell_center(r, c), 0.0)


def _policy(**kw):
    torch.manual_seed(0)
    return CogVLAPolicy(VLAConfig(**{**CFG, **kw})).eval()


@pytest.mark.parametrize(("replan_every", "plans"), [(4, 3), (2, 6), (1, 12)])
def test_chunks_run_open_loop_and_replan_every_k_steps(room, replan_every, plans):
    sim, start = room
    agent = VLAAgent(_policy(), "find the lamp", replan_every=replan_every)
    obs = sim.reset(start)
    for _ in range(12):
        action = agent.act(obs)
        obs = sim.step(action) if action != "stop" else obs
    assert len(agent.chunk_seconds) == plans


def test_save_load_round_trip_gives_the_same_actions(tmp_path, room):
    sim, start = room
    policy = _policy()
    save_policy(policy, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "segpilot_cogvla"
    loaded = load_policy(tmp_path)
    obs = sim.reset(start)
    assert VLAAgent(policy, "find the lamp")._plan(obs) == VLAAgent(loaded, "find the lamp")._plan(obs)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SegpilotError, match="not valid JSON"):
        load_policy(tmp_path)
    with pytest.raises(SegpilotError, match="not a segpilot VLA policy folder"):
        load_policy(tmp_path / "missing")


def test_routing_cuts_lm_flops():
    policy = _policy(aggregation_tokens=16, lm_layers=4)
    assert lm_flops(policy, 16, 4, routing=True) < lm_flops(policy, 16, 4, routing=False)


def test_demonstrations_label_expert_chunks():
    demos, summary = collect(1, 20000, 32, chunk=3, per_room=2, noise=0.0)
    assert demos.rgb.shape[1:] == (32, 32, 3) and demos.actions.shape[1] == 3
    ends = np.flatnonzero(np.diff(demos.episode)) if summary["episodes"] > 1 else []
    last = np.append(ends, len(demos.actions) - 1)
    assert np.all(demos.actions[last] == 0)  # every episode ends with the expert's stop, padded with stop
    assert demos.actions[0, 1] == demos.actions[1, 0]  # chunk t's second action is step t + 1's first
    # Grounding targets: one share per 8 x 8 patch, in [0, 1], and the goal shows up in some of them.
    assert demos.goal_patches.shape == (len(demos.actions), 16)
    assert 0 <= demos.goal_patches.min() and demos.goal_patches.max() <= 1 and demos.goal_patches.max() > 0


def test_patch_coverage_is_row_major_share_per_patch():
    mask = np.zeros((4, 4), bool)
    mask[0, 2:] = True  # top-right patch: 2 of its 4 pixels
    mask[2:, :2] = True  # bottom-left patch: all 4
    assert patch_coverage(mask, 2).tolist() == [0.0, 0.5, 1.0, 0.0]


def test_bad_inputs():
    with pytest.raises(SegpilotError, match="discrete navigation"):
        VLAAgent(_policy(action_space="base_velocity"), "find the lamp")
    with pytest.raises(SegpilotError, match="replan_every must lie in 1..4"):
        VLAAgent(_policy(), "find the lamp", replan_every=9)
    with pytest.raises(SegpilotError, match="instruction is empty"):
        VLAAgent(_policy(), "   ")
    with pytest.raises(SegpilotError, match="one size"):
        resize_frame(np.zeros((10, 10, 3), np.uint8), np.zeros((12, 10)), 32)


def test_habitat_run_without_habitat_sim_says_how_to_install_it(tmp_path):
    from segpilot.eval.vla_runs import run_vla_habitat
    from segpilot.sim.episodes import make_nav_episodes, save_episodes

    save_policy(_policy(), tmp_path / "policy")
    scene = generate_scene(5)
    episodes = make_nav_episodes(scene, EmbeddedSimulator(scene, vla_sim_config(32)).grid, 1, 5)
    save_episodes(tmp_path / "episodes.json", episodes)
    with pytest.raises(SegpilotError, match="habitat"):
        run_vla_habitat(tmp_path / "policy", tmp_path / "scene.glb", tmp_path / "episodes.json")


def test_dagger_executes_the_policy_and_records_the_experts_labels():
    from segpilot.policies.vla.data import to_inputs, words_of
    from segpilot.training.vla_dagger import dagger_collect

    policy = _policy()
    demos, summary = dagger_collect(policy, 1, 20000, chunk=4, per_room=1, beta=0.0, max_steps=12, temperature=0.0)
    assert len(demos.actions) == 12 or demos.actions[-1, 0] == 0
    assert summary["episodes"] == 1 and summary["temperature"] == 0.0
    # Each executed action (the next step's previous action) is the policy's own first action there,
    # with routing on at even steps and off at odd ones.
    ids, valid = policy.encode_instruction([words_of(demos.instruction[0])] * len(demos.actions))
    rgb, depth = to_inputs(demos.rgb, demos.depth)
    with torch.inference_mode():
        chosen = [policy(rgb[i : i + 1], depth[i : i + 1], ids[:1], valid[:1], routing=i % 2 == 0,
                         previous=torch.as_tensor(demos.previous[i : i + 1]))[0, 0].argmax().item()
                  for i in range(len(demos.actions))]  # fmt: skip
    assert demos.previous[1:].tolist() == chosen[:-1]
    # With beta = 1 the expert drives: the rollout is the noise-free demonstration.
    expert_run, _ = dagger_collect(policy, 1, 20000, chunk=4, per_room=1, beta=1.0, max_steps=400)
    plain, _ = collect(1, 20000, 32, chunk=4, per_room=1, noise=0.0)
    assert np.array_equal(expert_run.actions, plain.actions)


def test_batched_dagger_keeps_every_rooms_episodes_in_order():
    from segpilot.training.vla_dagger import dagger_collect

    policy = _policy()
    demos, summary = dagger_collect(policy, 3, 20000, chunk=4, per_room=2, beta=0.5, max_steps=6, batch=2)
    assert summary["episodes"] == 6 and summary["rooms"] == 3
    assert sorted(set(demos.episode.tolist())) == list(range(6))
    assert np.all(np.diff(demos.episode) >= 0)  # episode-major, as the chunk labels assume
    first_steps = np.flatnonzero(np.diff(demos.episode, prepend=-1))
    assert np.all(demos.previous[first_steps] == PREVIOUS_NONE)


def test_sampled_actions_repeat_with_the_seed_and_follow_the_distribution(room):
    sim, start = room
    obs = sim.reset(start)
    policy = _policy()
    plan = lambda **kw: VLAAgent(policy, "find the lamp", replan_every=4, **kw)._plan(obs)
    assert plan(temperature=1.0, seed=3) == plan(temperature=1.0, seed=3)
    assert plan(temperature=1e-4, seed=3) == plan()  # a near-zero temperature is the argmax
    draws = {tuple(plan(temperature=5.0, seed=s)) for s in range(8)}
    assert len(draws) > 1  # a hot distribution gives different chunks for different seeds
    with pytest.raises(SegpilotError, match="temperature must be >= 0"):
        VLAAgent(policy, "find the lamp", temperature=-1.0)


def test_expert_stops_inside_the_success_distance_by_the_margin():
    from segpilot.sim.planning import footprint_distance
    from segpilot.training.vla_demos import STOP_MARGIN_M, LabelledEpisode, rooms

    _, sim, episodes = next(rooms(1, 20000, 6, 32))
    for ep in episodes:
        run = LabelledEpisode(sim, ep, patch_size=8)
        while not run.done:
            action = run.label()
            run.advance(action)
        g = ep.goals[0]
        assert action == "stop"
        # Cell centres lie inside the region; the agent is at most half a cell diagonal from its centre.
        slack = sim.config.grid_resolution_m / np.sqrt(2)
        reach = ep.success_distance - STOP_MARGIN_M + slack
        assert footprint_distance(run.obs.pose, g["bbox_min"], g["bbox_max"]) <= reach


def test_run_vla_writes_its_report_into_a_new_folder_without_pictures(tmp_path):
    from segpilot.eval.vla_runs import run_vla

    out = tmp_path / "new" / "run"
    report = run_vla(None, 1, out=out, routing_modes=(True,), pictures=0, temperature=1.0)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["modes"]["routing_on"]["per_episode"] == report["modes"]["routing_on"]["per_episode"]
    assert not list(out.glob("*.png"))
