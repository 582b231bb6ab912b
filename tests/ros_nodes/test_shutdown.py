"""Ctrl-C on a node (what `ros2 launch` sends first): a clean exit, code 0, well inside launch's 5 s before it
escalates to SIGTERM - measured on the installed executables, with torch and a model loaded."""

from __future__ import annotations

import signal
import time

import pytest

from segpilot.ros_nodes.harness import CONFIG, Client, start_node

pytestmark = pytest.mark.slow  # starts processes or runs models end to end: `make test-fast` skips it


@pytest.mark.parametrize("node,params", [("scene_qa", ["prune.yaml", "scene_qa.yaml"]),
                                         ("rgbd_memory", ["rgbd_memory.yaml"]), ("vla_policy", ["vla_policy.yaml"]),
                                         ("sim_bridge", ["sim_bridge.yaml"])])  # fmt: skip
def test_sigint_exits_cleanly_within_launch_grace_period(node, params):
    from std_msgs.msg import String

    args = [a for name in params for a in ("--params-file", str(CONFIG / name))]
    proc = start_node(node, *args)
    client = Client()
    try:
        client.listen(String, f"{node}/stats")
        client.spin_until(lambda: client.received[f"{node}/stats"], 90, f"{node} to come up")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
        took = time.monotonic() - t0
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and took < 5.0, (proc.returncode, took, out[-2000:])
    assert "Traceback" not in out and "shutting down" in out
    # a launch log without errors after Ctrl-C, progress bars or library warnings
    assert "Failed to publish" not in out and "it/s]" not in out and "Warning" not in out, out[-2000:]
    print(f"{node}: SIGINT -> exit 0 in {took:.2f} s")
