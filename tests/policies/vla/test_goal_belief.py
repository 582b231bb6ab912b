"""3D goal belief: evidence on the world floor grid, the point goal in the agent's frame, the policy input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.vla.goal_belief import FEATURES, RANGE_M, GoalBelief, observe_goal, replay_goal
from segpilot.policies.vla.inputs import GoalInput
from segpilot.policies.vla.io import load_policy, save_policy
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig, with_goal_belief
from segpilot.training.vla_demos import collect, concat, instruction_vocab
from segpilot.training.vla_train import TrainVLAConfig
from tests.policies.vla.spin import spin

CFG = dict(image_size=32, patch_size=8, vision_hidden=32, vision_layers=1, aggregation_tokens=4, lm_hidden=32,
           lm_layers=2, lm_heads=2, chunk=4, vocab=instruction_vocab())  # fmt: skip


def _camera(x: float, y: float, yaw: float) -> np.ndarray:
    """T_world_cam of a level OpenCV camera at (x, y, 1.25) looking along yaw (CCW from world +x, z up)."""
    forward = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    T = np.eye(4)  # noqa: N806
    T[:3, :3] = np.stack([right, [0.0, 0.0, -1.0], forward], axis=1)
    T[:3, 3] = [x, y, 1.25]
    return T


def _belief_policy() -> tuple[CogVLAPolicy, CogVLAPolicy]:
    torch.manual_seed(0)
    base = CogVLAPolicy(VLAConfig(**CFG)).eval()
    return base, with_goal_belief(base).eval()


def test_the_cell_with_most_evidence_is_the_point_goal_in_the_agents_frame():
    belief = GoalBelief()
    empty = belief.features(_camera(0, 0, 0))
    assert empty.shape == (FEATURES,) and not empty.any()
    xyz = np.array([[2.1, 0.1, 0.5], [2.2, 0.2, 0.9], [-1.0, 3.0, 0.5], [np.nan, np.nan, np.nan]])
    belief.update(np.array([4.0, 4.0, 0.0, 9.0]), xyz)  # two sure patches in one cell, a doubtful one, no depth
    goal_xy, evidence = belief.estimate()
    assert np.allclose(goal_xy, [2.125, 0.125]) and evidence == pytest.approx(2 / (1 + math.exp(-4)))
    ahead = belief.features(_camera(0, 0, 0))  # looking along +x: the goal is ahead, a little to the left
    assert ahead[0] == 1 and ahead[1] == pytest.approx(2.125 / RANGE_M) and ahead[2] == pytest.approx(0.125 / RANGE_M)
    assert math.atan2(ahead[5], ahead[4]) == pytest.approx(math.atan2(0.125, 2.125), abs=1e-6)
    side = belief.features(_camera(0, 0, math.pi / 2))  # looking along +y: the goal is to the right
    assert side[1] == pytest.approx(0.125 / RANGE_M) and side[2] == pytest.approx(-2.125 / RANGE_M)
    assert side[3] == pytest.approx(ahead[3]) and side[6] == pytest.approx(ahead[6])


def test_evidence_accumulates_over_frames_and_a_weak_glimpse_is_no_estimate():
    belief = GoalBelief(min_evidence=0.5)
    belief.update(np.array([-1.0]), np.array([[1.0, 1.0, 0.5]]))  # p = 0.27: below the evidence needed
    assert belief.estimate() is None and belief.features(_camera(0, 0, 0))[-1] > 0
    one_look = np.array([[3.0, -2.0, 0.5]])
    belief.update(np.array([3.0]), one_look)
    for _ in range(3):  # a weaker score, seen in three frames, outweighs one sure glimpse
        belief.update(np.array([1.5]), np.array([[0.6, 0.6, 0.5]]))
    assert np.allclose(belief.estimate()[0], [0.625, 0.625])


def test_bad_belief_input_is_refused():
    belief = GoalBelief()
    with pytest.raises(SegpilotError, match=r"patch positions \(2, 3\)"):
        belief.update(np.zeros(2), np.zeros((3, 3)))
    with pytest.raises(SegpilotError, match="4 x 4"):
        belief.features(np.eye(3))
    belief.update(np.array([5.0]), np.array([[1.0, 0.0, 0.5]]))
    down = np.eye(4)
    down[:3, :3] = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]  # optical axis straight down
    with pytest.raises(SegpilotError, match="no heading"):
        belief.features(down)
    with pytest.raises(SegpilotError, match="cell_m"):
        GoalBelief(cell_m=0)


def test_with_goal_belief_starts_as_the_policy_and_round_trips(tmp_path):
    base, policy = _belief_policy()
    rgb, depth = torch.randn(2, 3, 32, 32), torch.randn(2, 1, 32, 32)
    words, valid = policy.encode_instruction([["find", "the", "lamp"]] * 2)
    with torch.no_grad():
        untrained = policy(rgb, depth, words, valid, goal=GoalInput(torch.randn(2, FEATURES)))
        assert torch.allclose(base(rgb, depth, words, valid), untrained)
    assert all(not p.requires_grad for p in policy.memory_encoder.parameters())
    assert all(p.requires_grad for p in policy.goal_embed.parameters())
    torch.nn.init.normal_(policy.goal_embed[-1].weight)  # trained: the goal now changes the actions
    goal = GoalInput(torch.randn(2, FEATURES))
    with torch.no_grad():
        assert not torch.allclose(base(rgb, depth, words, valid), policy(rgb, depth, words, valid, goal=goal))
    save_policy(policy, tmp_path)
    loaded = load_policy(tmp_path)
    assert loaded.config.goal_belief
    with torch.no_grad():
        assert torch.allclose(loaded(rgb, depth, words, valid, goal=goal), policy(rgb, depth, words, valid, goal=goal))


def test_policy_refuses_a_missing_misshapen_or_unexpected_goal():
    base, policy = _belief_policy()
    rgb, depth = torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    words, valid = policy.encode_instruction([["find", "the", "lamp"]])
    with pytest.raises(SegpilotError, match="reads a goal belief: goal must be a GoalInput"):
        policy(rgb, depth, words, valid, goal=None)
    with pytest.raises(SegpilotError, match=r"goal input goal_belief: this policy expects shape \(1, 8\), got shape "
                                            r"\(1, 7\)"):  # fmt: skip
        policy(rgb, depth, words, valid, goal=GoalInput(torch.zeros(1, FEATURES - 1)))
    with pytest.raises(SegpilotError, match="goal input goal_plan: this policy expects none, got shape"):
        policy(rgb, depth, words, valid, goal=GoalInput(torch.zeros(1, FEATURES), torch.zeros(1, 6)))
    with pytest.raises(SegpilotError, match="goal must be a GoalInput"):
        policy(rgb, depth, words, valid, goal=torch.zeros(1, FEATURES))  # a bare vector: positional, refused
    with pytest.raises(SegpilotError, match="has no goal belief"):
        base(rgb, depth, words, valid, goal=GoalInput(torch.zeros(1, FEATURES)))
    with pytest.raises(SegpilotError, match="goal_belief need init_from"):
        TrainVLAConfig(goal_belief=True)


def test_replay_equals_observing_step_by_step_and_the_agent_feeds_it():
    _, policy = _belief_policy()
    live = GoalBelief()
    frames, stepwise, seen = spin(policy, 6, "goal", lambda f, w, v: observe_goal(policy, [live], [f], w, v)[0])
    words, valid = policy.encode_instruction([["find", "the", "lamp"]])
    replayed = replay_goal(policy, GoalBelief(), frames, words, valid, batch=4)
    assert np.allclose(replayed, torch.stack([g.vector() for g in stepwise]).numpy(), atol=1e-5)
    assert replayed[-1, -1] > replayed[0, -1]  # the total evidence grows as the agent looks around
    # one chunk planned at step 0 and one at step 4, each with the belief over every frame so far
    assert len(seen) == 2 and np.allclose(seen[1][0].vector().numpy(), stepwise[4].vector().numpy(), atol=1e-5)


def test_demonstrations_record_the_goal_input_of_every_step():
    _, policy = _belief_policy()
    demos, summary = collect(1, 20000, 32, chunk=4, per_room=1, noise=0.0, policy=policy)
    assert demos.goal.shape == (summary["steps"], FEATURES) and demos.goal.dtype == np.float32
    assert concat([demos, demos]).goal.shape[0] == 2 * summary["steps"]
    plain, _ = collect(1, 20000, 32, chunk=4, per_room=1, noise=0.0)
    assert plain.goal is None and np.array_equal(plain.actions, demos.actions)
