"""The cached transformers import structure is the one transformers computes; stale or broken caches are unread."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segpilot.policies.qa import hf_import

transformers = pytest.importorskip("transformers")


def _compute(monkeypatch):
    """transformers' own function, also for its recursive calls (this process may have the hook installed)."""
    from transformers.utils import import_utils

    fn = getattr(import_utils, hf_import.FUNCTION)
    original = getattr(fn, "__wrapped__", fn)
    monkeypatch.setattr(import_utils, hf_import.FUNCTION, original)
    return original


def test_cached_structure_equals_the_computed_one_and_is_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGPILOT_CACHE", str(tmp_path))
    models = Path(transformers.__file__).parent / "models"
    compute = _compute(monkeypatch)
    expected = compute(str(models))
    first = hf_import.cached_structure(compute, models)
    files = list(hf_import.structure_cache_dir().glob("*.pkl"))
    assert first == expected and len(files) == 1
    calls = []
    second = hf_import.cached_structure(lambda p: calls.append(p), models / "__init__.py")  # a file: its folder
    assert second == expected and calls == []  # read from the cache, nothing computed


def test_a_corrupt_cache_file_is_recomputed_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGPILOT_CACHE", str(tmp_path))
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    path = hf_import.structure_cache_dir() / f"{hf_import.fingerprint(folder)}.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a pickle")
    assert hf_import.cached_structure(lambda p: {"x": {1, 2}}, folder) == {"x": {1, 2}}
    assert hf_import.cached_structure(lambda p: pytest.fail("recomputed"), folder) == {"x": {1, 2}}


def test_a_folder_outside_the_installed_record_is_keyed_by_its_files(tmp_path):
    folder = tmp_path / "pkg"
    (folder / "sub").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "sub" / "modeling_a.py").write_text("__all__ = ['A']\n")
    before = hf_import.fingerprint(folder)
    assert hf_import.fingerprint(folder) == before
    (folder / "sub" / "modeling_a.py").write_text("__all__ = ['A', 'B']\n")
    changed = hf_import.fingerprint(folder)
    (folder / "sub" / "modeling_b.py").write_text("")
    assert len({before, changed, hf_import.fingerprint(folder)}) == 3


def test_a_fresh_process_with_the_hook_imports_transformers_from_the_cache(tmp_path):
    """Two interpreters: the first writes the cache, the second reads it; both resolve the same lazy names."""
    code = (
        "import json, sys\n"
        "from segpilot.policies.qa import hf_import\n"
        "hf_import.install()\n"
        "import transformers.modeling_utils\n"
        "from transformers import LlavaForConditionalGeneration, AutoTokenizer, LlamaConfig\n"
        "from transformers.utils import import_utils\n"
        "fn = getattr(import_utils, hf_import.FUNCTION)\n"
        "names = sorted(n for n in dir(transformers) if n.startswith('Llava'))\n"
        "print(json.dumps({'patched': getattr(fn, '_segpilot_cached', False), 'names': names,"
        " 'llava': LlavaForConditionalGeneration.__name__}))\n"
    )
    env = {**__import__("os").environ, "SEGPILOT_CACHE": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(2)]  # fmt: skip
    assert runs[0] == runs[1] and runs[0]["patched"] and runs[0]["llava"] == "LlavaForConditionalGeneration"
    assert "LlavaForConditionalGeneration" in runs[0]["names"]
    written = list((tmp_path / "transformers-imports").glob("*.pkl"))
    assert 1 <= len(written) <= 8  # top-level folders only: the recursion into ~550 model folders is not cached


def test_the_hook_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("SEGPILOT_NO_IMPORT_CACHE", "1")
    before = list(sys.meta_path)
    hf_import.install()
    assert sys.meta_path == before
