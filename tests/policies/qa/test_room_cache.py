"""`train qa --encode-cache`: cached rooms are the computed ones exactly; stale or broken entries are recomputed."""

from __future__ import annotations

import shutil

import torch

from segpilot.eval.datasets.scanqa import load_scanqa
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.sim.make_qa import make_qa
from segpilot.training.qa_room_cache import RoomCache
from segpilot.training.qa_rooms import prepare_rooms, view_ids
from segpilot.training.qa_train import TrainConfig, build_model, build_tokenizer

TINY = dict(image_size=32, patch_size=16, vision_hidden=32, vision_layers=2, lm_hidden=32, lm_layers=1)


def _setup(tmp_path):
    data = tmp_path / "data"
    make_qa(data, 2, seed=60)
    items = load_scanqa(data / "ScanQA_v1.0_train.json")
    tok = build_tokenizer(items)
    adapter = LlavaAdapter(build_model(TrainConfig(**TINY), len(tok), tok.convert_tokens_to_ids("<image>")), tok)
    by_scene: dict = {}
    for it in items:
        by_scene.setdefault(it.scene_id, []).append(it)
    return data, adapter, by_scene


def _same(a, b):
    assert torch.equal(a.tokens.features, b.tokens.features) and torch.equal(a.tokens.saliency, b.tokens.saliency)
    assert torch.equal(a.tokens.xyz.nan_to_num(-9), b.tokens.xyz.nan_to_num(-9))
    assert torch.equal(a.tokens.view, b.tokens.view) and torch.equal(a.tokens.patch, b.tokens.patch)
    assert a.tokens.grid_hw == b.tokens.grid_hw and torch.equal(a.object_ids, b.object_ids)
    assert a.selections.keys() == b.selections.keys()
    assert all(torch.equal(a.selections[k], b.selections[k]) for k in a.selections)


def test_cached_rooms_are_the_computed_rooms_and_a_new_tower_gets_a_new_folder(tmp_path):
    data, adapter, by_scene = _setup(tmp_path)
    cache = RoomCache(tmp_path / "cache")
    views = {s: view_ids(data / "scans" / s, 2, cache) for s in sorted(by_scene)}
    assert views == {s: view_ids(data / "scans" / s, 2) for s in sorted(by_scene)}  # cached ids = computed ids
    plain = prepare_rooms(adapter, data, by_scene, views, False)
    first = prepare_rooms(adapter, data, by_scene, views, False, cache)  # computes and writes
    files = sorted((tmp_path / "cache").glob("rooms-*/*.safetensors"))
    assert len(files) == len(by_scene)
    stamp = [f.stat().st_mtime_ns for f in files]
    second = prepare_rooms(adapter, data, by_scene, views, False, cache)  # reads
    assert [f.stat().st_mtime_ns for f in files] == stamp
    for a, b, c in zip(plain, first, second, strict=True):
        _same(a, b)
        _same(a, c)
    with torch.no_grad():  # another tower: its own folder, never the old entries
        next(adapter.model.model.vision_tower.parameters()).add_(1.0)
    prepare_rooms(adapter, data, by_scene, views, False, cache)
    assert len(list((tmp_path / "cache").glob("rooms-*"))) == 2


def test_a_broken_or_moved_entry_is_recomputed_not_trusted(tmp_path):
    data, adapter, by_scene = _setup(tmp_path)
    cache = RoomCache(tmp_path / "cache")
    views = {s: view_ids(data / "scans" / s, 2, cache) for s in sorted(by_scene)}
    plain = prepare_rooms(adapter, data, by_scene, views, False, cache)
    broken = sorted((tmp_path / "cache").glob("rooms-*/*.safetensors"))[0]
    broken.write_bytes(b"not a safetensors file")
    again = prepare_rooms(adapter, data, by_scene, views, False, cache)
    for a, b in zip(plain, again, strict=True):
        _same(a, b)
    assert cache.room(broken.parent, data / "scans" / broken.stem, views[broken.stem]) is not None  # rewritten
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)  # same scene ids, another scan folder: the entries are not its
    scene_id = sorted(by_scene)[0]
    assert cache.room(broken.parent, moved / "scans" / scene_id, views[scene_id]) is None
    assert cache.view_ids(moved / "scans" / scene_id, _selection(2)) is None
    assert cache.room(broken.parent, data / "scans" / scene_id, [*views[scene_id], 99]) is None  # other views


def _selection(views: int):
    from segpilot.pipeline import PruneConfig

    return PruneConfig(views=views, view_selection="coverage")
