"""Assemble one `segpilot train qa` folder from several `segpilot sim make-qa` outputs (the model card's data).

The first source gives the training split and keeps its val / test rooms held out (val is copied, for the
tokenizer and the tower's held-out check); every `--all-splits` source adds all of its rooms to training. Rooms
are linked, not copied (make-qa writes ~20 MB per room).

    segpilot sim make-qa --scenes 320 --seed 1000 --out data/qa320
    segpilot sim make-qa --scenes 400 --seed 2000 --out data/qa400b
    python scripts/qa_combine.py data/qa320 --all-splits data/qa400b --out data/qa_big
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.jsonio import read_json

SPLITS = ("train", "val", "test")


def _questions(folder: Path, split: str) -> list:
    try:
        return read_json(folder / f"ScanQA_v1.0_{split}.json", f"make-qa {split} split")
    except SegpilotError as exc:
        raise SystemExit(str(exc)) from None


def _shapes(folder: Path) -> int:
    """The small-object mesh version a make-qa folder was rendered with (1 before versions were recorded)."""
    try:
        return int(read_json(folder / "summary.json", "make-qa summary").get("shapes", 1))
    except SegpilotError as exc:
        raise SystemExit(str(exc)) from None


def _link_rooms(src: Path, out: Path, items: list) -> None:
    for scene_id in sorted({q["scene_id"] for q in items}):
        for sub, names in (("scans", [scene_id]), ("scenes", [f"{scene_id}.json", f"{scene_id}.ply"])):
            for name in names:
                target, link = (src / sub / name).resolve(), out / sub / name
                if not target.exists():
                    raise SystemExit(f"{target}: missing (the questions name room {scene_id})")
                if not link.exists():
                    link.symlink_to(target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", type=Path, help="make-qa folder: its train split trains, its val split is copied")
    ap.add_argument("--all-splits", type=Path, action="append", default=[], help="make-qa folder trained on whole")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    for sub in ("scans", "scenes"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    versions = {src: _shapes(src) for src in [args.first, *args.all_splits]}
    if len(set(versions.values())) > 1:
        raise SystemExit(f"sources rendered with different small-object shapes, not mixed: {versions}")
    train, val = _questions(args.first, "train"), _questions(args.first, "val")
    _link_rooms(args.first, args.out, train + val)
    for extra in args.all_splits:
        items = [q for split in SPLITS for q in _questions(extra, split)]
        _link_rooms(extra, args.out, items)
        train += items
    (args.out / "ScanQA_v1.0_train.json").write_text(json.dumps(train, indent=1))
    (args.out / "ScanQA_v1.0_val.json").write_text(json.dumps(val, indent=1))
    rooms = len({q["scene_id"] for q in train})
    print(f"{args.out}: {len(train)} training questions in {rooms} rooms, {len(val)} val questions")


if __name__ == "__main__":
    main()
