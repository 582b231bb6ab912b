"""The encoder contract (protocol, output type) and image preprocessing: a module of their own so that encoder
implementations (`hf`, `efficientnet`) and the registry (`base`) import them without importing each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from segpilot.errors import SegpilotError


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
