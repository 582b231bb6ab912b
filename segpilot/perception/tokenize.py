"""Frames -> `VisualTokens`: encoder features and saliency, plus a 3D position per patch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.geometry.unproject import patch_xyz
from segpilot.perception.encoders.base import VisionEncoder
from segpilot.perception.tokens import VisualTokens


def tokens_from_frames(
    frames: Sequence[Frame], encoder: VisionEncoder, min_valid_fraction: float = 0.5
) -> VisualTokens:
    """Encode every frame's RGB and give each patch the mean world position of its pixels.

    The patch grid is the encoder's; positions use the same proportional pixel->patch map as
    the encoder's resize (see `geometry.unproject.patch_index`), so both describe one region.
    """
    if not frames:
        raise SegpilotError("no frames to tokenize")
    enc = encoder.encode([f.rgb for f in frames])
    xyz = np.stack([patch_xyz(f.depth, f.camera, f.T_world_cam, enc.grid_hw, min_valid_fraction) for f in frames])
    return VisualTokens.from_views(enc.features, enc.saliency, torch.from_numpy(xyz), enc.grid_hw)
