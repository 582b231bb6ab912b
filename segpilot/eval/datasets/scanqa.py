"""ScanQA question files (`ScanQA_v1.0_{train,val,test_w_obj,test_wo_obj}.json`).

Each item: scene_id, question_id, question, answers (list; absent in the hidden test sets),
object_ids, object_names. segpilot's synthetic files add `question_type`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.jsonio import read_json

REQUIRED = ("scene_id", "question_id", "question")


@dataclass(frozen=True)
class ScanQAItem:
    question_id: str
    scene_id: str
    question: str
    answers: tuple[str, ...] = ()
    object_ids: tuple[int, ...] = ()
    object_names: tuple[str, ...] = ()
    question_type: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)


def load_scanqa(path: str | Path) -> list[ScanQAItem]:
    """Read and validate a ScanQA JSON file; one clear error names the first bad item."""
    path = Path(path)
    data = read_json(path, "ScanQA file")
    if not isinstance(data, list):
        raise SegpilotError(f"{path} must hold a JSON list of questions, got {type(data).__name__}")
    items: list[ScanQAItem] = []
    seen: set[str] = set()
    for i, raw in enumerate(data):
        if not isinstance(raw, dict) or any(k not in raw for k in REQUIRED):
            raise SegpilotError(f"{path}: item {i} must be an object with {', '.join(REQUIRED)}")
        answers = raw.get("answers", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise SegpilotError(f"{path}: item {i} 'answers' must be a list of strings")
        qid = str(raw["question_id"])
        if qid in seen:
            raise SegpilotError(f"{path}: duplicate question_id {qid!r} (item {i})")
        seen.add(qid)
        items.append(ScanQAItem(
            question_id=qid, scene_id=str(raw["scene_id"]), question=str(raw["question"]), answers=tuple(answers),
            object_ids=tuple(int(x) for x in raw.get("object_ids", [])),
            object_names=tuple(str(x) for x in raw.get("object_names", [])),
            question_type=str(raw.get("question_type", "")),
            extra={k: v for k, v in raw.items() if k not in ScanQAItem.__dataclass_fields__},
        ))  # fmt: skip
    return items
