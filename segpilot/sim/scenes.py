"""Seeded procedural furnished rooms: one scene graph + one mesh (world frame: metres, z up).

A room has a floor, four coloured walls, furniture built from simple solids (table, chair,
sofa, bed, shelf, cabinet) and small objects (8 categories x 8 colour names x 2 sizes) placed
with support and proximity relations: on the table, on a shelf board, on the floor next to
the bed... The scene graph records for every object its id, category, colour name, size,
world bounding box, support parent and the object it stands next to.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.jsonio import read_json
from segpilot.sim.meshes import Mesh, box_mesh, cylinder_mesh, read_ply, sphere_mesh, write_ply

SCHEMA_VERSION = 1
WALL_HEIGHT = 2.5
from segpilot.nav.vocab import COLOURS, FURNITURE, FURNITURE_COLOURS, SMALL, WALL_COLOURS  # noqa: F401,E402

SIZES = {"small": 1.0, "large": 1.6}
# footprint (x, y) and height of each furniture category, metres
FURNITURE_DIMS = {
    "table": (1.2, 0.8, 0.76), "chair": (0.45, 0.45, 0.9), "sofa": (1.9, 0.85, 0.8),
    "bed": (2.0, 1.5, 0.55), "shelf": (1.0, 0.35, 1.6), "cabinet": (0.8, 0.5, 0.9),
}  # fmt: skip
SMALL_DIMS = {  # footprint side and height at size "small"
    "cup": (0.08, 0.10), "book": (0.20, 0.04), "lamp": (0.16, 0.40), "vase": (0.12, 0.25),
    "box": (0.20, 0.20), "ball": (0.18, 0.18), "bottle": (0.08, 0.26), "plant": (0.22, 0.35),
}  # fmt: skip
SURFACES = {"table": "on the table", "shelf": "on the shelf", "cabinet": "on the cabinet", "bed": "on the bed"}


@dataclass
class SceneObject:
    """One node of the scene graph (ids start at 1; 0 means 'no surface hit')."""

    id: int
    category: str
    colour: str
    kind: str  # structure | furniture | object
    bbox_min: list[float]
    bbox_max: list[float]
    size: str = ""
    support: int | None = None  # id of the object it stands on; None = the floor
    near: int | None = None  # id of the object it stands next to
    room: str = "room_0"

    @property
    def center(self) -> np.ndarray:
        return (np.asarray(self.bbox_min) + np.asarray(self.bbox_max)) / 2


@dataclass
class Scene:
    """Scene graph + mesh. Room interior is [0, width] x [0, depth] x [0, WALL_HEIGHT]."""

    scene_id: str
    seed: int
    width: float
    depth: float
    objects: list[SceneObject] = field(default_factory=list)
    mesh: Mesh | None = None
    shapes: int = 1  # small-object mesh version (`SHAPES`)

    def by_id(self, object_id: int) -> SceneObject:
        for o in self.objects:
            if o.id == object_id:
                return o
        raise SegpilotError(f"scene {self.scene_id} has no object id {object_id}")

    def of_category(self, category: str) -> list[SceneObject]:
        return [o for o in self.objects if o.category == category]

    def save(self, folder: str | Path) -> Path:
        """Write <folder>/<scene_id>.ply and <scene_id>.json (scene graph); returns the JSON path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_ply(folder / f"{self.scene_id}.ply", self.mesh)
        graph = {
            "schema_version": SCHEMA_VERSION, "scene_id": self.scene_id, "seed": self.seed,
            "frame": "world, metres, z up", "room": {"width": self.width, "depth": self.depth, "height": WALL_HEIGHT},
            "mesh": f"{self.scene_id}.ply", "objects": [asdict(o) for o in self.objects],
        }  # fmt: skip
        if self.shapes != 1:  # version 1 graphs stay byte-identical to those written before versions existed
            graph["shapes"] = self.shapes
        path = folder / f"{self.scene_id}.json"
        path.write_text(json.dumps(graph, indent=1))
        return path

    @staticmethod
    def load(graph_path: str | Path) -> Scene:
        """Read a scene graph JSON and the mesh it names; one clear error for anything missing."""
        graph_path = Path(graph_path)
        g = read_json(graph_path, "scene graph")
        if not isinstance(g, dict) or g.get("schema_version") != SCHEMA_VERSION:
            raise SegpilotError(f"{graph_path}: expected a segpilot scene graph with schema_version {SCHEMA_VERSION}")
        try:
            objects = [SceneObject(**o) for o in g["objects"]]
            scene = Scene(g["scene_id"], g["seed"], g["room"]["width"], g["room"]["depth"], objects,
                          shapes=int(g.get("shapes", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SegpilotError(f"{graph_path}: malformed scene graph ({exc})") from None
        scene.mesh = read_ply(graph_path.parent / g["mesh"])
        return scene


def generate_scene(seed: int, scene_id: str | None = None, shapes: int = 1) -> Scene:
    """A furnished room, identical for the same seed (and `shapes`, the small-object mesh version in `SHAPES`)."""
    if shapes not in SHAPES:
        raise SegpilotError(f"shapes must be one of {SHAPES}, got {shapes!r}")
    rng = np.random.default_rng(seed)
    width, depth = float(rng.uniform(5.0, 7.5)), float(rng.uniform(4.5, 6.5))
    scene = Scene(scene_id or f"synth{seed:05d}_00", seed, round(width, 3), round(depth, 3), shapes=shapes)
    meshes: list[Mesh] = []
    _add_structure(scene, meshes, rng)
    placed: list[tuple[np.ndarray, np.ndarray]] = []  # footprints (lo_xy, hi_xy) incl. margins
    others = ["bed", "shelf", "cabinet", "sofa"]
    rng.shuffle(others)
    for category in ["table", *others[: int(rng.integers(3, 5))]]:  # every room has a table
        _place_furniture(scene, meshes, rng, category, placed)
    table = next((o for o in scene.objects if o.category == "table"), None)
    n_chairs = int(rng.integers(1, 4)) if table else 0
    for _ in range(n_chairs):
        _place_furniture(scene, meshes, rng, "chair", placed, near=table)
    # A few categories per room, so that several cups or vases end up spread over the room
    # (counting them needs more than one view).
    palette = [str(c) for c in rng.choice(SMALL, size=5, replace=False)]
    for _ in range(int(rng.integers(10, 16))):
        _place_small(scene, meshes, rng, placed, palette, shapes)
    scene.mesh = Mesh.concat(meshes)
    return scene


def _new_id(scene: Scene) -> int:
    return len(scene.objects) + 1


def _add_structure(scene: Scene, meshes: list[Mesh], rng) -> None:
    w, d, t = scene.width, scene.depth, 0.1
    floor = SceneObject(1, "floor", "wooden", "structure", [0, 0, -t], [w, d, 0])
    scene.objects.append(floor)
    meshes.append(box_mesh(floor.bbox_min, floor.bbox_max, (150, 120, 90), 1))
    names = list(WALL_COLOURS)
    rng.shuffle(names)
    walls = [([-t, 0, 0], [0, d, WALL_HEIGHT]), ([w, 0, 0], [w + t, d, WALL_HEIGHT]),
             ([0, -t, 0], [w, 0, WALL_HEIGHT]), ([0, d, 0], [w, d + t, WALL_HEIGHT])]  # fmt: skip
    for (lo, hi), colour in zip(walls, names, strict=False):
        wall = SceneObject(_new_id(scene), "wall", colour, "structure", lo, hi)
        scene.objects.append(wall)
        meshes.append(box_mesh(lo, hi, WALL_COLOURS[colour], wall.id))


def _free(lo, hi, placed, scene: Scene) -> bool:
    if lo[0] < 0.05 or lo[1] < 0.05 or hi[0] > scene.width - 0.05 or hi[1] > scene.depth - 0.05:
        return False
    return all(hi[0] <= plo[0] or lo[0] >= phi[0] or hi[1] <= plo[1] or lo[1] >= phi[1] for plo, phi in placed)


def _place_furniture(scene, meshes, rng, category, placed, near=None) -> None:
    sx, sy, h = FURNITURE_DIMS[category]
    if rng.random() < 0.5:
        sx, sy = sy, sx
    for _ in range(200):
        if near is not None:
            c = near.center[:2] + rng.choice([-1, 1], 2) * (np.array([sx + 0.3, sy + 0.3]) * rng.uniform(0.5, 1.0, 2))
        else:
            c = rng.uniform([sx / 2, sy / 2], [scene.width - sx / 2, scene.depth - sy / 2])
        lo, hi = c - [sx / 2, sy / 2], c + [sx / 2, sy / 2]
        margin = 0.1 if near is not None else 0.7  # keep walkways between furniture
        if _free(lo - margin, hi + margin, placed, scene) and _free(lo, hi, placed, scene):
            break
    else:
        return  # no room left for this piece: the room just has less furniture
    colour = str(rng.choice(list(FURNITURE_COLOURS)))
    obj = SceneObject(
        _new_id(scene), category, colour, "furniture", [*lo, 0.0], [*hi, h], near=near.id if near else None
    )
    scene.objects.append(obj)
    meshes.append(_furniture_mesh(obj, FURNITURE_COLOURS[colour]))
    placed.append((lo - 0.05, hi + 0.05))


def _furniture_mesh(obj: SceneObject, rgb) -> Mesh:
    lo, hi = np.asarray(obj.bbox_min), np.asarray(obj.bbox_max)
    parts: list[tuple] = []
    leg = 0.06
    if obj.category in ("table", "chair"):
        seat = 0.72 if obj.category == "table" else 0.42
        parts.append(([lo[0], lo[1], seat], [hi[0], hi[1], seat + 0.04]))
        for x in (lo[0], hi[0] - leg):
            for y in (lo[1], hi[1] - leg):
                parts.append(([x, y, 0], [x + leg, y + leg, seat]))
        if obj.category == "chair":
            parts.append(([lo[0], lo[1], seat], [hi[0], lo[1] + 0.05, hi[2]]))
    elif obj.category == "shelf":
        thin = 0.04
        parts += [([lo[0], lo[1], 0], [lo[0] + thin, hi[1], hi[2]]), ([hi[0] - thin, lo[1], 0], [hi[0], hi[1], hi[2]])]
        for z in (0.0, 0.5, 1.0, hi[2] - thin):
            parts.append(([lo[0], lo[1], z], [hi[0], hi[1], z + thin]))
    elif obj.category in ("sofa", "bed"):
        parts.append(([lo[0], lo[1], 0], [hi[0], hi[1], 0.45 if obj.category == "sofa" else hi[2]]))
        back = 0.2
        if obj.category == "sofa":
            parts.append(([lo[0], lo[1], 0], [hi[0], lo[1] + back, hi[2]]) if hi[0] - lo[0] > hi[1] - lo[1]
                         else ([lo[0], lo[1], 0], [lo[0] + back, hi[1], hi[2]]))  # fmt: skip
    else:  # cabinet
        parts.append((lo, hi))
    return Mesh.concat([box_mesh(a, b, rgb, obj.id) for a, b in parts])


def _support_top(obj: SceneObject) -> float:
    return {"table": 0.76, "shelf": 0.54, "cabinet": obj.bbox_max[2], "bed": obj.bbox_max[2]}[obj.category]


def _place_small(scene, meshes, rng, placed, palette, shapes: int = 1) -> None:
    category = str(rng.choice(palette))
    colour = str(rng.choice(list(COLOURS)))
    size = str(rng.choice(list(SIZES)))
    side, h = (v * SIZES[size] for v in SMALL_DIMS[category])
    surfaces = [o for o in scene.objects if o.category in SURFACES]
    anchors = [o for o in scene.objects if o.kind == "furniture"]
    for _ in range(100):
        if surfaces and rng.random() < 0.65:
            parent = surfaces[int(rng.integers(len(surfaces)))]
            plo, phi = np.asarray(parent.bbox_min[:2]) + 0.05, np.asarray(parent.bbox_max[:2]) - 0.05
            if (phi - plo).min() < side:
                continue
            c = rng.uniform(plo + side / 2, phi - side / 2)
            z0, support, near = _support_top(parent), parent.id, None
        elif anchors:
            anchor = anchors[int(rng.integers(len(anchors)))]
            alo, ahi = np.asarray(anchor.bbox_min[:2]), np.asarray(anchor.bbox_max[:2])
            c = rng.uniform(alo - 0.35, ahi + 0.35)
            c = np.where(c < alo, alo - 0.15 - side / 2, np.where(c > ahi, ahi + 0.15 + side / 2, c))
            if (alo <= c).all() and (c <= ahi).all():
                continue
            z0, support, near = 0.0, None, anchor.id
        else:
            return
        lo, hi = c - side / 2, c + side / 2
        if support is None and not _free(lo - 0.05, hi + 0.05, placed, scene):
            continue
        if any(o.support == support and support is not None and _overlap(o, lo, hi) for o in scene.objects):
            continue
        break
    else:
        return
    obj = SceneObject(_new_id(scene), category, colour, "object", [*lo, z0], [*hi, z0 + h], size, support, near)
    scene.objects.append(obj)
    meshes.append(_SMALL_MESHES[shapes](obj, COLOURS[colour]))
    if support is None:
        placed.append((lo - 0.05, hi + 0.05))


def _overlap(o: SceneObject, lo, hi) -> bool:
    return not (hi[0] <= o.bbox_min[0] or lo[0] >= o.bbox_max[0] or hi[1] <= o.bbox_min[1] or lo[1] >= o.bbox_max[1])


def _small_mesh(obj: SceneObject, rgb) -> Mesh:
    lo, hi = np.asarray(obj.bbox_min), np.asarray(obj.bbox_max)
    c = (lo + hi) / 2
    r = (hi[0] - lo[0]) / 2
    if obj.category in ("book", "box"):
        return box_mesh(lo, hi, rgb, obj.id)
    if obj.category == "ball":
        return sphere_mesh(c, r, rgb, obj.id)
    if obj.category in ("lamp", "plant"):
        stem = cylinder_mesh(c[:2], lo[2], lo[2] + 0.55 * (hi[2] - lo[2]), r * 0.45, rgb, obj.id)
        head = sphere_mesh([c[0], c[1], hi[2] - r], r, rgb, obj.id)
        return Mesh.concat([stem, head])
    return cylinder_mesh(c[:2], lo[2], hi[2], r, rgb, obj.id)  # cup, vase, bottle


def _small_mesh_v2(obj: SceneObject, rgb) -> Mesh:
    """Version 2: a silhouette per category, inside the object's bounding box (the scene graph's box stays exact).

    Why: with version 1 the commonest wrong answers of the QA model were cup / vase -> bottle and plant -> lamp, the
    pairs that share a mesh. Here a cup is a squat drum with a handle, a bottle a body with shoulders and a thin
    neck, a vase a bulb with a flared lip, a lamp a wide shade on a thin pole, a plant a ball of leaves in a pot.
    """
    lo, hi = np.asarray(obj.bbox_min), np.asarray(obj.bbox_max)
    c, r = (lo + hi) / 2, (hi[0] - lo[0]) / 2
    z0, h = lo[2], hi[2] - lo[2]
    parts: list[Mesh]
    if obj.category == "cup":
        body = cylinder_mesh(c[:2], z0, hi[2], 0.72 * r, rgb, obj.id)
        handle = box_mesh([c[0] + 0.72 * r, c[1] - 0.12 * r, z0 + 0.25 * h], [hi[0], c[1] + 0.12 * r, z0 + 0.8 * h],
                          rgb, obj.id)  # fmt: skip
        parts = [body, handle]
    elif obj.category == "bottle":
        parts = [cylinder_mesh(c[:2], z0, z0 + 0.6 * h, r, rgb, obj.id),
                 cylinder_mesh(c[:2], z0 + 0.6 * h, z0 + 0.72 * h, 0.62 * r, rgb, obj.id),
                 cylinder_mesh(c[:2], z0 + 0.72 * h, hi[2], 0.3 * r, rgb, obj.id)]  # fmt: skip
    elif obj.category == "vase":
        bulb = min(r, 0.3 * h)
        parts = [sphere_mesh([c[0], c[1], z0 + bulb], bulb, rgb, obj.id),
                 cylinder_mesh(c[:2], z0 + 1.6 * bulb, hi[2] - 0.12 * h, 0.4 * r, rgb, obj.id),
                 cylinder_mesh(c[:2], hi[2] - 0.12 * h, hi[2], 0.8 * r, rgb, obj.id)]  # fmt: skip
    elif obj.category == "lamp":
        parts = [cylinder_mesh(c[:2], z0, z0 + 0.05 * h, 0.55 * r, rgb, obj.id),
                 cylinder_mesh(c[:2], z0 + 0.05 * h, z0 + 0.62 * h, 0.1 * r, rgb, obj.id),
                 cylinder_mesh(c[:2], z0 + 0.62 * h, hi[2], r, rgb, obj.id)]  # fmt: skip
    elif obj.category == "plant":
        leaves = min(r, 0.375 * h)
        parts = [cylinder_mesh(c[:2], z0, z0 + 0.3 * h, 0.6 * r, rgb, obj.id),
                 sphere_mesh([c[0], c[1], hi[2] - leaves], leaves, rgb, obj.id)]  # fmt: skip
    else:
        return _small_mesh(obj, rgb)  # book, box, ball: already distinct
    return Mesh.concat(parts)


_SMALL_MESHES = {1: _small_mesh, 2: _small_mesh_v2}
SHAPES = tuple(_SMALL_MESHES)
"""Small-object mesh versions. 1: cup, vase and bottle are one cylinder each (told apart by their proportions only),
lamp and plant a stem under a ball. 2: every category its own silhouette (`_small_mesh_v2`). Placement, colours and
the scene graph do not depend on it; 1 stays the default until the default QA model is trained on 2 (version 1
rooms are what the committed model, the golden outputs and the recorded habitat-sim export were made from)."""
