"""Test helper: write rendered frames in other people's RGB-D formats, from their public descriptions.

Each writer follows the format's own documentation (not segpilot's reader), so reading the files back
checks the reader against the format: units, axes, pose direction, naming.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.geometry.conventions import quat_xyzw_from_rotation
from segpilot.sim.base import AgentPose, SimConfig
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.scenes import generate_scene

POSES = [AgentPose(1.5, 1.5, 0.6), AgentPose(1.8, 1.6, 0.75), AgentPose(2.0, 1.9, 1.0)]


def rendered_frames(width=320, height=240, hfov_deg=60.0, seed=3):
    """Three overlapping frames of a generated room (the ground truth the readers must give back)."""
    sim = EmbeddedSimulator(generate_scene(seed), SimConfig(width=width, height=height, hfov_deg=hfov_deg))
    return [sim.render(p).frame for p in POSES]


def _png16(path: Path, depth_m: np.ndarray, units_per_m: float, invalid: int = 0) -> None:
    raw = np.where(depth_m > 0, np.round(depth_m * units_per_m), invalid)
    Image.fromarray(np.clip(raw, 0, 65535).astype(np.uint16)).save(path)


def write_tum(root: Path, frames, name="rgbd_dataset_freiburg1_test") -> Path:
    """TUM RGB-D: rgb.txt / depth.txt / groundtruth.txt (tx ty tz qx qy qz qw), depth 5000 / m; colour and
    depth stamps a few ms apart, ground truth at its own (denser) stamps."""
    seq = root / name
    (seq / "rgb").mkdir(parents=True)
    (seq / "depth").mkdir()
    rgb_lines, depth_lines, gt_lines = ["# color images"], ["# depth maps"], ["# ground truth trajectory"]
    for i, f in enumerate(frames):
        t = 1305031102.0 + i
        Image.fromarray(f.rgb).save(seq / "rgb" / f"{t + 0.011:.6f}.png")
        _png16(seq / "depth" / f"{t:.6f}.png", f.depth, 5000.0)
        rgb_lines.append(f"{t + 0.011:.6f} rgb/{t + 0.011:.6f}.png")
        depth_lines.append(f"{t:.6f} depth/{t:.6f}.png")
        q = quat_xyzw_from_rotation(f.T_world_cam[:3, :3])
        for dt in (-0.3, 0.004, 0.3):  # other poses are further away in time than the association window
            p = f.T_world_cam[:3, 3] + (0 if dt == 0.004 else 5.0)
            gt_lines.append(f"{t + dt:.4f} " + " ".join(f"{v:.6f}" for v in (*p, *q)))
    for fname, lines in (("rgb.txt", rgb_lines), ("depth.txt", depth_lines), ("groundtruth.txt", gt_lines)):
        (seq / fname).write_text("\n".join(lines) + "\n")
    return seq


def write_frame_files(root: Path, frames, seven_scenes: bool) -> Path:
    """7-Scenes (`frame-XXXXXX.color.png`, `.depth.png` mm with 65535 = invalid, `.pose.txt`) or ScanNet's
    SensReader export (`.color.jpg`, `.depth.pgm` mm, `.pose.txt`, `_info.txt`)."""
    root.mkdir(parents=True)
    for i, f in enumerate(frames):
        stem = root / f"frame-{i:06d}"
        if seven_scenes:
            Image.fromarray(f.rgb).save(f"{stem}.color.png")
            _png16(Path(f"{stem}.depth.png"), f.depth, 1000.0, invalid=65535)
        else:
            Image.fromarray(f.rgb).save(f"{stem}.color.jpg", quality=95)
            raw = np.where(f.depth > 0, np.round(f.depth * 1000), 0).astype(np.uint16)
            Image.fromarray(raw).save(f"{stem}.depth.pgm")
        np.savetxt(f"{stem}.pose.txt", f.T_world_cam, fmt="%.6f")
    if not seven_scenes:
        cam = frames[0].camera
        K = np.eye(4)
        K[:3, :3] = cam.K
        k = " ".join(f"{v:g}" for v in K.reshape(-1))
        (root / "_info.txt").write_text(
            f"m_versionNumber = 4\nm_sensorName = StructureSensor\nm_colorWidth = {cam.width}\n"
            f"m_colorHeight = {cam.height}\nm_depthWidth = {cam.width}\nm_depthHeight = {cam.height}\n"
            f"m_depthShift = 1000\nm_calibrationColorIntrinsic = {k}\nm_calibrationColorExtrinsic = "
            f"{' '.join('1' if i % 5 == 0 else '0' for i in range(16))}\nm_calibrationDepthIntrinsic = {k}\n"
            f"m_calibrationDepthExtrinsic = {' '.join('1' if i % 5 == 0 else '0' for i in range(16))}\n"
            f"m_frames.size = {len(frames)}\n"
        )
    return root


def write_sens(path: Path, frames) -> Path:
    """ScanNet `.sens` (SensReader README / sensorData.h): header, then per frame pose, stamps, sizes, JPEG
    colour and zlib-compressed uint16 depth (millimetres)."""
    cam = frames[0].camera
    K = np.eye(4, dtype=np.float32)
    K[:3, :3] = cam.K
    name = b"StructureSensor"
    out = [struct.pack("<IQ", 4, len(name)), name]
    out += [m.astype("<f4").tobytes() for m in (K, np.eye(4, dtype=np.float32), K, np.eye(4, dtype=np.float32))]
    out.append(struct.pack("<ii4IfQ", 2, 1, cam.width, cam.height, cam.width, cam.height, 1000.0, len(frames)))
    for i, f in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(f.rgb).save(buf, format="JPEG", quality=95)
        colour = buf.getvalue()
        depth = zlib.compress(np.where(f.depth > 0, np.round(f.depth * 1000), 0).astype("<u2").tobytes())
        out.append(f.T_world_cam.astype("<f4").tobytes())
        out.append(struct.pack("<4Q", 1000 * i, 1000 * i, len(colour), len(depth)))
        out += [colour, depth]
    path.write_bytes(b"".join(out))
    return path


def write_scannet_variant(root: Path, frames) -> Path:
    """ScanNet export layout as other exporters write it: PNG colour, 3x3 intrinsics, named frames."""
    for sub in ("color", "depth", "pose", "intrinsic"):
        (root / sub).mkdir(parents=True)
    np.savetxt(root / "intrinsic" / "intrinsic_depth.txt", frames[0].camera.K)
    for i, f in enumerate(frames):
        name = f"frame_{i:04d}"
        Image.fromarray(f.rgb).save(root / "color" / f"{name}.png")
        _png16(root / "depth" / f"{name}.png", f.depth, 1000.0)
        np.savetxt(root / "pose" / f"{name}.txt", f.T_world_cam)
    return root
