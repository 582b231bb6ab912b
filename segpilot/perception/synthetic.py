"""Synthetic multi-view tokens with the redundancy of a real scan (benchmarks and tests).

Random Gaussian features make every token equally far from every other, which hides what a
3D-aware pruner is for. Here V cameras stand in a box room and look outwards at overlapping
headings, so consecutive views see the same wall points; a token's feature is a smooth
function of its 3D position plus an object code plus noise, so the same surface seen twice
gives similar features - the redundancy the cross-view modes remove.
"""

from __future__ import annotations

import math

import torch

from segpilot.perception.tokens import VisualTokens


def room_tokens(
    n_views: int = 12,
    grid_hw: tuple[int, int] = (27, 27),
    dim: int = 1152,
    seed: int = 0,
    room_m: float = 6.0,
    hfov_deg: float = 90.0,
    n_objects: int = 24,
    invalid_fraction: float = 0.02,
) -> VisualTokens:
    """Tokens of `n_views` views of a room (positions in metres, world frame, z up)."""
    gen = torch.Generator().manual_seed(seed)
    rows, cols = grid_hw
    half = room_m / 2
    # Camera headings sweep 1.5 turns, so the later views revisit what the first ones saw.
    yaw = torch.linspace(0, 3 * math.pi, n_views + 1)[:-1]
    cam = torch.stack([0.8 * torch.cos(yaw / 3), 0.8 * torch.sin(yaw / 3), torch.full_like(yaw, 1.3)], 1)
    u = torch.linspace(-1, 1, cols)
    v = torch.linspace(-1, 1, rows)
    tan = math.tan(math.radians(hfov_deg) / 2)
    ang = yaw[:, None, None] + torch.atan(u * tan)[None, None, :]  # (V, 1, cols)
    dirs = torch.stack([torch.cos(ang), torch.sin(ang)], -1).expand(n_views, rows, cols, 2)
    # Distance to the box walls along the horizontal direction from the camera.
    o = cam[:, None, None, :2]
    big = torch.tensor(1e6)

    def axis_hit(d: torch.Tensor, o_axis: torch.Tensor) -> torch.Tensor:
        wall = torch.where(d > 0, half - o_axis, -half - o_axis)
        return torch.where(d.abs() > 1e-9, wall / torch.where(d.abs() > 1e-9, d, torch.ones(())), big)

    t_wall = torch.minimum(axis_hit(dirs[..., 0], o[..., 0]), axis_hit(dirs[..., 1], o[..., 1]))
    xy = o + dirs * t_wall[..., None]
    z = cam[:, None, None, 2] - v[None, :, None] * tan * t_wall
    # Rows looking below the floor hit the floor instead.
    floor = z < 0
    t_floor = cam[:, None, None, 2] / (v[None, :, None] * tan).clamp(min=1e-6)
    xy = torch.where(floor[..., None], o + dirs * t_floor[..., None], xy)
    z = torch.where(floor, torch.zeros(()), z)
    xyz = torch.cat([xy, z[..., None]], -1).reshape(n_views, rows * cols, 3)

    centres = (torch.rand(n_objects, 3, generator=gen) - 0.5) * torch.tensor([room_m, room_m, 2.0])
    centres[:, 2] += 1.0
    codes = torch.randn(n_objects + 1, dim, generator=gen)
    nearest = torch.cdist(xyz.reshape(-1, 3), centres).min(dim=1)
    obj = torch.where(nearest.values < 0.8, nearest.indices + 1, torch.zeros_like(nearest.indices))
    freq = torch.randn(3, dim, generator=gen) * 1.5
    smooth = torch.sin(xyz.reshape(-1, 3) @ freq)
    noise = torch.randn(xyz.shape[0] * xyz.shape[1], dim, generator=gen)
    feats = smooth + 1.5 * codes[obj] + 0.6 * noise
    saliency = (obj > 0).float() + 0.3 * torch.rand(obj.shape, generator=gen)
    invalid = torch.rand(obj.shape, generator=gen) < invalid_fraction
    xyz = xyz.reshape(-1, 3).clone()
    xyz[invalid] = float("nan")
    return VisualTokens.from_views(
        feats.reshape(n_views, rows * cols, dim),
        saliency.reshape(n_views, -1),
        xyz.reshape(n_views, -1, 3),
        grid_hw,
    )
