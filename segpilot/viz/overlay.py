"""Pictures of a pruning result: per-view overlays (PNG) and token clouds (PLY)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from segpilot.geometry.unproject import patch_index


def overlay_kept(rgb: np.ndarray, kept_patches: np.ndarray, grid_hw: tuple[int, int], dim: float = 0.3) -> np.ndarray:
    """RGB image with pruned patches dimmed to `dim` brightness and kept ones outlined.

    kept_patches: indices (row-major) of the kept patches of this view.
    """
    h, w = rgb.shape[:2]
    pid = patch_index(h, w, grid_hw)
    keep = np.zeros(grid_hw[0] * grid_hw[1], dtype=bool)
    keep[np.asarray(kept_patches, dtype=np.int64)] = True
    mask = keep[pid]
    out = np.where(mask[..., None], rgb, (rgb * dim).astype(np.uint8))
    # Outline kept patches: pixels whose neighbour belongs to another patch.
    edge = np.zeros_like(mask)
    edge[:-1] |= pid[:-1] != pid[1:]
    edge[:, :-1] |= pid[:, :-1] != pid[:, 1:]
    out[mask & edge] = (255, 220, 0)
    return out


def save_overlay(path: Path, rgb: np.ndarray, kept_patches: np.ndarray, grid_hw: tuple[int, int], title: str) -> None:
    """Write the overlay PNG with a one-line caption bar on top."""
    img = Image.fromarray(overlay_kept(rgb, kept_patches, grid_hw))
    canvas = Image.new("RGB", (img.width, img.height + 16), (0, 0, 0))
    canvas.paste(img, (0, 16))
    ImageDraw.Draw(canvas).text((4, 2), title, fill=(255, 255, 255))
    canvas.save(path)


def write_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> int:
    """Binary little-endian PLY of points with uint8 colours (Open3D / MeshLab open it).

    Rows with a non-finite position are left out; returns the number of points written.
    """
    xyz = np.asarray(xyz, dtype=np.float32)
    ok = np.isfinite(xyz).all(axis=1)
    xyz, rgb = xyz[ok], np.asarray(rgb, dtype=np.uint8)[ok]
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(xyz)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    rec = np.empty(len(xyz), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    rec["x"], rec["y"], rec["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    rec["r"], rec["g"], rec["b"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(rec.tobytes())
    return int(len(xyz))
