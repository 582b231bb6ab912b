"""An approximate-time synchroniser of our own (message_filters is not installable everywhere).

Messages of N streams are queued per stream; a set is emitted when every stream has a
message whose stamp lies within `slop` seconds of the set's newest one, taking the closest
candidates and dropping everything older. Time rules (per stream, whether or not its queue is
empty):
- a stamp older than that stream's newest accepted stamp, by at most `jump_s`, is refused and
  counted (`out_of_order`): a reordered or replayed sensor cannot pair with stale data;
- a stamp older by more than `jump_s` is a clock jump (a restarted simulator or bag, a stamp far
  in the future sent by mistake earlier): every queue and every stream's history is cleared,
  the jump is counted (`clock_resets`) and the message accepted - so one bad stamp cannot block
  the input until a restart.
Pure Python: no rclpy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any


class ApproximateSync:
    """Pairs messages of `n` streams whose stamps (seconds) agree within `slop`."""

    def __init__(self, n: int, slop: float, callback: Callable[..., None], queue_size: int = 10,
                 jump_s: float = 5.0):  # fmt: skip
        if n < 1 or slop < 0 or queue_size < 1 or not jump_s > 0:
            raise ValueError("ApproximateSync needs n >= 1, slop >= 0, queue_size >= 1 and jump_s > 0")
        self.slop, self.callback, self.jump_s = slop, callback, jump_s
        self.queues: list[deque[tuple[float, Any]]] = [deque(maxlen=queue_size) for _ in range(n)]
        self.newest: list[float | None] = [None] * n
        self.out_of_order = 0
        self.clock_resets = 0
        self.emitted = 0

    def add(self, stream: int, stamp: float, msg: Any) -> bool:
        """Queue one message; returns False (and counts it) when its stamp goes backwards within `jump_s`."""
        newest = self.newest[stream]
        if newest is not None and stamp < newest:
            if newest - stamp <= self.jump_s:
                self.out_of_order += 1
                return False
            self.reset()
            self.clock_resets += 1
        self.newest[stream] = stamp
        self.queues[stream].append((stamp, msg))
        self._try_emit()
        return True

    def reset(self) -> None:
        """Forget every queued message and every stream's newest stamp."""
        for q in self.queues:
            q.clear()
        self.newest = [None] * len(self.queues)

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
