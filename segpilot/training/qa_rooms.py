"""Stage 2's rooms for the QA trainer: each training room's coverage views through the frozen tower, once.

Why a module of its own: what a step trains on - a room's tokens (features, [CLS] saliency, 3D positions), the
object id under each token and SeGPruner's selections at a grid of budgets - is computed once per room before the
steps begin (or read from `qa_room_cache`), and depends only on the scan, the tower and the fixed training
selection below, not on the LM or the step mix in `qa_train`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.eval.datasets.scanqa import ScanQAItem
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.tokens import VisualTokens
from segpilot.pipeline import PruneConfig, load_views
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.training.qa_room_cache import RoomCache

BUDGET_GRID = (0.02, 0.03, 0.045, 0.06, 0.08, 0.1, 0.13, 0.17, 0.22, 0.3, 0.4, 0.5)
"""Budgets whose SeGPruner selections are precomputed per room; a step draws one (or all tokens)."""
IMPORTANCE_RATIOS = (0.0, 0.5)
"""SeGPruner importance ratios r trained on (pure diversity, and half the budget by saliency first), so the LM
is at home with whichever (lam, r) the budget study picks."""
TRAIN_SELECTION = {"lam": 0.5, "mode": "hierarchical", "candidate_factor": 2.0, "backend": "auto"}
"""SeGPruner setting of the precomputed training selections (r from IMPORTANCE_RATIOS). Fixed, not the pruning
default: every run since the encode cache was built trained on it, and the cache key includes it (a new setting
re-encodes every room, ~30 minutes for 2,600 rooms). The default moved to the budget study's pick (global, lam
0.25, r 0.6) after run 13; with random selections and all tokens in training, the study and the card measure
the model at the default."""


@dataclass
class Room:
    """A training room's encoded views and precomputed SeGPruner selections (stage 2 inputs)."""

    tokens: VisualTokens
    selections: dict[tuple[float, float], Tensor]
    items: list[ScanQAItem]
    object_ids: Tensor
    """(N,) object id under each token (`qa_tower.patch_object_ids` of the instance labels), 0 = none."""


def view_ids(scan_dir: Path, views: int, cache: RoomCache | None = None) -> list[int]:
    selection = PruneConfig(views=views, view_selection="coverage")
    ids = cache.view_ids(scan_dir, selection) if cache else None
    if ids is None:
        ids, _ = load_views(ScanNetScene(scan_dir), selection)
        if cache:
            cache.put_view_ids(scan_dir, selection, ids)
    return ids


def prepare_rooms(
    adapter: LlavaAdapter,
    data: Path,
    by_scene: dict[str, list[ScanQAItem]],
    views: dict[str, list[int]],
    progress: bool,
    cache: RoomCache | None = None,
) -> list[Room]:
    params = {"importance_ratio": 0.0, **TRAIN_SELECTION}  # the cache key's layout of earlier runs
    pruners = {r: make_pruner("segpruner", **{**params, "importance_ratio": r}) for r in IMPORTANCE_RATIOS}
    vision = adapter.vision
    folder = cache.rooms_dir(adapter.model.model.vision_tower, {
        "budgets": BUDGET_GRID, "ratios": IMPORTANCE_RATIOS, "pruner": params, "grid_hw": vision.grid_hw,
        "image_size": vision.image_size, "mean": vision.mean, "std": vision.std,
        "min_valid_fraction": adapter.min_valid_fraction,
    }) if cache else None  # fmt: skip
    rooms, cached = [], 0
    t0 = time.time()
    for n, scene_id in enumerate(sorted(by_scene)):
        scan_dir = data / "scans" / scene_id
        hit = cache.room(folder, scan_dir, views[scene_id]) if cache else None
        rooms.append(Room(hit[0], hit[1], by_scene[scene_id], hit[2]) if hit else
                     _encode_room(adapter, data, scene_id, views[scene_id], pruners, by_scene[scene_id]))  # fmt: skip
        cached += hit is not None
        if cache and hit is None:
            cache.put_room(folder, scan_dir, views[scene_id], rooms[-1].tokens, rooms[-1].selections,
                           rooms[-1].object_ids)  # fmt: skip
        if progress and (n + 1) % 25 == 0:
            print(f"encoded and pruned {n + 1}/{len(by_scene)} rooms ({(time.time() - t0) / 60:.1f} min"
                  + (f", {cached} from the cache)" if cache else ")"), flush=True)  # fmt: skip
    return rooms


def _encode_room(adapter: LlavaAdapter, data: Path, scene_id: str, ids: list[int], pruners: dict,
                 items: list[ScanQAItem]) -> Room:  # fmt: skip
    """A room's tokens through the frozen tower, its SeGPruner selections at every budget, its token object ids."""
    from segpilot.sim.scenes import Scene
    from segpilot.training.qa_tower import small_object_mask, view_object_ids

    frames = ScanNetScene(data / "scans" / scene_id).frames(ids)
    small = small_object_mask(Scene.load(data / "scenes" / f"{scene_id}.json"))
    grid = adapter.vision.grid_hw[0]
    objects = torch.from_numpy(np.concatenate([view_object_ids(data / "scans" / scene_id, i, grid, small)
                                               for i in ids]))  # fmt: skip
    with torch.inference_mode():
        tokens = adapter.encode(frames)
    tokens = VisualTokens(tokens.features.clone(), tokens.saliency.clone(), tokens.xyz.clone(), tokens.view,
                          tokens.patch, tokens.grid_hw)  # fmt: skip
    selections = {(r, b): torch.sort(p.select(tokens, b)).values for r, p in pruners.items() for b in BUDGET_GRID}
    return Room(tokens, selections, items, objects)
