"""Habitat backend: the simulator protocol over habitat_sim (imported lazily).

habitat-sim is not installable from PyPI on most machines; users install it with conda
(`conda install habitat-sim -c conda-forge -c aihabitat`) or from source. Without it,
constructing `HabitatSimulator` fails with one message saying so; everything else in
segpilot works.

Ground coordinates: Habitat's world is +Y up with agents looking along -Z at yaw 0. An
`AgentPose` (x, y, yaw) maps to Habitat position (x, floor, -y) and rotation yaw - pi/2 about
+Y; that is the map under which segpilot's z-up scenes (exported by
`habitat_export.export_habitat_scene`) give the same poses and episodes in both backends.
Frames are handed out in that z-up ground frame too (`habitat_convert.to_ground`).

Motion is segpilot's kinematics (`next_pose`, proven equal to habitat-sim's actions on a real
recording) clipped by the navmesh with `PathFinder.try_step_no_sliding`, as the embedded
simulator clips by its grid (a blocked move does not slide). The agent's base stays at floor
height, not at the navmesh's height (Recast puts the navmesh up to one cell height, 0.1-0.2 m,
above the floor), so the camera sits `camera_height_m` above the floor as configured. The floor
is known for exported segpilot rooms (y = 0); for other scenes (HM3D, Replica, ScanNet) the
navmesh height is used, as habitat-lab does.

habitat-sim API differences this module relies on (github.com/facebookresearch/habitat-sim):
- 0.2.0-0.2.4: the navmesh is recomputed at load in Python (`simulator.py`
  `_config_pathfinder`) with the agent's radius and height when no `.navmesh` file exists;
  `SimulatorConfiguration` has no `navmesh_settings`.
- 0.2.5+ and 0.3.x: the recompute is driven by `sim_cfg.navmesh_settings`
  (`src/esp/sim/Simulator.cpp` v0.3.3 L214-224, `simulator.py` v0.3.3 L222-228); without it
  no navmesh exists. It is set here whenever the attribute exists, and a missing navmesh is
  recomputed with `Simulator.recompute_navmesh(pathfinder, settings)` (both versions).
- `NavMeshSettings.set_defaults()` exists in 0.2.x; 0.3.x constructs with defaults.
- Stage lighting key: `requires_lighting` (0.2.x) was renamed `force_flat_shading` (0.3.x,
  `StageAttributes.cpp` v0.3.3 L24); the exporter writes both.
- `gpu_device_id` -1 renders on the CPU (EGL/llvmpipe); >= 0 picks a CUDA device.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.sim.base import AgentPose, BaseCommand, Observation, SimConfig, check_action, next_pose
from segpilot.sim.habitat_convert import frame_from_habitat, to_ground

INSTALL_HINT = (
    "habitat-sim is not installed: install it with conda "
    "(conda install habitat-sim -c conda-forge -c aihabitat) or build it from source"
)
AGENT_HEIGHT_M = 1.5
"""Agent height for the navmesh (habitat-sim's AgentConfiguration default)."""
START_TOLERANCE_M = 0.05
"""How far (horizontally) the navmesh's nearest point may lie from a start pose: one navmesh cell
(habitat-sim's default cell_size). Further away, the start is not navigable."""


def habitat_position(pose: AgentPose, base_height: float) -> np.ndarray:
    """Habitat world position (Y up) of an agent pose."""
    return np.array([pose.x, base_height, -pose.y], dtype=np.float32)


def habitat_yaw(pose: AgentPose) -> float:
    """Rotation about Habitat's +Y of an agent pose (Habitat agents look along -Z at 0)."""
    return pose.yaw - math.pi / 2


def habitat_rotation_wxyz(pose: AgentPose) -> np.ndarray:
    half = habitat_yaw(pose) / 2
    return np.array([math.cos(half), 0.0, math.sin(half), 0.0])


def pose_from_habitat(position, rotation_wxyz) -> AgentPose:
    """Agent pose of a Habitat agent state (position xyz, rotation as w, x, y, z)."""
    w, _, y, _ = (float(v) for v in rotation_wxyz)
    yaw = 2.0 * math.atan2(y, w) + math.pi / 2
    return AgentPose(float(position[0]), -float(position[2]), (yaw + math.pi) % (2 * math.pi) - math.pi)


def check_start(start: AgentPose, snapped, tolerance_m: float = START_TOLERANCE_M) -> None:
    """Refuse a start whose nearest navmesh point lies more than `tolerance_m` away horizontally.

    `PathFinder.snap_point` always returns a navigable point (NaN when there is none), so
    `is_navigable(snap_point(p))` is always true and cannot be the check."""
    snapped = np.asarray(snapped, np.float64)
    gap = math.inf
    if np.isfinite(snapped).all():
        gap = math.hypot(float(snapped[0]) - start.x, float(snapped[2]) + start.y)
    if gap > tolerance_m:
        raise SegpilotError(
            f"start pose ({start.x:.2f}, {start.y:.2f}) is not navigable in this Habitat scene "
            f"(nearest navmesh point {gap:.2f} m away, tolerance {tolerance_m} m)"
        )


def check_scene_path(scene) -> Path:
    """The scene file habitat-sim will load; one line for an empty or missing path."""
    if scene is None or not str(scene).strip():
        raise SegpilotError("no Habitat scene given: expected a .glb / .ply or a .stage_config.json file")
    path = Path(scene)
    if not path.is_file():
        raise SegpilotError(f"Habitat scene not found: {path} (expected a .glb / .ply or a .stage_config.json file)")
    return path


def navmesh_settings(hs, config: SimConfig):
    """habitat_sim.NavMeshSettings for the agent's radius and height (0.2.x and 0.3.x)."""
    settings = hs.NavMeshSettings()
    if hasattr(settings, "set_defaults"):  # 0.2.x; 0.3.x constructs with defaults
        settings.set_defaults()
    settings.agent_radius = config.agent_radius_m
    settings.agent_height = AGENT_HEIGHT_M
    return settings


class HabitatSimulator:
    """The simulator protocol over habitat_sim: colour, depth and semantic sensors on one agent."""

    def __init__(self, scene: str | Path, config: SimConfig | None = None, gpu_device_id: int = -1):
        try:
            import habitat_sim
            import quaternion  # noqa: F401 - numpy-quaternion, habitat_sim's rotation type
        except ImportError:
            raise SegpilotError(INSTALL_HINT) from None
        scene = check_scene_path(scene)
        if not isinstance(gpu_device_id, int) or gpu_device_id < -1:
            raise SegpilotError(f"gpu_device_id must be -1 (CPU rendering) or a CUDA device index, got {gpu_device_id}")
        from segpilot.sim.habitat_export import scene_graph_beside

        self.hs = habitat_sim
        self.config = c = config or SimConfig()
        graph = scene_graph_beside(scene)
        self.scene_graph = graph  # segpilot scene graph of an exported room: episodes, goals, floor at y = 0
        self.floor_y: float | None = 0.0 if graph is not None else None
        sim_cfg = habitat_sim.SimulatorConfiguration()
        sim_cfg.scene_id = str(scene)
        sim_cfg.enable_physics = False
        sim_cfg.gpu_device_id = gpu_device_id
        settings = navmesh_settings(habitat_sim, c)
        if hasattr(sim_cfg, "navmesh_settings"):  # 0.2.5+ / 0.3.x: no navmesh is computed without it
            sim_cfg.navmesh_settings = settings
        agent_cfg = habitat_sim.agent.AgentConfiguration()
        sensors = (("color", "COLOR"), ("depth", "DEPTH"), ("semantic", "SEMANTIC"))
        agent_cfg.sensor_specifications = [self._sensor_spec(uuid, kind) for uuid, kind in sensors]
        agent_cfg.radius = c.agent_radius_m
        agent_cfg.height = AGENT_HEIGHT_M
        self.sim = habitat_sim.Simulator(habitat_sim.Configuration(sim_cfg, [agent_cfg]))
        self.agent = self.sim.get_agent(0)
        pf = self.sim.pathfinder
        if not pf.is_loaded:
            self.sim.recompute_navmesh(pf, settings)
        self.has_navmesh = bool(pf.is_loaded)
        if not self.has_navmesh:
            warnings.warn(f"habitat-sim has no navmesh for {scene}: the agent can turn but not move", stacklevel=2)
        self._nav_y = 0.0
        self._stamp = 0.0
        self.pose: AgentPose | None = None

    def _sensor_spec(self, uuid: str, kind: str):
        c, hs = self.config, self.hs
        spec = hs.CameraSensorSpec()
        spec.uuid = uuid
        spec.sensor_type = getattr(hs.SensorType, kind)
        spec.sensor_subtype = hs.SensorSubType.PINHOLE
        spec.resolution = [c.height, c.width]
        spec.position = [0.0, c.camera_height_m, 0.0]  # above the agent's base, which stays on the floor
        spec.orientation = [math.radians(c.camera_pitch_deg), 0.0, 0.0]
        spec.hfov = c.hfov_deg
        return spec

    def random_start(self, seed: int) -> AgentPose:
        """A navigable start from the navmesh (for scenes without segpilot episodes)."""
        if not self.has_navmesh:
            raise SegpilotError("this Habitat scene has no navmesh: no navigable start can be drawn")
        pf = self.sim.pathfinder
        pf.seed(int(seed))
        p = np.asarray(pf.get_random_navigable_point(), np.float64)
        yaw = float(np.random.default_rng(seed).uniform(-math.pi, math.pi))
        return AgentPose(float(p[0]), -float(p[2]), yaw)

    def _observe(self, collided: bool = False) -> Observation:
        raw = self.sim.get_sensor_observations()
        state = self.agent.get_state()
        sensor = state.sensor_states["depth"]
        q = sensor.rotation
        self._stamp += 1.0
        frame = frame_from_habitat(
            raw["color"], raw["depth"], np.asarray(sensor.position), np.array([q.w, q.x, q.y, q.z]),
            self.config.hfov_deg, stamp=self._stamp,
        )  # fmt: skip
        frame = to_ground(frame)  # z up, like every backend's frames
        a = state.rotation
        pose = pose_from_habitat(state.position, (a.w, a.x, a.y, a.z))
        return Observation(frame, np.asarray(raw["semantic"]).astype(np.int32), pose, collided)

    def _place(self, pose: AgentPose) -> None:
        import quaternion

        state = self.hs.AgentState()
        floor = self._nav_y if self.floor_y is None else self.floor_y
        state.position = habitat_position(pose, floor)
        state.rotation = quaternion.from_rotation_vector([0.0, habitat_yaw(pose), 0.0])
        self.agent.set_state(state)
        self.pose = pose

    def reset(self, start: AgentPose) -> Observation:
        if self.has_navmesh:
            snapped = np.asarray(self.sim.pathfinder.snap_point(habitat_position(start, self.floor_y or 0.0)))
            check_start(start, snapped)
            self._nav_y = float(snapped[1])
        self._place(start)
        return self._observe()

    def step(self, action: str | BaseCommand) -> Observation:
        check_action(action)
        if self.pose is None:
            raise SegpilotError("call reset(start) before step()")
        target = next_pose(self.pose, action, self.config)
        if (target.x, target.y) == (self.pose.x, self.pose.y):
            self._place(target)
            return self._observe()
        if not self.has_navmesh:
            raise SegpilotError(
                "this Habitat scene has no navmesh, so moves cannot be collision-checked: give habitat-sim "
                "a scene it can build a navmesh from, or a .navmesh file beside it"
            )
        pf = self.sim.pathfinder
        start, goal = habitat_position(self.pose, self._nav_y), habitat_position(target, self._nav_y)
        step = pf.try_step_no_sliding if hasattr(pf, "try_step_no_sliding") else pf.try_step
        end = np.asarray(step(start, goal), np.float64)
        collided = float(np.linalg.norm(end[[0, 2]] - goal[[0, 2]])) > 1e-3
        self._nav_y = float(end[1])
        self._place(AgentPose(float(end[0]), -float(end[2]), target.yaw))
        return self._observe(collided)

    def close(self) -> None:
        self.sim.close()
