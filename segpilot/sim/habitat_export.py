"""Export a segpilot room so that real habitat-sim loads it upright, coloured and with semantics.

What habitat-sim does with the files (source: github.com/facebookresearch/habitat-sim; the
effects were recorded with real habitat-sim 0.2.2 in ../shared/fixtures/habitat_export/):
- A *semantic* asset whose name contains `.ply` is taken to have -Z gravity and is rotated
  to Habitat's -Y gravity (`src/esp/assets/GenericSemanticMeshData.cpp`, v0.2.2 L63-71). So
  the semantic PLY must stay in segpilot's native z-up frame. A Y-up semantic PLY put the
  whole room on its side (the defect this module fixes).
- An asset already loaded is reused whatever its new configuration
  (`ResourceManager.cpp`, v0.2.2 L993 "Reloading asset ... not currently supported"): the
  render and semantic assets must be different files, or both get the semantic rotation.
- The render asset is a glTF binary (.glb, Y up like glTF itself, `up` [0, 1, 0] in the stage
  config): with `requires_lighting` false (0.2.x) or `force_flat_shading` true (0.3.x, the
  key `requires_lighting` was renamed to, `StageAttributes.cpp` v0.3.3 L24) a glTF material's
  `baseColorFactor` is rendered unlit, exactly (the real recording in
  ../shared/fixtures/habitat: every stage pixel equals its material's RGB). A PLY's vertex
  colours instead go through the default Phong material (`buildDefaultPhongMaterial`:
  ambient 0.1) with no lights: 10% brightness, the dark renders seen in the recording.
- The embedded simulator's Lambert shading (a fixed light, per triangle) is baked into the
  materials, so Habitat's colours equal the embedded simulator's (a test checks 0 levels
  difference away from triangle edges).

The navmesh is not written: habitat-sim computes it at load from the render mesh with the
agent's radius and height (the backend sets `navmesh_settings` for 0.2.5+ / 0.3.x).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.sim.meshes import Mesh, shaded_triangle_colors
from segpilot.sim.scenes import Scene

STAGE_SUFFIX = ".stage_config.json"
"""Suffix of the stage config habitat-sim takes as `scene_id`."""

T_HABITAT_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Habitat (Y up) from a z-up frame: (x, y, z) -> (x, z, -y). The rotation habitat-sim applies to
a semantic PLY ("-Z gravity" -> -Y gravity) and the one `export_habitat_scene` applies to the
render mesh; segpilot's ground frame is its inverse (`habitat_convert.T_GROUND_HABITAT`)."""

_GLTF_FLOAT, _GLTF_UINT32, _GLTF_TRIANGLES = 5126, 5125, 4


def to_habitat(points_zup: np.ndarray) -> np.ndarray:
    """(N, 3) z-up points -> Habitat world (Y up)."""
    return np.asarray(points_zup, np.float64) @ T_HABITAT_ZUP.T


def write_semantic_ply(mesh: Mesh, path: str | Path) -> Path:
    """Z-up PLY with a per-face `object_id` (habitat-sim's generic semantic mesh layout)."""
    v = mesh.vertices
    vert = np.empty(len(v), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vert["x"], vert["y"], vert["z"] = np.asarray(v, np.float32).T
    vert["red"], vert["green"], vert["blue"] = mesh.colors.T
    face = np.empty(len(mesh.triangles), [("n", "u1"), ("v", "<i4", (3,)), ("object_id", "<i4")])
    face["n"], face["v"], face["object_id"] = 3, mesh.triangles, mesh.triangle_object_ids
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vert)}\n"
        "property float x\nproperty float y\nproperty float z\nproperty uchar red\nproperty uchar green\n"
        f"property uchar blue\nelement face {len(face)}\nproperty list uchar int vertex_indices\n"
        "property int object_id\nend_header\n"
    )
    path = Path(path)
    path.write_bytes(header.encode("ascii") + vert.tobytes() + face.tobytes())
    return path


def write_glb(vertices_yup: np.ndarray, triangles: np.ndarray, triangle_rgb: np.ndarray, path: str | Path) -> Path:
    """glTF 2.0 binary: one primitive (and one unlit-looking material) per distinct triangle colour.

    Materials are metallic 0 / roughness 1 with `baseColorFactor` = rgb / 255 (no gamma), the
    layout habitat-sim rendered exactly in the real recording."""
    vertices_yup = np.ascontiguousarray(vertices_yup, "<f4")
    colours, which = np.unique(np.asarray(triangle_rgb, np.uint8), axis=0, return_inverse=True)
    blob = bytearray(vertices_yup.tobytes())
    views = [{"buffer": 0, "byteOffset": 0, "byteLength": len(blob), "target": 34962}]
    accessors = [{"bufferView": 0, "componentType": _GLTF_FLOAT, "count": len(vertices_yup), "type": "VEC3",
                  "min": vertices_yup.min(0).tolist(), "max": vertices_yup.max(0).tolist()}]  # fmt: skip
    primitives, materials = [], []
    for k, rgb in enumerate(colours):
        idx = np.ascontiguousarray(triangles[which.reshape(-1) == k], "<u4").reshape(-1)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": idx.nbytes, "target": 34963})
        blob += idx.tobytes()
        accessors.append({"bufferView": len(views) - 1, "componentType": _GLTF_UINT32, "count": len(idx),
                          "type": "SCALAR", "min": [int(idx.min())], "max": [int(idx.max())]})  # fmt: skip
        materials.append({"name": f"rgb_{rgb[0]}_{rgb[1]}_{rgb[2]}", "doubleSided": True, "pbrMetallicRoughness": {
            "baseColorFactor": [*(float(c) / 255.0 for c in rgb), 1.0], "metallicFactor": 0.0, "roughnessFactor": 1.0}})
        primitives.append({"attributes": {"POSITION": 0}, "indices": len(accessors) - 1, "material": k,
                           "mode": _GLTF_TRIANGLES})  # fmt: skip
    gltf = {"asset": {"version": "2.0", "generator": "segpilot export_habitat_scene"}, "scene": 0,
            "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}], "meshes": [{"primitives": primitives}],
            "materials": materials, "accessors": accessors, "bufferViews": views,
            "buffers": [{"byteLength": len(blob)}]}  # fmt: skip
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    data = struct.pack("<III", 0x46546C67, 2, total) + struct.pack("<II", len(js), 0x4E4F534A) + js
    data += struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)
    path = Path(path)
    path.write_bytes(data)
    return path


def read_glb(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices (V, 3) float32, triangles (F, 3) int64, triangle rgb (F, 3) uint8) of a .glb that
    `write_glb` wrote (one mesh, one node without transform, indexed triangles, base colours)."""
    data = Path(path).read_bytes()
    if len(data) < 20 or data[:4] != b"glTF":
        raise SegpilotError(f"{path}: expected a glTF binary (.glb)")
    n_json = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20 : 20 + n_json])
    blob = data[20 + n_json + 8 :]

    def array(index: int, dtype: str, width: int) -> np.ndarray:
        acc = gltf["accessors"][index]
        view = gltf["bufferViews"][acc["bufferView"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        return np.frombuffer(blob, dtype, acc["count"] * width, start).reshape(acc["count"], width)

    tris, rgbs, vertices = [], [], None
    for prim in gltf["meshes"][0]["primitives"]:
        vertices = array(prim["attributes"]["POSITION"], "<f4", 3)
        t = array(prim["indices"], "<u4", 1).reshape(-1, 3).astype(np.int64)
        factor = gltf["materials"][prim["material"]]["pbrMetallicRoughness"]["baseColorFactor"]
        tris.append(t)
        rgbs.append(np.tile(np.round(np.asarray(factor[:3]) * 255).astype(np.uint8), (len(t), 1)))
    return np.asarray(vertices), np.concatenate(tris), np.concatenate(rgbs)


def export_habitat_scene(scene: Scene, folder: str | Path) -> Path:
    """Write `<id>.glb` (render), `<id>.semantic.ply` (semantics), `<id>.stage_config.json` and the
    scene graph (`<id>.json` + `<id>.ply`, from which the Habitat backend rebuilds segpilot's
    episodes and goals). Returns the stage config path, what habitat-sim takes as `scene_id`."""
    if scene.mesh is None or len(scene.mesh.triangles) == 0:
        raise SegpilotError(f"scene {scene.scene_id} has no mesh to export")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name, mesh = scene.scene_id, scene.mesh
    # Unshared vertices per triangle are not needed: colours live in per-colour materials.
    write_glb(to_habitat(mesh.vertices), mesh.triangles, shaded_triangle_colors(mesh), folder / f"{name}.glb")
    write_semantic_ply(mesh, folder / f"{name}.semantic.ply")
    scene.save(folder)
    stage = {
        "render_asset": f"{name}.glb",
        "semantic_asset": f"{name}.semantic.ply",
        "up": [0, 1, 0],
        "front": [0, 0, -1],
        "requires_lighting": False,  # habitat-sim 0.2.x: unlit (flat) stage
        "force_flat_shading": True,  # habitat-sim 0.3.x name of the same setting
    }
    path = folder / f"{name}{STAGE_SUFFIX}"
    path.write_text(json.dumps(stage, indent=1))
    return path


def scene_graph_beside(stage_config: str | Path) -> Path | None:
    """The segpilot scene graph `export_habitat_scene` wrote next to a stage config, if any."""
    stage_config = Path(stage_config)
    if not stage_config.name.endswith(STAGE_SUFFIX):
        return None
    graph = stage_config.with_name(stage_config.name[: -len(STAGE_SUFFIX)] + ".json")
    return graph if graph.is_file() else None
