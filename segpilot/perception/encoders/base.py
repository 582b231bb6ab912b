"""Vision-encoder protocol, image preprocessing, and the encoder registry.

An encoder turns V RGB images into per-patch features and a saliency score per patch on a
fixed grid (rows x cols). Which pixels belong to which patch is decided by
`geometry.unproject.patch_index`, so 3D positions and features always describe the same
image region.
"""

from __future__ import annotations

from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.perception.encoders.views import EncodedViews, VisionEncoder, to_pixel_values  # noqa: F401
from segpilot.registry import Registry

ENCODERS: Registry[VisionEncoder] = Registry(
    "encoder", {"efficientnet-lite0": "segpilot.perception.encoders.efficientnet"}
)
register_encoder = ENCODERS.register


def available_encoders() -> list[str]:
    """Registered encoder names (a local transformers folder is accepted too)."""
    return ENCODERS.names()


def make_encoder(spec: str, batch_size: int = 4, device: str = "cpu") -> VisionEncoder:
    """An encoder from a registered name or from a local transformers checkpoint folder."""
    if spec in ENCODERS:
        return ENCODERS.get(spec)(batch_size=batch_size, device=device)
    if Path(spec).is_dir():
        from segpilot.perception.encoders.hf import HFVisionEncoder

        return HFVisionEncoder.from_pretrained(spec, batch_size=batch_size, device=device)
    raise SegpilotError(
        f"unknown encoder {spec!r}: expected one of {', '.join(available_encoders())} or a local checkpoint folder"
    )
