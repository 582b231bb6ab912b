"""Batch evaluation that never loses finished work.

Predictions stream to `<out>/predictions.jsonl`, one flushed and fsync'ed line per question.
A rerun of the same command reads that file and skips the question ids already there, so a
run killed at any moment (SIGKILL included) resumes with no question lost or duplicated: a
line cut short by the kill is dropped and that question is answered again. `metrics.json` is
written at the end through a temporary file and an atomic rename.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem
from segpilot.eval.metrics import scanqa_metrics


class PredictionLog:
    """Append-only JSONL of prediction records keyed by question_id."""

    def __init__(self, path: Path):
        self.path = path

    def finished(self) -> dict[str, dict]:
        """Records already written; a torn last line (killed mid-write) is cut off the file."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        done: dict[str, dict] = {}
        good_end = 0
        for number, line in enumerate(data.splitlines(keepends=True), 1):
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            if not isinstance(rec, dict) or "question_id" not in rec:
                raise SegpilotError(f"{self.path}:{number}: a prediction record without question_id; fix or remove "
                                    "that line (or use a new --out)")  # fmt: skip
            done[str(rec["question_id"])] = rec
            good_end += len(line)
        if good_end != len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
        return done

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def run_batch(
    items: Sequence[ScanQAItem],
    answer: Callable[[ScanQAItem], dict],
    out_dir: str | Path,
    meteor: bool = True,
    progress: bool = True,
    run_info: dict | None = None,
) -> dict:
    """Answer every item not answered yet, then score all of them; returns the metrics.

    `answer(item)` returns a dict with at least "prediction" (plus anything worth keeping,
    e.g. kept token counts and timings). Bad input it raises as SegpilotError stops the run
    after everything answered so far is safely on disk.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = PredictionLog(out / "predictions.jsonl")
    done = log.finished()
    todo = [it for it in items if it.question_id not in done]
    iterator = todo
    if progress:
        from tqdm import tqdm

        iterator = tqdm(todo, desc="questions", initial=len(items) - len(todo), total=len(items), unit="q")
    for item in iterator:
        record = make_record(item, answer(item))
        log.append(record)
        done[item.question_id] = record
    return finish(items, done, out, meteor, run_info)


def make_record(item: ScanQAItem, result: dict) -> dict:
    """The JSONL record of one answered question."""
    if "prediction" not in result:
        raise SegpilotError(f"answer() for {item.question_id} returned no 'prediction'")
    return {"question_id": item.question_id, "scene_id": item.scene_id, "question": item.question,
            "answers": list(item.answers), "question_type": item.question_type, **result}  # fmt: skip


def finish(items: Sequence[ScanQAItem], done: dict[str, dict], out: Path, meteor: bool, run_info: dict | None) -> dict:
    """Score every item (in file order) and write metrics.json atomically."""
    records = [done[it.question_id] for it in items]
    metrics = scanqa_metrics(records, meteor=meteor)
    metrics["run"] = run_info or {}
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
