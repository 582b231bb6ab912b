"""The VLA's observation processor: every frame is resized and normalised here, once, for the policy, the token
memory and the goal belief alike (lerobot's processor step). Pure numpy / torch: no simulator, no agent state."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from segpilot.errors import SegpilotError

MAX_DEPTH_M = 5.0
"""Depth is clipped here and scaled to [-1, 1] for the depth stream."""


def resize_frame(rgb: np.ndarray, depth: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB (bilinear) and depth (nearest, no mixing across edges) to size x size."""
    rgb, depth = np.asarray(rgb), np.asarray(depth)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or depth.shape != rgb.shape[:2]:
        raise SegpilotError(f"expected RGB (H, W, 3) and depth (H, W) of one size, got {rgb.shape} and {depth.shape}")
    if rgb.shape[:2] == (size, size):
        return rgb, depth
    r = np.asarray(Image.fromarray(rgb.astype(np.uint8)).resize((size, size), Image.BILINEAR))
    d = np.asarray(Image.fromarray(depth.astype(np.float32)).resize((size, size), Image.NEAREST))
    return r, d


def to_inputs(rgb: np.ndarray, depth: np.ndarray) -> tuple[Tensor, Tensor]:
    """Batched RGB uint8 (B, S, S, 3) and depth metres (B, S, S) -> normalised (B, 3, S, S), (B, 1, S, S)."""
    # a copy: frames decoded from a ROS message are read-only views of its buffer, which torch warns about
    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(0, 3, 1, 2) / 127.5 - 1
    d = np.nan_to_num(np.asarray(depth, dtype=np.float32), nan=0.0, posinf=0.0)
    dt = torch.as_tensor(np.clip(d, 0, MAX_DEPTH_M) / MAX_DEPTH_M * 2 - 1)[:, None]
    return x, dt
