"""Importing transformers without re-reading its ~3,300 model files in every process (`segpilot ask`'s start-up).

Why: `import transformers` builds its lazy import structure by reading every file under `transformers/models/` and
parsing its `__all__` (`import_utils.create_import_structure_from_path`), and a process asks for it twice (the
package's `__init__` and `transformers.models`' own): ~0.45 s of the ~1.9 s a fresh `segpilot ask` waited for
transformers on 2 cores. The structure depends only on the installed files, so it is kept on disk (a pickle under
`resources.cache_dir()`), keyed by the folder, transformers' version and its installation record (pip's RECORD
lists every installed file with its SHA-256; an install without one, e.g. editable, is keyed by every file's size
and modification time instead), and read back in milliseconds.

How: `install()`, called before transformers is imported, puts a meta-path hook in front that wraps
`transformers.utils.import_utils` as it loads and swaps its `create_import_structure_from_path` for a caching
wrapper of the top-level call (the function recurses into sub-folders through the same global name: those calls
go straight to the original). Whatever goes wrong (the function renamed in another transformers version, an
unreadable or corrupt cache file, a result that cannot be pickled) falls back to transformers' own path: the hook
never changes what transformers builds, only whether it reads the files again (`tests/policies/qa/test_hf_import.py`
checks the cached structure equals the computed one).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import os
import pickle
import sys
import threading
from pathlib import Path

from segpilot.resources import cache_dir

TARGET = "transformers.utils.import_utils"
FUNCTION = "create_import_structure_from_path"
FORMAT = 1
"""Bumped when the cache files' content changes."""
_state = threading.local()


def install() -> None:
    """Cache transformers' import structure from now on (idempotent; patches at once if transformers' import_utils
    is already loaded, e.g. in a test process: `transformers.models` may still be imported later).
    `SEGPILOT_NO_IMPORT_CACHE=1` turns it off."""
    if os.environ.get("SEGPILOT_NO_IMPORT_CACHE", "") not in ("", "0"):
        return
    module = sys.modules.get(TARGET)
    if module is not None:
        _patch(module)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def structure_cache_dir() -> Path:
    return cache_dir() / "transformers-imports"


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `transformers.utils.import_utils` with the other finders and wraps its loader (then leaves)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    """The real loader, plus the patch once the module has run."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _patch(module)

    def __getattr__(self, name):  # get_code, get_source, is_package, ... of the real loader
        return getattr(self._inner, name)


def _patch(module) -> None:
    original = getattr(module, FUNCTION, None)
    if original is None or getattr(original, "_segpilot_cached", False):
        return

    def cached(module_path):
        if getattr(_state, "inside", False):  # a sub-folder of the call being computed
            return original(module_path)
        return cached_structure(original, module_path)

    cached._segpilot_cached = True
    cached.__wrapped__ = original
    cached.__doc__ = original.__doc__
    setattr(module, FUNCTION, cached)


def cached_structure(compute, module_path):
    """`compute(module_path)`, read from the disk cache when this folder's installed files were seen before."""
    folder = Path(module_path)
    folder = folder if folder.is_dir() else folder.parent  # a file stands for its folder (transformers' rule)
    key = fingerprint(folder)
    if key is None:
        return _computing(compute, module_path)
    path = structure_cache_dir() / f"{key}.pkl"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - missing, corrupt or foreign: computed and written again below
        pass
    result = _computing(compute, module_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - a read-only cache or an unpicklable result: no cache, same answer
        pass
    return result


def _computing(compute, module_path):
    """`compute(module_path)` with the wrapper passing its recursive sub-folder calls straight through."""
    outer = getattr(_state, "inside", False)
    _state.inside = True
    try:
        return compute(module_path)
    finally:
        _state.inside = outer


def fingerprint(folder: Path) -> str | None:
    """Key of a folder's installed content: transformers' version and pip's RECORD (every file's SHA-256) when the
    folder is in it, else every file's path, size and modification time. None when the folder cannot be read."""
    h = hashlib.sha256(f"{FORMAT}|{sys.version_info[:2]}|{folder.resolve()}".encode())
    record = _record_for(folder)
    if record is not None:
        h.update(record)
        return h.hexdigest()
    try:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                st = os.stat(os.path.join(root, name))
                h.update(f"{root}/{name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    except OSError:
        return None
    return h.hexdigest()


def _record_for(folder: Path) -> bytes | None:
    """transformers' version + RECORD when this folder belongs to that installed (non-editable) distribution."""
    installed = _installed_record()
    if installed is None:
        return None
    base, version, record = installed
    try:
        relative = folder.resolve().relative_to(base).as_posix()
    except ValueError:  # another copy of transformers than the installed distribution
        return None
    if f"\n{relative}/__init__.py," not in "\n" + record:
        return None
    return f"{version}\n".encode() + record.encode()


@functools.lru_cache(maxsize=1)
def _installed_record() -> tuple[Path, str, str] | None:
    """(site folder, version, RECORD text) of the installed transformers distribution, read once per process."""
    from importlib import metadata

    try:
        dist = metadata.distribution("transformers")
        record = dist.read_text("RECORD")
        base = Path(dist.locate_file("")).resolve()
    except (metadata.PackageNotFoundError, OSError, TypeError):
        return None
    return (base, dist.version, record) if record else None


def main() -> None:
    """`python -m segpilot.policies.qa.hf_import` (run by `make install`): fill the cache for this install."""
    install()
    import transformers.modeling_utils  # noqa: F401

    installed = _installed_record()
    print(f"segpilot: transformers {installed[1] if installed else '?'} import structure cached in "
          f"{structure_cache_dir()}")  # fmt: skip


if __name__ == "__main__":
    main()
