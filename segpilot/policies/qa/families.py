"""VLM families by the `model_type` of a checkpoint's config.json (lazy: one import per family used)."""

from __future__ import annotations

from segpilot.registry import Registry

ADAPTERS: Registry = Registry(
    "model family",
    {
        "llava": "segpilot.policies.qa.llava",
        "llava_onevision": "segpilot.policies.qa.onevision",
        "qwen2_5_vl": "segpilot.policies.qa.qwen25vl",
    },
)
register_adapter = ADAPTERS.register
