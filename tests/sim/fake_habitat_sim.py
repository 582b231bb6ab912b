"""A test double of the habitat_sim API surface `HabitatSimulator` uses (habitat-sim cannot be installed here).

It follows habitat-sim's documented behaviour, not segpilot's code:
- sensor states: agent position + R(q_agent) (sensor position), rotation q_agent * pitch (the real
  recording in ../shared/fixtures/habitat: "the position is the agent position + R(q)(0, 1.25, 0)");
- rendering: the stage config's render asset (glTF, world coordinates) and its semantic PLY rotated
  from -Z to -Y gravity, ray cast at the sensor pose (tests/sim/habitat_raycast.py);
- navmesh: 0.2.x computes one at load from the agent's radius; 0.3.x only when
  `sim_cfg.navmesh_settings` is set (Simulator.cpp v0.3.3 L214-224) or `recompute_navmesh` is called;
  it lies one cell height (0.1 m) above the floor, as the recording showed (snap_point y = 0.1);
  `snap_point` returns the nearest navigable point (NaN if none).
The navigable area comes from the scene graph beside the stage config (segpilot's occupancy grid).
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import quaternion

from segpilot.sim.embedded import OccupancyGrid
from segpilot.sim.habitat_export import T_HABITAT_ZUP, read_glb, scene_graph_beside
from segpilot.sim.scenes import Scene
from tests.sim.habitat_raycast import read_ply_faces, render

NAV_Y = 0.1


class NavMeshSettings:
    def __init__(self):
        self.agent_radius, self.agent_height = 0.1, 1.5

    def set_defaults(self):
        self.__init__()


class PathFinder:
    def __init__(self):
        self.grid, self.is_loaded, self.rng = None, False, np.random.default_rng(0)

    def build(self, scene: Scene | None, settings: NavMeshSettings):
        if scene is not None:
            self.grid, self.is_loaded = OccupancyGrid(scene, 0.05, settings.agent_radius), True

    def _free(self, p) -> bool:
        return self.grid.is_free(float(p[0]), -float(p[2]))

    def snap_point(self, p):
        free = np.argwhere(~self.grid.blocked)
        if len(free) == 0:
            return np.full(3, np.nan, np.float32)
        centres = np.array([self.grid.cell_center(r, c) for r, c in free])
        x, y = centres[np.argmin(np.hypot(centres[:, 0] - p[0], centres[:, 1] + p[2]))]
        return np.array([x, NAV_Y, -y], np.float32)

    def is_navigable(self, p, max_y_delta=0.5):
        return self._free(p) and abs(float(p[1]) - NAV_Y) <= max_y_delta

    def try_step_no_sliding(self, start, end):
        to = end if self.grid.segment_free((start[0], -start[2]), (end[0], -end[2])) else start
        return np.array([to[0], NAV_Y, to[2]], np.float32)

    def seed(self, s):
        self.rng = np.random.default_rng(s)

    def get_random_navigable_point(self):
        free = np.argwhere(~self.grid.blocked)
        x, y = self.grid.cell_center(*free[self.rng.integers(len(free))])
        return np.array([x, NAV_Y, -y], np.float32)


class AgentState:
    def __init__(self, position=None, rotation=None):
        self.position = np.zeros(3, np.float32) if position is None else np.asarray(position, np.float32)
        self.rotation = quaternion.quaternion(1, 0, 0, 0) if rotation is None else rotation
        self.sensor_states = {}


class Agent:
    def __init__(self, cfg):
        self.cfg, self.state = cfg, AgentState()

    def set_state(self, state):
        self.state = AgentState(state.position, state.rotation)

    def get_state(self):
        s = AgentState(self.state.position, self.state.rotation)
        R = quaternion.as_rotation_matrix(s.rotation)
        for spec in self.cfg.sensor_specifications:
            pitch = quaternion.from_rotation_vector([spec.orientation[0], 0.0, 0.0])
            s.sensor_states[spec.uuid] = AgentState(s.position + R @ np.asarray(spec.position), s.rotation * pitch)
        return s


class Simulator:
    def __init__(self, configuration):
        self.sim_cfg, self.agent_cfg = configuration.sim_cfg, configuration.agents[0]
        stage = Path(self.sim_cfg.scene_id)
        cfg = json.loads(stage.read_text())
        self.render_mesh = read_glb(stage.parent / cfg["render_asset"])
        sv, st, ids = read_ply_faces(stage.parent / cfg["semantic_asset"])
        self.semantic_mesh = (sv @ T_HABITAT_ZUP.T, st, ids)
        graph = scene_graph_beside(stage)
        self.scene = Scene.load(graph) if graph is not None and not MODULE.no_navmesh else None
        self.pathfinder = PathFinder()
        settings = getattr(self.sim_cfg, "navmesh_settings", None)
        if MODULE.version.startswith("0.2"):  # recomputed at load with the agent's radius
            settings = NavMeshSettings()
            settings.agent_radius = self.agent_cfg.radius
        if settings is not None:
            self.pathfinder.build(self.scene, settings)
        self.agent = Agent(self.agent_cfg)
        self.closed = False

    def recompute_navmesh(self, pathfinder, settings):
        pathfinder.build(self.scene, settings)
        return pathfinder.is_loaded

    def get_agent(self, i):
        return self.agent

    def get_sensor_observations(self):
        s = self.agent.get_state().sensor_states["depth"]
        q = s.rotation
        rot = [q.w, q.x, q.y, q.z]
        spec = self.agent_cfg.sensor_specifications[0]
        h, w = spec.resolution
        verts, tris, rgb = self.render_mesh
        depth, prim = render(verts, tris, s.position, rot, w, h, spec.hfov)
        colour = np.where(prim[..., None] >= 0, rgb[np.maximum(prim, 0)], 0).astype(np.uint8)
        sv, st, ids = self.semantic_mesh
        _, sp = render(sv, st, s.position, rot, w, h, spec.hfov)
        rgba = np.concatenate([colour, np.full((h, w, 1), 255, np.uint8)], -1)
        semantic = np.where(sp >= 0, ids[np.maximum(sp, 0)], 0).astype(np.uint32)
        return {"color": rgba, "depth": depth, "semantic": semantic}

    def close(self):
        self.closed = True


class _Spec:
    def __init__(self):
        self.uuid, self.position, self.orientation, self.resolution, self.hfov = "", [0, 0, 0], [0, 0, 0], [1, 1], 90


def make_module(version: str = "0.3.3", no_navmesh: bool = False) -> types.ModuleType:
    """A `habitat_sim` module of the given version's API."""
    global MODULE
    hs = types.ModuleType("habitat_sim")
    hs.version, hs.no_navmesh, hs.__version__ = version, no_navmesh, version

    class SimulatorConfiguration:
        def __init__(self):
            self.scene_id, self.enable_physics, self.gpu_device_id = "", True, 0
            if not version.startswith("0.2"):
                self.navmesh_settings = None

    hs.SimulatorConfiguration = SimulatorConfiguration
    hs.NavMeshSettings = NavMeshSettings
    hs.CameraSensorSpec = _Spec
    hs.SensorType = types.SimpleNamespace(COLOR="COLOR", DEPTH="DEPTH", SEMANTIC="SEMANTIC")
    hs.SensorSubType = types.SimpleNamespace(PINHOLE="PINHOLE")
    hs.agent = types.SimpleNamespace(AgentConfiguration=lambda: types.SimpleNamespace(
        sensor_specifications=[], radius=0.1, height=1.5))  # fmt: skip
    hs.Configuration = lambda sim_cfg, agents: types.SimpleNamespace(sim_cfg=sim_cfg, agents=agents)
    hs.Simulator = Simulator
    hs.AgentState = AgentState
    MODULE = hs
    return hs


MODULE = make_module()
