"""The learning-rate schedule both trainers use: linear warm-up, then a cosine that ends at
whichever of the step budget and the wall-clock budget runs out first, so a run stopped by
its time limit still ends annealed."""

from __future__ import annotations

import math
import time

import torch


class TimedCosine:
    """`share(step)` is the run's progress in [0, 1]; the run is over when it reaches 1."""

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int, max_minutes: float, warmup: int):
        self.steps, self.max_minutes, self.warmup = steps, max_minutes, max(1, warmup)
        self.start = time.time()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._factor)

    def share(self, step: int) -> float:
        return min(1.0, max(step / self.steps, (time.time() - self.start) / 60 / self.max_minutes))

    def _factor(self, step: int) -> float:
        return min(1.0, (step + 1) / self.warmup) * 0.5 * (1 + math.cos(math.pi * self.share(step)))

    def step(self) -> None:
        self.scheduler.step()
