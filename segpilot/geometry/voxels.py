"""Voxel keys for coverage counting (hashing world points to integer cells)."""

from __future__ import annotations

import numpy as np

from segpilot.errors import SegpilotError

_BITS = 21  # per axis: 2^21 cells of 5 cm each span +-52 km, plenty for a scene
_OFFSET = 1 << (_BITS - 1)


def voxel_keys(xyz: np.ndarray, voxel_size: float) -> np.ndarray:
    """Unique int64 keys of the voxels occupied by finite (N, 3) points (NaN rows ignored)."""
    if not voxel_size > 0:
        raise SegpilotError(f"voxel_size must be > 0 metres, got {voxel_size}")
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    xyz = xyz[np.isfinite(xyz).all(axis=1)]
    cell = np.floor(xyz / voxel_size).astype(np.int64) + _OFFSET
    if cell.size and (cell.min() < 0 or cell.max() >= (1 << _BITS)):
        raise SegpilotError(f"points span more than {(1 << _BITS) * voxel_size:.0f} m; use a larger voxel_size")
    keys = (cell[:, 0] << (2 * _BITS)) | (cell[:, 1] << _BITS) | cell[:, 2]
    return np.unique(keys)
