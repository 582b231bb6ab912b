"""What the benchmarks share: the VIEWSxTOKENSxDIM shape of a token set, a median timer and the age of the process."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path


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


def process_seconds() -> float | None:
    """Seconds since this process started (Linux /proc, 10 ms resolution; None elsewhere): what a user of a command
    waits for, the interpreter's start-up and every import included."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime (fields 3.. follow the name)
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
