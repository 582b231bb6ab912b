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

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.frames import FrameRecord, RecordSource, read_depth_image, read_image, read_matrix_file
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import T_GL_CV
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M
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
    extra_answers: tuple[str, ...] = ()
    """Other accepted answers (263 items of open-eqa-v0.json carry them)."""

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
        if not isinstance(raw, dict):
            raise SegpilotError(f"{path}: item {i} must be an object, got {type(raw).__name__}")
        missing = [k for k in ("question_id", "question", "answer", "episode_history") if k not in raw]
        if missing:
            raise SegpilotError(f"{path}: item {i} lacks {', '.join(missing)}")
        episode = str(raw["episode_history"])
        if not episode or ".." in Path(episode).parts or Path(episode).is_absolute() or "\\" in episode:
            raise SegpilotError(f"{path}: item {i} episode_history {episode!r} must be a relative name like "
                                "'scannet-v0/002-scannet-scene0709_00' (no '..', not absolute)")  # fmt: skip
        extra = raw.get("extra_answers") or []
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise SegpilotError(f"{path}: item {i} 'extra_answers' must be a list of strings")
        items.append(OpenEQAItem(str(raw["question_id"]), str(raw["question"]), str(raw["answer"]),
                                 str(raw.get("category", "")), str(raw["episode_history"]), tuple(extra)))  # fmt: skip
    return items


def load_subset(path: str | Path, items: list[OpenEQAItem]) -> list[OpenEQAItem]:
    """The items whose ids a subset file lists (OpenEQA's `open-eqa-v0-184-questions.json`: a list of ids)."""
    path = Path(path)
    ids = read_json(path, "OpenEQA subset file")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SegpilotError(f"{path} must hold a JSON list of question ids")
    known = {it.question_id for it in items}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SegpilotError(f"{path}: {len(unknown)} ids are not in the question file (first {unknown[0]!r})")
    wanted = set(ids)
    return [it for it in items if it.question_id in wanted]


class OpenEQAEpisode(RecordSource):
    """Frames of one extracted episode folder (see the module docstring for the layout)."""

    format = "openeqa"

    def __init__(self, folder: str | Path, source: str, intrinsics=None, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
        folder = Path(folder)
        if source not in DEPTH_UNITS_PER_M:
            raise SegpilotError(f"OpenEQA source must be scannet or hm3d, got {source!r}")
        if not folder.is_dir():
            raise SegpilotError(f"episode frames not found: {folder}")
        self.folder, self.source = folder, source
        self.stems = sorted(m.group(1) for p in folder.iterdir() if (m := _STEM.match(p.name)))
        if not self.stems:
            raise SegpilotError(f"{folder} holds no NNNNNN-rgb.png frames")
        intr = folder / "intrinsic_depth.txt"
        if not intr.exists():
            intr = folder / "intrinsic_color.txt"
        if not intr.exists():
            raise SegpilotError(f"{folder} has no intrinsic_depth.txt or intrinsic_color.txt")
        records = {int(stem): FrameRecord(
            stem, lambda s=stem: read_image(folder / f"{s}-rgb.png"), lambda s=stem: self._depth(s),
            lambda s=stem: self._pose(s), float(int(stem))) for stem in self.stems}  # fmt: skip
        h, w = self._depth(self.stems[0]).shape[:2]
        camera = PinholeCamera.from_K(read_matrix_file(intr), w, h)
        super().__init__(folder, records, camera, DEPTH_UNITS_PER_M[source], intrinsics, max_depth_m)

    def _depth(self, stem: str) -> np.ndarray:
        path = self.folder / f"{stem}-depth.png"
        if not path.exists():
            raise SegpilotError(f"{self.folder}: frame {stem} needs {stem}-depth.png (not --rgb-only)")
        return read_depth_image(path)

    def _pose(self, stem: str) -> np.ndarray | None:
        path = self.folder / f"{stem}.txt"
        if not path.exists():
            return None
        T = read_matrix_file(path)
        # HM3D poses are habitat sensor transformations: OpenGL camera axes.
        return T @ T_GL_CV if self.source == "hm3d" and T.shape == (4, 4) else T
