"""Open any RGB-D scan a user brings: the format is detected from what a path holds, or named.

| format     | what the path is                                                      |
|------------|------------------------------------------------------------------------|
| scannet    | ScanNet export layout: color/ depth/ pose/ intrinsic/                  |
| sens       | a ScanNet `.sens` file (or a folder holding exactly one)               |
| sensreader | ScanNet C++ SensReader export: frame-XXXXXX.{color.jpg,depth.pgm,pose.txt} + _info.txt |
| 7scenes    | Microsoft 7-Scenes sequence: frame-XXXXXX.{color.png,depth.png,pose.txt} |
| tum        | TUM RGB-D sequence: rgb.txt, depth.txt, groundtruth.txt                |
| redwood    | Redwood / Open3D: color/ depth/ trajectory.log + intrinsic JSON        |
| openeqa    | an OpenEQA extracted episode folder: NNNNNN-rgb.png, -depth.png, .txt  |

Every reader returns the same scene interface (`frames.RecordSource`), so `segpilot prune | ask |
eval` read them all without a conversion step; `convert` writes the ScanNet layout for tools that
need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.frames import RecordSource, parse_intrinsics
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M

Format = Literal["scannet", "sens", "sensreader", "7scenes", "tum", "redwood", "openeqa"]
FORMATS = get_args(Format)


@dataclass(frozen=True)
class ScanConfig:
    """How a scan on disk is read (one field = one CLI flag of prune / ask / eval / convert)."""

    format: Literal[Format, ""] = ""
    """Scan format: scannet, sens, sensreader, 7scenes, tum, redwood or openeqa (empty: detected from the path)."""
    intrinsics: str = ""
    """fx,fy,cx,cy in pixels of the depth image, overriding the format's intrinsics (empty: the format's)."""
    max_depth_m: float = DEFAULT_MAX_DEPTH_M
    """Depth beyond this many metres is treated as invalid."""
    tum_camera: Literal["", "fr1", "fr2", "fr3", "default"] = ""
    """TUM RGB-D camera: fr1, fr2, fr3 or default (empty: from the sequence name)."""

    def __post_init__(self) -> None:
        if self.format and self.format not in FORMATS:
            raise SegpilotError(f"unknown scan format {self.format!r}; expected one of {', '.join(FORMATS)}")
        if self.intrinsics:
            parse_intrinsics(self.intrinsics)
        if not self.max_depth_m > 0:
            raise SegpilotError(f"--max-depth-m must be > 0, got {self.max_depth_m}")

    def open(self, path: str | Path) -> RecordSource:
        return open_scene(path, self.format or None, self.intrinsics or None, self.max_depth_m,
                          self.tum_camera or None)  # fmt: skip


def scene_path(root: str | Path, scene_id: str) -> Path:
    """Where scene `scene_id` lies under a dataset root: `<root>/<id>` (any format) or `<root>/<id>.sens`.

    Scene ids are names, never paths: `..`, separators and absolute ids are refused."""
    if not scene_id or scene_id in (".", "..") or "/" in scene_id or "\\" in scene_id or Path(scene_id).is_absolute():
        raise SegpilotError(f"scene id {scene_id!r} must be a plain name (no path separators or '..')")
    root = Path(root)
    sens = root / f"{scene_id}.sens"
    return sens if not (root / scene_id).exists() and sens.is_file() else root / scene_id


def detect_format(path: str | Path) -> str:
    """The format of a scan path; one line listing what was looked for when none matches."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".sens":
            return "sens"
        raise SegpilotError(f"{path} is a file but not a .sens stream; expected a scan folder or a .sens file")
    if not path.is_dir():
        raise SegpilotError(f"scan not found: {path}")
    if all((path / d).is_dir() for d in ("color", "depth", "pose", "intrinsic")):
        return "scannet"
    if len(list(path.glob("*.sens"))) == 1:
        return "sens"
    if next(path.glob("frame-*.pose.txt"), None) is not None:
        return "sensreader" if (path / "_info.txt").exists() else "7scenes"
    if (path / "rgb.txt").exists() and (path / "depth.txt").exists():
        return "tum"
    if (path / "depth").is_dir() and any((path / n).exists() for n in ("trajectory.log", "camera_trajectory.log")):
        return "redwood"
    if next(path.glob("*-rgb.png"), None) is not None:
        return "openeqa"
    raise SegpilotError(
        f"{path}: no known RGB-D scan format (looked for ScanNet color/depth/pose/intrinsic, a .sens file, "
        "frame-XXXXXX.pose.txt, TUM rgb.txt + depth.txt, Redwood trajectory.log, OpenEQA NNNNNN-rgb.png); "
        f"name one with --format ({', '.join(FORMATS)})"
    )


def open_scene(
    path: str | Path,
    format: str | None = None,  # noqa: A002 - the CLI flag's name
    intrinsics: str | tuple[float, float, float, float] | None = None,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
    tum_camera: str | None = None,
) -> RecordSource:
    """A reader for the scan at `path` (format detected unless named; `intrinsics` "fx,fy,cx,cy" overrides)."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise SegpilotError(f"unknown scan format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise SegpilotError(f"scan not found: {path}")
    if isinstance(intrinsics, str):
        intrinsics = parse_intrinsics(intrinsics)
    if tum_camera is not None and fmt != "tum":
        raise SegpilotError("--tum-camera applies to TUM RGB-D sequences only")
    kw = {"intrinsics": intrinsics, "max_depth_m": max_depth_m}
    if fmt == "scannet":
        from segpilot.eval.datasets.scannet import ScanNetScene

        return ScanNetScene(path, **kw)
    if fmt == "sens":
        from segpilot.eval.datasets.sens import SensScene

        if path.is_dir():
            found = sorted(path.glob("*.sens"))
            if len(found) != 1:
                raise SegpilotError(f"{path}: expected exactly one .sens file, found {len(found)}")
            path = found[0]
        return SensScene(path, **kw)
    if fmt in ("sensreader", "7scenes"):
        from segpilot.eval.datasets.sens import FrameFilesScene

        return FrameFilesScene(path, **kw)
    if fmt == "tum":
        from segpilot.eval.datasets.tum import TUMScene

        return TUMScene(path, camera=tum_camera, **kw)
    if fmt == "redwood":
        from segpilot.eval.datasets.redwood import RedwoodScene

        return RedwoodScene(path, **kw)
    from segpilot.eval.datasets.openeqa import OpenEQAEpisode

    return OpenEQAEpisode(path, "hm3d" if "hm3d" in str(path).lower() else "scannet", **kw)


def convert(src: str | Path, out: str | Path, **open_kw) -> tuple[Path, int]:
    """Write the frames of any scan with a usable pose in ScanNet export layout; returns (folder, frames)."""
    from segpilot.eval.datasets.scannet import write_scene

    scene = open_scene(src, **open_kw)
    ids = scene.valid_frame_ids()
    if not ids:
        raise SegpilotError(f"{src}: no frame has a usable pose; nothing to convert")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SegpilotError(f"{out} exists and is not empty; choose a new folder")
    written = write_scene(out, (scene.frame(i) for i in ids))  # one frame in memory at a time
    return written, len(ids)
