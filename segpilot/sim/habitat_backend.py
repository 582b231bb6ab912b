"""Habitat backend: the simulator protocol over habitat_sim (imported lazily).

habitat-sim is not installable from PyPI on most machines; users install it with conda
(`conda install habitat-sim -c conda-forge -c aihabitat`) or from source. Without it,
constructing `HabitatSimulator` fails with one message saying so; everything else in
segpilot works.

Ground coordinates: Habitat's world is +Y up with agents looking along -Z at yaw 0. An
`AgentPose` (x, y, yaw) maps to Habitat position (x, base_height, -y) and rotation
yaw - pi/2 about +Y; that is the map under which segpilot's z-up scenes (exported Y-up by
`export_habitat_scene`) give the same poses and episodes in both backends. Frames are handed
out in that z-up ground frame too (`habitat_convert.to_ground`). The pure conversions below
are tested on real habitat-sim recordings.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.sim.base import AgentPose, BaseCommand, Observation, SimConfig, check_action, next_pose
from segpilot.sim.habitat_convert import frame_from_habitat, to_ground
from segpilot.sim.meshes import Mesh

INSTALL_HINT = (
    "habitat-sim is not installed: install it with conda "
    "(conda install habitat-sim -c conda-forge -c aihabitat) or build it from source"
)


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


def export_habitat_scene(mesh: Mesh, folder: str | Path, name: str) -> Path:
    """Write a Y-up PLY with per-face object ids (Replica-style semantics) and its stage config.

    Returns the `<name>.stage_config.json` path to pass as `scene`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    v = mesh.vertices
    yup = np.stack([v[:, 0], v[:, 2], -v[:, 1]], 1).astype("<f4")  # (x, y, z) z-up -> (x, z, -y) y-up
    vert = np.empty(len(v), [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vert["x"], vert["y"], vert["z"] = yup.T
    vert["red"], vert["green"], vert["blue"] = mesh.colors.T
    face = np.empty(len(mesh.triangles), [("n", "u1"), ("v", "<i4", (3,)), ("object_id", "<i4")])
    face["n"], face["v"], face["object_id"] = 3, mesh.triangles, mesh.triangle_object_ids
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vert)}\n"
        "property float x\nproperty float y\nproperty float z\nproperty uchar red\nproperty uchar green\n"
        f"property uchar blue\nelement face {len(face)}\nproperty list uchar int vertex_indices\n"
        "property int object_id\nend_header\n"
    )
    ply = folder / f"{name}.habitat.ply"
    ply.write_bytes(header.encode("ascii") + vert.tobytes() + face.tobytes())
    config = {"render_asset": ply.name, "semantic_asset": ply.name, "up": [0, 1, 0], "front": [0, 0, -1],
              "requires_lighting": False}  # fmt: skip
    path = folder / f"{name}.stage_config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


class HabitatSimulator:
    """The simulator protocol over habitat_sim: colour, depth and semantic sensors on one agent."""

    def __init__(self, scene: str | Path, config: SimConfig | None = None, gpu_device_id: int = -1):
        try:
            import habitat_sim
            import quaternion  # noqa: F401 - numpy-quaternion, habitat_sim's rotation type
        except ImportError:
            raise SegpilotError(INSTALL_HINT) from None
        if not Path(scene).exists():
            raise SegpilotError(f"Habitat scene not found: {scene}")
        self.hs = habitat_sim
        self.config = c = config or SimConfig()
        sim_cfg = habitat_sim.SimulatorConfiguration()
        sim_cfg.scene_id = str(scene)
        sim_cfg.enable_physics = False
        sim_cfg.gpu_device_id = gpu_device_id
        specs = []
        for uuid, kind in (("color", "COLOR"), ("depth", "DEPTH"), ("semantic", "SEMANTIC")):
            spec = habitat_sim.CameraSensorSpec()
            spec.uuid = uuid
            spec.sensor_type = getattr(habitat_sim.SensorType, kind)
            spec.sensor_subtype = habitat_sim.SensorSubType.PINHOLE
            spec.resolution = [c.height, c.width]
            spec.position = [0.0, c.camera_height_m, 0.0]
            spec.orientation = [math.radians(c.camera_pitch_deg), 0.0, 0.0]
            spec.hfov = c.hfov_deg
            specs.append(spec)
        agent_cfg = habitat_sim.agent.AgentConfiguration()
        agent_cfg.sensor_specifications = specs
        agent_cfg.radius = c.agent_radius_m
        act, amount = habitat_sim.agent.ActionSpec, habitat_sim.agent.ActuationSpec
        agent_cfg.action_space = {
            "move_forward": act("move_forward", amount(amount=c.forward_step_m)),
            "turn_left": act("turn_left", amount(amount=c.turn_step_deg)),
            "turn_right": act("turn_right", amount(amount=c.turn_step_deg)),
        }
        self.sim = habitat_sim.Simulator(habitat_sim.Configuration(sim_cfg, [agent_cfg]))
        self.agent = self.sim.get_agent(0)
        self._stamp = 0.0

    def _observe(self, raw: dict, collided: bool = False) -> Observation:
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

    def reset(self, start: AgentPose) -> Observation:
        import quaternion

        probe = habitat_position(start, 0.0)
        pf = self.sim.pathfinder
        if pf.is_loaded and not pf.is_navigable(pf.snap_point(probe)):
            raise SegpilotError(f"start pose ({start.x:.2f}, {start.y:.2f}) is not navigable in this Habitat scene")
        state = self.hs.AgentState()
        state.position = pf.snap_point(probe) if pf.is_loaded else probe
        state.rotation = quaternion.from_rotation_vector([0.0, habitat_yaw(start), 0.0])
        self.agent.set_state(state)
        return self._observe(self.sim.get_sensor_observations())

    def step(self, action: str | BaseCommand) -> Observation:
        check_action(action)
        if isinstance(action, BaseCommand):
            return self._step_velocity(action)
        if action == "stop":
            return self._observe(self.sim.get_sensor_observations())
        raw = self.sim.step(action)
        return self._observe(raw, bool(raw.get("collided", False)))

    def _step_velocity(self, command: BaseCommand) -> Observation:
        """Integrate the base command, then let the navmesh clip the motion (habitat-lab style)."""
        import quaternion

        state = self.agent.get_state()
        a = state.rotation
        pose = pose_from_habitat(state.position, (a.w, a.x, a.y, a.z))
        target = next_pose(pose, command, self.config)
        goal = habitat_position(target, float(state.position[1]))
        end = self.sim.pathfinder.try_step(state.position, goal)
        collided = float(np.linalg.norm(np.asarray(end) - goal)) > 1e-3
        state.position = end
        state.rotation = quaternion.from_rotation_vector([0.0, habitat_yaw(target), 0.0])
        self.agent.set_state(state)
        return self._observe(self.sim.get_sensor_observations(), collided)

    def close(self) -> None:
        self.sim.close()
