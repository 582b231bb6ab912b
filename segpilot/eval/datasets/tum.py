"""TUM RGB-D sequences (`rgbd_dataset_freiburgN_*`), read in place.

Layout (vision.in.tum.de/data/datasets/rgbd-dataset/file_formats): `rgb.txt` and `depth.txt` list
`timestamp filename` lines (`#` comments); `groundtruth.txt` lists `timestamp tx ty tz qx qy qz qw`,
the colour camera's optical centre in the world (camera-to-world, optical axes x right, y down,
z forward). Depth PNGs are uint16 with 5000 units per metre, 0 = invalid. Frames are associated the
way TUM's `associate.py` does: every depth image takes the nearest colour image and the nearest
ground-truth pose, each within `max_dt_s` (0.02 s); depth images without both are left out.

No intrinsics file ships with the data: the published calibrations are the defaults, chosen by the
sequence name (freiburg1/2/3) or `camera`; `--intrinsics` overrides them.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.frames import FrameRecord, RecordSource, read_depth_image, read_image
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import pose_from_position_quat_xyzw
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M

TUM_CAMERAS = {
    "fr1": (517.3, 516.5, 318.6, 255.3),
    "fr2": (520.9, 521.0, 325.1, 249.7),
    "fr3": (535.4, 539.2, 320.1, 247.6),
    "default": (525.0, 525.0, 319.5, 239.5),
}
"""Published TUM RGB-D colour-camera intrinsics at 640x480 (fx, fy, cx, cy)."""
DEPTH_UNITS_PER_M = 5000.0


def tum_camera_name(root: Path) -> str:
    """fr1 / fr2 / fr3 from a sequence folder name (`..._freiburg2_...`), else default."""
    name = root.resolve().name.lower()
    for k in ("1", "2", "3"):
        if f"freiburg{k}" in name or f"fr{k}_" in name:
            return f"fr{k}"
    return "default"


def _list(path: Path) -> list[tuple[float, list[str]]]:
    if not path.exists():
        raise SegpilotError(f"TUM sequence file missing: {path}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            rows.append((float(parts[0]), parts[1:]))
        except (ValueError, IndexError):
            raise SegpilotError(f"{path}:{n}: expected 'timestamp ...', got {line!r}") from None
    return sorted(rows, key=lambda r: r[0])


def _nearest(stamps: list[float], t: float, max_dt: float) -> int | None:
    i = bisect.bisect_left(stamps, t)
    best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)), key=lambda j: abs(stamps[j] - t), default=None)
    return best if best is not None and abs(stamps[best] - t) <= max_dt else None


class TUMScene(RecordSource):
    """Associated colour, depth and ground-truth frames of one TUM RGB-D sequence folder."""

    format = "tum"

    def __init__(self, root: str | Path, intrinsics=None, max_depth_m: float = DEFAULT_MAX_DEPTH_M,
                 camera: str | None = None, max_dt_s: float = 0.02):  # fmt: skip
        root = Path(root)
        camera = camera or tum_camera_name(root)
        if camera not in TUM_CAMERAS:
            raise SegpilotError(f"TUM camera must be one of {', '.join(TUM_CAMERAS)}, got {camera!r}")
        rgb, depth, gt = _list(root / "rgb.txt"), _list(root / "depth.txt"), _list(root / "groundtruth.txt")
        rgb_t, gt_t = [r[0] for r in rgb], [g[0] for g in gt]
        records, self.unmatched = {}, 0
        for t, (name, *_) in depth:
            i, j = _nearest(rgb_t, t, max_dt_s), _nearest(gt_t, t, max_dt_s)
            if i is None or j is None:
                self.unmatched += 1
                continue
            values = [float(v) for v in gt[j][1][:7]]
            if len(values) != 7:
                raise SegpilotError(f"{root / 'groundtruth.txt'}: expected 'timestamp tx ty tz qx qy qz qw'")
            T = pose_from_position_quat_xyzw(np.array(values[:3]), np.array(values[3:]))
            records[len(records)] = FrameRecord(name, lambda c=root / rgb[i][1][0]: read_image(c),
                                                lambda d=root / name: read_depth_image(d), T, t)  # fmt: skip
        self.camera_name = camera
        super().__init__(root, records, PinholeCamera(*TUM_CAMERAS[camera], 640, 480), DEPTH_UNITS_PER_M,
                         intrinsics, max_depth_m)  # fmt: skip
