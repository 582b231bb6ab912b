"""The synchroniser's time rules (pure Python, no ROS)."""

from __future__ import annotations

from segpilot.ros_nodes.sync import ApproximateSync


def _sync(sets):
    return ApproximateSync(2, 0.01, lambda a, b: sets.append((a, b)), jump_s=5.0)


def test_backward_stamps_are_refused_even_with_empty_queues():
    sets = []
    sync = _sync(sets)
    assert sync.add(0, 10.0, "a") and sync.add(1, 10.0, "b")
    assert sets == [("a", "b")] and not any(sync.queues)  # queues are empty now
    assert not sync.add(0, 9.0, "old") and sync.out_of_order == 1  # still refused
    assert sync.add(0, 10.5, "c") and sync.add(1, 10.5, "d") and sets[-1] == ("c", "d")


def test_one_far_future_stamp_does_not_block_the_input():
    sets = []
    sync = _sync(sets)
    sync.add(0, 1e9, "bogus")  # a stamp years ahead, sent once by mistake
    sync.add(1, 10.0, "x")
    for t in (10.1, 10.2, 10.3):
        sync.add(0, t, f"a{t}")  # far behind the bogus one: a clock jump resets the history once
        sync.add(1, t, f"b{t}")
    assert sync.clock_resets == 1 and sets[-1] == ("a10.3", "b10.3") and len(sets) == 3


def test_a_restarted_clock_is_followed():
    sets = []
    sync = _sync(sets)
    for t in (100.0, 100.1):
        sync.add(0, t, "a")
        sync.add(1, t, "b")
    sync.add(0, 0.0, "a0")  # simulator restarted at t = 0
    sync.add(1, 0.0, "b0")
    assert sync.clock_resets == 1 and sets[-1] == ("a0", "b0")
