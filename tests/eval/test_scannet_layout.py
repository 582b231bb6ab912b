from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scannet import ScanNetScene, write_scene
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.conventions import pose_from_position_quat_xyzw
from segpilot.geometry.frame import Frame


def _frames(n=3):
    rng = np.random.default_rng(0)
    cam = PinholeCamera(50.0, 52.0, 31.5, 23.5, 64, 48)
    frames = []
    for i in range(n):
        depth = rng.uniform(0.5, 4.0, (48, 64)).astype(np.float32)
        depth[:5] = 0.0
        yy, xx = np.mgrid[0:48, 0:64]
        rgb = np.stack([xx * 4, yy * 5, np.full_like(xx, 40 * i)], -1).astype(np.uint8)  # smooth: JPEG-friendly
        T = pose_from_position_quat_xyzw(rng.normal(size=3), rng.normal(size=4))
        frames.append(Frame(rgb, depth, cam, T))
    return frames


def test_round_trip(tmp_path):
    frames = _frames()
    write_scene(tmp_path / "scene0000_00", frames)
    scene = ScanNetScene(tmp_path / "scene0000_00")
    assert scene.frame_ids == [0, 1, 2]
    assert scene.camera == frames[0].camera
    back = scene.frames()
    for a, b in zip(frames, back, strict=True):
        assert np.allclose(a.T_world_cam, b.T_world_cam, atol=1e-7)
        assert np.abs(a.depth - b.depth).max() <= 0.0005 + 1e-6  # millimetre PNG
        assert (b.depth[:5] == 0).all()
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() < 4  # JPEG


def test_invalid_pose_frames_are_skipped_with_a_warning(tmp_path, caplog):
    write_scene(tmp_path / "s", _frames())
    (tmp_path / "s" / "pose" / "1.txt").write_text("\n".join(["-inf -inf -inf -inf"] * 4))
    scene = ScanNetScene(tmp_path / "s")
    with caplog.at_level(logging.WARNING):
        assert scene.valid_frame_ids() == [0, 2]
    assert "1 of 3 poses skipped" in caplog.text and "pose/1.txt is not finite" in caplog.text
    with pytest.raises(SegpilotError, match="no usable pose"):
        scene.frame(1)


def test_colour_at_another_resolution_is_resized(tmp_path):
    from PIL import Image

    write_scene(tmp_path / "s", _frames(1))
    Image.fromarray(np.zeros((96, 128, 3), np.uint8)).save(tmp_path / "s" / "color" / "0.jpg")
    assert ScanNetScene(tmp_path / "s").frame(0).rgb.shape == (48, 64, 3)


def test_bad_layouts_give_one_clear_error(tmp_path):
    with pytest.raises(SegpilotError, match="not found"):
        ScanNetScene(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SegpilotError, match="missing color/"):
        ScanNetScene(tmp_path / "empty")
    write_scene(tmp_path / "s", _frames(1))
    (tmp_path / "s" / "intrinsic" / "intrinsic_depth.txt").write_text("1 2 3\n")
    with pytest.raises(SegpilotError, match="4x4"):
        ScanNetScene(tmp_path / "s")


def test_coverage_selection_reads_the_colour_of_the_chosen_views_only(tmp_path):
    """View selection reads depth and poses of every candidate, colour only for the views it returns: the same
    views, with their real colour, as selecting among fully loaded frames."""
    from segpilot.geometry.views import select_max_coverage
    from segpilot.pipeline import PruneConfig, load_views

    write_scene(tmp_path / "scene0001_00", _frames(9))
    scene = ScanNetScene(tmp_path / "scene0001_00")
    config = PruneConfig(views=3, view_selection="coverage")
    full = scene.frames()
    expected = [scene.frame_ids[i] for i in select_max_coverage(full, 3, config.coverage_voxel_m)]
    reads = []
    for key, rec in list(scene.records.items()):
        counted = lambda load=rec.load_rgb, name=rec.name: reads.append(name) or load()  # noqa: E731
        scene.records[key] = dataclasses.replace(rec, load_rgb=counted)
    ids, views = load_views(scene, config)
    assert ids == expected and len(reads) == len(ids) == 3
    for i, view in zip(ids, views, strict=True):
        assert np.array_equal(view.rgb, full[i].rgb) and view.rgb.any()
    placeholder = scene.frame(0, rgb=False)
    assert not placeholder.rgb.any() and np.array_equal(placeholder.depth, full[0].depth)
