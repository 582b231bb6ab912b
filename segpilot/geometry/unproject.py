"""Depth unprojection, projection and per-patch 3D positions (vectorised numpy)."""

from __future__ import annotations

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import check_rigid, invert_pose


def unproject_depth(depth: np.ndarray, camera: PinholeCamera, stride: int = 1) -> np.ndarray:
    """(H, W, 3) points in the OpenCV camera frame (metres); NaN where depth is invalid.

    `stride` > 1: only every stride-th pixel of every stride-th row, i.e. exactly the full result's
    `[::stride, ::stride]` without computing the rest (view selection voxelises a subsample)."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (camera.height, camera.width):
        raise SegpilotError(f"depth is {depth.shape} but the camera is {camera.height}x{camera.width} (H x W)")
    depth = depth[::stride, ::stride]
    valid = np.isfinite(depth) & (depth > 0)
    z = np.where(valid, depth, np.nan).astype(np.float64)
    u = np.arange(0, camera.width, stride, dtype=np.float64)[None, :]
    v = np.arange(0, camera.height, stride, dtype=np.float64)[:, None]
    x = (u - camera.cx) / camera.fx * z
    y = (v - camera.cy) / camera.fy * z
    return np.stack([x, y, z], axis=-1)


def transform_points(T_a_b: np.ndarray, xyz_b: np.ndarray) -> np.ndarray:  # noqa: N803
    """Apply a rigid 4x4 transform to (..., 3) points (NaN stays NaN)."""
    T = check_rigid(T_a_b)
    return xyz_b @ T[:3, :3].T + T[:3, 3]


def depth_to_world(depth: np.ndarray, camera: PinholeCamera, T_world_cam: np.ndarray,  # noqa: N803
                   stride: int = 1) -> np.ndarray:  # fmt: skip
    """(H, W, 3) world points (metres); NaN where depth is invalid (`stride`: see `unproject_depth`)."""
    return transform_points(T_world_cam, unproject_depth(depth, camera, stride))


def project_points(
    xyz_world: np.ndarray,
    camera: PinholeCamera,
    T_world_cam: np.ndarray,  # noqa: N803
) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, 3) world points: returns (uv (N, 2) pixels, z (N,) depth in metres)."""
    xyz_cam = transform_points(invert_pose(T_world_cam), np.asarray(xyz_world, dtype=np.float64))
    z = xyz_cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.fx * xyz_cam[:, 0] / z + camera.cx
        v = camera.fy * xyz_cam[:, 1] / z + camera.cy
    return np.stack([u, v], axis=-1), z


def patch_index(height: int, width: int, grid_hw: tuple[int, int]) -> np.ndarray:
    """(H, W) row-major patch id of every pixel for a grid over the whole image.

    Patch boundaries are proportional (row r belongs to patch floor(r * rows / H)), which is
    exactly where an encoder's square patches fall after it resizes the image to its input
    size, whatever the aspect ratio.
    """
    rows, cols = grid_hw
    if rows <= 0 or cols <= 0 or rows > height or cols > width:
        raise SegpilotError(f"patch grid {grid_hw} must be positive and at most the image size {height}x{width}")
    r = (np.arange(height) * rows) // height
    c = (np.arange(width) * cols) // width
    return r[:, None] * cols + c[None, :]


SURFACE_BAND_M = 0.1
"""Depth band (metres, plus 5% of the depth) around a patch's median depth whose pixels give its position."""


def patch_xyz(
    depth: np.ndarray,
    camera: PinholeCamera,
    T_world_cam: np.ndarray,  # noqa: N803
    grid_hw: tuple[int, int],
    min_valid_fraction: float = 0.5,
    surface_band_m: float = SURFACE_BAND_M,
) -> np.ndarray:
    """World position of each patch: the mean of its valid pixels on one surface, (rows * cols, 3), row-major.

    As SeGPruner and Video-3D LLM do, every pixel of the patch is back-projected and the token's
    position is their mean - but only over the pixels whose depth lies within `surface_band_m`
    (+ 5%) of the patch's median depth. A patch across a depth edge (a chair against a wall 1.3 m
    behind it) otherwise sits in mid-air between the two surfaces: on a real Kinect scan 1.4% of the
    tokens lay more than 0.3 m from any surface, and the diversifier favours exactly such outliers.
    The mean of points on one surface stays on it; `surface_band_m` 0 averages every valid pixel
    (SeGPruner's definition). A patch with fewer than `min_valid_fraction` valid depth pixels gets
    NaN: its mean would be biased towards whatever few pixels survived.
    """
    if not 0.0 <= min_valid_fraction <= 1.0:
        raise SegpilotError(f"min_valid_fraction must lie in [0, 1], got {min_valid_fraction}")
    if not surface_band_m >= 0.0:
        raise SegpilotError(f"surface_band_m must be >= 0, got {surface_band_m}")
    pts = depth_to_world(depth, camera, T_world_cam).reshape(-1, 3)
    pid = patch_index(camera.height, camera.width, grid_hw).reshape(-1)
    n_patches = grid_hw[0] * grid_hw[1]
    valid = np.isfinite(pts).all(axis=1)
    total = np.bincount(pid, minlength=n_patches)
    count = np.bincount(pid[valid], minlength=n_patches)
    use = valid
    if surface_band_m > 0:
        z = np.where(valid, np.asarray(depth, np.float64).reshape(-1), np.inf)
        order = np.lexsort((z, pid))  # by patch, then depth; invalid pixels last in their patch
        start = np.cumsum(total) - total
        median = z[order][start + np.maximum(count - 1, 0) // 2]
        with np.errstate(invalid="ignore"):  # inf - inf in patches without valid depth: not used anyway
            use = valid & (np.abs(z - median[pid]) <= surface_band_m + 0.05 * median[pid])
    used = np.bincount(pid[use], minlength=n_patches)
    sums = np.stack([np.bincount(pid[use], weights=pts[use, i], minlength=n_patches) for i in range(3)], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / used[:, None]
    ok = (count > 0) & (count >= min_valid_fraction * total)
    return np.where(ok[:, None], mean, np.nan).astype(np.float32)
