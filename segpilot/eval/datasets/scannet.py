"""ScanNet export layout (what ScanNet's SensReader writes), read and written.

    <scene>/color/<i>.jpg        colour, any size (resized to the depth size on read)
    <scene>/depth/<i>.png        uint16 depth in millimetres, 0 = invalid
    <scene>/pose/<i>.txt         4x4 camera-to-world (OpenCV camera axes), may be -inf/NaN
    <scene>/intrinsic/intrinsic_depth.txt, intrinsic_color.txt   4x4 intrinsics
    <scene>/intrinsic/extrinsic_depth.txt, extrinsic_color.txt   4x4 (identity here)

Frames whose pose is not finite (ScanNet marks lost tracking with -inf) are skipped with a
warning: unprojecting them would put tokens at infinity.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import check_rigid
from segpilot.geometry.frame import Frame

log = logging.getLogger(__name__)
DEPTH_SCALE = 1000.0  # ScanNet depth PNG units per metre (millimetres)


class ScanNetScene:
    """Lazy reader of one scene folder in ScanNet export layout."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SegpilotError(f"scene folder not found: {self.root}")
        for sub in ("color", "depth", "pose", "intrinsic"):
            if not (self.root / sub).is_dir():
                raise SegpilotError(f"{self.root} is not a ScanNet-layout scene: missing {sub}/ folder")
        self.scene_id = self.root.name
        ids = []
        for p in (self.root / "depth").glob("*.png"):
            if not p.stem.isdigit():
                raise SegpilotError(f"depth file name must be <frame number>.png, got {p.name}")
            ids.append(int(p.stem))
        if not ids:
            raise SegpilotError(f"{self.root / 'depth'} holds no <i>.png depth frames")
        self.frame_ids = sorted(ids)
        K = _read_matrix(self.root / "intrinsic" / "intrinsic_depth.txt", 4)
        with Image.open(self.root / "depth" / f"{self.frame_ids[0]}.png") as im:
            width, height = im.size
        self.camera = PinholeCamera.from_K(K, width, height)

    def pose(self, frame_id: int) -> np.ndarray | None:
        """T_world_cam of a frame, or None when the file holds a non-finite pose."""
        T = _read_matrix(self.root / "pose" / f"{frame_id}.txt", 4)
        if not np.isfinite(T).all():
            return None
        return check_rigid(T, f"pose of frame {frame_id} in {self.root}", atol=1e-3)

    def valid_frame_ids(self) -> list[int]:
        """Frame ids with a finite pose; the others are reported once as a warning."""
        ok = [i for i in self.frame_ids if self.pose(i) is not None]
        skipped = len(self.frame_ids) - len(ok)
        if skipped:
            log.warning(
                "%s: skipped %d of %d frames with invalid (inf/NaN) poses", self.scene_id, skipped, len(self.frame_ids)
            )
        return ok

    def frame(self, frame_id: int) -> Frame:
        """Load one frame (colour resized to the depth resolution, depth in metres)."""
        T = self.pose(frame_id)
        if T is None:
            raise SegpilotError(f"frame {frame_id} of {self.scene_id} has an invalid (inf/NaN) pose")
        depth_path = self.root / "depth" / f"{frame_id}.png"
        with Image.open(depth_path) as im:
            depth_mm = np.asarray(im)
        if depth_mm.dtype != np.uint16 and depth_mm.dtype != np.int32:
            raise SegpilotError(f"{depth_path} must be a 16-bit PNG in millimetres, got {depth_mm.dtype}")
        color_path = self.root / "color" / f"{frame_id}.jpg"
        if not color_path.exists():
            raise SegpilotError(f"missing colour image {color_path}")
        with Image.open(color_path) as im:
            im = im.convert("RGB")
            if im.size != (self.camera.width, self.camera.height):
                im = im.resize((self.camera.width, self.camera.height), Image.BILINEAR)
            rgb = np.asarray(im, dtype=np.uint8)
        depth = depth_mm.astype(np.float32) / DEPTH_SCALE
        return Frame(rgb, depth, self.camera, T, stamp=float(frame_id), frame_id=f"{self.scene_id}/{frame_id}")

    def frames(self, ids: Iterable[int] | None = None) -> list[Frame]:
        """Frames for `ids` (default: every frame with a valid pose)."""
        return [self.frame(i) for i in (self.valid_frame_ids() if ids is None else ids)]


def write_scene(root: str | Path, frames: Sequence[Frame], jpeg_quality: int = 95) -> Path:
    """Write frames in ScanNet export layout (numbered 0..n-1); returns the scene folder."""
    root = Path(root)
    if not frames:
        raise SegpilotError("write_scene needs at least one frame")
    cam = frames[0].camera
    for sub in ("color", "depth", "pose", "intrinsic"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    K4 = np.eye(4)
    K4[:3, :3] = cam.K
    for name in ("intrinsic_depth", "intrinsic_color"):
        np.savetxt(root / "intrinsic" / f"{name}.txt", K4, fmt="%.6f")
    for name in ("extrinsic_depth", "extrinsic_color"):
        np.savetxt(root / "intrinsic" / f"{name}.txt", np.eye(4), fmt="%.6f")
    for i, f in enumerate(frames):
        if f.camera != cam:
            raise SegpilotError("write_scene: all frames must share one camera (ScanNet stores one intrinsic)")
        Image.fromarray(f.rgb).save(root / "color" / f"{i}.jpg", quality=jpeg_quality)
        depth = np.where(f.valid_depth, f.depth, 0.0)
        mm = np.clip(np.round(depth * DEPTH_SCALE), 0, 65535).astype(np.uint16)
        Image.fromarray(mm).save(root / "depth" / f"{i}.png")
        np.savetxt(root / "pose" / f"{i}.txt", f.T_world_cam, fmt="%.8f")
    return root


def _read_matrix(path: Path, size: int) -> np.ndarray:
    if not path.exists():
        raise SegpilotError(f"missing matrix file {path}")
    try:
        M = np.loadtxt(path, dtype=np.float64)
    except ValueError as exc:
        raise SegpilotError(f"{path} must hold a {size}x{size} matrix of numbers: {exc}") from None
    if M.shape != (size, size):
        raise SegpilotError(f"{path} must hold a {size}x{size} matrix, got shape {M.shape}")
    return M
