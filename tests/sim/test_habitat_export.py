"""The Habitat export against REAL habitat-sim 0.2.2 output (../shared/fixtures/habitat_export).

habitat-sim's documented treatment of the assets (github.com/facebookresearch/habitat-sim):
- semantic PLY: rotated from -Z gravity to -Y gravity (`src/esp/assets/GenericSemanticMeshData.cpp`,
  v0.2.2 L63-71), i.e. vertices map (x, y, z) -> (x, z, -y) (`T_HABITAT_ZUP`);
- render asset with `up` [0, 1, 0], `front` [0, 0, -1]: its coordinates are world coordinates
  (checked on the real `fixtures/habitat/scene/room.glb` recording);
- an asset already loaded is reused (`ResourceManager.cpp` v0.2.2 L993): render and semantic asset
  sharing one file both get the semantic rotation - the recorded defect (variant a).
The tests apply exactly those transforms to the exported files and compare with what real
habitat-sim rendered at the recorded poses. Variant (a) is reproduced too, so the transforms
are the ones habitat-sim applies and the old export fails these checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segpilot.sim.habitat_export import T_HABITAT_ZUP, export_habitat_scene, read_glb, scene_graph_beside, to_habitat
from segpilot.sim.scenes import Scene, generate_scene
from tests.conftest import HABITAT_FIXTURES, shared_fixture
from tests.sim.habitat_raycast import read_ply_faces, render

EXPORT = HABITAT_FIXTURES.parent / "habitat_export"


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    return shared_fixture("habitat_export")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("habitat")
    return export_habitat_scene(generate_scene(30000), folder)  # the recorded room


def _states(fixture_dir, variant):
    return json.loads((fixture_dir / "poses.json").read_text())[variant]


def _navmesh_bounds(fixture_dir, variant):
    nav = json.loads((fixture_dir / variant / "navmesh.json").read_text())
    return np.array(nav["bounds_min"]), np.array(nav["bounds_max"])


def _assets(stage_path: Path):
    """Render and semantic meshes in Habitat's world, transformed the way habitat-sim transforms them."""
    stage = json.loads(stage_path.read_text())
    verts, tris, rgb = read_glb(stage_path.parent / stage["render_asset"])
    sv, st, ids = read_ply_faces(stage_path.parent / stage["semantic_asset"])
    return (verts, tris, rgb), (sv @ T_HABITAT_ZUP.T, st, ids)


def test_stage_config_has_separate_assets_and_both_lighting_keys(exported):
    stage = json.loads(exported.read_text())
    assert stage["render_asset"] != stage["semantic_asset"]  # one file would be reused with the semantic rotation
    assert stage["semantic_asset"].endswith(".ply") and stage["render_asset"].endswith(".glb")
    assert stage["requires_lighting"] is False and stage["force_flat_shading"] is True  # 0.2.x and 0.3.x keys
    assert stage["up"] == [0, 1, 0] and stage["front"] == [0, 0, -1]
    assert Scene.load(scene_graph_beside(exported)).seed == 30000  # episodes and goals for the Habitat backend


def test_semantic_ply_is_the_z_up_asset_real_habitat_loaded_upright(exported, fixture_dir):
    ours = (exported.parent / json.loads(exported.read_text())["semantic_asset"]).read_bytes()
    assert ours == (fixture_dir / "b_corrected" / "synth30000_00.semantic_zup.ply").read_bytes()


def test_exported_room_lies_at_the_real_navmesh_bounds(exported, fixture_dir):
    (verts, _, _), (sverts, _, _) = _assets(exported)
    lo, hi = _navmesh_bounds(fixture_dir, "b_corrected")
    for v in (verts, sverts):
        assert np.allclose(v.min(0), lo, atol=0.01) and np.allclose(v.max(0), hi, atol=0.01)
    assert verts[:, 1].max() == pytest.approx(2.5, abs=1e-4)  # walls stand along +Y


def test_exported_assets_reproduce_real_habitat_depth_and_ids(exported, fixture_dir):
    (verts, tris, _), (sverts, stris, ids) = _assets(exported)
    real = np.load(fixture_dir / "b_corrected" / "frames.npz")
    for k, st in enumerate(_states(fixture_dir, "b_corrected")):
        pos, rot = st["depth_sensor_position_xyz"], st["depth_sensor_rotation_wxyz"]
        depth, _ = render(verts, tris, pos, rot)
        assert np.mean(np.abs(depth - real["depth"][k]) <= 0.01) >= 0.99, k
        _, prim = render(sverts, stris, pos, rot)
        sem = np.where(prim >= 0, ids[np.maximum(prim, 0)], 0)
        assert np.mean(sem == real["semantic"][k]) >= 0.99, k


def test_the_old_export_reproduces_the_recorded_room_on_its_side(tmp_path, fixture_dir):
    """The same transforms applied to the old export (one Y-up PLY used as both assets) give what real
    habitat-sim showed for it: the navmesh bounds of variant (a) and its depth - the check catches defect 1."""
    mesh = generate_scene(30000).mesh
    sideways = to_habitat(mesh.vertices) @ T_HABITAT_ZUP.T  # a Y-up PLY rotated as a semantic asset
    lo, hi = _navmesh_bounds(fixture_dir, "a_as_exported")
    assert np.allclose(sideways.min(0), lo, atol=0.01) and np.allclose(sideways.max(0), hi, atol=0.01)
    real = np.load(fixture_dir / "a_as_exported" / "frames.npz")
    st = _states(fixture_dir, "a_as_exported")[0]
    depth, _ = render(sideways, mesh.triangles, st["depth_sensor_position_xyz"], st["depth_sensor_rotation_wxyz"])
    assert np.mean(np.abs(depth - real["depth"][0]) <= 0.01) >= 0.99
    upright = to_habitat(mesh.vertices)
    assert not np.allclose(upright.min(0), lo, atol=0.01)


def test_real_habitat_renders_glb_base_colours_unlit():
    """Real habitat-sim 0.2.2 with `requires_lighting` false: every stage pixel of the recorded glb room is
    exactly its material's base colour (the mechanism the export relies on for its colours)."""
    if not HABITAT_FIXTURES.is_dir():
        pytest.skip("habitat fixtures not found")
    parts = json.loads((HABITAT_FIXTURES / "scene" / "stage_parts.json").read_text())["boxes"]
    palette = {tuple(p["rgba"][:3]) for p in parts}
    for i in range(9):
        rgb = np.asarray(Image.open(HABITAT_FIXTURES / "frames" / f"rgb_{i}.png").convert("RGB")).reshape(-1, 3)
        sem = np.asarray(Image.open(HABITAT_FIXTURES / "frames" / f"semantic_{i}.png")).reshape(-1)
        depth = np.load(HABITAT_FIXTURES / "frames" / f"depth_{i}.npy").reshape(-1)
        stage = rgb[(sem == 0) & (depth > 0)]
        assert len(stage) > 1000 and all(tuple(c) in palette for c in np.unique(stage, axis=0))


def test_exported_colours_equal_the_embedded_simulators(exported, fixture_dir):
    """Unlit base colours of the exported GLB seen from the recorded poses = the embedded simulator's colour
    images of the same poses (recorded beside the Habitat output)."""
    (verts, tris, rgb), _ = _assets(exported)
    for k, st in enumerate(_states(fixture_dir, "b_corrected")):
        _, prim = render(verts, tris, st["depth_sensor_position_xyz"], st["depth_sensor_rotation_wxyz"])
        ours = np.where(prim[..., None] >= 0, rgb[np.maximum(prim, 0)], 0).astype(int)
        embedded = np.asarray(Image.open(fixture_dir / "embedded" / f"color_{k}.png").convert("RGB")).astype(int)
        close = np.abs(ours - embedded).max(-1) <= 2
        assert close.mean() >= 0.99, (k, close.mean())
