"""Write the model card (README.md + card.json) of a trained VLA policy from its training log and a run-vla report.

    python scripts/write_vla_card.py POLICY_DIR RUN_DIR [CI_EPISODES]

RUN_DIR is a `segpilot sim run-vla --out RUN_DIR` folder (metrics.json, routing on and off).
The card's `ci_check` takes the first CI_EPISODES (default 10) episodes of that run with
routing on: CI re-runs exactly them and requires at most one fewer success than measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from segpilot.policies.vla.data import vla_sim_config
from segpilot.policies.vla.model import VLAConfig


def main(policy: Path, run: Path, ci_episodes: int = 10) -> None:
    log = json.loads((policy / "training_log.json").read_text())
    report = json.loads((run / "metrics.json").read_text())
    modes = {name: {k: v for k, v in m.items() if k != "per_episode"} for name, m in report["modes"].items()}
    config = json.loads((policy / "config.json").read_text())
    sim = vla_sim_config(config["image_size"], config.get("camera_pitch_deg", VLAConfig.camera_pitch_deg))
    camera = {"image_size_px": sim.width, "hfov_deg": sim.hfov_deg, "height_m": sim.camera_height_m,
              "pitch_deg": sim.camera_pitch_deg}  # fmt: skip
    inputs = ["RGB-D frame", "instruction", "previous action"]
    if config.get("goal_belief"):
        scorer = "its goal grounding network" if config.get("goal_grounder") else "its frozen grounding probe"
        inputs.append(f"3D goal belief scored by {scorer} (policies.vla.goal_belief: needs depth, intrinsics and "
                      "T_world_cam)")  # fmt: skip
    if config.get("goal_plan"):
        inputs.append("next action of the shortest path on its own depth floor map to the belief's estimate "
                      "(policies.vla.floor_map: needs odometry in T_world_cam, world z up)")  # fmt: skip
    if config.get("memory_tokens"):
        inputs.append(f"SeGPruner 3D token memory of {config['memory_tokens']} tokens")
    card = {
        "schema_version": 1,
        "architecture": "CogVLA-style: 2 EFA vision streams (RGB, depth; instruction FiLM + aggregation tokens) -> "
        "LFP-routed Llama decoder layers with CAtten -> MLP-ResNet action head (discrete navigation, chunks)",
        "parameters": log["parameters"],
        "camera": camera,
        "inputs": inputs,
        "training": {
            "data": log["data"],
            "steps": log["steps_done"],
            "train_minutes": round(log["train_minutes"], 1),
            "collect_minutes": round(log["collect_minutes"], 1),
            "config": log["config"],
            "final_loss": log["log"][-1]["loss"] if log["log"] else None,
            "dagger_rounds": log.get("dagger", []),
            **({"provenance": log["provenance"]} if "provenance" in log else {}),
        },  # fmt: skip
        "evaluation": {
            "episodes": report["episodes"],
            "first_room_seed": report["seed"],
            "modes": modes,
            "replan_every": report["replan_every"],
            "temperature": report.get("temperature", 0.0),
            **{k: v for k, v in report.items() if k.startswith("routing_")},
        },  # fmt: skip
        "ci_check": {
            "episodes": ci_episodes,
            "first_room_seed": report["seed"],
            "replan_every": report["replan_every"],
            "temperature": report.get("temperature", 0.0),
            "routing": True,
            "measured_successes": sum(e["success"] for e in report["modes"]["routing_on"]["per_episode"][:ci_episodes]),
        },
    }
    card["ci_check"]["min_successes"] = max(0, card["ci_check"]["measured_successes"] - 1)
    (policy / "card.json").write_text(json.dumps(card, indent=1))
    rows = "".join(
        f"| {name} | {100 * m['success_rate']:.1f} | {m['spl']:.3f} | {m['mean_steps']:.0f} | "
        f"{m['chunk_latency_ms_median']:.1f} | {m['lm_gflops_per_chunk'] * 1000:.1f} |\n"
        for name, m in modes.items()
    )
    (policy / "README.md").write_text(
        f"# segpilot embedded VLA policy\n\n{card['architecture']}; {card['parameters'] / 1e6:.1f} M parameters, "
        f"trained by `segpilot train vla` (behaviour cloning with a grounding loss, then "
        f"{len(card['training']['dagger_rounds'])} DAgger rounds) for {card['training']['steps']} steps "
        f"({card['training']['train_minutes']} min + {card['training']['collect_minutes']} min of expert "
        f"demonstrations, {log['data']['episodes']} episodes in {log['data']['rooms']} generated rooms from seed "
        f"{log['data']['seed']}) on a 2-core CPU.\n\n"
        f"Camera: square {camera['image_size_px']} px RGB-D, {camera['hfov_deg']:g} degree field of view, "
        f"{camera['height_m']:g} m above the floor, "
        f"pitched {camera['pitch_deg']:g} degrees (`camera_pitch_deg` in config.json); every backend renders with "
        f"it, and a robot's camera should match it.\n\nInputs: {'; '.join(inputs)}.\n\n"
        f"Held-out evaluation (`segpilot sim run-vla --episodes {report['episodes']} --seed {report['seed']} "
        f"--replan-every {report['replan_every']} --temperature {report.get('temperature', 0.0)}`):\n\n"
        "| mode | success % | SPL | mean steps | chunk latency ms | LM MFLOPs / chunk |\n|---|---|---|---|---|---|\n"
        f"{rows}\nObject-goal navigation in segpilot's generated rooms only; not a robot-ready policy.\n"
    )
    print(f"wrote {policy}/README.md and card.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *(int(a) for a in sys.argv[3:4]))
