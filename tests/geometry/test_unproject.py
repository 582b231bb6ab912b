from __future__ import annotations

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import pose_from_position_quat_xyzw
from segpilot.geometry.frame import Frame
from segpilot.geometry.unproject import depth_to_world, patch_index, patch_xyz, project_points, unproject_depth

CAM = PinholeCamera(120.0, 110.0, 63.5, 47.5, 128, 96)


def _pose(seed=0):
    rng = np.random.default_rng(seed)
    return pose_from_position_quat_xyzw(rng.normal(size=3), rng.normal(size=4))


def test_unproject_project_round_trip():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, size=(96, 128)).astype(np.float32)
    depth[10:20, 30:40] = 0.0
    depth[0, 0] = np.nan
    T = _pose()
    world = depth_to_world(depth, CAM, T)
    valid = np.isfinite(depth) & (depth > 0)
    assert np.isnan(world[~valid]).all()
    uv, z = project_points(world[valid], CAM, T)
    v, u = np.nonzero(valid)
    assert np.allclose(uv[:, 0], u, atol=1e-6) and np.allclose(uv[:, 1], v, atol=1e-6)
    assert np.allclose(z, depth[valid], atol=1e-5)


def test_opencv_axes():
    depth = np.ones((96, 128), np.float32)
    pts = unproject_depth(depth, CAM)
    assert pts[0, 0, 1] < 0 < pts[-1, 0, 1]  # row 0 is up: y is down
    assert pts[0, 0, 0] < 0 < pts[0, -1, 0]  # column 0 is left: x is right
    assert np.allclose(pts[..., 2], 1.0)  # z-depth


def test_patch_index_any_size():
    pid = patch_index(97, 131, (27, 27))
    assert pid.min() == 0 and pid.max() == 27 * 27 - 1
    assert len(np.unique(pid)) == 729
    assert (np.diff(pid[:, 0]) >= 0).all()


def test_patch_xyz_is_the_mean_of_valid_pixels():
    depth = np.full((96, 128), 2.0, np.float32)
    depth[:48, :64] = 0.0  # top-left quarter invalid
    depth[48:60, 64:80] = 0.0
    T = np.eye(4)
    xyz = patch_xyz(depth, CAM, T, (2, 2), min_valid_fraction=0.5)
    assert np.isnan(xyz[0]).all()  # no valid pixel
    world = depth_to_world(depth, CAM, T)
    expected = np.nanmean(world[48:, 64:].reshape(-1, 3), axis=0)
    assert np.allclose(xyz[3], expected, atol=1e-5)
    # Patch 3 lost 12*16 of 48*64 pixels: below a 0.95 threshold it becomes NaN.
    assert np.isnan(patch_xyz(depth, CAM, T, (2, 2), min_valid_fraction=0.95)[3]).all()


def test_frame_checks():
    rgb = np.zeros((96, 128, 3), np.uint8)
    with pytest.raises(SegpilotError, match="same H, W"):
        Frame(rgb, np.zeros((95, 128), np.float32), CAM, np.eye(4))
    with pytest.raises(SegpilotError, match="uint8"):
        Frame(rgb.astype(np.float32), np.zeros((96, 128), np.float32), CAM, np.eye(4))
    with pytest.raises(SegpilotError, match="camera is 128x96"):
        Frame(np.zeros((50, 50, 3), np.uint8), np.zeros((50, 50), np.float32), CAM, np.eye(4))
    with pytest.raises(SegpilotError, match="rigid"):
        Frame(rgb, np.zeros((96, 128), np.float32), CAM, np.diag([1.0, 1.0, 3.0, 1.0]))
    with pytest.raises(SegpilotError, match="depth is"):
        unproject_depth(np.zeros((10, 10)), CAM)


@pytest.mark.parametrize("stride", [2, 3, 4])
def test_strided_unprojection_is_the_full_one_subsampled(stride):
    # view selection voxelises every stride-th pixel: the strided path must give exactly those points
    rng = np.random.default_rng(stride)
    depth = (rng.random((61, 83)) * 5).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = 0.0
    depth[0, 0] = np.nan
    cam = PinholeCamera(70.0, 71.0, 41.3, 30.2, 83, 61)
    T = pose_from_position_quat_xyzw([1.0, -2.0, 0.5], [0.1, 0.2, 0.3, 0.9273618495495703])
    full = depth_to_world(depth, cam, T)[::stride, ::stride]
    np.testing.assert_array_equal(depth_to_world(depth, cam, T, stride=stride), full)
