"""Pictures of simulator output: RGB / depth / object-id montages and top-down maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from segpilot.sim.base import AgentPose, Observation
from segpilot.sim.embedded import OccupancyGrid
from segpilot.sim.scenes import Scene


def depth_to_rgb(depth: np.ndarray, max_m: float = 8.0) -> np.ndarray:
    """Near = bright yellow, far = dark blue, invalid (0) = black."""
    t = np.clip(depth / max_m, 0, 1)
    rgb = np.stack([255 * (1 - t), 200 * (1 - t) + 40 * t, 60 + 140 * t], -1).astype(np.uint8)
    rgb[depth <= 0] = 0
    return rgb


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    """A stable pseudo-random colour per object id (0 = black)."""
    palette = np.random.default_rng(7).integers(40, 255, (int(ids.max()) + 1, 3)).astype(np.uint8)
    palette[0] = 0
    return palette[ids]


def montage(observations: Sequence[Observation]) -> Image.Image:
    """Rows: RGB, depth, object ids; one column per observation."""
    h, w = observations[0].object_ids.shape
    canvas = Image.new("RGB", (w * len(observations), 3 * h))
    for i, obs in enumerate(observations):
        for row, img in enumerate((obs.frame.rgb, depth_to_rgb(obs.frame.depth), ids_to_rgb(obs.object_ids))):
            canvas.paste(Image.fromarray(img), (i * w, row * h))
    return canvas


def top_down_map(
    scene: Scene, grid: OccupancyGrid, path: Sequence[AgentPose] = (), goal=None, scale: int = 4
) -> Image.Image:
    """Floor plan: free (white), inflated margin (light grey), obstacles (object colour), path, goal."""
    rows, cols = grid.shape
    img = np.full((rows, cols, 3), 255, np.uint8)
    img[grid.blocked] = (215, 215, 215)
    mesh = scene.mesh
    colours = {int(i): mesh.colors[mesh.object_ids == i][0] for i in np.unique(mesh.object_ids)}
    ys = (np.arange(rows) + 0.5) * grid.resolution
    xs = (np.arange(cols) + 0.5) * grid.resolution
    gx, gy = np.meshgrid(xs, ys)
    for o in sorted(scene.objects, key=lambda o: o.bbox_max[2]):
        if o.kind == "structure":
            continue
        inside = (gx >= o.bbox_min[0]) & (gx <= o.bbox_max[0]) & (gy >= o.bbox_min[1]) & (gy <= o.bbox_max[1])
        img[inside] = colours[o.id]
    pil = Image.fromarray(img[::-1]).resize((cols * scale, rows * scale), Image.NEAREST)  # y up on the page
    draw = ImageDraw.Draw(pil)

    def px(x, y):
        return x / grid.resolution * scale, (rows - y / grid.resolution) * scale

    if goal is not None:
        a, b = px(goal["bbox_min"][0], goal["bbox_max"][1]), px(goal["bbox_max"][0], goal["bbox_min"][1])
        draw.rectangle([a, b], outline=(0, 170, 0), width=3)
    if len(path) > 1:
        draw.line([px(p.x, p.y) for p in path], fill=(220, 30, 30), width=2)
    if path:
        x, y = px(path[0].x, path[0].y)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(30, 30, 220))
    return pil
