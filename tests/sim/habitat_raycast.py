"""Test helper: render a mesh the way habitat-sim's pinhole sensor sees it (Habitat world, Y up).

Open3D ray casting stands in for habitat-sim's rasteriser (which cannot be installed here); the
camera model is the one the real recordings in ../shared/fixtures confirm: fx = fy = (W/2)/tan(hfov/2),
principal point (W/2 - 0.5, H/2 - 0.5), z-depth in metres, 0 where nothing is hit.
"""

from __future__ import annotations

import numpy as np

from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import invert_pose
from segpilot.sim.habitat_convert import habitat_T_world_cam


def read_ply_faces(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, triangles, per-face object_id) of the semantic PLY layout habitat-sim reads."""
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode()
    nv = int(header.split("element vertex ")[1].split()[0])
    nf = int(header.split("element face ")[1].split()[0])
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("object_id", "<i4")])
    v = np.frombuffer(data, vdt, nv, end)
    f = np.frombuffer(data, fdt, nf, end + nv * vdt.itemsize)
    return np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float64), f["v"].astype(np.int64), f["object_id"]


def render(vertices_habitat, triangles, position, rotation_wxyz, width=320, height=240, hfov_deg=90.0):
    """(depth (H, W) float32 z-depth, hit triangle (H, W) int64 with -1 for a miss) from a Habitat sensor state."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(vertices_habitat, np.float32)),
                        o3d.core.Tensor(np.asarray(triangles, np.uint32)))  # fmt: skip
    K = PinholeCamera.from_hfov(hfov_deg, width, height).K.copy()
    K[:2, 2] += 0.5  # Open3D puts pixel u's centre at u + 0.5
    T = habitat_T_world_cam(np.asarray(position, np.float64), np.asarray(rotation_wxyz, np.float64))
    rays = scene.create_rays_pinhole(o3d.core.Tensor(K), o3d.core.Tensor(invert_pose(T)), width, height)
    hit = scene.cast_rays(rays)
    t = hit["t_hit"].numpy()
    miss = ~np.isfinite(t)
    prim = hit["primitive_ids"].numpy().astype(np.int64)
    prim[miss] = -1
    return np.where(miss, 0.0, t).astype(np.float32), prim
