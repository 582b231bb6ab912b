"""ScanNet export layout (what ScanNet's SensReader writes), read and written.

    <scene>/color/<i>.jpg|png    colour, any size (resized to the depth size on read)
    <scene>/depth/<i>.png        uint16 depth in millimetres, 0 = invalid
    <scene>/pose/<i>.txt         4x4 camera-to-world (OpenCV camera axes), may be -inf/NaN
    <scene>/intrinsic/intrinsic_depth.txt, intrinsic_color.txt   4x4 (or 3x3) intrinsics
    <scene>/intrinsic/extrinsic_depth.txt, extrinsic_color.txt   4x4 (identity here)

Frames whose pose is not finite (ScanNet marks lost tracking with -inf) are skipped with one
warning per scan (`frames.RecordSource`): unprojecting them would put tokens at infinity.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.frames import FrameRecord, RecordSource, read_depth_image, read_image, read_matrix_file
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M
from segpilot.geometry.frame import Frame

DEPTH_SCALE = 1000.0  # ScanNet depth PNG units per metre (millimetres)


class ScanNetScene(RecordSource):
    """Lazy reader of one scene folder in ScanNet export layout.

    Accepts what exporters write besides SensReader's own output: 3x3 or 4x4 intrinsics, JPEG or PNG
    colour, and frame names that are not numbers (then frame ids are positions in name order)."""

    format = "scannet"

    def __init__(self, root: str | Path, intrinsics: tuple[float, float, float, float] | None = None,
                 max_depth_m: float = DEFAULT_MAX_DEPTH_M):  # fmt: skip
        root = Path(root)
        if not root.is_dir():
            raise SegpilotError(f"scene folder not found: {root}")
        for sub in ("color", "depth", "pose", "intrinsic"):
            if not (root / sub).is_dir():
                raise SegpilotError(f"{root} is not a ScanNet-layout scene: missing {sub}/ folder")
        stems = [p.stem for p in (root / "depth").glob("*.png")]
        if not stems:
            raise SegpilotError(f"{root / 'depth'} holds no <frame>.png depth frames")
        numeric = all(s.isdigit() for s in stems)
        stems.sort(key=int if numeric else str)
        records = {}
        for k, stem in enumerate(stems):
            colour = next((root / "color" / f"{stem}{ext}" for ext in (".jpg", ".png", ".jpeg")
                           if (root / "color" / f"{stem}{ext}").exists()), root / "color" / f"{stem}.jpg")  # fmt: skip
            records[int(stem) if numeric else k] = FrameRecord(
                f"{stem}", lambda c=colour: read_image(c), lambda d=root / "depth" / f"{stem}.png": read_depth_image(d),
                lambda p=root / "pose" / f"{stem}.txt": _pose_file(p), float(int(stem) if numeric else k),
                f"{root.name}/pose/{stem}.txt")  # fmt: skip
        K = _read_intrinsic(root / "intrinsic" / "intrinsic_depth.txt")
        h, w = read_depth_image(root / "depth" / f"{stems[0]}.png").shape[:2]
        super().__init__(root, records, PinholeCamera.from_K(K, w, h), DEPTH_SCALE, intrinsics, max_depth_m)


def _pose_file(path: Path) -> np.ndarray:
    if not path.exists():
        raise SegpilotError(f"missing pose file {path}")
    try:
        return np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise SegpilotError(f"{path} must hold a 4x4 matrix of numbers: {exc}") from None


def _read_intrinsic(path: Path) -> np.ndarray:
    K = read_matrix_file(path)
    if K.shape not in ((3, 3), (4, 4)):
        raise SegpilotError(f"{path} must hold a 3x3 or 4x4 intrinsic matrix, got shape {K.shape}")
    return K


def write_scene(root: str | Path, frames: Iterable[Frame], jpeg_quality: int = 95) -> Path:
    """Write frames in ScanNet export layout (numbered 0..n-1); returns the scene folder. `frames` may be a
    generator: a long scan is written one frame at a time, never held in memory."""
    root = Path(root)
    cam = None
    for i, f in enumerate(frames):
        if cam is None:
            cam = f.camera
            _write_intrinsics(root, cam)
        if f.camera != cam:
            raise SegpilotError("write_scene: all frames must share one camera (ScanNet stores one intrinsic)")
        Image.fromarray(f.rgb).save(root / "color" / f"{i}.jpg", quality=jpeg_quality)
        depth = np.where(f.valid_depth, f.depth, 0.0)
        mm = np.clip(np.round(depth * DEPTH_SCALE), 0, 65535).astype(np.uint16)
        Image.fromarray(mm).save(root / "depth" / f"{i}.png")
        np.savetxt(root / "pose" / f"{i}.txt", f.T_world_cam, fmt="%.8f")
    if cam is None:
        raise SegpilotError("write_scene needs at least one frame")
    return root


def _write_intrinsics(root: Path, cam: PinholeCamera) -> None:
    for sub in ("color", "depth", "pose", "intrinsic"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    K4 = np.eye(4)
    K4[:3, :3] = cam.K
    for name in ("intrinsic_depth", "intrinsic_color"):
        np.savetxt(root / "intrinsic" / f"{name}.txt", K4, fmt="%.6f")
    for name in ("extrinsic_depth", "extrinsic_color"):
        np.savetxt(root / "intrinsic" / f"{name}.txt", np.eye(4), fmt="%.6f")
