"""ScanNet's raw `.sens` stream and the folder its C++ SensReader exports, read in place.

`.sens` (ScanNet SensReader README / sensorData.h), little-endian:
    uint32 version (4); uint64 n + n chars sensor name;
    float32[16] x 4: colour intrinsics, colour extrinsics, depth intrinsics, depth extrinsics;
    int32 colour compression (-1 unknown, 0 raw, 1 png, 2 jpeg); int32 depth compression
    (-1 unknown, 0 raw ushort, 1 zlib ushort, 2 occi); uint32 colour width, height, depth width,
    height; float32 depth shift (units per metre, typically 1000); uint64 frame count; then per frame
    float32[16] camera-to-world, uint64 colour and depth timestamps, uint64 colour and depth byte
    sizes, the colour bytes, the depth bytes. (IMU frames may follow; they are not read.)
Only the frame table is read on open (offsets are found by seeking over the payloads); a frame's
bytes are read and decoded when the frame is asked for.

SensReader export (`SensReader/c++`): `frame-XXXXXX.color.jpg`, `frame-XXXXXX.depth.pgm` (16-bit,
`m_depthShift` units per metre), `frame-XXXXXX.pose.txt` (4x4 camera-to-world) and `_info.txt`
(`key = values` lines: m_depthShift, m_calibrationDepthIntrinsic, m_depthWidth, ...).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.frames import (
    FrameRecord,
    RecordSource,
    read_depth_image,
    read_image,
    read_matrix_file,
)
from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.depth import DEFAULT_MAX_DEPTH_M

_HEAD = struct.Struct("<ii4I f Q")  # compressions, sizes, depth shift, frame count
_FRAME = struct.Struct("<16f4Q")  # camera_to_world, timestamps, byte sizes


class SensScene(RecordSource):
    """Frames of one `.sens` file."""

    format = "sens"

    def __init__(self, path: str | Path, intrinsics=None, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
        self.path = path = Path(path)
        if not path.is_file():
            raise SegpilotError(f".sens file not found: {path}")
        with path.open("rb") as f:
            try:
                version, n_name = struct.unpack("<IQ", f.read(12))
                if version != 4 or n_name > 1024:
                    raise SegpilotError(f"{path}: not a ScanNet .sens file (version {version}, expected 4)")
                f.read(n_name)
                mats = np.frombuffer(f.read(4 * 64), "<f4").astype(np.float64).reshape(4, 4, 4)
                c_comp, d_comp, cw, ch, dw, dh, shift, n = _HEAD.unpack(f.read(_HEAD.size))
                frames = []
                for _ in range(n):
                    head = f.read(_FRAME.size)
                    if len(head) < _FRAME.size:
                        raise SegpilotError(f"{path}: truncated after {len(frames)} of {n} frames")
                    *c2w, ts_c, _ts_d, n_c, n_d = _FRAME.unpack(head)
                    frames.append((np.array(c2w).reshape(4, 4), ts_c, f.tell(), n_c, n_d))
                    f.seek(n_c + n_d, io.SEEK_CUR)
            except struct.error:
                raise SegpilotError(f"{path}: truncated .sens header") from None
        if d_comp not in (0, 1) or c_comp not in (0, 1, 2):
            raise SegpilotError(f"{path}: colour compression {c_comp} / depth compression {d_comp} not supported "
                                "(expected jpeg/png/raw colour and zlib/raw depth)")  # fmt: skip
        self.header = {"colour_size": (cw, ch), "depth_size": (dw, dh), "depth_shift": shift, "frames": n}
        records = {
            i: FrameRecord(f"{path.name}#{i}", lambda o=off, s=n_c: self._colour(o, s, c_comp, cw, ch),
                           lambda o=off + n_c, s=n_d: self._depth(o, s, d_comp, dw, dh), T, ts / 1e6)
            for i, (T, ts, off, n_c, n_d) in enumerate(frames)
        }  # fmt: skip
        camera = PinholeCamera.from_K(mats[2], dw, dh)  # depth intrinsics
        super().__init__(path.parent, records, camera, shift, intrinsics, max_depth_m, scene_id=path.stem)

    def _bytes(self, offset: int, size: int) -> bytes:
        with self.path.open("rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise SegpilotError(f"{self.path}: truncated frame data at byte {offset}")
        return data

    def _colour(self, offset, size, comp, w, h) -> np.ndarray:
        data = self._bytes(offset, size)
        if comp == 0:
            return np.frombuffer(data, np.uint8).reshape(h, w, 3)
        try:
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except OSError as exc:
            raise SegpilotError(f"{self.path}: corrupt colour frame at byte {offset} ({exc})") from None

    def _depth(self, offset, size, comp, w, h) -> np.ndarray:
        data = self._bytes(offset, size)
        if comp == 1:
            try:
                data = zlib.decompress(data)
            except zlib.error as exc:
                raise SegpilotError(f"{self.path}: corrupt depth frame at byte {offset} ({exc})") from None
        if len(data) != 2 * w * h:
            raise SegpilotError(f"{self.path}: depth frame at byte {offset} has {len(data)} bytes, "
                                f"expected {2 * w * h}")  # fmt: skip
        return np.frombuffer(data, "<u2").reshape(h, w)


def read_info(path: Path) -> dict[str, str]:
    """`_info.txt` of a SensReader export as key -> value text."""
    info = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            info[k.strip()] = v.strip()
    return info


class FrameFilesScene(RecordSource):
    """`frame-XXXXXX.*` folders: ScanNet's SensReader export (with `_info.txt`) and Microsoft 7-Scenes.

    7-Scenes ships no intrinsics: its published camera (fx = fy = 585, cx = 320, cy = 240 at 640x480)
    is the default; depth is millimetres with 65535 = invalid (handled by `depth_to_metres`)."""

    SEVEN_SCENES_K = (585.0, 585.0, 320.0, 240.0, 640, 480)

    def __init__(self, root: str | Path, intrinsics=None, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
        root = Path(root)
        poses = sorted(root.glob("frame-*.pose.txt"))
        if not poses:
            raise SegpilotError(f"{root} holds no frame-XXXXXX.pose.txt files")
        info_path = root / "_info.txt"
        self.format = "sensreader" if info_path.exists() else "7scenes"
        records = {}
        for k, pose in enumerate(poses):
            stem = pose.name[: -len(".pose.txt")]
            colour = next((root / f"{stem}.color{e}" for e in (".jpg", ".png") if (root / f"{stem}.color{e}").exists()),
                          root / f"{stem}.color.jpg")  # fmt: skip
            depth = next((root / f"{stem}.depth{e}" for e in (".pgm", ".png") if (root / f"{stem}.depth{e}").exists()),
                         root / f"{stem}.depth.png")  # fmt: skip
            number = stem.split("-", 1)[1]
            fid = int(number) if number.isdigit() else k
            records[fid] = FrameRecord(stem, lambda c=colour: read_image(c), lambda d=depth: read_depth_image(d),
                                       lambda p=pose: read_matrix_file(p), float(fid), pose.name)  # fmt: skip
        if self.format == "sensreader":
            info = read_info(info_path)
            try:
                K = np.array(info["m_calibrationDepthIntrinsic"].split(), float).reshape(4, 4)
                size = int(info["m_depthWidth"]), int(info["m_depthHeight"])
                shift = float(info.get("m_depthShift", 1000))
            except (KeyError, ValueError) as exc:
                raise SegpilotError(f"{info_path}: expected m_calibrationDepthIntrinsic (16 numbers), "
                                    f"m_depthWidth, m_depthHeight ({exc})") from None  # fmt: skip
            camera = PinholeCamera.from_K(K, *size)
        else:
            fx, fy, cx, cy, w, h = self.SEVEN_SCENES_K
            camera, shift = PinholeCamera(fx, fy, cx, cy, w, h), 1000.0
        super().__init__(root, records, camera, shift, intrinsics, max_depth_m)

