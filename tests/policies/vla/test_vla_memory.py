"""SeGPruner 3D token memory: pruning over time, camera-frame positions, recording and the agent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.qa.position3d import sinusoidal_xyz
from segpilot.policies.vla.io import load_policy, save_policy
from segpilot.policies.vla.memory import TokenMemory, observe, replay
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig, with_memory
from segpilot.training.vla_demos import collect, concat, instruction_vocab
from segpilot.training.vla_train import TrainVLAConfig
from tests.policies.vla.spin import spin

CFG = dict(image_size=32, patch_size=8, vision_hidden=32, vision_layers=1, aggregation_tokens=4, lm_hidden=32,
           lm_layers=2, lm_heads=2, chunk=4, vocab=instruction_vocab())  # fmt: skip


def _memory_policy(tokens: int = 6) -> tuple[CogVLAPolicy, CogVLAPolicy]:
    torch.manual_seed(0)
    base = CogVLAPolicy(VLAConfig(**CFG)).eval()
    return base, with_memory(base, tokens).eval()


def _frame(rng, n: int = 16, d: int = 8):
    return torch.as_tensor(rng.normal(size=(n, d)), dtype=torch.float32), torch.as_tensor(rng.normal(size=(n, 3)))


def test_memory_keeps_its_size_and_the_most_salient_token_over_time():
    rng = np.random.default_rng(0)
    memory = TokenMemory(6, importance=0.5)
    feats, xyz = _frame(rng)
    saliency = torch.zeros(16)
    saliency[5] = 10.0  # the goal, seen once in the first frame
    memory.update(feats, saliency, xyz)
    for _ in range(8):
        f, x = _frame(rng)
        memory.update(f, torch.as_tensor(rng.uniform(0, 1, 16), dtype=torch.float32), x)
        assert len(memory.features) == 6
    assert any(torch.equal(row, feats[5]) for row in memory.features)


def test_memory_inputs_carry_positions_in_the_current_camera_frame():
    memory = TokenMemory(2, importance=0.0)
    feats = torch.eye(2, 12)
    xyz = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    memory.update(feats, torch.zeros(2), xyz)
    T_world_cam = np.eye(4)  # noqa: N806
    T_world_cam[:3, 3] = [0.5, -1.0, 2.0]
    expected = feats + sinusoidal_xyz(xyz - torch.tensor([0.5, -1.0, 2.0]), 12)
    assert torch.allclose(memory.inputs(T_world_cam), expected, atol=1e-5)
    with pytest.raises(SegpilotError, match="memory is empty"):
        TokenMemory(2, 0.5).inputs(np.eye(4))


def test_with_memory_copies_the_trained_stream_frozen_and_round_trips(tmp_path):
    base, policy = _memory_policy()
    assert policy.config.n_visual == 4 + 6
    for a, b in zip(base.streams[0].parameters(), policy.memory_encoder.stream.parameters(), strict=True):
        assert torch.equal(a, b) and not b.requires_grad
    assert torch.equal(base.layers[0].layer.mlp.up_proj.weight, policy.layers[0].layer.mlp.up_proj.weight)
    save_policy(policy, tmp_path)
    loaded = load_policy(tmp_path)
    assert loaded.config.memory_tokens == 6
    assert torch.equal(loaded.memory_encoder.probe.weight, policy.memory_encoder.probe.weight)


def test_policy_refuses_a_missing_or_misshapen_memory():
    _, policy = _memory_policy()
    rgb, depth = torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    words, valid = policy.encode_instruction([["find", "the", "lamp"]])
    assert policy(rgb, depth, words, valid, memory=torch.zeros(1, 6, 32)).shape[0] == 1
    for bad in (None, torch.zeros(1, 5, 32)):
        with pytest.raises(SegpilotError, match="reads 6 memory tokens"):
            policy(rgb, depth, words, valid, memory=bad)
    with pytest.raises(SegpilotError, match="memory_tokens must lie in 0..16"):
        VLAConfig(**{**CFG, "memory_tokens": 17})
    with pytest.raises(SegpilotError, match="memory_tokens and goal_belief need init_from"):
        TrainVLAConfig(memory_tokens=8)


def test_replay_equals_observing_step_by_step_and_the_agent_feeds_it():
    _, policy = _memory_policy()
    live = TokenMemory(6, 0.5)
    frames, stepwise, seen = spin(policy, 5, "memory", lambda f, w, v: observe(policy, [live], [f], w, v)[0])
    words, valid = policy.encode_instruction([["find", "the", "lamp"]])
    replayed = replay(policy, TokenMemory(6, 0.5), frames, words, valid, batch=2)
    assert torch.allclose(replayed, torch.stack(stepwise), atol=1e-5)
    # one chunk planned at step 0 and one at step 4, each with the memory of every frame so far
    assert len(seen) == 2 and torch.allclose(seen[1][0], stepwise[4], atol=1e-5)


def test_demonstrations_record_the_memory_input_of_every_step():
    _, policy = _memory_policy()
    demos, summary = collect(1, 20000, 32, chunk=4, per_room=1, noise=0.0, policy=policy)
    assert demos.memory.shape == (summary["steps"], 6, 32) and demos.memory.dtype == np.float16
    assert concat([demos, demos]).memory.shape[0] == 2 * summary["steps"]
    plain, _ = collect(1, 20000, 32, chunk=4, per_room=1, noise=0.0)
    assert plain.memory is None and np.array_equal(plain.actions, demos.actions)
