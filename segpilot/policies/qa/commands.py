"""The work behind `segpilot ask` and `segpilot eval scanqa` (the CLI only parses arguments)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.eval.datasets.scanqa import ScanQAItem, load_scanqa
from segpilot.eval.runner import run_batch
from segpilot.pipeline import PruneConfig
from segpilot.policies.qa.pipeline import QAPipeline, load_adapter


def ask(question: str, model: Path, scene: Path, config: PruneConfig, max_new_tokens: int, use_3d: bool) -> dict:
    adapter = load_adapter(model, use_3d_position=use_3d, device=config.device)
    pipeline = QAPipeline(adapter, config, max_new_tokens)
    answer = pipeline.answer_scene(ScanNetScene(scene), question)
    return {"question": question, "answer": answer.text, "tokens_kept": len(answer.kept),
            "tokens_total": answer.n_tokens, "timings_s": answer.timings}  # fmt: skip


def build_answerer(model: Path, scenes_root: Path, config: PruneConfig, max_new_tokens: int, use_3d: bool):
    """A function answering one ScanQA item (module-level so Ray can ship it to workers)."""
    adapter = load_adapter(model, use_3d_position=use_3d, device=config.device)
    pipeline = QAPipeline(adapter, config, max_new_tokens)

    def answer(item: ScanQAItem) -> dict:
        scene_dir = scenes_root / item.scene_id
        if not scene_dir.is_dir():
            raise SegpilotError(f"question {item.question_id}: scene {item.scene_id} not found under {scenes_root}")
        ans = pipeline.answer_scene(ScanNetScene(scene_dir), item.question)
        return {"prediction": ans.text, "tokens_kept": len(ans.kept), "tokens_total": ans.n_tokens,
                "timings_s": ans.timings}  # fmt: skip

    return answer


def eval_scanqa(
    qa_file: Path, scenes_root: Path, model: Path, out: Path, config: PruneConfig, max_new_tokens: int,
    use_3d: bool, meteor: bool = True, limit: int | None = None, engine: str = "local", workers: int = 2,
    ray_address: str | None = None,
) -> dict:  # fmt: skip
    """Answer every question of a ScanQA file (resuming a previous run in `out`) and score them."""
    items = load_scanqa(qa_file)
    if limit is not None:
        items = items[:limit]
    if not scenes_root.is_dir():
        raise SegpilotError(f"scenes root not found: {scenes_root}")
    items = sorted(items, key=lambda it: it.scene_id)  # one encode + prune per scene
    info = {"qa_file": str(qa_file), "scenes": str(scenes_root), "model": str(model), "config": vars_of(config),
            "max_new_tokens": max_new_tokens, "use_3d_position": use_3d}  # fmt: skip
    factory = partial(build_answerer, model, scenes_root, config, max_new_tokens, use_3d)
    if engine == "ray":
        from segpilot.eval.ray_engine import run_batch_ray

        load_adapter(model)  # fail fast on a bad folder before starting a cluster
        metrics = run_batch_ray(items, factory, out, workers, meteor, info, ray_address)
    elif engine == "local":
        metrics = run_batch(items, factory(), out, meteor=meteor, run_info=info)
    else:
        raise SegpilotError(f"engine must be local or ray, got {engine!r}")
    (out / "run.json").write_text(json.dumps(info, indent=1))
    return metrics


def vars_of(config: PruneConfig) -> dict:
    from dataclasses import asdict

    return asdict(config)
