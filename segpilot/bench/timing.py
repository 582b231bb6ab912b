"""What the benchmarks share: the VIEWSxTOKENSxDIM shape of a token set and a median timer."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    views: int
    tokens_per_view: int
    dim: int

    @staticmethod
    def parse(text: str) -> Shape:
        v, t, d = (int(x) for x in text.lower().split("x"))
        return Shape(v, t, d)

    @property
    def grid(self) -> tuple[int, int]:
        side = int(round(self.tokens_per_view**0.5))
        if side * side != self.tokens_per_view:
            raise ValueError(f"tokens per view must be a square grid, got {self.tokens_per_view}")
        return side, side

    def __str__(self) -> str:
        return f"{self.views}x{self.tokens_per_view}x{self.dim}"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def timed_ms(fn):
    """(milliseconds, result) of one call of `fn` (for what is too slow to repeat)."""
    t0 = time.perf_counter()
    out = fn()
    return 1000.0 * (time.perf_counter() - t0), out
