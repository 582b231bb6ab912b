"""Sinusoidal 3D position embedding of token positions (Video-3D LLM style).

Each of x, y, z (metres) is encoded with `dim // 6` sine/cosine pairs at geometrically spaced
frequencies (wavelengths from `min_wavelength_m` to `max_wavelength_m`); the result is padded
to `dim`. Tokens without a position (NaN) get a zero embedding, i.e. no positional signal.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

POSITION_3D_CONFIG_KEY = "segpilot_3d_position"
"""Key of a model config recording that the model was trained with this embedding added to its visual tokens."""


def sinusoidal_xyz(xyz: Tensor, dim: int, min_wavelength_m: float = 0.05, max_wavelength_m: float = 20.0) -> Tensor:
    """(K, 3) world positions -> (K, dim) embedding."""
    n_freq = dim // 6
    out = torch.zeros(xyz.shape[0], dim, dtype=torch.float32, device=xyz.device)
    if n_freq == 0:
        return out
    wavelengths = torch.exp(
        torch.linspace(math.log(min_wavelength_m), math.log(max_wavelength_m), n_freq, device=xyz.device)
    )
    valid = torch.isfinite(xyz).all(-1)
    pos = torch.where(valid[:, None], xyz.float(), torch.zeros((), device=xyz.device))
    angles = 2 * math.pi * pos[:, :, None] / wavelengths  # (K, 3, F)
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], -1).reshape(xyz.shape[0], -1)  # (K, 6F)
    out[:, : emb.shape[1]] = torch.where(valid[:, None], emb, torch.zeros((), device=xyz.device))
    return out
