"""The embedded simulator: Open3D ray casting of a scene mesh, runs anywhere (no GPU, no display).

Rendering: one ray per pixel through the pinhole camera. Ray directions are built with a
camera-frame z component of exactly 1, so the ray parameter Open3D returns *is* the z-depth.
Colour is the surface colour with Lambert shading from a fixed light, so depth edges stay
visible; the object-id image comes from the hit triangle.

Motion: a 2D occupancy grid of the floor (furniture footprints and walls, inflated by the
agent radius). An action whose path crosses an occupied cell is not executed and reports
`collided` - the agent never walks through walls or furniture.
"""

from __future__ import annotations

import math

import numpy as np

from segpilot.errors import SegpilotError
from segpilot.geometry.conventions import invert_pose
from segpilot.geometry.frame import Frame
from segpilot.nav.base import AgentPose, BaseCommand, Observation, SimConfig, next_pose
from segpilot.nav.grid import FloorGrid
from segpilot.sim.meshes import shaded_triangle_colors
from segpilot.sim.scenes import Scene


class OccupancyGrid(FloorGrid):
    """Floor cells blocked for the agent's centre (obstacles inflated by its radius), from the room's corner."""

    def __init__(self, scene: Scene, resolution: float, radius: float):
        self.resolution = resolution
        shape = (int(math.ceil(scene.depth / resolution)), int(math.ceil(scene.width / resolution)))
        ys = (np.arange(shape[0]) + 0.5) * resolution
        xs = (np.arange(shape[1]) + 0.5) * resolution
        gx, gy = np.meshgrid(xs, ys)
        self.obstacles = np.zeros(shape, bool)  # footprints only (for maps)
        blocked = (gx < radius) | (gy < radius) | (gx > scene.width - radius) | (gy > scene.depth - radius)
        for o in scene.objects:
            if o.kind == "structure" or (o.support is not None):
                continue
            lo, hi = np.asarray(o.bbox_min[:2]), np.asarray(o.bbox_max[:2])
            self.obstacles |= (gx >= lo[0]) & (gx <= hi[0]) & (gy >= lo[1]) & (gy <= hi[1])
            blocked |= (gx >= lo[0] - radius) & (gx <= hi[0] + radius) & (gy >= lo[1] - radius) & (gy <= hi[1] + radius)
        self.blocked = blocked


class EmbeddedSimulator:
    """Simulator protocol over an Open3D RaycastingScene of a generated (or any segpilot) scene."""

    def __init__(self, scene: Scene, config: SimConfig | None = None):
        import open3d as o3d  # lazy: needs libusb-1.0-0 (scripts/install_system_deps.sh)

        self.o3d = o3d
        self.scene = scene
        self.config = config or SimConfig()
        mesh = scene.mesh
        if mesh is None or len(mesh.triangles) == 0:
            raise SegpilotError(f"scene {scene.scene_id} has no mesh to render")
        self._raycaster = o3d.t.geometry.RaycastingScene()
        self._raycaster.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(mesh.triangles, np.uint32)),
        )
        # Lookup tables indexed by triangle; the extra last row answers a miss.
        self._n_tri = len(mesh.triangles)
        self._tri_ids = np.append(mesh.triangle_object_ids, 0).astype(np.int32)
        # Flat Lambert shading is per triangle, so shade once here, not per pixel per frame.
        shaded = shaded_triangle_colors(mesh, self.config.ambient_light)
        rgba = np.zeros((len(shaded) + 1, 4), np.uint8)
        rgba[:-1, :3] = shaded
        self._tri_rgba32 = rgba.view(np.uint32)[:, 0]  # one 4-byte gather per pixel instead of three
        c = self.config
        self.camera = c.camera.intrinsics()
        # Open3D's pinhole rays put pixel u's centre at u + 0.5; segpilot puts it at u.
        K_o3d = self.camera.K.copy()
        K_o3d[:2, 2] += 0.5
        self._K_o3d = o3d.core.Tensor(K_o3d)
        self.grid = OccupancyGrid(scene, c.grid_resolution_m, c.agent_radius_m)
        self.pose: AgentPose | None = None
        self._stamp = 0.0

    def T_world_cam(self, pose: AgentPose) -> np.ndarray:  # noqa: N802
        """OpenCV camera at the agent's camera height, looking along its heading, pitched."""
        p = math.radians(self.config.camera_pitch_deg)
        fwd = np.array([math.cos(p) * math.cos(pose.yaw), math.cos(p) * math.sin(pose.yaw), math.sin(p)])
        right = np.array([math.sin(pose.yaw), -math.cos(pose.yaw), 0.0])
        down = np.cross(fwd, right)
        T = np.eye(4)
        T[:3, :3] = np.stack([right, down, fwd], 1)
        T[:3, 3] = [pose.x, pose.y, self.config.camera_height_m]
        return T

    def render(self, pose: AgentPose, T_world_cam: np.ndarray | None = None) -> Observation:  # noqa: N803
        """Observation from `pose` (or from an explicit camera pose) without moving the agent."""
        T = self.T_world_cam(pose) if T_world_cam is None else T_world_cam
        c = self.config
        # Directions with camera-frame z = 1 (not unit length): the hit parameter is z-depth.
        rays = self.o3d.t.geometry.RaycastingScene.create_rays_pinhole(
            self._K_o3d, self.o3d.core.Tensor(invert_pose(T)), c.width, c.height
        )
        hit = self._raycaster.cast_rays(rays)
        t = hit["t_hit"].numpy().reshape(-1)
        miss = ~np.isfinite(t)
        prim = np.minimum(hit["primitive_ids"].numpy().reshape(-1), self._n_tri)  # a miss (max uint32) -> last row
        rgb = self._tri_rgba32[prim].view(np.uint8).reshape(-1, 4)[:, :3]
        depth = np.where(miss, np.float32(0.0), t)
        ids = self._tri_ids[prim]
        shape = (c.height, c.width)
        self._stamp += 1.0
        frame = Frame(rgb.reshape(*shape, 3), depth.reshape(shape), self.camera, T, stamp=self._stamp,
                      frame_id="camera_optical_frame")  # fmt: skip
        return Observation(frame, ids.reshape(shape), pose)

    def reset(self, start: AgentPose) -> Observation:
        if not self.grid.is_free(start.x, start.y):
            raise SegpilotError(
                f"start pose ({start.x:.2f}, {start.y:.2f}) is inside furniture, a wall or outside the room "
                f"of {self.scene.scene_id} (agent radius {self.config.agent_radius_m} m)"
            )
        self.pose = start
        return self.render(start)

    def step(self, action: str | BaseCommand) -> Observation:
        if self.pose is None:
            raise SegpilotError("call reset(start) before step()")
        target = next_pose(self.pose, action, self.config)
        collided = False
        if (target.x, target.y) != (self.pose.x, self.pose.y):
            if self.grid.segment_free((self.pose.x, self.pose.y), (target.x, target.y)):
                self.pose = target
            else:
                collided = True
                self.pose = AgentPose(self.pose.x, self.pose.y, target.yaw)
        else:
            self.pose = target
        obs = self.render(self.pose)
        obs.collided = collided
        return obs

    def close(self) -> None:
        self._raycaster = None


def free_point_near(sim: EmbeddedSimulator, x: float, y: float) -> tuple[float, float]:
    """Centre of the free floor cell nearest to (x, y)."""
    free = np.argwhere(~sim.grid.blocked)
    centres = (free[:, ::-1] + 0.5) * sim.grid.resolution
    return tuple(float(v) for v in centres[np.argmin(np.hypot(centres[:, 0] - x, centres[:, 1] - y))])
