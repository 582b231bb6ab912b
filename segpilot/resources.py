"""Paths of the data that ships inside the package (a module of its own so adapters share it without
importing each other: the CLI, its commands and the tests all read the demo scene from here)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def demo_scene_path() -> Path:
    """The bundled ScanNet-layout scene (real habitat-sim frames of a furnished room)."""
    return Path(str(resources.files("segpilot") / "data" / "demo_scene"))


def cache_dir() -> Path:
    """$SEGPILOT_CACHE, else $XDG_CACHE_HOME/segpilot, else ~/.cache/segpilot (rendered rooms, import caches)."""
    if os.environ.get("SEGPILOT_CACHE"):
        return Path(os.environ["SEGPILOT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "segpilot"
