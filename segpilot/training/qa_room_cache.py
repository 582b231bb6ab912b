"""On-disk cache of the QA trainer's per-room stage-2 inputs, so a continued run does not re-encode its rooms.

With the tower frozen, what stage 2 needs of a room - its coverage view ids, the tower's tokens of those views
and the precomputed SeGPruner selections - depends only on the scan, the tower weights and the selection
settings. Computing it is ~16 minutes of a 1,424-room run on 2 cores (view selection 7, encoding and pruning 9)
that every `--init-from` continuation repeated. The cache keeps one safetensors file per room:

    CACHE/views-<hash of the view-selection settings>/<scene_id>.json          coverage view ids
    CACHE/rooms-<hash of tower weights + selection settings>/<scene_id>.safetensors

A changed tower or setting hashes to a new folder (old ones are never read, delete them freely). Each file
records the real path of the scan it came from; a scan that moved or a different room under the same scene id
is recomputed, as is a file that cannot be read (an interrupted write leaves none: files are renamed into
place). Tensors are stored exactly (float32), so a cached run trains on the same numbers as an uncached one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from segpilot.perception.tokens import VisualTokens
from segpilot.pipeline import PruneConfig

FORMAT = 1
"""Bumped when what a cache file holds changes; part of every key."""


def _digest(payload: dict, tensors: dict[str, Tensor] | None = None) -> str:
    h = hashlib.sha256(json.dumps({"format": FORMAT, **payload}, sort_keys=True, default=str).encode())
    for name in sorted(tensors or {}):
        h.update(name.encode())
        h.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class RoomCache:
    """Reads and writes one folder of cached rooms; every method is keyed so stale entries are never returned."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- coverage view ids (needed before the tower is trained, so keyed without it) --
    def _views_dir(self, selection: PruneConfig) -> Path:
        return self.root / f"views-{_digest({'selection': asdict(selection)})}"

    def view_ids(self, scan_dir: Path, selection: PruneConfig) -> list[int] | None:
        path = self._views_dir(selection) / f"{scan_dir.name}.json"
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if entry.get("scan") != str(scan_dir.resolve()):
            return None
        return [int(i) for i in entry["ids"]]

    def put_view_ids(self, scan_dir: Path, selection: PruneConfig, ids: list[int]) -> None:
        path = self._views_dir(selection) / f"{scan_dir.name}.json"
        _write_atomic(path, lambda tmp: tmp.write_text(json.dumps({"scan": str(scan_dir.resolve()), "ids": ids})))

    # -- encoded tokens, selections and per-token object ids of a room --
    def rooms_dir(self, tower: torch.nn.Module, settings: dict) -> Path:
        """The folder for this tower's weights and these selection settings (views, budgets, pruner params)."""
        return self.root / f"rooms-{_digest(settings, dict(tower.state_dict()))}"

    def room(self, folder: Path, scan_dir: Path, ids: list[int]):
        """(tokens, selections, object_ids) cached for this scan and these view ids, or None."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        path = folder / f"{scan_dir.name}.safetensors"
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("scan") != str(scan_dir.resolve()) or json.loads(meta.get("ids", "null")) != ids:
                return None
            t = load_file(str(path))
            grid = tuple(json.loads(meta["grid_hw"]))
            tokens = VisualTokens(t["features"], t["saliency"], t["xyz"], t["view"], t["patch"], grid)
            selections = {tuple(json.loads(k.removeprefix("sel:"))): v for k, v in t.items() if k.startswith("sel:")}
        except (OSError, ValueError, KeyError, SafetensorError):
            return None
        return tokens, selections, t["object_ids"]

    def put_room(self, folder: Path, scan_dir: Path, ids: list[int], tokens: VisualTokens,
                 selections: dict[tuple[float, float], Tensor], object_ids: Tensor) -> None:  # fmt: skip
        from safetensors.torch import save_file

        tensors = {"features": tokens.features, "saliency": tokens.saliency, "xyz": tokens.xyz, "view": tokens.view,
                   "patch": tokens.patch, "object_ids": object_ids}  # fmt: skip
        tensors.update({f"sel:{json.dumps(list(k))}": v for k, v in selections.items()})
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        meta = {"scan": str(scan_dir.resolve()), "ids": json.dumps(ids), "grid_hw": json.dumps(list(tokens.grid_hw))}
        _write_atomic(folder / f"{scan_dir.name}.safetensors", lambda tmp: save_file(tensors, str(tmp), meta))


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)
