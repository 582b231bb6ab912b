"""Paths of the data that ships inside the package (a module of its own so adapters share it without
importing each other: the CLI, its commands and the tests all read the demo scene from here)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def demo_scene_path() -> Path:
    """The bundled ScanNet-layout scene (real habitat-sim frames of a furnished room)."""
    return Path(str(resources.files("segpilot") / "data" / "demo_scene"))
