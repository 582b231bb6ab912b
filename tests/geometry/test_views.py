from __future__ import annotations

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import pose_from_position_quat_xyzw
from segpilot.geometry.frame import Frame
from segpilot.geometry.views import select_max_coverage, select_uniform
from segpilot.geometry.voxels import voxel_keys


def test_uniform_is_segpruners_rule():
    assert select_uniform(100, 12) == [round(i * 99 / 12) for i in range(12)]
    assert select_uniform(5, 12) == [0, 1, 2, 3, 4]
    with pytest.raises(SegpilotError):
        select_uniform(10, 0)


def _wall_frame(yaw_deg: float, depth_m: float = 2.0) -> Frame:
    cam = PinholeCamera(40.0, 40.0, 31.5, 23.5, 64, 48)
    half = np.radians(yaw_deg) / 2
    # Camera at the origin rotating about world -y (OpenCV y is down).
    T = pose_from_position_quat_xyzw([0, 0, 0], [0.0, np.sin(half), 0.0, np.cos(half)])
    return Frame(np.zeros((48, 64, 3), np.uint8), np.full((48, 64), depth_m, np.float32), cam, T)


def test_max_coverage_prefers_new_ground():
    # Frames 0 and 1 look the same way, frame 2 looks the other way: two frames must be 0 and 2.
    frames = [_wall_frame(0), _wall_frame(0), _wall_frame(180)]
    assert select_max_coverage(frames, 2, voxel_size=0.1) == [0, 2]


def test_max_coverage_stops_when_covered():
    frames = [_wall_frame(0), _wall_frame(0), _wall_frame(0)]
    assert select_max_coverage(frames, 3, voxel_size=0.1, stop_ratio=1.0) == [0]


def test_voxel_keys_ignore_nan_and_dedupe():
    pts = np.array([[0.01, 0.02, 0.03], [0.02, 0.01, 0.04], [np.nan, 0, 0], [1.0, 1.0, 1.0]])
    assert len(voxel_keys(pts, 0.1)) == 2
    with pytest.raises(SegpilotError, match="voxel_size"):
        voxel_keys(pts, 0.0)
