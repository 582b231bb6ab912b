"""A stand-in for a robot's RGB-D camera driver on ROS topics, for pairing tests and `bench ros`.

Publishes a generated room's views, upsampled to 640x480 (rgb8 colour, 16UC1 millimetre depth,
CameraInfo, PoseStamped of the optical frame), all four with one stamp, at `--rate-hz`, with the
QoS a driver picks: `default` (reliable, keep-last 10: what `rclcpp::QoS(10)` and most drivers'
defaults give) or `sensor` (best effort, depth 5). It is run as its own process without
segpilot's Fast DDS profile, as a driver that is not ours would be; it prints one JSON line
with the sets it sent.

    python -m segpilot.bench.camera_driver --rate-hz 15 --count 150 --qos default
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-hz", type=float, default=15.0)
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--qos", choices=("default", "sensor"), default="default")
    parser.add_argument("--dwell", type=int, default=10, help="sets per view (a camera moving at walking pace)")
    parser.add_argument("--wait-s", type=float, default=30.0, help="longest wait for a subscriber")
    args = parser.parse_args(argv)

    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from segpilot.bench.ros import vga_scan_frames
    from segpilot.ros_nodes.harness import frame_messages

    big = vga_scan_frames()
    qos = QoSProfile(depth=10) if args.qos == "default" else qos_profile_sensor_data
    rclpy.init()
    node = rclpy.create_node("camera_driver")
    pubs = [node.create_publisher(Image, "color/image_raw", qos), node.create_publisher(Image, "depth/image_raw", qos),
            node.create_publisher(CameraInfo, "color/camera_info", qos),
            node.create_publisher(PoseStamped, "camera_pose", QoSProfile(depth=10))]  # fmt: skip
    end = time.monotonic() + args.wait_s
    while time.monotonic() < end and not all(p.get_subscription_count() for p in pubs):
        rclpy.spin_once(node, timeout_sec=0.05)
    rclpy.spin_once(node, timeout_sec=1.0)  # let the match settle (QoS, transports) before the first set
    t0 = time.perf_counter()
    for i in range(args.count):
        msgs = frame_messages(big[(i // args.dwell) % len(big)], 1000.0 + i / args.rate_hz)
        for pub, msg in zip(pubs, msgs, strict=True):
            pub.publish(msg)
        delay = t0 + (i + 1) / args.rate_hz - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    sent_s = time.perf_counter() - t0
    time.sleep(1.0)  # a reliable writer resends what a reader missed
    print(json.dumps({"sent": args.count, "seconds": round(sent_s, 2), "rate_hz": round(args.count / sent_s, 2)}))
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
