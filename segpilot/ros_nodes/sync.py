"""An approximate-time synchroniser of our own (message_filters is not installable everywhere).

Messages of N streams are queued per stream; a set is emitted when every stream has a
message whose stamp lies within `slop` seconds of the set's newest one, taking the closest
candidates and dropping everything older. Stamps going backwards on a stream are refused
(counted, not queued), so a replayed or reordered sensor cannot pair with stale data.
Pure Python: no rclpy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any


class ApproximateSync:
    """Pairs messages of `n` streams whose stamps (seconds) agree within `slop`."""

    def __init__(self, n: int, slop: float, callback: Callable[..., None], queue_size: int = 10):
        if n < 1 or slop < 0 or queue_size < 1:
            raise ValueError("ApproximateSync needs n >= 1, slop >= 0 and queue_size >= 1")
        self.slop, self.callback = slop, callback
        self.queues: list[deque[tuple[float, Any]]] = [deque(maxlen=queue_size) for _ in range(n)]
        self.out_of_order = 0
        self.emitted = 0

    def add(self, stream: int, stamp: float, msg: Any) -> bool:
        """Queue one message; returns False (and counts it) when its stamp goes backwards."""
        queue = self.queues[stream]
        if queue and stamp < queue[-1][0]:
            self.out_of_order += 1
            return False
        queue.append((stamp, msg))
        self._try_emit()
        return True

    def _try_emit(self) -> None:
        while all(self.queues):
            pivot = max(q[0][0] for q in self.queues)  # the newest of the oldest heads
            picks = []
            for q in self.queues:
                best = min(range(len(q)), key=lambda i, q=q: abs(q[i][0] - pivot))
                picks.append(best)
            stamps = [q[i][0] for q, i in zip(self.queues, picks, strict=True)]
            if max(stamps) - min(stamps) <= self.slop:
                msgs = [q[i][1] for q, i in zip(self.queues, picks, strict=True)]
                for q, i in zip(self.queues, picks, strict=True):
                    for _ in range(i + 1):
                        q.popleft()
                self.emitted += 1
                self.callback(*msgs)
                continue
            # No set around the pivot: the oldest head can never match anything newer, drop it.
            oldest = min(range(len(self.queues)), key=lambda s: self.queues[s][0][0])
            self.queues[oldest].popleft()
