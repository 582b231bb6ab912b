"""Pinhole camera intrinsics (OpenCV convention: integer pixel (u, v) is a pixel centre)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from segpilot.errors import SegpilotError

MIN_FOCAL_PX = 1.0
"""Smallest focal length accepted, pixels (a field of view near 180 degrees; 1e-9 px is a unit mistake)."""


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of a pinhole camera in pixels.

    u = fx * x / z + cx, v = fy * y / z + cy for a point (x, y, z) in the OpenCV optical frame
    (x right, y down, z forward); (u, v) = (column, row) with integer values at pixel centres.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise SegpilotError(f"camera {name} must be finite, got {value}")
        if self.fx < MIN_FOCAL_PX or self.fy < MIN_FOCAL_PX:
            raise SegpilotError(f"camera focal lengths must be >= {MIN_FOCAL_PX} px, got fx={self.fx}, fy={self.fy}")
        if int(self.width) != self.width or int(self.height) != self.height or self.width <= 0 or self.height <= 0:
            raise SegpilotError(f"camera size must be positive integers, got {self.width}x{self.height}")

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the standard name of the matrix
        """3x3 intrinsic matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @staticmethod
    def from_K(K: np.ndarray, width: int, height: int) -> PinholeCamera:  # noqa: N802, N803
        """From a 3x3 (or the top-left of a 4x4, as ScanNet stores it) intrinsic matrix."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape not in ((3, 3), (4, 4)):
            raise SegpilotError(f"intrinsic matrix must be 3x3 or 4x4, got shape {K.shape}")
        if abs(K[0, 1]) > 1e-9 or abs(K[1, 0]) > 1e-9 or abs(K[2, 2] - 1.0) > 1e-9:
            raise SegpilotError(
                f"intrinsic matrix must be [[fx,0,cx],[0,fy,cy],[0,0,1]] (no skew), got {K[:3, :3].tolist()}"
            )
        return PinholeCamera(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))

    @staticmethod
    def from_hfov(hfov_deg: float, width: int, height: int) -> PinholeCamera:
        """Square pixels, principal point at the image centre (Habitat's sensors)."""
        if not 0.0 < hfov_deg < 180.0:
            raise SegpilotError(f"horizontal field of view must lie in (0, 180) degrees, got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return PinholeCamera(f, f, width / 2.0 - 0.5, height / 2.0 - 0.5, width, height)

    def scaled(self, width: int, height: int) -> PinholeCamera:
        """The same camera for the image resized to width x height.

        With pixel centres at integers, pixel u covers [u - 0.5, u + 0.5], so the principal
        point maps as c' = (c + 0.5) * s - 0.5 (not c * s).
        """
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height
        )
