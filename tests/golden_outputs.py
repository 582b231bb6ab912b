"""Golden outputs: what the registered pruners keep and what the default QA and VLA models answer / do on
fixed inputs. `python -m tests.golden_outputs` freezes them into tests/golden/golden.json; test_golden.py
recomputes and compares, so a refactor (moving modules, splitting rooms) cannot silently change results."""

from __future__ import annotations

import json
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "golden.json"


def pruner_outputs() -> dict:
    import torch

    from segpilot.perception.pruning.registry import available_pruners, make_pruner
    from tests.conftest import make_tokens

    tokens = make_tokens(n_views=4, grid=6, dim=16, seed=7)
    query = torch.randn(16, generator=torch.Generator().manual_seed(3))
    out = {}
    for name in available_pruners():
        pruner = make_pruner(name)
        out[name] = {str(b): pruner.select(tokens, b, query=query).tolist() for b in (0.1, 20)}
    return out


def qa_outputs() -> dict:
    from segpilot.cli import demo_scene_path
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.pipeline import PruneConfig
    from segpilot.policies.qa.pipeline import QAPipeline, load_adapter

    pipeline = QAPipeline(load_adapter(None), PruneConfig(views=4), max_new_tokens=4)
    scene = ScanNetScene(demo_scene_path())
    out = {}
    for q in ("What color is the box on the table?", "How many chairs are there in the room?"):
        answer = pipeline.answer_scene(scene, q)
        out[q] = {"answer": answer.text, "kept": sorted(int(k) for k in answer.kept)}
    return out


def vla_outputs() -> dict:
    from segpilot.policies.vla.agent import VLAAgent
    from segpilot.policies.vla.data import vla_sim_config
    from segpilot.policies.vla.io import load_policy
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import episode_in_room
    from segpilot.sim.scenes import generate_scene

    policy = load_policy(None)
    config = vla_sim_config(policy.config.image_size, policy.config.camera_pitch_deg)
    sim = EmbeddedSimulator(generate_scene(30000), config)
    episode = episode_in_room(sim.scene, config, 0, categories=None)
    agent = VLAAgent(policy, episode.instruction, None, True, temperature=0.0, seed=0)
    obs, actions = sim.reset(episode.start_pose), []
    agent.reset()
    for _ in range(12):
        action = agent.act(obs)
        actions.append(action)
        if action == "stop":
            break
        obs = sim.step(action)
    return {"instruction": episode.instruction, "actions": actions}


def compute() -> dict:
    return {"schema_version": 1, "pruners": pruner_outputs(), "qa": qa_outputs(), "vla": vla_outputs()}


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(compute(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
