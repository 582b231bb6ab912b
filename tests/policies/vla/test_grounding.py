"""Goal grounding network: shapes, saving, bad input, its training data and a tiny training run; a policy
whose belief it scores, with the floor-map plan as input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.vla.goal_belief import FEATURES, PLAN_FEATURES, goal_scores, new_belief, observe_goal
from segpilot.policies.vla.grounding import GoalGrounder, GrounderConfig, load_grounder, save_grounder
from segpilot.policies.vla.inputs import GoalInput
from segpilot.policies.vla.io import load_policy, save_policy
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig, with_goal_belief
from segpilot.training.grounder_train import TrainGrounderConfig, collect_grounding, train_grounder
from segpilot.training.vla_demos import collect, instruction_vocab, to_inputs
from tests.policies.vla.test_goal_belief import CFG, _camera


def _grounder(size: int = 32) -> GoalGrounder:
    torch.manual_seed(0)
    return GoalGrounder(GrounderConfig(size, size // 4, width=16, embed_dim=8, vocab=instruction_vocab())).eval()


def test_scores_one_logit_per_patch_and_survives_a_save_load_round_trip(tmp_path):
    model = _grounder()
    x, d = to_inputs(np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3)), np.ones((2, 32, 32)))
    words = model.encode_instruction([["find", "the", "bed"], ["go", "to", "the", "grey", "chair"]])
    logits = model(x, d, words)
    assert logits.shape == (2, 64)
    assert not torch.allclose(logits[0], logits[1])  # the instruction changes the scores
    save_grounder(model, tmp_path)
    assert torch.equal(load_grounder(tmp_path)(x, d, words), logits)


def test_bad_grounder_input_gets_one_clear_error(tmp_path):
    model = _grounder()
    with pytest.raises(SegpilotError, match="4 x 4 pixel patches"):
        GrounderConfig(64, 8)
    with pytest.raises(SegpilotError, match="empty"):
        model.encode_instruction([[]])
    x, d = to_inputs(np.zeros((1, 16, 16, 3)), np.ones((1, 16, 16)))
    with pytest.raises(SegpilotError, match="reads 32 x 32 frames"):
        model(x, d, model.encode_instruction([["find", "the", "bed"]]))
    with pytest.raises(SegpilotError, match="no goal grounder"):
        load_grounder(tmp_path)
    (tmp_path / "grounder.json").write_text("{not json")
    (tmp_path / "grounder.safetensors").write_bytes(b"")
    with pytest.raises(SegpilotError, match="not a grounder config"):
        load_grounder(tmp_path)
    with pytest.raises(SegpilotError, match="rooms"):
        TrainGrounderConfig(rooms=0)


def test_training_data_labels_every_nameable_furniture_object_and_a_tiny_run_saves_a_grounder(tmp_path):
    data = collect_grounding(2, 20000, 32, 8, stride=5)
    n_frames, n_pairs = len(data["rgb"]), len(data["frame"])
    assert data["depth"].shape == (n_frames, 32, 32) and data["target"].shape == (n_pairs, 64)
    assert n_pairs >= 2 * n_frames and set(data["frame"]) == set(range(n_frames))
    assert all(t.startswith(("find the", "go to the")) for t in data["text"])
    assert 0 < float(data["target"].astype(np.float32).max()) <= 1 and (data["target"] == 0).mean() > 0.5
    cfg = TrainGrounderConfig(out=str(tmp_path), rooms=1, val_rooms=1, max_minutes=0.02, batch_frames=4,
                              image_size=32, threads=1)  # fmt: skip
    metrics = train_grounder(cfg)
    assert metrics["steps"] >= 1 and 0 <= metrics["validation"]["top1_hit_visible"] <= 1
    assert json.loads((tmp_path / "grounder_metrics.json").read_text())["config"]["rooms"] == 1
    assert load_grounder(tmp_path).config.grid == 8


def test_a_policy_with_the_grounder_and_the_plan_starts_as_it_was_and_round_trips(tmp_path):
    torch.manual_seed(0)
    base = CogVLAPolicy(VLAConfig(**CFG)).eval()
    policy = with_goal_belief(base, _grounder(), plan=True).eval()
    assert policy.config.goal_grounder and policy.config.goal_plan
    assert not any(p.requires_grad for p in policy.grounder.parameters())
    x, d = to_inputs(np.random.default_rng(1).integers(0, 255, (1, 32, 32, 3)), np.ones((1, 32, 32)))
    words, valid = policy.encode_instruction([["find", "the", "bed"]])
    goal = GoalInput(torch.randn(1, FEATURES), torch.randn(1, PLAN_FEATURES))
    with torch.inference_mode():
        assert torch.allclose(policy(x, d, words, valid, goal=goal), base(x, d, words, valid), atol=1e-6)
        with pytest.raises(SegpilotError, match=r"goal input goal_plan: this policy expects shape \(1, 6\), got none"):
            policy(x, d, words, valid, goal=GoalInput(goal.belief))
        scores, grid = goal_scores(policy, [_frame()], words, valid)
    assert grid == 8 and scores.shape == (1, 64)
    save_policy(policy, tmp_path)
    loaded = load_policy(tmp_path)
    with torch.inference_mode():
        assert torch.equal(loaded(x, d, words, valid, goal=goal), policy(x, d, words, valid, goal=goal))
    with pytest.raises(SegpilotError, match="need goal_belief"):
        VLAConfig(**CFG, goal_plan=True)
    other = GoalGrounder(GrounderConfig(32, 8, width=16, embed_dim=8, vocab=("<pad>", "<unk>", "bed")))
    with pytest.raises(SegpilotError, match="another vocabulary"):
        with_goal_belief(base, other)


def _frame():
    from segpilot.geometry.camera import PinholeCamera
    from segpilot.geometry.frame import Frame

    rng = np.random.default_rng(2)
    return Frame(rng.integers(0, 255, (32, 32, 3)).astype(np.uint8), np.full((32, 32), 2.0, np.float32),
                 PinholeCamera.from_hfov(90.0, 32, 32), _camera(0.0, 0.0, 0.0))  # fmt: skip


def test_the_plan_features_follow_the_floor_map_towards_the_estimate_and_demos_record_them():
    torch.manual_seed(0)
    policy = with_goal_belief(CogVLAPolicy(VLAConfig(**CFG)), _grounder(), plan=True).eval()
    belief = new_belief(policy.config)
    assert belief.floor is not None
    blank = belief.inputs(_camera(0, 0, 0))
    assert blank.belief.shape == (FEATURES,) and blank.plan.shape == (PLAN_FEATURES,)
    assert not blank.plan.any()  # no estimate: no plan
    belief.update(np.array([5.0]), np.array([[3.0, 0.0, 0.5]]))  # the goal, 3 m straight ahead
    ahead = belief.inputs(_camera(0, 0, 0)).plan
    assert ahead[0] == 1 and ahead[1] == 1 and ahead[5] == pytest.approx((3.0 - 0.75) / 5, abs=0.05)
    behind = belief.inputs(_camera(0, 0, np.pi)).plan  # facing away: turn
    assert behind[0] == 1 and (behind[2] == 1 or behind[3] == 1)
    words, valid = policy.encode_instruction([["find", "the", "bed"]])
    with torch.inference_mode():
        live = observe_goal(policy, [new_belief(policy.config)], [_frame()], words, valid)
    assert live.belief.shape == (1, FEATURES) and live.plan.shape == (1, PLAN_FEATURES)
    demos, _ = collect(1, 20000, 32, 4, per_room=1, policy=policy)
    assert demos.goal.shape == (len(demos.actions), FEATURES + PLAN_FEATURES)
    assert demos.goal[:, FEATURES].max() == 1  # the plan was on at some step


def test_plan_labels_replace_the_experts_label_only_with_the_plans_action():
    torch.manual_seed(0)
    policy = with_goal_belief(CogVLAPolicy(VLAConfig(**CFG)), _grounder(), plan=True).eval()
    expert, _ = collect(2, 20000, 32, 4, per_room=2, policy=policy)
    planned, _ = collect(2, 20000, 32, 4, per_room=2, policy=policy, plan_labels=True)
    assert np.array_equal(expert.goal, planned.goal)  # the same states: only labels change
    changed = expert.actions[:, 0] != planned.actions[:, 0]
    plan_action = planned.goal[:, FEATURES + 1 : FEATURES + 5].argmax(1)
    from segpilot.policies.vla.goal_belief import PLAN_ACTIONS
    from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS

    as_plan = np.array([DISCRETE_NAV_ACTIONS.index(PLAN_ACTIONS[i]) for i in plan_action])
    assert (
        changed.any()
        and (planned.goal[changed, FEATURES] == 1).all()
        and (planned.actions[changed, 0] == as_plan[changed]).all()
    )
    with pytest.raises(SegpilotError, match="need goal_plan"):
        from segpilot.training.vla_train import TrainVLAConfig

        TrainVLAConfig(plan_labels=True)
