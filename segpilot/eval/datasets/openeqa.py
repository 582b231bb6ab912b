"""OpenEQA (`open-eqa-v0.json`) questions and their extracted episode frames.

Items: question, answer, category, question_id, episode_history (e.g.
"scannet-v0/002-scannet-scene0709_00" or "hm3d-v0/000-hm3d-BFRyYbPCCPE"). OpenEQA's
extraction scripts write one flat folder per episode under `<frames>/<episode_history>/`:
- ScanNet: `NNNNNN-rgb.png`, `NNNNNN-depth.png` (uint16 millimetres), `NNNNNN.txt`
  (4x4 camera-to-world, OpenCV camera axes), `intrinsic_depth.txt` / `intrinsic_color.txt`;
- HM3D: `NNNNN-rgb.png`, `NNNNN-depth.png` (uint16, depth_m / 10 * 65535), `NNNNN.txt`
  (habitat sensor node transformation: OpenGL camera axes, converted here), intrinsics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.errors import SegpilotError
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import opengl_to_opencv_pose
from segpilot.geometry.frame import Frame
from segpilot.jsonio import read_json

DEPTH_UNITS_PER_M = {"scannet": 1000.0, "hm3d": 65535.0 / 10.0}
_STEM = re.compile(r"^(\d+)-rgb\.png$")


@dataclass(frozen=True)
class OpenEQAItem:
    question_id: str
    question: str
    answer: str
    category: str
    episode_history: str

    @property
    def source(self) -> str:
        return "hm3d" if "hm3d" in self.episode_history.split("/")[0] else "scannet"


def load_openeqa(path: str | Path) -> list[OpenEQAItem]:
    path = Path(path)
    data = read_json(path, "OpenEQA file")
    if not isinstance(data, list):
        raise SegpilotError(f"{path} must hold a JSON list of questions")
    items = []
    for i, raw in enumerate(data):
        missing = [k for k in ("question_id", "question", "answer", "episode_history") if k not in raw]
        if missing:
            raise SegpilotError(f"{path}: item {i} lacks {', '.join(missing)}")
        items.append(OpenEQAItem(str(raw["question_id"]), str(raw["question"]), str(raw["answer"]),
                                 str(raw.get("category", "")), str(raw["episode_history"])))  # fmt: skip
    return items


class OpenEQAEpisode:
    """Frames of one extracted episode folder (see the module docstring for the layout)."""

    def __init__(self, folder: str | Path, source: str):
        self.folder = Path(folder)
        if source not in DEPTH_UNITS_PER_M:
            raise SegpilotError(f"OpenEQA source must be scannet or hm3d, got {source!r}")
        if not self.folder.is_dir():
            raise SegpilotError(f"episode frames not found: {self.folder}")
        self.source = source
        self.stems = sorted(m.group(1) for p in self.folder.iterdir() if (m := _STEM.match(p.name)))
        if not self.stems:
            raise SegpilotError(f"{self.folder} holds no NNNNNN-rgb.png frames")
        intr = self.folder / "intrinsic_depth.txt"
        if not intr.exists():
            intr = self.folder / "intrinsic_color.txt"
        if not intr.exists():
            raise SegpilotError(f"{self.folder} has no intrinsic_depth.txt or intrinsic_color.txt")
        self._K = np.loadtxt(intr)

    def frame(self, stem: str) -> Frame:
        depth_path = self.folder / f"{stem}-depth.png"
        pose_path = self.folder / f"{stem}.txt"
        if not depth_path.exists() or not pose_path.exists():
            raise SegpilotError(f"{self.folder}: frame {stem} needs {stem}-depth.png and {stem}.txt (not --rgb-only)")
        with Image.open(depth_path) as im:
            depth = np.asarray(im).astype(np.float32) / DEPTH_UNITS_PER_M[self.source]
        h, w = depth.shape
        with Image.open(self.folder / f"{stem}-rgb.png") as im:
            im = im.convert("RGB")
            rgb = np.asarray(im.resize((w, h), Image.BILINEAR) if im.size != (w, h) else im, dtype=np.uint8)
        T = np.loadtxt(pose_path)
        if self.source == "hm3d":
            T = opengl_to_opencv_pose(T)
        return Frame(rgb, depth, PinholeCamera.from_K(self._K, w, h), T, stamp=float(int(stem)), frame_id=stem)

    # The scene interface of `ScanNetScene`, so the QA pipeline reads episodes the same way.
    @property
    def root(self) -> Path:
        return self.folder

    @property
    def scene_id(self) -> str:
        return self.folder.name

    def valid_frame_ids(self) -> list[int]:
        """Frame numbers whose pose file holds a finite matrix."""
        ok = []
        for stem in self.stems:
            pose = self.folder / f"{stem}.txt"
            if pose.exists() and np.isfinite(np.loadtxt(pose)).all():
                ok.append(int(stem))
        return ok

    def frames(self, ids) -> list[Frame]:
        width = len(self.stems[0])
        return [self.frame(str(i).zfill(width)) for i in ids]
