"""Reading JSON inputs with the one-line errors every reader gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segpilot.errors import SegpilotError


def read_json(path: str | Path, what: str) -> Any:
    """Parsed JSON of `path`; `what` names the file in the error ("ScanQA file", "scene graph", ...)."""
    path = Path(path)
    if not path.exists():
        raise SegpilotError(f"{what} not found: {path}")
    if path.is_dir():
        raise SegpilotError(f"{what} {path} is a folder; expected a JSON file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise SegpilotError(f"{path} is not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None


def print_report(report: dict, path: str | Path | None) -> None:
    """Print an analysis script's JSON report and, with a `path`, write it there too (the figures a README quotes
    are the ones on screen)."""
    text = json.dumps(report, indent=1)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
