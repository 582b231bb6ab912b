"""`segpilot bench ros`: rgbd_memory throughput at 640x480 and question-to-answer latency over DDS.

Starts rgbd_memory and scene_qa as separate processes with the repository's parameter files,
streams a generated room's RGB-D frames (upsampled to 640x480, 16UC1 depth) at `rate_hz`,
and reads the nodes' own counters: the rate at which rgbd_memory turned message sets into
frames is its sustained throughput. Then it asks `questions` questions and times each from
publish to answer receipt (the default QA model, 9% SeGPruner budget): the first pays for
encoding the selected keyframes, the next ones reuse the pruned scene. Last, the camera
moves on `questions` more times (one new keyframe each) and a question follows each move:
scene_qa keeps every keyframe's tokens, so such an answer encodes the new view only.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np


def vga_scan_frames() -> list:
    """The default generated room's scan frames upsampled 2x to 640x480 (what a robot's camera sends)."""
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.geometry.frame import Frame
    from segpilot.sim.cached_scan import generated_scan

    scene = ScanNetScene(generated_scan())
    return [Frame(np.repeat(np.repeat(f.rgb, 2, 0), 2, 1), np.repeat(np.repeat(f.depth, 2, 0), 2, 1),
                  f.camera.scaled(2 * f.camera.width, 2 * f.camera.height), f.T_world_cam)
            for f in scene.frames(scene.valid_frame_ids())]  # fmt: skip


def bench_ros(frames: int = 300, rate_hz: float = 60.0, questions: int = 5, dwell: int = 10) -> dict:
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String

    from segpilot.ros_nodes.base import SENSOR_QOS
    from segpilot.ros_nodes.harness import CONFIG, Client, frame_messages, start_node, stop

    big = vga_scan_frames()
    memory = start_node("rgbd_memory", "--params-file", str(CONFIG / "rgbd_memory.yaml"))
    qa = start_node("scene_qa", "--params-file", str(CONFIG / "prune.yaml"), "--params-file",
                    str(CONFIG / "scene_qa.yaml"))  # fmt: skip
    client = Client("bench_client")
    try:
        pubs = [client.publisher(Image, "color/image_raw", SENSOR_QOS),
                client.publisher(Image, "depth/image_raw", SENSOR_QOS),
                client.publisher(CameraInfo, "color/camera_info", SENSOR_QOS),
                client.publisher(PoseStamped, "camera_pose")]  # fmt: skip
        ask = client.publisher(String, "scene_qa/question")
        for topic in ("rgbd_memory/stats", "scene_qa/answer", "scene_qa/stats"):
            client.listen(String, topic)
        client.spin_until(lambda: all(p.get_subscription_count() > 0 for p in [*pubs, ask]), 60, "nodes to start")
        client.spin_for(1.5)
        base = client.stats("rgbd_memory/stats").get("counts", {}).get("frames", 0)
        # A camera moving at walking pace: each scan view is held for `dwell` frames.
        messages = [frame_messages(big[(i // dwell) % len(big)], 1000.0 + i / rate_hz) for i in range(frames)]
        t0 = time.perf_counter()
        for i, msgs in enumerate(messages):
            for pub, msg in zip(pubs, msgs, strict=True):
                pub.publish(msg)
            client.executor.spin_once(timeout_sec=0)
            delay = t0 + (i + 1) / rate_hz - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sent_s = time.perf_counter() - t0
        client.spin_for(3.0)
        stats = client.stats("rgbd_memory/stats")
        processed = stats["counts"]["frames"] - base
        latencies = []
        answers = client.received["scene_qa/answer"]
        for q in range(questions):
            n = len(answers)
            t = time.perf_counter()
            ask.publish(
                String(data=json.dumps({"question_id": f"b{q}", "question": "What color is the box on the table?"}))
            )
            client.spin_until(lambda n=n: len(answers) > n, 120, "an answer")
            latencies.append(time.perf_counter() - t)
        reply = json.loads(answers[-1].data)
        after_move, encode_after_move = [], []
        for q in range(questions):
            view = big[(frames // dwell + q * 7 + 3) % len(big)]
            stamp = 1000.0 + (frames + 20 * (q + 1)) / rate_hz
            before = client.stats("scene_qa/stats").get("counts", {}).get("frames", 0)
            for pub, msg in zip(pubs, frame_messages(view, stamp), strict=True):
                pub.publish(msg)
            client.spin_until(lambda b=before: client.stats("scene_qa/stats").get("counts", {}).get("frames", 0) > b,
                              30, "the new keyframe to reach scene_qa")  # fmt: skip
            n = len(answers)
            t = time.perf_counter()
            ask.publish(String(data=json.dumps({"question_id": f"m{q}", "question": "What is on the table?"})))
            client.spin_until(lambda n=n: len(answers) > n, 120, "an answer")
            after_move.append(time.perf_counter() - t)
            encode_after_move.append(json.loads(answers[-1].data).get("timings_s", {}).get("encode", 0.0))
    finally:
        client.close()
        stop(memory, qa)
    return {"frames_sent": frames, "send_rate_hz": frames / sent_s, "frames_processed": processed,
            "throughput_hz": processed / sent_s, "keyframes": stats["counts"].get("keyframes", 0),
            "dropped": stats["dropped"], "image_size": [640, 480],
            "question_to_answer_s_median": statistics.median(latencies), "question_to_answer_s_all": latencies,
            "first_answer_s": latencies[0], "after_new_keyframe_s_all": after_move,
            "after_new_keyframe_s_median": statistics.median(after_move),
            "encode_after_new_keyframe_s": encode_after_move,
            "last_answer": reply}  # fmt: skip


def print_report(r: dict) -> None:
    """The figures of `bench_ros` as `segpilot bench ros` prints them."""
    print(
        f"rgbd_memory: {r['frames_processed']} / {r['frames_sent']} RGB-D sets at 640x480 processed while "
        f"sent at {r['send_rate_hz']:.1f} Hz -> {r['throughput_hz']:.1f} Hz ({r['keyframes']} keyframes)"
    )
    print(
        f"scene_qa: question -> answer over DDS, median {1000 * r['question_to_answer_s_median']:.0f} ms "
        f"({len(r['question_to_answer_s_all'])} questions; the first {1000 * r['first_answer_s']:.0f} ms); "
        f"last answer: {r['last_answer'].get('answer')!r}"
    )
    print(
        f"scene_qa: a question right after a new keyframe, median {1000 * r['after_new_keyframe_s_median']:.0f} ms"
        f" (encode {', '.join(f'{1000 * e:.0f}' for e in r['encode_after_new_keyframe_s'])} ms: the new view only)"
    )
