"""What every scan reader shares: frame records, one pose check, one depth check, colour to depth size.

A reader lists its frames as `FrameRecord`s (how to load colour and raw depth, the raw
camera-to-world pose, a stamp) and hands them to `RecordSource`, which gives the scene interface
the pipeline reads (`scene_id`, `valid_frame_ids()`, `frame(i)`, `frames(ids)`) - reading files
only when a frame is asked for, never copying the data. Every reader therefore applies the same
rules: poses through `geometry.conventions.sanitize_pose` (nearly-orthonormal rotations projected,
broken ones skipped, one warning per scan naming a file), depth through
`geometry.depth.depth_to_metres` (markers, far cut, implausible-scale warning), colour resized to
the depth image, intrinsics scaled to the depth image or replaced by `--intrinsics`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import sanitize_pose
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M, depth_to_metres
from segpilot.geometry.frame import Frame

log = logging.getLogger(__name__)

PoseLike = np.ndarray | Callable[[], np.ndarray] | None


@dataclass(frozen=True)
class FrameRecord:
    """One frame of a scan, not yet read."""

    name: str
    """File (or stream position) named in messages."""
    load_rgb: Callable[[], np.ndarray]
    """Returns (H, W, 3) uint8 RGB."""
    load_depth: Callable[[], np.ndarray]
    """Returns the raw depth image (integers in the format's units, or float metres)."""
    pose: PoseLike
    """Raw 4x4 camera-to-world (OpenCV camera axes), a function reading it, or None (no pose)."""
    stamp: float = 0.0
    pose_source: str = ""
    """Where the pose comes from, for messages (default: `name`)."""


def read_image(path: Path) -> np.ndarray:
    """Pixels of an image file as numpy (RGB for colour images); one line for a missing or corrupt file."""
    try:
        with Image.open(path) as im:
            if im.mode in ("RGBA", "P", "L", "CMYK", "YCbCr", "LA", "RGB"):
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
            return np.asarray(im)
    except FileNotFoundError:
        raise SegpilotError(f"missing image {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SegpilotError(f"{path} is not a readable image ({exc})") from None


def read_depth_image(path: Path) -> np.ndarray:
    """Raw single-channel depth (16-bit PNG / PGM) without any colour conversion."""
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except FileNotFoundError:
        raise SegpilotError(f"missing depth image {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SegpilotError(f"{path} is not a readable depth image ({exc})") from None


def read_matrix_file(path: Path, rows: int = 4) -> np.ndarray:
    """A whitespace matrix text file (rows x 4, or 3x3 for intrinsics)."""
    if not path.exists():
        raise SegpilotError(f"missing matrix file {path}")
    try:
        M = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise SegpilotError(f"{path} must hold a matrix of numbers: {exc}") from None
    return M


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    """`--intrinsics fx,fy,cx,cy` (pixels of the depth image)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or values[0] <= 0 or values[1] <= 0:
        raise SegpilotError(f"--intrinsics must be fx,fy,cx,cy in pixels with fx, fy > 0, got {text!r}")
    return values  # type: ignore[return-value]


class RecordSource:
    """The scene interface over a list of frame records (see the module docstring)."""

    format = "frames"

    def __init__(
        self,
        root: Path,
        records: dict[int, FrameRecord],
        camera: PinholeCamera,
        units_per_m: float | None,
        intrinsics: tuple[float, float, float, float] | None = None,
        max_depth_m: float = DEFAULT_MAX_DEPTH_M,
        scene_id: str | None = None,
    ):
        if not records:
            raise SegpilotError(f"{root}: no frames found for the {self.format} format")
        self.root, self.records, self.units_per_m, self.max_depth_m = Path(root), records, units_per_m, max_depth_m
        self.scene_id = scene_id or self.root.name
        self.frame_ids = sorted(records)
        self.camera = camera
        self.intrinsics = intrinsics
        self._poses: dict[int, np.ndarray | None] | None = None
        self._warned: set[str] = set()

    def _check_poses(self) -> dict[int, np.ndarray | None]:
        if self._poses is None:
            poses, outcomes, first = {}, Counter(), {}
            for i in self.frame_ids:
                raw = self.records[i].pose
                raw = raw() if callable(raw) else raw
                where = self.records[i].pose_source or self.records[i].name
                T, what = (None, f"skipped: {where} has no pose") if raw is None else sanitize_pose(raw, where)
                kind = what.split(":")[0]
                outcomes[kind] += 1
                first.setdefault(kind, what)
                poses[i] = T
            for kind in ("projected", "skipped"):
                if outcomes[kind]:
                    log.warning("%s: %d of %d poses %s (first: %s)", self.scene_id, outcomes[kind],
                                len(self.frame_ids), kind, first[kind].split(": ", 1)[1])  # fmt: skip
            self.pose_outcomes = dict(outcomes)
            self._poses = poses
        return self._poses

    def pose(self, frame_id: int) -> np.ndarray | None:
        """Checked T_world_cam of a frame, or None when it has no usable pose."""
        return self._check_poses()[frame_id]

    def valid_frame_ids(self) -> list[int]:
        """Frame ids with a usable pose (the others are reported once as a warning)."""
        poses = self._check_poses()
        return [i for i in self.frame_ids if poses[i] is not None]

    depth_only_frames = True
    """`frames(..., rgb=False)` skips the colour images (view selection reads depth and poses only)."""

    def frame(self, frame_id: int, rgb: bool = True) -> Frame:
        """Load one frame: depth in metres (checked), colour resized to the depth image; without `rgb`, a black
        placeholder instead of the colour image (no file read: for view selection, which reads depth only)."""
        if frame_id not in self.records:
            raise SegpilotError(f"{self.scene_id} has no frame {frame_id}")
        rec = self.records[frame_id]
        T = self.pose(frame_id)
        if T is None:
            raise SegpilotError(f"frame {rec.name} of {self.scene_id} has no usable pose")
        depth = depth_to_metres(rec.load_depth(), self.units_per_m, self.max_depth_m, rec.name, scope=str(self.root))
        h, w = depth.shape
        if not rgb:
            colour = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3))
        else:
            colour = rec.load_rgb()
            if colour.ndim != 3 or colour.shape[2] != 3:
                raise SegpilotError(f"{rec.name}: colour must be (H, W, 3), got {colour.shape}")
            if colour.shape[:2] != (h, w):
                colour = np.asarray(Image.fromarray(colour).resize((w, h), Image.BILINEAR), dtype=np.uint8)
        if not np.any(depth > 0):
            self._warn_once("no_depth", f"{self.scene_id}: frame {rec.name} has no valid depth (all 0 / invalid / "
                                        f"beyond {self.max_depth_m:g} m); it adds no 3D positions")  # fmt: skip
        return Frame(colour, depth, self.camera_for(w, h), T, stamp=rec.stamp, frame_id=f"{self.scene_id}/{rec.name}")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def camera_for(self, width: int, height: int) -> PinholeCamera:
        """Intrinsics of a depth image of this size (`--intrinsics` wins; else the format's, scaled)."""
        if self.intrinsics is not None:
            return PinholeCamera(*self.intrinsics, width, height)
        cam = self.camera
        if (cam.width, cam.height) == (width, height):
            return cam
        self._warn_once("scaled", f"{self.scene_id}: intrinsics are for {cam.width}x{cam.height} but depth is "
                                  f"{width}x{height}; scaled to the depth image (give --intrinsics if that is wrong)")
        return cam.scaled(width, height)

    def frames(self, ids: Iterable[int] | None = None, rgb: bool = True) -> list[Frame]:
        """Frames for `ids` (default: every frame with a usable pose); `rgb` False: see `frame`."""
        return [self.frame(i, rgb) for i in (self.valid_frame_ids() if ids is None else ids)]
