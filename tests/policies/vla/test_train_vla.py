"""`segpilot train vla` end to end at toy size: behaviour cloning, a DAgger round, stage folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.policies.vla.io import load_policy
from segpilot.training.vla_train import TrainVLAConfig, _initial_policy, train_vla


def test_bc_then_dagger_writes_complete_policy_folders(tmp_path):
    cfg = TrainVLAConfig(out=str(tmp_path / "policy"), rooms=1, episodes_per_room=1, steps=3, batch=4, image_size=32,
                         patch_size=8, dagger_rounds=1, dagger_rooms=1, dagger_max_steps=8, threads=1,
                         camera_pitch_deg=-25.0)  # fmt: skip
    summary = train_vla(cfg, progress=False)
    assert summary["steps_done"] == 6  # 3 behaviour-cloning steps + 3 after the DAgger round
    assert summary["dagger"][0]["seed"] == 20001 and 0 < summary["dagger"][0]["steps"] <= 8
    for folder in (tmp_path / "policy", tmp_path / "policy" / "stages" / "bc"):
        log = json.loads((folder / "training_log.json").read_text())
        config = load_policy(folder).config
        assert config.image_size == 32 and config.camera_pitch_deg == -25.0 and log["config"]["dagger_rounds"] == 1
    bc_log = json.loads((tmp_path / "policy" / "stages" / "bc" / "training_log.json").read_text())
    assert bc_log["dagger"] == [] and bc_log["steps_done"] == 3
    # Continuing it with another camera would train on views it was never shaped for.
    with pytest.raises(SegpilotError, match="camera_pitch_deg"):
        _initial_policy(TrainVLAConfig(init_from=str(tmp_path / "policy"), image_size=32, camera_pitch_deg=-10.0))


def test_bad_settings_are_refused():
    with pytest.raises(SegpilotError, match="dagger_beta"):
        TrainVLAConfig(dagger_beta=1.5)
    with pytest.raises(SegpilotError, match="dagger_rounds"):
        TrainVLAConfig(dagger_rounds=-1)


def test_dagger_batches_draw_their_share_from_the_rollouts():
    from segpilot.training.vla_train import _draw

    rng = np.random.default_rng(0)
    idx = _draw(rng, 100, 32, 90, 0.25)
    assert len(idx) == 32 and (idx >= 90).sum() == 8 and idx.min() >= 0
    assert len(_draw(rng, 100, 32, None, 0.25)) == 32
    with pytest.raises(SegpilotError, match="dagger_share"):
        TrainVLAConfig(dagger_share=2.0)


def test_a_goal_belief_policy_continues_training_with_instruction_dropout(tmp_path):
    base = TrainVLAConfig(out=str(tmp_path / "base"), rooms=1, episodes_per_room=1, steps=2, batch=4, image_size=32,
                          threads=1)  # fmt: skip
    train_vla(base, progress=False)
    cfg = TrainVLAConfig(out=str(tmp_path / "goal"), init_from=base.out, goal_belief=True, instruction_dropout=0.5,
                         rooms=1, episodes_per_room=1, steps=3, batch=4, image_size=32, dagger_rounds=1,
                         dagger_rooms=1, dagger_max_steps=8, threads=1)  # fmt: skip
    summary = train_vla(cfg, progress=False)
    assert summary["steps_done"] == 6 and summary["dagger"][0]["steps"] > 0
    assert load_policy(tmp_path / "goal").config.goal_belief
    with pytest.raises(SegpilotError, match="instruction_dropout"):
        TrainVLAConfig(init_from=base.out, instruction_dropout=0.5)  # nothing else would tell it the goal


def test_instruction_dropout_blanks_whole_instructions_and_keeps_padding():
    import torch

    from segpilot.training.vla_train import _blank_instructions

    words = torch.tensor([[13, 25, 17, 0]] * 200)  # "find the lamp" + padding
    blanked, named = _blank_instructions(np.random.default_rng(0), words, words != 0, 0.5)
    assert 60 < int(named.sum()) < 140
    assert torch.equal(blanked[named], words[named])
    assert (blanked[~named] == torch.tensor([1, 1, 1, 0])).all()
    _, everyone = _blank_instructions(np.random.default_rng(0), words, words != 0, 0.0)
    assert everyone.all()
