"""The committed embedded VLA policy: its files, card and configuration load as documented."""

from __future__ import annotations

import json

from segpilot.policies.vla.io import default_policy_path, load_policy


def test_default_policy_card_and_files():
    path = default_policy_path()
    card = json.loads((path / "card.json").read_text())
    assert card["schema_version"] == 1 and card["parameters"] < 8_000_000
    assert (path / "model.safetensors").stat().st_size < 30 * 1024 * 1024
    policy = load_policy()
    assert policy.config.action_space == "discrete_nav"
    assert sum(p.numel() for p in policy.parameters()) == card["parameters"]
    assert set(card["evaluation"]["modes"]) == {"routing_on", "routing_off"}
