"""Rebuild the make-qa folders the committed QA model was trained and evaluated on (a new machine has no data/).

The card's `training_data.assembled_by` names the folders (`qa_combine.py FIRST --all-splits ... --out ...`) in
the order of its first sources (`make_qa` arguments); make-qa is deterministic in its seed, so the same command
gives the same rooms and questions (qa320 re-made on another machine gave the card's 70.8 EM@1 again). Folders
that already hold a summary.json are skipped. ~45 rooms a minute with `--workers 2`.

    python scripts/qa_data.py            # print the commands
    python scripts/qa_data.py --run      # run them (in the background: nice -n 5 python scripts/qa_data.py --run &)
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "segpilot" / "data" / "models" / "qa-default" / "card.json"


def folders(card: dict) -> list[tuple[str, str]]:
    """(folder, make-qa arguments) for every folder `assembled_by` names, first source first."""
    words = shlex.split(card["training_data"]["assembled_by"])
    if len(words) < 3 or words[:2] != ["python", "scripts/qa_combine.py"]:
        raise SystemExit(f"card: unexpected assembled_by {card['training_data']['assembled_by']!r}")
    named = [words[2]] + [words[i + 1] for i, w in enumerate(words) if w == "--all-splits"]
    sources = card["training_data"]["sources"]
    if len(sources) < len(named):
        raise SystemExit(f"card: {len(named)} folders in assembled_by but {len(sources)} sources")
    return [(folder, source["make_qa"]) for folder, source in zip(named, sources, strict=False)]


def commands(card: dict, workers: int = 2) -> list[list[str]]:
    return [["segpilot", "sim", "make-qa", *shlex.split(args), "--out", folder, "--workers", str(workers)]
            for folder, args in folders(card)]  # fmt: skip


def _local(cmd: list[str]) -> list[str]:
    """The command with this interpreter's python and segpilot (the venv's, whatever PATH holds)."""
    exe = Path(sys.executable)
    local = {"python": str(exe), "segpilot": str(exe.parent / "segpilot")}
    return [local.get(cmd[0], cmd[0]), *cmd[1:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--card", default=str(CARD))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--run", action="store_true", help="run the commands whose folder has no summary.json")
    args = ap.parse_args()
    card = json.loads(Path(args.card).read_text())
    for (folder, _), cmd in zip(folders(card), commands(card, args.workers), strict=True):
        done = (ROOT / folder / "summary.json").exists()
        print(("# done: " if done else "") + shlex.join(cmd), flush=True)
        if args.run and not done:
            subprocess.run(_local(cmd), cwd=ROOT, check=True)
    assembled = card["training_data"]["assembled_by"]
    print(assembled)
    if args.run:
        subprocess.run(_local(shlex.split(assembled)), cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
