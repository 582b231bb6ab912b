"""Saving and loading a VLA policy folder: model.safetensors + config.json (+ training_log.json)."""

from __future__ import annotations

import json
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig


def default_policy_path() -> Path:
    """The embedded default policy shipped inside the package (trained by `segpilot train vla`)."""
    from importlib import resources

    return Path(str(resources.files("segpilot") / "data" / "models" / "vla-default"))


def save_policy(policy: CogVLAPolicy, out: str | Path) -> None:
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in policy.state_dict().items()}, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps({"model_type": "segpilot_cogvla", **policy.config.to_dict()},
                                                indent=1))  # fmt: skip


def load_policy(path: str | Path | None = None, **overrides) -> CogVLAPolicy:
    """A policy from a local folder (None = the embedded default); `overrides` change config fields
    that do not touch the weights (e.g. lfp_floor)."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else default_policy_path()
    config_file, weights = path / "config.json", path / "model.safetensors"
    if not config_file.exists() or not weights.exists():
        raise SegpilotError(f"{path} is not a segpilot VLA policy folder (config.json and model.safetensors expected)")
    try:
        raw = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise SegpilotError(f"{config_file} is not valid JSON: {exc}") from None
    if raw.pop("model_type", None) != "segpilot_cogvla":
        raise SegpilotError(f"{config_file}: model_type 'segpilot_cogvla' expected")
    raw["vocab"] = tuple(raw.get("vocab", ()))
    if raw.pop("memory_views", 0) != 0:
        raise SegpilotError(f"{config_file}: memory_views is no longer read; the memory is memory_tokens")
    raw.pop("memory_budget", None)  # read by nothing before memory_tokens: no policy was trained with it
    try:
        config = VLAConfig(**{**raw, **overrides})
    except TypeError as exc:
        raise SegpilotError(f"{config_file}: {exc}") from None
    policy = CogVLAPolicy(config)
    policy.load_state_dict(load_file(str(weights)))
    return policy.eval()
