"""Question answering over a scan: views -> the VLM's own encoder -> pruner -> answer.

The pruning is question-independent (SeGPruner and the baselines use no query), so for a
batch of questions about one scene the views are encoded and pruned once and reused.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import FrameSource
from segpilot.perception.view_cache import ViewTokenCache
from segpilot.pipeline import PruneConfig, PrunePipeline, PruneResult
from segpilot.policies.qa.base import Answer
from segpilot.policies.qa.families import ADAPTERS


def default_model_path() -> Path:
    """The embedded default QA model shipped inside the package (trained by `segpilot train qa`)."""
    from importlib import resources

    return Path(str(resources.files("segpilot") / "data" / "models" / "qa-default"))


def check_model_dir(model_dir: str | Path | None) -> Path:
    """The checkpoint folder (None = the embedded default model), checked without loading the model."""
    import json

    if model_dir is None:
        model_dir = default_model_path()
        if not (model_dir / "config.json").exists():
            raise SegpilotError("no embedded default model in this install: pass --model DIR (a local checkpoint)")
    path = Path(model_dir)
    config = path / "config.json"
    if not config.exists():
        raise SegpilotError(f"{path} is not a transformers checkpoint folder (no config.json)")
    try:
        data = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise SegpilotError(f"{config} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SegpilotError(f"{config} must hold a JSON object (a transformers config), got {type(data).__name__}")
    model_type = data.get("model_type")
    if model_type not in ADAPTERS:
        raise SegpilotError(
            f"{path}: model family {model_type!r} is not supported; expected one of: {', '.join(ADAPTERS.names())}"
        )
    return path


def load_adapter(model_dir: str | Path | None, **kwargs):
    """The adapter of the checkpoint's family for a local folder (None = the embedded default model)."""
    import json

    from segpilot.policies.qa import hf_import

    hf_import.install()  # before transformers loads: its import structure read from the cache
    path = check_model_dir(model_dir)
    model_type = json.loads((path / "config.json").read_text())["model_type"]
    return ADAPTERS.get(model_type).from_pretrained(path, **kwargs)


MAX_QUESTION_TOKENS = 256
"""Longest question accepted, in the model's tokens (ScanQA / OpenEQA questions have under 40)."""


class QAPipeline:
    """The prune pipeline with the adapter's own vision tower, then the adapter answers: `answer_scene` answers a
    question about a scan (any `FrameSource`), `answer_frames` about frames in memory (a ROS keyframe set). The
    last scan's pruned tokens are kept, so several questions about one scan encode and prune it once."""

    def __init__(self, adapter, config: PruneConfig, max_new_tokens: int = 16, encoded: dict | None = None,
                 view_cache: int = 0):  # fmt: skip
        self.adapter = adapter
        self.config = config
        # view_cache > 0: frames in memory (ROS keyframes) are encoded once each, not once per new keyframe set
        self.view_cache = ViewTokenCache(adapter.encode, view_cache) if view_cache else None
        self.prune = PrunePipeline(config, tokenize=self.view_cache or adapter.encode)
        self.max_new_tokens = max_new_tokens
        self._cache: dict[str, PruneResult] = {}
        self._fresh = True
        # Encoded scans shared by pipelines that differ only in pruning (the budget study runs every method and
        # budget on the same views: each scan is read and encoded once, not once per run).
        self._encoded = encoded

    def describe(self) -> dict:
        return asdict(self.config)

    def prepare(self, scene: FrameSource) -> PruneResult:
        """Views, tokens and kept indices of a scene (cached for the last scene asked about)."""
        key = str(scene.root)
        self._fresh = key not in self._cache
        if self._fresh:
            self._cache = {key: self._run_scene(scene, key)}
        return self._cache[key]

    def _run_scene(self, scene: FrameSource, key: str) -> PruneResult:
        if self._encoded is None:
            return self.prune.run_scene(scene)
        c = self.config
        views_key = (key, c.views, c.view_selection, c.coverage_voxel_m, c.coverage_candidates, c.min_valid_fraction)
        if views_key not in self._encoded:
            self._encoded[views_key] = self.prune.run_scene(scene)
        base = self._encoded[views_key]
        t0 = time.perf_counter()
        kept = self.prune.pruner.select(base.tokens, c.budget_value)
        return PruneResult(base.tokens, kept, base.view_ids, base.views,
                           {**base.timings, "prune": time.perf_counter() - t0})  # fmt: skip

    def prepare_frames(self, frames, key: str) -> PruneResult:
        """Like `prepare` for frames already in memory (a ROS keyframe buffer); `key` names the set."""
        if not frames:
            raise SegpilotError("no frames to answer from")
        self._fresh = key not in self._cache
        if self._fresh:
            self._cache = {key: self.prune.run(frames)}
        return self._cache[key]

    def clear(self) -> None:
        """Forget the cached scan and views (the next question encodes and prunes again)."""
        self._cache = {}
        if self.view_cache is not None:
            self.view_cache.clear()

    def _stage_timings(self, prepared: PruneResult) -> dict[str, float]:
        """This question's view, encode and prune seconds: zero when the scan's pruned tokens were cached (an
        answer reports what it cost, not a copy of the first answer's encoding time)."""
        return dict(prepared.timings) if self._fresh else dict.fromkeys(prepared.timings, 0.0)

    def check_question(self, question: str) -> str:
        """One line for a question that is not text, empty, or longer than `MAX_QUESTION_TOKENS` (prefill
        time grows with it: a 20,000-word question took minutes)."""
        if not isinstance(question, str) or not question.strip():
            raise SegpilotError(f"a question must be non-empty text, got {question!r}")
        tokenizer = getattr(self.adapter, "tokenizer", None)
        if len(question) > 8 * MAX_QUESTION_TOKENS:  # cheap bound before tokenizing
            raise SegpilotError(f"the question has {len(question)} characters; at most {MAX_QUESTION_TOKENS} tokens "
                                "are accepted")  # fmt: skip
        n = len(tokenizer(question).input_ids) if tokenizer is not None else len(question.split())
        if n > MAX_QUESTION_TOKENS:
            raise SegpilotError(f"the question has {n} tokens; at most {MAX_QUESTION_TOKENS} are accepted")
        return question

    def answer_frames(self, frames, question: str, key: str) -> Answer:
        self.check_question(question)
        prepared = self.prepare_frames(frames, key)
        stages = self._stage_timings(prepared)
        answer = self.adapter.answer(prepared.tokens, prepared.kept, question, self.max_new_tokens)
        answer.timings = {**stages, **answer.timings}
        return answer

    def answer_scene(self, scene: FrameSource, question: str) -> Answer:
        self.check_question(question)
        prepared = self.prepare(scene)
        stages = self._stage_timings(prepared)
        answer = self.adapter.answer(prepared.tokens, prepared.kept, question, self.max_new_tokens)
        answer.timings = {**stages, **answer.timings}
        return answer
