"""Which frames of a scan become the model's views.

- `uniform`: SeGPruner's rule, frame[round(i * (n - 1) / k)] for i < k.
- `coverage`: Video-3D LLM style greedy maximum coverage of voxels: repeatedly take the
  frame that adds the most not-yet-seen voxels, until k frames or until the chosen frames
  cover `stop_ratio` of all voxels seen by any frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.geometry.unproject import depth_to_world
from segpilot.geometry.voxels import voxel_keys

VIEW_SELECTIONS = ("uniform", "coverage")


def select_uniform(n_frames: int, k: int) -> list[int]:
    """SeGPruner's uniform sampling; all frames when there are no more than k."""
    if k <= 0:
        raise SegpilotError(f"number of views must be >= 1, got {k}")
    if n_frames <= k:
        return list(range(n_frames))
    return [round(i * (n_frames - 1) / k) for i in range(k)]


def select_max_coverage(
    frames: Sequence[Frame], k: int, voxel_size: float = 0.1, stop_ratio: float = 1.0, pixel_stride: int = 4
) -> list[int]:
    """Greedy maximum voxel coverage; returns chosen frame indices in temporal order.

    `pixel_stride` subsamples pixels before voxelising (a 0.1 m voxel spans many pixels).
    Ties go to the earlier frame. Frames without valid depth are never chosen.
    """
    if k <= 0:
        raise SegpilotError(f"number of views must be >= 1, got {k}")
    if not 0.0 < stop_ratio <= 1.0:
        raise SegpilotError(f"coverage stop_ratio must lie in (0, 1], got {stop_ratio}")
    keys = []
    for f in frames:
        pts = depth_to_world(f.depth, f.camera, f.T_world_cam, stride=pixel_stride)
        keys.append(voxel_keys(pts.reshape(-1, 3), voxel_size))
    if not keys:
        return []
    all_keys, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    owner = np.repeat(np.arange(len(keys)), [len(x) for x in keys])
    covered = np.zeros(len(all_keys), dtype=bool)
    chosen: list[int] = []
    target = stop_ratio * len(all_keys)
    while len(chosen) < min(k, len(frames)) and covered.sum() < target:
        new = ~covered[inverse]
        gain = np.bincount(owner[new], minlength=len(keys))
        gain[chosen] = -1
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
        covered[inverse[owner == best]] = True
    return sorted(chosen)
