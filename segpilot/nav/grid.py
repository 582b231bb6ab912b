"""Square floor cells: the grid the simulator's occupancy and the agent's own floor map share."""

from __future__ import annotations

import math

import numpy as np


class FloorGrid:
    """Square floor cells (rows = y, columns = x) from `origin` (world metres, z up); `blocked` cells are closed
    to the agent's centre. Shared by the simulator's grid and the agent's own floor map (`policies.vla.floor_map`)."""

    resolution: float
    blocked: np.ndarray
    origin: tuple[float, float] = (0.0, 0.0)

    @property
    def shape(self) -> tuple[int, int]:
        return self.blocked.shape

    def cell(self, x: float, y: float) -> tuple[int, int]:
        return int(math.floor((y - self.origin[1]) / self.resolution)), int(
            math.floor((x - self.origin[0]) / self.resolution)
        )

    def is_free(self, x: float, y: float) -> bool:
        r, c = self.cell(x, y)
        return 0 <= r < self.shape[0] and 0 <= c < self.shape[1] and not self.blocked[r, c]

    def segment_free(self, a, b) -> bool:
        n = max(2, int(math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / (self.resolution / 2))) + 1)
        return all(self.is_free(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])) for t in np.linspace(0, 1, n))

    def cell_center(self, r: int, c: int) -> tuple[float, float]:
        return self.origin[0] + (c + 0.5) * self.resolution, self.origin[1] + (r + 0.5) * self.resolution
