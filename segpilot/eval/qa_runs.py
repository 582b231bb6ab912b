"""The work behind `segpilot ask` and `segpilot eval scanqa` (the CLI only parses arguments)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem, load_scanqa
from segpilot.eval.datasets.sources import ScanConfig, scene_path
from segpilot.eval.run_folder import file_sha256, model_identity, open_run
from segpilot.eval.runner import run_batch
from segpilot.pipeline import PruneConfig
from segpilot.policies.qa.pipeline import QAPipeline, check_model_dir, default_model_path, load_adapter

log = logging.getLogger(__name__)


def ask(question: str, model: Path, scene: Path, config: PruneConfig, max_new_tokens: int, use_3d: bool,
        out: Path | None = None, scan: ScanConfig | None = None) -> dict:  # fmt: skip
    """Answer one question about one scan (any format `sources` reads); with `out`, also write overlays,
    tokens.ply and kept.json."""
    scan = (scan or ScanConfig()).open(scene)
    t0 = time.perf_counter()
    from segpilot.policies.qa import hf_import

    hf_import.install()
    import transformers.modeling_utils  # noqa: F401 - every adapter family's base: most of a fresh process's wait

    t1 = time.perf_counter()
    adapter = load_adapter(model, use_3d_position=use_3d, device=config.device)
    startup = {"import_transformers": t1 - t0, "model_load": time.perf_counter() - t1}
    pipeline = QAPipeline(adapter, config, max_new_tokens)
    answer = pipeline.answer_scene(scan, question)
    if out is not None:
        from segpilot.viz.prune_outputs import write_prune_outputs

        write_prune_outputs(out, scan, pipeline.prepare(scan), pipeline)
    return {"question": question, **answer.to_record(), "startup_s": startup}


def load_questions(path: Path) -> list[dict]:
    """A question file: a JSON list of texts or of objects with "question" (and optional "answers")."""
    from segpilot.jsonio import read_json

    data = read_json(path, "a question file")
    if not isinstance(data, list) or not data:
        raise SegpilotError(f"{path}: expected a non-empty JSON list of questions")
    out = []
    for i, q in enumerate(data):
        if isinstance(q, str):
            q = {"question": q}
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            raise SegpilotError(f"{path}: entry {i} must be a text or an object with a 'question' text")
        answers = q.get("answers")
        if answers is not None and (not isinstance(answers, list) or not all(isinstance(a, str) for a in answers)):
            raise SegpilotError(f"{path}: entry {i}: 'answers' must be a list of texts")
        out.append({"question": q["question"], "answers": answers})
    return out


def ask_many(questions: Path | list[dict], model: Path | None, scene: Path, config: PruneConfig, max_new_tokens: int,
             use_3d: bool, out: Path | None = None, scan: ScanConfig | None = None) -> dict:  # fmt: skip
    """Answer every question of a file (or `load_questions`' list) about one scan: encoded, pruned and (LLaVA)
    prefix-cached once. With
    `out`, one JSON line per answer in answers.jsonl."""
    from segpilot.eval.metrics import exact_match

    if not isinstance(questions, list):
        questions = load_questions(questions)
    source = (scan or ScanConfig()).open(scene)
    pipeline = QAPipeline(load_adapter(model, use_3d_position=use_3d, device=config.device), config, max_new_tokens)
    records = []
    for q in questions:
        answer = pipeline.answer_scene(source, q["question"])
        right = None if not q["answers"] else bool(exact_match(answer.text, q["answers"]))
        records.append({"question": q["question"], "answers": q["answers"], "right": right, **answer.to_record()})
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    scored = [r for r in records if r["right"] is not None]
    right = sum(r["right"] for r in scored)
    return {"answers": records, "scored": len(scored), "right": right,
            "right_pct": 100.0 * right / len(scored) if scored else None}  # fmt: skip


def build_answerer(model: Path, scenes_root: Path, config: PruneConfig, max_new_tokens: int, use_3d: bool,
                   scan: ScanConfig | None = None):  # fmt: skip
    """A function answering one ScanQA item (module-level so Ray can ship it to workers)."""
    adapter = load_adapter(model, use_3d_position=use_3d, device=config.device)
    pipeline = QAPipeline(adapter, config, max_new_tokens)
    scan = scan or ScanConfig()

    def answer(item: ScanQAItem) -> dict:
        scene_dir = scene_path(scenes_root, item.scene_id)
        if not scene_dir.exists():
            raise SegpilotError(f"question {item.question_id}: scene {item.scene_id} not found under {scenes_root}")
        return pipeline.answer_scene(scan.open(scene_dir), item.question).to_record()

    return answer


def eval_scanqa(
    qa_file: Path, scenes_root: Path, model: Path, out: Path, config: PruneConfig, max_new_tokens: int,
    use_3d: bool, meteor: bool = True, limit: int | None = None, engine: str = "local", workers: int = 2,
    ray_address: str | None = None, scan: ScanConfig | None = None, require_all: bool = False, force: bool = False,
) -> dict:  # fmt: skip
    """Answer every question of a ScanQA file (resuming a previous run in `out`) and score them.

    Questions whose scene is not under `scenes_root` are skipped and counted (log and metrics.json),
    unless `require_all`: a ScanNet user's folder rarely holds every scene of a split."""
    items = load_scanqa(qa_file)
    if limit is not None:
        items = items[:limit]
    if not scenes_root.is_dir():
        raise SegpilotError(f"scenes root not found: {scenes_root}")
    items, missing = split_missing(items, lambda it: scene_path(scenes_root, it.scene_id).exists(), require_all,
                                   f"scene under {scenes_root}")  # fmt: skip
    items = sorted(items, key=lambda it: it.scene_id)  # one encode + prune per scene
    model_name = str(model or default_model_path())
    info = {"qa_file": str(qa_file), "scenes": str(scenes_root), "model": model_name, "config": asdict(config),
            "max_new_tokens": max_new_tokens, "use_3d_position": use_3d, "scan": asdict(scan or ScanConfig()),
            "skipped_missing_scene": missing}  # fmt: skip
    factory = partial(build_answerer, model, scenes_root, config, max_new_tokens, use_3d, scan)
    identity = {"command": "eval scanqa", "qa_sha256": file_sha256(qa_file), "scenes": str(scenes_root.resolve()),
                "model": model_identity(model_name), "config": asdict(config), "max_new_tokens": max_new_tokens,
                "use_3d_position": use_3d, "scan": asdict(scan or ScanConfig())}  # fmt: skip
    with open_run(out, identity, force):
        metrics = _run_engine(items, factory, out, engine, workers, meteor, info, ray_address, model)
    (out / "run.json").write_text(json.dumps(info, indent=1))
    return _with_skipped(out, metrics, missing)


def _run_engine(items, factory, out, engine, workers, meteor, info, ray_address, model) -> dict:
    if engine == "ray":
        from segpilot.eval.ray_engine import run_batch_ray

        check_model_dir(model)  # fail fast on a bad folder (without loading it) before starting a cluster
        metrics = run_batch_ray(items, factory, out, workers, meteor, info, ray_address)
    elif engine == "local":
        metrics = run_batch(items, factory(), out, meteor=meteor, run_info=info)
    else:
        raise SegpilotError(f"engine must be local or ray, got {engine!r}")
    return metrics


def split_missing(items: list, present, require_all: bool, what: str) -> tuple[list, dict]:
    """Items whose scene / episode is present, and a count of the others by id (logged once)."""
    kept = [it for it in items if present(it)]
    gone = sorted({it.scene_id for it in items} - {it.scene_id for it in kept})
    if gone and require_all:
        raise SegpilotError(f"{len(items) - len(kept)} questions have no {what}: first missing {gone[0]!r} "
                            "(without --require-all they are skipped)")  # fmt: skip
    if gone:
        log.warning("skipped %d of %d questions: %d scenes without a %s (first %r)", len(items) - len(kept),
                    len(items), len(gone), what, gone[0])  # fmt: skip
    if not kept:
        raise SegpilotError(f"none of the {len(items)} questions has a {what}")
    return kept, {"questions": len(items) - len(kept), "scenes": len(gone)}


def _with_skipped(out: Path, metrics: dict, missing: dict) -> dict:
    from segpilot.eval.runner import write_json_atomic

    metrics["skipped_missing_scene"] = missing
    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def eval_openeqa(
    qa_file: Path, frames_root: Path, model: Path, out: Path, config: PruneConfig, max_new_tokens: int, use_3d: bool,
    judge: Path | None = None, meteor: bool = True, limit: int | None = None, subset: Path | None = None,
    require_all: bool = False, force: bool = False,
) -> dict:  # fmt: skip
    """OpenEQA: answers from extracted episode frames; EM and captioning metrics (every accepted answer, the
    extra ones too); LLM-Match with a local judge. Questions whose episode folder is missing are skipped and
    counted unless `require_all` (a ScanNet-only user has no HM3D episodes)."""
    from segpilot.eval.datasets.openeqa import OpenEQAEpisode, load_openeqa, load_subset

    raw = load_openeqa(qa_file)
    if subset is not None:
        raw = load_subset(subset, raw)
    raw = raw[:limit]
    if not frames_root.is_dir():
        raise SegpilotError(f"frames root not found: {frames_root}")
    source = {it.episode_history: it.source for it in raw}
    extra = {it.question_id: it.extra_answers for it in raw}
    items = [ScanQAItem(it.question_id, it.episode_history, it.question, (it.answer, *it.extra_answers),
                        question_type=it.category) for it in raw]  # fmt: skip
    items, missing = split_missing(items, lambda it: (frames_root / it.scene_id).is_dir(), require_all,
                                   f"episode folder under {frames_root}")  # fmt: skip
    items.sort(key=lambda it: it.scene_id)
    adapter = load_adapter(model, use_3d_position=use_3d, device=config.device)
    pipeline = QAPipeline(adapter, config, max_new_tokens)

    def answer(item: ScanQAItem) -> dict:
        episode = OpenEQAEpisode(frames_root / item.scene_id, source[item.scene_id])
        return pipeline.answer_scene(episode, item.question).to_record()

    info = {"qa_file": str(qa_file), "subset": str(subset) if subset else None, "frames": str(frames_root),
            "model": str(model or default_model_path()), "config": asdict(config), "skipped_missing_episode": missing}
    identity = {"command": "eval openeqa", "qa_sha256": file_sha256(qa_file), "frames": str(frames_root.resolve()),
                "subset_sha256": file_sha256(subset) if subset else None, "model": model_identity(info["model"]),
                "config": asdict(config), "max_new_tokens": max_new_tokens, "use_3d_position": use_3d,
                "judge": model_identity(judge) if judge else None}  # fmt: skip
    with open_run(out, identity, force):
        metrics = _openeqa_batch(items, answer, out, meteor, info, judge, extra, missing)
    return metrics


def _openeqa_batch(items, answer, out, meteor, info, judge, extra, missing) -> dict:
    from segpilot.eval.llm_match import LocalJudge, llm_match_score
    from segpilot.eval.runner import PredictionLog, write_json_atomic

    metrics = run_batch(items, answer, out, meteor=meteor, run_info=info)
    metrics["model"] = info["model"]
    metrics = _with_skipped(out, metrics, missing)
    if judge is not None:
        records = {r["question_id"]: r for r in PredictionLog(out / "predictions.jsonl").finished().values()}
        log = PredictionLog(out / "judge.jsonl")
        marks = log.finished()
        scorer = LocalJudge(judge)
        for it in items:
            if it.question_id not in marks:
                mark, parsed = scorer.mark(it.question, it.answers[0], records[it.question_id]["prediction"],
                                           extra[it.question_id])  # fmt: skip
                marks[it.question_id] = {"question_id": it.question_id, "mark": mark, "parsed": parsed}
                log.append(marks[it.question_id])
        values = [marks[it.question_id]["mark"] for it in items]
        metrics["LLM-Match"] = llm_match_score(values)
        metrics["llm_match_judge"] = scorer.name
        metrics["llm_match_unparsed"] = sum(not marks[it.question_id]["parsed"] for it in items)
        write_json_atomic(out / "metrics.json", metrics)
    return metrics
