"""Redwood / Open3D RGB-D folders (Open3D's `examples/test_data/RGBD` layout, Redwood scans), read in place.

    color/*.jpg|png         colour images
    depth/*.png             uint16 depth, millimetres (0 = invalid)
    <name>.json             Open3D PinholeCameraIntrinsic JSON: width, height, intrinsic_matrix
                            (9 numbers, column-major as Open3D writes them)
    trajectory.log          Redwood .log: per frame a line `id id n` then 4 lines of the 4x4
                            camera-to-world pose (OpenCV camera axes); the first id is the frame index
    rgbd.match (optional)   `depth/XXXXX.png color/XXXXX.jpg` pairs; else sorted file lists pair up

`odometry.log` holds relative poses for odometry tests, not a trajectory: it is not read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.frames import FrameRecord, RecordSource, read_depth_image, read_image
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M

TRAJECTORY_NAMES = ("trajectory.log", "camera_trajectory.log")


def read_log(path: Path) -> dict[int, np.ndarray]:
    """Frame index -> 4x4 pose of a Redwood .log file."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if len(rows) % 5:
        raise SegpilotError(f"{path}: a .log has 5 lines per frame (ids, then 4x4), got {len(rows)} lines")
    poses = {}
    try:
        for k in range(0, len(rows), 5):
            poses[int(rows[k][0])] = np.array(rows[k + 1 : k + 5], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise SegpilotError(f"{path}: malformed .log entry near line {k + 1} ({exc})") from None
    return poses


def read_open3d_intrinsic(path: Path) -> PinholeCamera:
    """Open3D PinholeCameraIntrinsic JSON (column-major intrinsic_matrix)."""
    try:
        data = json.loads(path.read_text())
        K = np.array(data["intrinsic_matrix"], dtype=np.float64).reshape(3, 3).T
        return PinholeCamera.from_K(K, int(data["width"]), int(data["height"]))
    except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        raise SegpilotError(f"{path}: expected an Open3D intrinsic JSON (width, height, intrinsic_matrix) "
                            f"({exc})") from None  # fmt: skip


def intrinsic_json(root: Path) -> Path | None:
    """The Open3D intrinsic JSON of a folder (a *.json with an intrinsic_matrix)."""
    for p in sorted(root.glob("*.json")):
        try:
            if "intrinsic_matrix" in json.loads(p.read_text()):
                return p
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
    return None


class RedwoodScene(RecordSource):
    """Frames of a Redwood / Open3D folder."""

    format = "redwood"

    def __init__(self, root: str | Path, intrinsics=None, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
        root = Path(root)
        log = next((root / n for n in TRAJECTORY_NAMES if (root / n).exists()), None)
        if log is None:
            raise SegpilotError(f"{root}: no trajectory.log (Redwood camera-to-world poses)")
        poses = read_log(log)
        pairs = self._pairs(root)
        json_path = intrinsic_json(root)
        if json_path is None and intrinsics is None:
            raise SegpilotError(f"{root}: no Open3D intrinsic JSON; give --intrinsics fx,fy,cx,cy")
        camera = read_open3d_intrinsic(json_path) if json_path else PinholeCamera(*intrinsics, 640, 480)
        records = {
            i: FrameRecord(depth.name, lambda c=colour: read_image(c), lambda d=depth: read_depth_image(d),
                           poses.get(i), float(i))
            for i, (depth, colour) in enumerate(pairs)
        }  # fmt: skip
        super().__init__(root, records, camera, 1000.0, intrinsics, max_depth_m)

    @staticmethod
    def _pairs(root: Path) -> list[tuple[Path, Path]]:
        match = root / "rgbd.match"
        if match.exists():
            pairs = []
            for line in match.read_text().splitlines():
                parts = line.split()
                if len(parts) < 2:
                    continue
                a, b = (root / parts[0]), (root / parts[-1] if len(parts) == 2 else root / parts[2])
                pairs.append((a, b) if "depth" in parts[0] else (b, a))
            return pairs
        depth = sorted((root / "depth").glob("*.png"))
        colour = sorted([*(root / "color").glob("*.jpg"), *(root / "color").glob("*.png")])
        if not depth or len(depth) != len(colour):
            raise SegpilotError(f"{root}: expected as many color/ as depth/ images (or rgbd.match), "
                                f"got {len(colour)} and {len(depth)}")  # fmt: skip
        return list(zip(depth, colour, strict=True))
