"""Frame and rotation conventions, written once.

Inside segpilot:
- camera frame = OpenCV / ROS optical frame: x right, y down, z forward;
- `T_a_b` maps points in frame b to frame a (`T_world_cam`: camera -> world), 4x4 float64;
- quaternions always carry their order in the name: `quat_xyzw` (ROS, scipy) or
  `quat_wxyz` (Habitat / numpy-quaternion, Eigen's constructor).
Any other convention (OpenGL / Habitat cameras looking along -Z with +Y up) is converted at
the adapter boundary with the helpers below.
"""

from __future__ import annotations

import numpy as np

from segpilot.errors import SegpilotError

RIGID_ATOL = 1e-4
"""Largest |R^T R - I| entry a pose may have to count as rigid (every path: readers, ROS, Frame)."""
PROJECT_ATOL = 1e-2
"""Rotations with an error up to this are projected onto SO(3) (SVD) with a warning; beyond it the pose is
skipped. Real poses (7-Scenes: 1.5e-4, float32 text) are slightly off; a larger error is a broken pose."""

# OpenGL camera (x right, y up, looking along -z) <-> OpenCV camera (x right, y down, z forward):
# a 180 degree rotation about x, its own inverse.
T_GL_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def opengl_to_opencv_pose(T_world_camgl: np.ndarray) -> np.ndarray:  # noqa: N803
    """T_world_cam (OpenCV camera) from T_world_camgl (OpenGL / Habitat camera)."""
    return check_rigid(T_world_camgl, "T_world_camgl") @ T_GL_CV


def opencv_to_opengl_pose(T_world_cam: np.ndarray) -> np.ndarray:  # noqa: N803
    """T_world_camgl (OpenGL / Habitat camera) from T_world_cam (OpenCV camera)."""
    return check_rigid(T_world_cam, "T_world_cam") @ T_GL_CV


def quat_wxyz_to_xyzw(quat_wxyz: np.ndarray) -> np.ndarray:
    """Reorder (w, x, y, z) -> (x, y, z, w)."""
    q = _quat(quat_wxyz, "quat_wxyz")
    return q[..., [1, 2, 3, 0]]


def quat_xyzw_to_wxyz(quat_xyzw: np.ndarray) -> np.ndarray:
    """Reorder (x, y, z, w) -> (w, x, y, z)."""
    q = _quat(quat_xyzw, "quat_xyzw")
    return q[..., [3, 0, 1, 2]]


def rotation_from_quat_xyzw(quat_xyzw: np.ndarray) -> np.ndarray:
    """3x3 rotation of a (normalised here) quaternion in (x, y, z, w) order."""
    x, y, z, w = _quat(quat_xyzw, "quat_xyzw") / np.linalg.norm(quat_xyzw)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_from_quat_wxyz(quat_wxyz: np.ndarray) -> np.ndarray:
    """3x3 rotation of a quaternion in (w, x, y, z) order."""
    return rotation_from_quat_xyzw(quat_wxyz_to_xyzw(quat_wxyz))


def quat_xyzw_from_rotation(R: np.ndarray) -> np.ndarray:  # noqa: N803
    """Unit quaternion (x, y, z, w) with w >= 0 of a 3x3 rotation (Shepperd's method)."""
    R = np.asarray(R, dtype=np.float64)
    trace = np.trace(R)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def quat_wxyz_from_rotation(R: np.ndarray) -> np.ndarray:  # noqa: N803
    """Unit quaternion (w, x, y, z) of a 3x3 rotation."""
    return quat_xyzw_to_wxyz(quat_xyzw_from_rotation(R))


def pose_from_position_quat_xyzw(position: np.ndarray, quat_xyzw: np.ndarray) -> np.ndarray:
    """4x4 T_parent_child from a translation and an (x, y, z, w) rotation (ROS Pose)."""
    T = np.eye(4)
    T[:3, :3] = rotation_from_quat_xyzw(quat_xyzw)
    T[:3, 3] = np.asarray(position, dtype=np.float64).reshape(3)
    return T


def pose_from_position_quat_wxyz(position: np.ndarray, quat_wxyz: np.ndarray) -> np.ndarray:
    """4x4 T_parent_child from a translation and a (w, x, y, z) rotation (Habitat state)."""
    return pose_from_position_quat_xyzw(position, quat_wxyz_to_xyzw(quat_wxyz))


def invert_pose(T_a_b: np.ndarray) -> np.ndarray:  # noqa: N803
    """T_b_a of a rigid T_a_b (transpose rotation, no general matrix inverse)."""
    T = check_rigid(T_a_b, "pose")
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


def optical_pitch_deg(T_world_cam: np.ndarray) -> float:  # noqa: N803
    """Elevation of an optical frame's viewing axis (+z) above a z-up world's horizontal plane, degrees
    (negative looks down): what a policy trained with one camera pitch compares a robot's camera against."""
    forward_z = check_rigid(T_world_cam, "T_world_cam")[2, 2]
    return float(np.degrees(np.arcsin(np.clip(forward_z, -1.0, 1.0))))


def check_rigid(T: np.ndarray, name: str = "pose", atol: float = RIGID_ATOL) -> np.ndarray:
    """Return T as float64 if it is a finite 4x4 rigid transform, else raise one clear error."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise SegpilotError(f"{name} must be a 4x4 matrix, got shape {T.shape}")
    if not np.isfinite(T).all():
        raise SegpilotError(f"{name} must be finite (NaN/inf found)")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=atol):
        raise SegpilotError(f"{name} last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    err = np.abs(R.T @ R - np.eye(3)).max()
    if err > atol or np.linalg.det(R) < 0:
        raise SegpilotError(f"{name} rotation must be orthonormal with det +1 (rigid, no scale/shear); error {err:.2e}")
    return T


def sanitize_pose(T: np.ndarray, source: str) -> tuple[np.ndarray | None, str]:
    """A readable camera pose as a rigid float64 4x4, or None; the second value says what was done.

    "ok": rigid within `RIGID_ATOL`; "projected": nearly orthonormal (error <= `PROJECT_ATOL`), rotation
    replaced by its nearest rotation (SVD); "skipped: <why>": not finite, wrong shape or last row, or
    further from a rotation. Readers count the outcomes and warn once per scan, naming a file."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        return None, f"skipped: {source} is not a 4x4 matrix (shape {T.shape})"
    if not np.isfinite(T).all():
        return None, f"skipped: {source} is not finite (lost tracking)"
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=RIGID_ATOL):
        return None, f"skipped: {source} last row is {T[3].tolist()}, not [0, 0, 0, 1]"
    R = T[:3, :3]
    err = float(np.abs(R.T @ R - np.eye(3)).max())
    if err <= RIGID_ATOL and np.linalg.det(R) > 0:
        return T, "ok"
    if err > PROJECT_ATOL or np.linalg.det(R) <= 0:
        return None, f"skipped: {source} rotation error {err:.2e} (> {PROJECT_ATOL}) or a reflection"
    u, _, vt = np.linalg.svd(R)
    out = T.copy()
    out[:3, :3] = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    out[3] = [0.0, 0.0, 0.0, 1.0]
    return out, f"projected: {source} rotation error {err:.2e} projected onto SO(3)"


def _quat(q: np.ndarray, name: str) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != 4 or not np.isfinite(q).all() or np.linalg.norm(q, axis=-1).min() < 1e-9:
        raise SegpilotError(f"{name} must be 4 finite numbers with non-zero norm, got {q.tolist()}")
    return q
