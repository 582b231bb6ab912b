"""Simulator backends by name: `embedded` (runs anywhere) and `habitat` (needs habitat-sim)."""

from __future__ import annotations

from pathlib import Path

from segpilot.registry import Registry
from segpilot.sim.base import SimConfig, Simulator

SIMULATORS: Registry[Simulator] = Registry(
    "simulator", {"embedded": "segpilot.sim.registry", "habitat": "segpilot.sim.registry"}
)


@SIMULATORS.register("embedded")
def _embedded(scene: str | Path, config: SimConfig | None = None) -> Simulator:
    """`scene`: a segpilot scene graph JSON (its mesh PLY beside it)."""
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.scenes import Scene

    return EmbeddedSimulator(Scene.load(scene), config)


@SIMULATORS.register("habitat")
def _habitat(scene: str | Path, config: SimConfig | None = None) -> Simulator:
    """`scene`: anything habitat-sim loads (.glb, .ply, a stage config, HM3D / Replica scenes)."""
    from segpilot.sim.habitat_backend import HabitatSimulator

    return HabitatSimulator(scene, config)


def make_simulator(name: str, scene: str | Path, config: SimConfig | None = None) -> Simulator:
    """A simulator backend by name, loaded with `scene`."""
    return SIMULATORS.get(name)(scene, config)
