"""What `segpilot prune --out` and `segpilot ask --out` write: overlays, a token point cloud, kept.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from segpilot.viz.overlay import save_overlay, write_ply

SCHEMA_VERSION = 1
"""Version of kept.json's layout."""


def write_prune_outputs(out: Path, scene, result, pipeline) -> None:
    """Overlay PNG per view, tokens.ply (kept orange, pruned grey) and kept.json (written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    tokens, kept = result.tokens.to("cpu"), result.kept.cpu()
    keep_mask = np.zeros(len(tokens), dtype=bool)
    keep_mask[kept.numpy()] = True
    by_view: dict[str, list[int]] = {}
    for v, (frame_id, frame) in enumerate(zip(result.view_ids, result.views, strict=True)):
        patches = tokens.patch.numpy()[(tokens.view.numpy() == v) & keep_mask].tolist()
        by_view[str(frame_id)] = patches
        title = f"frame {frame_id}: kept {len(patches)}/{tokens.grid_hw[0] * tokens.grid_hw[1]} patches"
        save_overlay(out / f"view_{frame_id:05d}.png", frame.rgb, np.array(patches), tokens.grid_hw, title)
    colours = np.where(keep_mask[:, None], np.array([255, 90, 0], np.uint8), np.array([150, 150, 150], np.uint8))
    n_points = write_ply(out / "tokens.ply", tokens.xyz.numpy(), colours)
    record = {
        "schema_version": SCHEMA_VERSION,
        "scene": str(scene.root),
        "scene_id": scene.scene_id,
        "frame_ids": result.view_ids,
        "grid_hw": list(tokens.grid_hw),
        "n_tokens": len(tokens),
        "n_kept": int(len(kept)),
        "config": pipeline.describe(),
        "kept": kept.tolist(),
        "kept_patches_by_frame": by_view,
        "ply_points": n_points,
        "timings_s": result.timings,
    }
    tmp = out / "kept.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / "kept.json")  # atomic: a reader never sees half a file
