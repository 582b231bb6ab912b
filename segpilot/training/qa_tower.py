"""Stage 1 of `segpilot train qa`: teach the CLIP vision tower to see, from the simulator's object ids.

Answer losses alone teach a vision tower trained from scratch nothing in a CPU budget (issue 16:
probes stayed at the language prior). The rooms' renders come with 2D instance labels
(`instance-filt/`, object ids of the scene graph), so every patch of every view has a label:
- per patch: the category, colour name and place ("on the table", "next to the sofa") of the
  object under it - linear heads on the tower's feature layer, the layer the LM reads;
- per view: which categories and colours appear (multi-label, on [CLS] of the same layer), so
  the [CLS] attention that SeGPruner reads as saliency learns to look at objects.
The heads exist only here: the saved checkpoint is a plain LlavaForConditionalGeneration.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.nav.vocab import COLOURS, FURNITURE, FURNITURE_COLOURS, SMALL, WALL_COLOURS
from segpilot.perception.encoders.base import to_pixel_values
from segpilot.sim.scenes import SURFACES, Scene

CATEGORIES = ("none", "floor", "wall", *FURNITURE, *SMALL)
COLOUR_NAMES = ("none", *sorted({*COLOURS, *FURNITURE_COLOURS, *WALL_COLOURS, "wooden"}))
PLACES = ("none", "on the floor", *sorted(set(SURFACES.values())), *(f"next to the {f}" for f in FURNITURE))
SMALL_SHARE = 0.2
"""A patch is labelled with a small object once the object covers this share of it (else: the majority)."""


def place_of(scene: Scene, obj) -> str:
    """The answer to "Where is the <obj>?" (as `make_qa` words it); "none" for walls and the floor."""
    from segpilot.sim.make_qa import _where

    return "none" if obj.kind == "structure" else _where(scene, obj)


def object_tables(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per object id (index 0 = nothing): category, colour and place class indices."""
    n = max(o.id for o in scene.objects) + 1
    cat, col, place = (np.zeros(n, np.int64) for _ in range(3))
    for o in scene.objects:
        cat[o.id] = CATEGORIES.index(o.category) if o.category in CATEGORIES else 0
        col[o.id] = COLOUR_NAMES.index(o.colour) if o.colour in COLOUR_NAMES else 0
        where = place_of(scene, o)
        place[o.id] = PLACES.index(where) if where in PLACES else 0
    return cat, col, place


def small_object_mask(scene: Scene) -> np.ndarray:
    """Per object id (index 0 = nothing, one spare slot): whether it is a small object."""
    small = np.zeros(max(o.id for o in scene.objects) + 2, bool)
    for o in scene.objects:
        small[o.id] = o.kind == "object"
    return small


def patch_index(h: int, w: int, grid: int) -> np.ndarray:
    """(h * w,) row-major patch index of every pixel of an image resized (uncropped) to a grid x grid tower input."""
    return ((np.arange(h) * grid // h)[:, None] * grid + (np.arange(w) * grid // w)[None, :]).ravel()


def patch_object_ids(ids: np.ndarray, grid: int, small: np.ndarray) -> np.ndarray:
    """(grid*grid,) object id under each patch of an (H, W) id image resized (uncropped) to the tower's square.

    `small[id]` marks small objects: they win a patch once they cover `SMALL_SHARE` of it."""
    patch = patch_index(*ids.shape, grid)
    n_ids = int(ids.max()) + 1
    counts = np.bincount(patch * n_ids + ids.ravel(), minlength=grid * grid * n_ids).reshape(grid * grid, n_ids)
    area = counts.sum(1)
    out = counts.argmax(1)
    weighted = np.where(small[None, :n_ids], counts, 0)
    best_small = weighted.argmax(1)
    take = weighted.max(1) >= SMALL_SHARE * area
    return np.where(take, best_small, out)


@dataclass
class LabelledViews:
    """Pixels (N, 3, S, S) and per-patch labels (N, P) of category, colour, place."""

    pixels: Tensor
    category: Tensor
    colour: Tensor
    place: Tensor


def view_object_ids(scan_dir: Path, frame_id: int, grid: int, small: np.ndarray) -> np.ndarray:
    """(grid*grid,) object id under each patch of a make-qa frame, from its `instance-filt/` label image (ids the
    scene does not know count as nothing); `small` is the scene's `small_object_mask`."""
    path = scan_dir / "instance-filt" / f"{frame_id}.png"
    if not path.exists():
        raise SegpilotError(f"{path} missing: regenerate the data with `segpilot sim make-qa` (it writes labels)")
    ids = np.asarray(Image.open(path)).astype(np.int64)
    return patch_object_ids(np.where(ids < len(small) - 1, ids, 0), grid, small)


def load_labelled_views(scan_dir: Path, scene: Scene, frame_ids: list[int], image_size: int, grid: int, mean,
                        std) -> LabelledViews:  # fmt: skip
    """Frames `frame_ids` of a make-qa scan with their patch labels from `instance-filt/`."""
    scan = ScanNetScene(scan_dir)
    frames = scan.frames(frame_ids)
    cat, col, place = object_tables(scene)
    small = small_object_mask(scene)
    pid = np.stack([view_object_ids(scan_dir, fid, grid, small) for fid in frame_ids])
    return LabelledViews(
        to_pixel_values([f.rgb for f in frames], image_size, mean, std),
        torch.from_numpy(cat[pid]), torch.from_numpy(col[pid]), torch.from_numpy(place[pid]),
    )  # fmt: skip


class TowerHeads(torch.nn.Module):
    """Per-patch category / colour / place heads and the per-view [CLS] presence head."""

    def __init__(self, width: int, class_weights: dict[str, Tensor] | None = None):
        super().__init__()
        # Floor and wall fill most patches; without weights the heads learn them and little about small objects
        # (a first run: 21% small-object category per patch). Weights ~ frequency^-1/2 (`balanced_weights`).
        self.class_weights = class_weights or {}
        self.category = torch.nn.Linear(width, len(CATEGORIES))
        self.colour = torch.nn.Linear(width, len(COLOUR_NAMES))
        self.place = torch.nn.Linear(width, len(PLACES))
        self.present = torch.nn.Linear(width, len(CATEGORIES) + len(COLOUR_NAMES))

    def losses(self, hidden: Tensor, batch: LabelledViews) -> dict[str, Tensor]:
        """hidden: (N, 1 + P, D) feature-layer states ([CLS] first)."""
        ce = torch.nn.functional.cross_entropy
        patches, cls = hidden[:, 1:], hidden[:, 0]
        w = self.class_weights
        out = {
            "category": ce(self.category(patches).flatten(0, 1), batch.category.flatten(), weight=w.get("category")),
            "colour": ce(self.colour(patches).flatten(0, 1), batch.colour.flatten(), weight=w.get("colour")),
            "place": ce(self.place(patches).flatten(0, 1), batch.place.flatten(), weight=w.get("place")),
        }
        target = torch.zeros(len(hidden), len(CATEGORIES) + len(COLOUR_NAMES))
        # objects, not the room's shell: floor and walls (and their colours) are in every view
        obj = batch.category > CATEGORIES.index("wall")
        for n in range(len(hidden)):
            target[n, batch.category[n][obj[n]]] = 1.0
            target[n, len(CATEGORIES) + batch.colour[n][obj[n]]] = 1.0
        out["present"] = torch.nn.functional.binary_cross_entropy_with_logits(self.present(cls), target)
        return out

    @torch.no_grad()
    def accuracy(self, hidden: Tensor, batch: LabelledViews) -> dict[str, float]:
        """Per-patch accuracy on object patches (small objects and furniture), where it matters."""
        patches = hidden[:, 1:]
        obj = batch.category > CATEGORIES.index("wall")
        small = batch.category >= CATEGORIES.index(SMALL[0])
        acc = {}
        for name, head, target in (("category", self.category, batch.category), ("colour", self.colour, batch.colour),
                                   ("place", self.place, batch.place)):  # fmt: skip
            hit = head(patches).argmax(-1) == target
            acc[f"{name}_objects"] = float(hit[obj].float().mean()) if obj.any() else float("nan")
            acc[f"{name}_small"] = float(hit[small].float().mean()) if small.any() else float("nan")
        return acc


def balanced_weights(views: list[LabelledViews]) -> dict[str, Tensor]:
    """Per head, class weights proportional to frequency^-1/2 over the training patches (mean 1 over patches)."""
    out = {}
    for name, n in (("category", len(CATEGORIES)), ("colour", len(COLOUR_NAMES)), ("place", len(PLACES))):
        counts = sum(torch.bincount(getattr(v, name).flatten(), minlength=n) for v in views).float()
        w = torch.where(counts > 0, counts.clamp(min=1) ** -0.5, torch.zeros(()))
        out[name] = w * counts.sum() / (w * counts).sum()
    return out


def tower_hidden(tower, pixels: Tensor, feature_layer: int) -> Tensor:
    return tower(pixel_values=pixels, output_hidden_states=True).hidden_states[feature_layer]


def pretrain_tower(tower, feature_layer: int, train: list[LabelledViews], held_out: LabelledViews | None,
                   minutes: float, batch: int, lr: float, seed: int, progress: bool = True) -> dict:  # fmt: skip
    """Train `tower` (in place) on the auxiliary losses for `minutes`; returns the log with held-out accuracies."""
    if not train:
        raise SegpilotError("tower pre-training needs at least one labelled room")
    width = tower.config.hidden_size
    heads = TowerHeads(width, balanced_weights(train))
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    index = [(r, i) for r, views in enumerate(train) for i in range(len(views.pixels))]
    rng = random.Random(seed)
    t0, step, log, recent = time.time(), 0, [], []
    limit = minutes * 60
    tower.train()
    while time.time() - t0 < limit:
        share = (time.time() - t0) / limit
        for group in opt.param_groups:  # warm-up then cosine, over the time budget
            group["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + np.cos(np.pi * share))
        pick = rng.sample(index, min(batch, len(index)))
        views = LabelledViews(*(torch.stack([getattr(train[r], f)[i] for r, i in pick])
                                for f in ("pixels", "category", "colour", "place")))  # fmt: skip
        losses = heads.losses(tower_hidden(tower, views.pixels, feature_layer), views)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        recent.append({k: v.item() for k, v in losses.items()})
        if step % 25 == 0:
            entry = {"step": step, "minutes": (time.time() - t0) / 60,
                     **{k: float(np.mean([r[k] for r in recent])) for k in recent[0]}}  # fmt: skip
            recent = []
            log.append(entry)
            if progress:
                print("tower " + " ".join(f"{k} {v:.3g}" for k, v in entry.items()), flush=True)
    tower.eval()
    result = {"steps": step, "minutes": (time.time() - t0) / 60, "log": log}
    if held_out is not None:
        with torch.no_grad():
            hidden = torch.cat([tower_hidden(tower, held_out.pixels[s : s + 32], feature_layer)
                                for s in range(0, len(held_out.pixels), 32)])  # fmt: skip
        result["held_out_views"] = len(held_out.pixels)
        result["held_out_patch_accuracy"] = heads.accuracy(hidden, held_out)
    return result
