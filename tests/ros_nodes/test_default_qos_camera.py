"""A camera driver that is not ours: default QoS (reliable, keep last 10), 640x480 at 15 Hz, in its own process
without segpilot's Fast DDS profile. rgbd_memory (with the profile, as the launch files start it) must pair its
sets: with best-effort image subscriptions it paired 22-62 of 150 (the driver's 900 KB images leave its 512 KB
shared-memory segment as UDP fragments, which a best-effort reader loses); image_reliability auto subscribes
reliable to a reliable driver."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from std_msgs.msg import String

from segpilot.ros_nodes.harness import CONFIG, ENV, Client, start_node, stop

pytestmark = pytest.mark.slow  # starts processes: `make test-fast` skips it

SETS = 150


def test_a_default_qos_driver_at_15_hz_is_paired():
    memory = start_node("rgbd_memory", "--params-file", str(CONFIG / "rgbd_memory.yaml"))
    client = Client("qos_client")
    client.listen(String, "rgbd_memory/stats")
    env = {k: v for k, v in ENV.items() if k != "FASTDDS_DEFAULT_PROFILES_FILE"}  # a driver that is not ours
    driver = subprocess.Popen([sys.executable, "-m", "segpilot.bench.camera_driver", "--qos", "default",
                               "--rate-hz", "15", "--count", str(SETS)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        while driver.poll() is None:
            client.spin_for(0.2)
        report = driver.stdout.read()
        sent = json.loads(report.strip().splitlines()[-1])
        counts = lambda: client.stats("rgbd_memory/stats").get("counts", {})  # noqa: E731
        for _ in range(50):  # the last sets and the next stats message (1 Hz)
            if counts().get("frames", 0) >= SETS:
                break
            client.spin_for(0.2)
    finally:
        client.close()
        out = stop(memory)  # (the switch to reliable, when the driver came up later, is in its log)
    frames = counts().get("frames", 0)
    print(f"default-QoS driver at {sent['rate_hz']} Hz: {frames} of {SETS} sets paired ({100 * frames / SETS:.1f}%)")
    assert sent["sent"] == SETS and frames >= 0.95 * SETS, out[-2000:]
