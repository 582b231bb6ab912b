"""`fps_host.split_run`: the chunks cover the range once each, side by side on plain threads, and a chunk's error
reaches the caller."""

from __future__ import annotations

import threading

import pytest

from segpilot.perception.pruning import fps_host


@pytest.mark.parametrize("threads,n_items", [(1, 5), (2, 5), (3, 2), (4, 9)])
def test_split_run_covers_every_item_once(threads, n_items):
    seen: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def run(lo, hi):
        with lock:
            seen.append((lo, hi, threading.current_thread().name))

    fps_host.set_threads(threads)
    try:
        fps_host.split_run(n_items, run)
    finally:
        fps_host.set_threads(None)
    covered = sorted(i for lo, hi, _ in seen for i in range(lo, hi))
    assert covered == list(range(n_items)) and len(seen) == min(threads, n_items)
    assert threading.current_thread().name in {name for _, _, name in seen}  # the caller takes a chunk itself


def test_split_run_reraises_a_chunk_error():
    def run(lo, hi):
        if lo > 0:
            raise ValueError(f"chunk {lo}:{hi}")

    fps_host.set_threads(2)
    try:
        with pytest.raises(ValueError, match="chunk"):
            fps_host.split_run(4, run)
    finally:
        fps_host.set_threads(None)
