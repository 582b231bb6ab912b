"""Vision-encoder protocol, image preprocessing, and the encoder registry.

An encoder turns V RGB images into per-patch features and a saliency score per patch on a
fixed grid (rows x cols). Which pixels belong to which patch is decided by
`geometry.unproject.patch_index`, so 3D positions and features always describe the same
image region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.registry import Registry


@dataclass(frozen=True)
class EncodedViews:
    """features: (V, T, D) float32; saliency: (V, T) float32; T = rows * cols, row-major."""

    features: Tensor
    saliency: Tensor
    grid_hw: tuple[int, int]


@runtime_checkable
class VisionEncoder(Protocol):
    """Encodes a batch of views; see `EncodedViews`."""

    name: str
    grid_hw: tuple[int, int]

    def encode(self, images: Sequence[np.ndarray]) -> EncodedViews: ...


def to_pixel_values(
    images: Sequence[np.ndarray], size: int | tuple[int, int], mean: Sequence[float], std: Sequence[float]
) -> Tensor:
    """(V, 3, H, W) float32: bicubic resize of RGB uint8 images to size (an int: square; or (H, W)),
    then (x/255 - mean) / std."""
    height, width = (size, size) if isinstance(size, int) else size
    batch = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise SegpilotError(f"image {i} must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        resized = Image.fromarray(img).resize((width, height), Image.BICUBIC)
        batch.append(np.asarray(resized, dtype=np.float32) / 255.0)
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


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
