"""Small-object mesh versions: version 2 changes silhouettes only, never placement; version 1 is unchanged."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.sim.scenes import SHAPES, Scene, generate_scene

RESHAPED = {"cup", "vase", "bottle", "lamp", "plant"}


def _object_vertices(scene: Scene, object_id: int) -> np.ndarray:
    return scene.mesh.vertices[scene.mesh.object_ids == object_id]


@pytest.fixture(scope="module")
def rooms():
    return {seed: (generate_scene(seed), generate_scene(seed, shapes=2)) for seed in range(40, 46)}


def test_version_2_keeps_the_scene_graph_and_moves_only_reshaped_categories(rooms):
    changed = set()
    for v1, v2 in rooms.values():
        assert [vars(o) for o in v1.objects] == [vars(o) for o in v2.objects]
        for o in v1.objects:
            a, b = _object_vertices(v1, o.id), _object_vertices(v2, o.id)
            same = a.shape == b.shape and np.array_equal(a, b)
            assert same == (o.category not in RESHAPED), o.category
            if not same:
                changed.add(o.category)
    assert changed == RESHAPED  # these six rooms hold every reshaped category


def test_version_2_meshes_fill_their_boxes(rooms):
    """The scene graph's box stays the object's extent (questions, visibility and labels read it)."""
    for _, v2 in rooms.values():
        for o in v2.objects:
            if o.kind != "object":
                continue
            v = _object_vertices(v2, o.id)
            lo, hi = np.asarray(o.bbox_min, np.float32), np.asarray(o.bbox_max, np.float32)
            assert (v >= lo - 1e-5).all() and (v <= hi + 1e-5).all(), o.category
            assert np.allclose(v.min(0)[2], lo[2], atol=1e-5) and np.allclose(v.max(0)[2], hi[2], atol=1e-5)


def _radius_profile(scene: Scene, o) -> np.ndarray:
    """Largest horizontal distance from the box's axis in 5 height bands (the silhouette, without the handle)."""
    v = _object_vertices(scene, o.id)
    centre = (np.asarray(o.bbox_min) + np.asarray(o.bbox_max))[:2] / 2
    r = np.linalg.norm(v[:, :2] - centre, axis=1)
    t = (v[:, 2] - o.bbox_min[2]) / (o.bbox_max[2] - o.bbox_min[2])
    band = np.minimum((t * 5).astype(int), 4)
    return np.array([r[band == b].max() if (band == b).any() else 0.0 for b in range(5)]) / r.max()


def test_version_2_silhouettes_differ_where_version_1_shared_one(rooms):
    profiles = {}
    for _, v2 in rooms.values():
        for o in v2.objects:
            if o.category in RESHAPED and o.category not in profiles:
                profiles[o.category] = _radius_profile(v2, o)
    for a, b in (("cup", "bottle"), ("vase", "bottle"), ("cup", "vase"), ("lamp", "plant")):
        assert np.abs(profiles[a] - profiles[b]).max() > 0.3, (a, b, profiles[a], profiles[b])


def test_shapes_are_recorded_and_version_1_graphs_are_unchanged(tmp_path, rooms):
    v1, v2 = rooms[40]
    g1 = json.loads(v1.save(tmp_path / "v1").read_text())
    assert "shapes" not in g1  # byte-identical to graphs written before versions existed
    back = Scene.load(v2.save(tmp_path / "v2"))
    assert back.shapes == 2 and np.array_equal(back.mesh.vertices, v2.mesh.vertices)
    assert Scene.load(tmp_path / "v1" / f"{v1.scene_id}.json").shapes == 1


def test_unknown_shapes_version_is_one_clear_error():
    with pytest.raises(SegpilotError, match=re.escape(f"shapes must be one of {SHAPES}, got 3")):
        generate_scene(1, shapes=3)
