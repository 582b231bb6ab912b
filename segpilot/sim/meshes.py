"""Triangle meshes with a colour and an object id per vertex, and their PLY file format.

Scenes are written as binary little-endian PLY with vertex properties x y z red green blue
object_id: Open3D, MeshLab and habitat-sim load the geometry and colours (unknown
properties are ignored), and `read_ply` here also recovers the object ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError


@dataclass
class Mesh:
    """vertices (V, 3) float32 metres; colors (V, 3) uint8; object_ids (V,) int32; triangles (F, 3) int32."""

    vertices: np.ndarray
    colors: np.ndarray
    object_ids: np.ndarray
    triangles: np.ndarray

    @staticmethod
    def concat(meshes: list[Mesh]) -> Mesh:
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        return Mesh(
            np.concatenate([m.vertices for m in meshes]).astype(np.float32),
            np.concatenate([m.colors for m in meshes]).astype(np.uint8),
            np.concatenate([m.object_ids for m in meshes]).astype(np.int32),
            np.concatenate([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]).astype(np.int32),
        )

    @property
    def triangle_object_ids(self) -> np.ndarray:
        """(F,) object id of every triangle (its first vertex's; objects never share vertices)."""
        return self.object_ids[self.triangles[:, 0]]

    @property
    def triangle_colors(self) -> np.ndarray:
        return self.colors[self.triangles[:, 0]]


LIGHT_DIR = (np.array([0.35, -0.45, 0.82]) / np.linalg.norm([0.35, -0.45, 0.82])).astype(np.float32)
"""Direction of the fixed light of segpilot's flat Lambert shading (z-up world)."""


def shaded_triangle_colors(mesh: Mesh, ambient: float = 0.45) -> np.ndarray:
    """(F, 3) uint8 colour of every triangle under flat Lambert shading from `LIGHT_DIR`.

    View-independent, so the embedded simulator shades once per mesh and the Habitat export bakes
    the same colours into its materials (both backends render the same colours)."""
    v = mesh.vertices[mesh.triangles]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    shade = ambient + (1.0 - ambient) * np.abs(normals @ LIGHT_DIR)  # <= 1: stays within uint8
    return (mesh.triangle_colors * shade[:, None]).astype(np.uint8)


def box_mesh(lo, hi, color, object_id: int) -> Mesh:
    """Axis-aligned box; outward-facing triangles (counter-clockwise seen from outside)."""
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    corners = np.array([[x, y, z] for z in (lo[2], hi[2]) for y in (lo[1], hi[1]) for x in (lo[0], hi[0])], np.float32)
    faces = np.array(
        [
            [0, 2, 1], [1, 2, 3],  # bottom (z = lo)
            [4, 5, 6], [5, 7, 6],  # top
            [0, 1, 4], [1, 5, 4],  # y = lo
            [2, 6, 3], [3, 6, 7],  # y = hi
            [0, 4, 2], [2, 4, 6],  # x = lo
            [1, 3, 5], [3, 7, 5],  # x = hi
        ],
        np.int32,
    )  # fmt: skip
    return _solid(corners, faces, color, object_id)


def cylinder_mesh(center_xy, z0: float, z1: float, radius: float, color, object_id: int, segments: int = 16) -> Mesh:
    """Vertical closed cylinder."""
    a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([center_xy[0] + radius * np.cos(a), center_xy[1] + radius * np.sin(a)], 1)
    verts = np.concatenate([np.c_[ring, np.full(segments, z0)], np.c_[ring, np.full(segments, z1)]])
    verts = np.concatenate([verts, [[center_xy[0], center_xy[1], z0], [center_xy[0], center_xy[1], z1]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    side = np.concatenate([np.stack([i, j, i + segments], 1), np.stack([j, j + segments, i + segments], 1)])
    bottom = np.stack([np.full(segments, 2 * segments), j, i], 1)
    top = np.stack([np.full(segments, 2 * segments + 1), i + segments, j + segments], 1)
    return _solid(verts.astype(np.float32), np.concatenate([side, bottom, top]).astype(np.int32), color, object_id)


def sphere_mesh(center, radius: float, color, object_id: int, rings: int = 8, segments: int = 12) -> Mesh:
    """UV sphere."""
    verts = [[center[0], center[1], center[2] + radius]]
    for r in range(1, rings):
        phi = np.pi * r / rings
        for s in range(segments):
            th = 2 * np.pi * s / segments
            verts.append(
                [
                    center[0] + radius * np.sin(phi) * np.cos(th),
                    center[1] + radius * np.sin(phi) * np.sin(th),
                    center[2] + radius * np.cos(phi),
                ]
            )
    verts.append([center[0], center[1], center[2] - radius])
    faces = []
    last = len(verts) - 1
    for s in range(segments):
        faces.append([0, 1 + s, 1 + (s + 1) % segments])
    for r in range(rings - 2):
        for s in range(segments):
            a, b = 1 + r * segments + s, 1 + r * segments + (s + 1) % segments
            faces += [[a, a + segments, b], [b, a + segments, b + segments]]
    base = 1 + (rings - 2) * segments
    for s in range(segments):
        faces.append([last, base + (s + 1) % segments, base + s])
    return _solid(np.array(verts, np.float32), np.array(faces, np.int32), color, object_id)


def _solid(verts, faces, color, object_id) -> Mesh:
    n = len(verts)
    return Mesh(verts, np.tile(np.asarray(color, np.uint8), (n, 1)), np.full(n, object_id, np.int32), faces)


_VERTEX = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("object_id", "<i4")]
)
_FACE = np.dtype([("n", "u1"), ("v", "<i4", (3,))])


def write_ply(path: str | Path, mesh: Mesh) -> None:
    """Binary little-endian PLY with per-vertex colour and object_id."""
    v = np.empty(len(mesh.vertices), _VERTEX)
    v["x"], v["y"], v["z"] = mesh.vertices.T
    v["red"], v["green"], v["blue"] = mesh.colors.T
    v["object_id"] = mesh.object_ids
    f = np.empty(len(mesh.triangles), _FACE)
    f["n"] = 3
    f["v"] = mesh.triangles
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment segpilot scene mesh, metres, z up\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty int object_id\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(v.tobytes())
        fh.write(f.tobytes())


def read_ply(path: str | Path) -> Mesh:
    """Read a PLY written by `write_ply`; anything else gives one clear error."""
    path = Path(path)
    if not path.exists():
        raise SegpilotError(f"scene mesh not found: {path}")
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise SegpilotError(f"{path} is not a PLY file")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in header or "property int object_id" not in header:
        raise SegpilotError(f"{path} is not a segpilot scene PLY (binary, with per-vertex object_id)")
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element ")}
    body = data[end + len(b"end_header\n") :]
    need = counts["vertex"] * _VERTEX.itemsize + counts["face"] * _FACE.itemsize
    if len(body) != need:
        raise SegpilotError(f"{path} is truncated or corrupt: {len(body)} bytes of data, expected {need}")
    v = np.frombuffer(body, _VERTEX, counts["vertex"])
    f = np.frombuffer(body, _FACE, counts["face"], offset=counts["vertex"] * _VERTEX.itemsize)
    if (f["n"] != 3).any() or (f["v"] >= len(v)).any() or (f["v"] < 0).any():
        raise SegpilotError(f"{path} has invalid faces")
    return Mesh(
        np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float32),
        np.stack([v["red"], v["green"], v["blue"]], 1).astype(np.uint8),
        v["object_id"].astype(np.int32),
        f["v"].astype(np.int32),
    )
