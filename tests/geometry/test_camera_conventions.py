from __future__ import annotations

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import (
    T_GL_CV,
    check_rigid,
    invert_pose,
    opencv_to_opengl_pose,
    opengl_to_opencv_pose,
    optical_pitch_deg,
    pose_from_position_quat_wxyz,
    pose_from_position_quat_xyzw,
    quat_wxyz_from_rotation,
    quat_wxyz_to_xyzw,
    quat_xyzw_from_rotation,
    quat_xyzw_to_wxyz,
    rotation_from_quat_wxyz,
    rotation_from_quat_xyzw,
)


def _random_rotation(rng):
    q = rng.normal(size=4)
    return rotation_from_quat_xyzw(q / np.linalg.norm(q))


def test_camera_from_K_and_back():
    K = np.array([[500.0, 0, 320.5], [0, 510.0, 240.25], [0, 0, 1]])
    cam = PinholeCamera.from_K(K, 640, 480)
    assert np.allclose(cam.K, K)
    K4 = np.eye(4)
    K4[:3, :3] = K
    assert PinholeCamera.from_K(K4, 640, 480) == cam  # ScanNet stores 4x4


def test_rescale_keeps_pixel_centres():
    cam = PinholeCamera(100.0, 100.0, 159.5, 119.5, 320, 240)  # centre of a 320x240 image
    half = cam.scaled(160, 120)
    assert (half.cx, half.cy) == (79.5, 59.5)  # still the centre
    assert half.fx == 50.0


def test_habitat_style_hfov():
    cam = PinholeCamera.from_hfov(90.0, 320, 240)
    assert cam.fx == pytest.approx(160.0) and cam.fy == pytest.approx(160.0)
    assert (cam.cx, cam.cy) == (159.5, 119.5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"fx": 0.0}, "focal"),
        ({"fy": -1.0}, "focal"),
        ({"cx": float("nan")}, "finite"),
        ({"width": 0}, "size"),
    ],
)
def test_invalid_intrinsics(kwargs, match):
    base = {"fx": 100.0, "fy": 100.0, "cx": 50.0, "cy": 50.0, "width": 100, "height": 100} | kwargs
    with pytest.raises(SegpilotError, match=match):
        PinholeCamera(**base)


def test_skewed_K_refused():
    with pytest.raises(SegpilotError, match="no skew"):
        PinholeCamera.from_K(np.array([[100.0, 3.0, 50], [0, 100, 50], [0, 0, 1]]), 100, 100)


def test_quaternion_orders_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        R = _random_rotation(rng)
        q_xyzw = quat_xyzw_from_rotation(R)
        q_wxyz = quat_wxyz_from_rotation(R)
        assert np.allclose(quat_xyzw_to_wxyz(q_xyzw), q_wxyz)
        assert np.allclose(quat_wxyz_to_xyzw(q_wxyz), q_xyzw)
        assert np.allclose(rotation_from_quat_xyzw(q_xyzw), R, atol=1e-9)
        assert np.allclose(rotation_from_quat_wxyz(q_wxyz), R, atol=1e-9)


def test_quaternion_known_value():
    # 90 degrees about +Y: x -> -z.
    q_wxyz = np.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])
    assert np.allclose(rotation_from_quat_wxyz(q_wxyz) @ [1, 0, 0], [0, 0, -1])


def test_opengl_opencv_poses():
    T = pose_from_position_quat_wxyz([1.0, 2.0, 3.0], [1.0, 0, 0, 0])
    T_cv = opengl_to_opencv_pose(T)
    # The OpenCV camera looks along +z_cv, the OpenGL one along -z_gl: same world direction.
    assert np.allclose(T_cv[:3, :3] @ [0, 0, 1], T[:3, :3] @ [0, 0, -1])
    assert np.allclose(T_cv[:3, :3] @ [0, 1, 0], T[:3, :3] @ [0, -1, 0])  # y down vs y up
    assert np.allclose(opencv_to_opengl_pose(T_cv), T)
    assert np.allclose(T_GL_CV @ T_GL_CV, np.eye(4))


def test_invert_pose():
    rng = np.random.default_rng(1)
    T = pose_from_position_quat_xyzw(rng.normal(size=3), rng.normal(size=4))
    assert np.allclose(invert_pose(T) @ T, np.eye(4))


@pytest.mark.parametrize(
    "T,match",
    [
        (np.eye(3), "4x4"),
        (np.diag([2.0, 1, 1, 1]), "rigid"),
        (np.diag([-1.0, 1, 1, 1]), "rigid"),
        (np.full((4, 4), np.nan), "finite"),
        (np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]), "last row"),
    ],
)
def test_non_rigid_poses_refused(T, match):
    with pytest.raises(SegpilotError, match=match):
        check_rigid(T, "T_world_cam")


def test_bad_quaternion():
    with pytest.raises(SegpilotError, match="quat_wxyz"):
        rotation_from_quat_wxyz([0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("pitch", [-30.0, -10.0, 0.0, 20.0])
def test_optical_pitch_is_the_elevation_of_the_viewing_axis(pitch):
    # An optical frame (x right, y down, z forward) looking along world +x, then pitched about its x axis.
    p = np.radians(pitch)
    forward = np.array([np.cos(p), 0.0, np.sin(p)])
    right = np.array([0.0, -1.0, 0.0])
    T = np.eye(4)
    T[:3, :3] = np.stack([right, np.cross(forward, right), forward], 1)
    assert optical_pitch_deg(T) == pytest.approx(pitch)
    with pytest.raises(SegpilotError, match="T_world_cam"):
        optical_pitch_deg(np.diag([2.0, 1, 1, 1]))
