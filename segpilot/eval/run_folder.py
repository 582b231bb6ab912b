"""A run folder that says what made it: one configuration per folder, one run at a time.

`--out` folders resume (finished predictions are kept), so a rerun with another model, data or
configuration would silently reuse old answers under a new label. `open_run` records the run's
identity - the configuration plus content hashes of the question file and the model's weights -
in `run_identity.json`; a rerun with a different identity refuses with one line naming what
differs, unless `force` (then the old results are removed first). A lock file held with `flock`
for the whole run makes a second run on the same folder stop at once, naming the first one's pid,
instead of both answering everything and writing every line twice. `--limit`, METEOR and the
engine are not part of the identity: a rerun with a larger `--limit` extends the run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from segpilot.errors import SegpilotError

IDENTITY_FILE = "run_identity.json"
RESULT_FILES = ("predictions.jsonl", "judge.jsonl", "metrics.json", "run.json", "study_budget.json",
                "study_budget.png")  # fmt: skip


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(folder: str | Path) -> dict:
    """Hashes of a model folder's weights and config (what decides its answers)."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*") if p.suffix in (".safetensors", ".json") and p.is_file()
                   and p.name != "training_log.json")  # fmt: skip
    return {"path": str(folder), "sha256": {p.name: file_sha256(p) for p in files}}


@contextmanager
def open_run(out: Path, identity: dict, force: bool = False):
    """Lock `out` for this run and check (or record) its identity; see the module docstring."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock_path = out / ".segpilot.lock"
    fh = open(lock_path, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "unknown"
            raise SegpilotError(f"{out} is in use by another segpilot run (pid {pid}); wait for it or use another "
                                "--out") from None  # fmt: skip
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        _check_identity(out, json.loads(json.dumps(identity)), force)
        yield out
    finally:
        fh.close()  # releases the lock


def _check_identity(out: Path, identity: dict, force: bool) -> None:
    path = out / IDENTITY_FILE
    previous = None
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            previous = {"corrupt": True}
    elif any((out / name).exists() for name in RESULT_FILES) or (out / "runs").is_dir():
        previous = {"unrecorded": True}  # results from before identities were recorded
    if previous is not None and previous != identity:
        differ = sorted(k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k))
        if not force:
            raise SegpilotError(f"{out} holds results of a different run ({', '.join(differ)} differ): use a new "
                                "--out, or --force to discard them")  # fmt: skip
        for name in RESULT_FILES:
            (out / name).unlink(missing_ok=True)
        if (out / "runs").is_dir():
            import shutil

            shutil.rmtree(out / "runs")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(identity, indent=1, sort_keys=True))
    os.replace(tmp, path)
