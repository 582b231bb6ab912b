"""Simulator backends by name: `embedded` (runs anywhere) and `habitat` (needs habitat-sim)."""

from __future__ import annotations

from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.registry import Registry
from segpilot.sim.base import SimConfig, Simulator

SIMULATORS: Registry[Simulator] = Registry(
    "simulator", {"embedded": "segpilot.sim.registry", "habitat": "segpilot.sim.registry"}
)


@SIMULATORS.register("embedded")
def _embedded(scene: str | Path, config: SimConfig | None = None, **options) -> Simulator:
    """`scene`: a segpilot scene graph JSON (its mesh PLY beside it)."""
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.scenes import Scene

    if options:
        raise SegpilotError(f"the embedded simulator takes no options, got {', '.join(sorted(options))}")
    return EmbeddedSimulator(Scene.load(scene), config)


@SIMULATORS.register("habitat")
def _habitat(scene: str | Path, config: SimConfig | None = None, gpu_device_id: int = -1) -> Simulator:
    """`scene`: anything habitat-sim loads (.glb, .ply, a stage config, HM3D / Replica scenes);
    `gpu_device_id`: -1 renders on the CPU, >= 0 on that CUDA device."""
    from segpilot.sim.habitat_backend import HabitatSimulator

    return HabitatSimulator(scene, config, gpu_device_id=gpu_device_id)


def make_simulator(name: str, scene: str | Path, config: SimConfig | None = None, **options) -> Simulator:
    """A simulator backend by name, loaded with `scene` (backend `options`, e.g. habitat's gpu_device_id)."""
    return SIMULATORS.get(name)(scene, config, **options)
