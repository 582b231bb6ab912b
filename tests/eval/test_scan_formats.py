"""Every scan format a user brings: frame count, intrinsics, depth in metres and pose direction.

Formats without a real sample are written from their public descriptions (tests/eval/scan_writers.py)
from rendered frames, so the reader must give back the rendered depth and poses. Pose direction is
checked by reprojection: one frame's depth, moved into another frame's camera, lands on that frame's
depth within a few cm (an inverted or transposed pose does not).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.sources import FORMATS, ScanConfig, convert, detect_format, open_scene, scene_path
from segpilot.geometry.conventions import invert_pose
from segpilot.geometry.unproject import depth_to_world, project_points
from tests.conftest import HABITAT_FIXTURES, shared_fixture
from tests.eval import scan_writers as w

REAL = HABITAT_FIXTURES.parent / "real"


@pytest.fixture(scope="module")
def frames():
    return w.rendered_frames()


@pytest.fixture
def real() -> Path:
    return shared_fixture("real")


def reprojection_agreement(a, b, T_b=None, tol_m=0.05) -> float:
    """Share of a's valid points that land in b's image on b's depth within `tol_m`."""
    T_b = b.T_world_cam if T_b is None else T_b
    pts = depth_to_world(a.depth, a.camera, a.T_world_cam).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    uv, z = project_points(pts, b.camera, T_b)
    u, v = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    inside = (z > 0.1) & (u >= 0) & (v >= 0) & (u < b.camera.width) & (v < b.camera.height)
    d = b.depth[v[inside], u[inside]]
    seen = d > 0
    if seen.sum() < 100:
        return 0.0
    return float(np.mean(np.abs(d[seen] - z[inside][seen]) <= tol_m))


def _check_against_render(scene, frames, depth_tol=0.002):
    ids = scene.valid_frame_ids()
    assert len(ids) == len(frames)
    got = scene.frames(ids)
    for g, f in zip(got, frames, strict=True):
        assert g.camera.width == f.camera.width and g.camera.fx == pytest.approx(f.camera.fx, rel=1e-4)
        both = (g.depth > 0) & (f.depth > 0)
        assert both.mean() > 0.5 and np.abs(g.depth[both] - f.depth[both]).max() <= depth_tol
        assert np.allclose(g.T_world_cam, f.T_world_cam, atol=1e-4)
    assert reprojection_agreement(got[0], got[1]) > 0.9
    assert reprojection_agreement(got[0], got[1], T_b=invert_pose(got[1].T_world_cam)) < 0.5
    return got


def test_tum_sequence_associates_frames_and_reads_5000_units(tmp_path, frames):
    seq = w.write_tum(tmp_path, frames)
    assert detect_format(seq) == "tum"
    scene = open_scene(seq)
    assert scene.camera_name == "fr1" and scene.camera.fx == 517.3  # published freiburg1 calibration by name
    scene = open_scene(seq, intrinsics=",".join(str(v) for v in (frames[0].camera.fx, frames[0].camera.fy,
                                                                   frames[0].camera.cx, frames[0].camera.cy)))
    _check_against_render(scene, frames, depth_tol=0.0002)


def test_real_tum_frame_reads_in_metres_and_a_wrong_scale_warns(real, caplog):
    from segpilot.eval.datasets.frames import read_depth_image
    from segpilot.geometry.depth import depth_to_metres

    raw = read_depth_image(REAL / "tum_frame" / "TUM_depth.png")
    metres = depth_to_metres(raw, 5000.0, source="TUM_depth.png")
    assert 1.0 < np.median(metres[metres > 0]) < 4.0
    with caplog.at_level(logging.WARNING):
        depth_to_metres(raw, 1000.0, source="TUM_depth.png (as mm)")
    assert "TUM_depth.png (as mm)" in caplog.text and "5000" in caplog.text


@pytest.mark.parametrize("seven_scenes", [True, False], ids=["7scenes", "sensreader"])
def test_frame_files_formats(tmp_path, frames, seven_scenes):
    folder = w.write_frame_files(tmp_path / "seq-01", frames, seven_scenes)
    assert detect_format(folder) == ("7scenes" if seven_scenes else "sensreader")
    if seven_scenes:  # published 7-Scenes camera by default; ours differs, so pass it
        assert open_scene(folder).camera.fx == 585.0
        cam = frames[0].camera
        scene = open_scene(folder, intrinsics=f"{cam.fx},{cam.fy},{cam.cx},{cam.cy}")
    else:
        scene = open_scene(folder)
    got = _check_against_render(scene, frames)
    if seven_scenes:  # 65535 marks "no return" and must not become 65.5 m
        assert max(float(g.depth.max()) for g in got) < 10.0


def test_sens_stream_is_read_in_place(tmp_path, frames):
    path = w.write_sens(tmp_path / "scene0001_00.sens", frames)
    assert detect_format(path) == "sens" and detect_format(tmp_path) == "sens"
    scene = open_scene(path)
    assert scene.scene_id == "scene0001_00" and scene.header["frames"] == 3
    _check_against_render(scene, frames)
    assert scene_path(tmp_path, "scene0001_00") == path  # <root>/<id>.sens as a dataset root holds it


def test_truncated_sens_is_one_line(tmp_path, frames):
    path = w.write_sens(tmp_path / "x.sens", frames)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(SegpilotError, match="truncated"):
        open_scene(path)


def test_scannet_layout_variants(tmp_path, frames):
    root = w.write_scannet_variant(tmp_path / "scene", frames)
    scene = open_scene(root)
    assert scene.format == "scannet" and scene.frame_ids == [0, 1, 2]
    _check_against_render(scene, frames)


def test_redwood_real_sample(real):
    scene = open_scene(REAL / "redwood_format")
    assert detect_format(REAL / "redwood_format") == "redwood" and scene.valid_frame_ids() == [0, 1, 2, 3, 4]
    assert (scene.camera.fx, scene.camera.cx, scene.camera.width) == (525.0, 319.5, 640)
    got = scene.frames()
    assert 1.0 < np.median(got[0].depth[got[0].depth > 0]) < 3.0  # millimetres read as metres
    assert reprojection_agreement(got[0], got[1]) > 0.9
    assert reprojection_agreement(got[0], got[1], T_b=invert_pose(got[1].T_world_cam)) < 0.5


def test_convert_writes_the_scannet_layout(tmp_path, frames):
    folder = w.write_frame_files(tmp_path / "seq", frames, seven_scenes=False)
    out, n = convert(folder, tmp_path / "scannet")
    assert n == 3 and open_scene(out).format == "scannet"
    _check_against_render(open_scene(out), frames)
    with pytest.raises(SegpilotError, match="not empty"):
        convert(folder, tmp_path / "scannet")


def test_nearly_orthonormal_poses_are_projected_and_broken_ones_skipped(tmp_path, frames, caplog):
    root = w.write_scannet_variant(tmp_path / "scene", frames)
    T = frames[0].T_world_cam.copy()
    T[:3, :3] *= 1 + 1.46e-4  # the error real 7-Scenes poses have
    np.savetxt(root / "pose" / "frame_0000.txt", T)
    bad = frames[1].T_world_cam.copy()
    bad[:3, :3] *= 1.05
    np.savetxt(root / "pose" / "frame_0001.txt", bad)
    with caplog.at_level(logging.WARNING):
        scene = open_scene(root)
        ids = scene.valid_frame_ids()
    assert ids == [0, 2] and "projected" in caplog.text and "skipped" in caplog.text
    assert "frame_0000" in caplog.text and "frame_0001" in caplog.text
    assert np.allclose(scene.frame(0).T_world_cam, frames[0].T_world_cam, atol=1e-3)


def test_unknown_folder_and_format_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SegpilotError, match="no known RGB-D scan format"):
        open_scene(tmp_path / "empty")
    with pytest.raises(SegpilotError, match="unknown scan format"):
        ScanConfig(format="kinect")
    with pytest.raises(SegpilotError, match="--intrinsics"):
        ScanConfig(intrinsics="1,2,3")
    for bad in ("../x", "/etc", "a/b", ".."):
        with pytest.raises(SegpilotError, match="plain name"):
            scene_path(tmp_path, bad)
    assert set(FORMATS) >= {"scannet", "sens", "tum", "7scenes", "redwood"}


def test_prune_on_the_real_sample_keeps_tokens_on_the_surfaces(real, tmp_path):
    """`segpilot prune --scene <real Redwood folder>` with no conversion; kept tokens lie on the scan."""
    from segpilot.cli import main

    assert main(["prune", "--scene", str(REAL / "redwood_format"), "--views", "5", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "kept.json").exists() and (tmp_path / "tokens.ply").exists()
    from scipy.spatial import cKDTree

    from segpilot.pipeline import PruneConfig, PrunePipeline

    scene = open_scene(REAL / "redwood_format")
    result = PrunePipeline(PruneConfig(views=5)).run_scene(scene)
    xyz = result.tokens.xyz[result.kept].numpy()
    xyz = xyz[np.isfinite(xyz).all(1)]
    cloud = np.concatenate([depth_to_world(f.depth, f.camera, f.T_world_cam).reshape(-1, 3)[::7]
                            for f in scene.frames()])  # fmt: skip
    cloud = cloud[np.isfinite(cloud).all(1)]
    dist, _ = cKDTree(cloud).query(xyz)
    assert len(xyz) > 100 and dist.max() <= 0.3, dist.max()


def test_depth_sanity_refuses_8_bit_and_warns_on_empty_and_rescaled_frames(tmp_path, frames, caplog):
    from segpilot.geometry.camera import PinholeCamera
    from segpilot.geometry.depth import depth_to_metres

    with pytest.raises(SegpilotError, match="8-bit"):
        depth_to_metres(np.zeros((4, 4), np.uint8), 1000.0, source="hm3d-depth.png")
    with pytest.raises(SegpilotError, match=">= 1.0 px"):
        PinholeCamera(1e-9, 1e-9, 1, 1, 4, 4)
    root = w.write_scannet_variant(tmp_path / "scene", frames)
    from PIL import Image

    Image.fromarray(np.zeros((240, 320), np.uint16)).save(root / "depth" / "frame_0001.png")
    Image.fromarray(np.zeros((120, 160), np.uint16) + 2000).save(root / "depth" / "frame_0002.png")
    with caplog.at_level(logging.WARNING):
        scene = open_scene(root)
        scene.frames()
    assert "frame_0001 has no valid depth" in caplog.text and "scaled to the depth image" in caplog.text
