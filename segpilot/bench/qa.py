"""`segpilot bench qa`: latency of full vs pruned visual tokens, as ratios measured in one run.

A mid-size LLaVA-style model is built from a config with random weights (no checkpoint can be
downloaded here; latency does not depend on the weights): a CLIP vision tower at 378 px with
14 px patches (27 x 27 = 729 tokens per view, SeGPruner's layout) and a Llama LM of about
150 M parameters in all. For V views it reports time to first token (encode + prune +
prefill) and end-to-end time (plus `max_new_tokens` greedy steps) with all tokens and with
the budget kept by SeGPruner, and their ratios. Anchor: SeGPruner reports 86% lower latency.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from segpilot.geometry.camera import PinholeCamera
from segpilot.geometry.frame import Frame
from segpilot.perception.pruning.registry import make_pruner
from segpilot.policies.qa.base import greedy_generate
from segpilot.policies.qa.build import build_llava


@dataclass(frozen=True)
class ModelSize:
    image_size: int = 378
    vision_hidden: int = 384
    vision_layers: int = 6
    lm_hidden: int = 768
    lm_layers: int = 12
    lm_intermediate: int = 2048
    vocab: int = 32000


def build_model(size: ModelSize, seed: int = 0):
    return build_llava(size.image_size, 14, size.vision_hidden, size.vision_layers, size.lm_hidden, size.lm_layers,
                       size.lm_intermediate, size.vocab, size.vocab - 1, seed).eval()  # fmt: skip


class _IdTokenizer:
    """Latency needs token ids, not words: a fixed-length prompt of ids, no vocabulary files."""

    eos_token_id = None

    def __call__(self, text, add_special_tokens=True, return_tensors="pt"):
        n = max(1, len(text.split()))

        class _Out:
            input_ids = torch.arange(1, n + 1)[None]

        return _Out()

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(str(i) for i in ids)


def _frames(n: int, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    cam = PinholeCamera(160.0, 160.0, 159.5, 119.5, 320, 240)
    frames = []
    for _ in range(n):
        rgb = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        frames.append(Frame(rgb, rng.uniform(0.5, 5, (240, 320)).astype(np.float32), cam, np.eye(4)))
    return frames


def _measure(adapter, frames, question: str, budget: float, max_new_tokens: int, repeats: int,
             eos: int | None = None) -> dict:  # fmt: skip
    pruner = make_pruner("segpruner", mode="global")
    results: dict[str, dict] = {}
    for label, keep in (("full", None), ("pruned", budget)):
        ttft, e2e = [], []
        for _ in range(repeats + 1):  # first run warms up
            t0 = time.perf_counter()
            tokens = adapter.encode(frames)
            kept = torch.arange(len(tokens)) if keep is None else pruner.select(tokens, keep)
            embeds = adapter.prompt_embeddings(tokens, kept, question)
            _, timings = greedy_generate(adapter.model, embeds, max_new_tokens, eos)
            total = time.perf_counter() - t0
            ttft.append(total - timings["decode"])
            e2e.append(total)
        results[label] = {"tokens": int(len(kept)), "ttft_s": statistics.median(ttft[1:]),
                          "end_to_end_s": statistics.median(e2e[1:])}  # fmt: skip
    full, pruned = results["full"], results["pruned"]
    return {
        "model_parameters": sum(p.numel() for p in adapter.model.parameters()), "views": len(frames),
        "tokens_total": full["tokens"], "budget": budget, "max_new_tokens": max_new_tokens, "full": full,
        "pruned": pruned, "ttft_ratio": full["ttft_s"] / pruned["ttft_s"],
        "end_to_end_ratio": full["end_to_end_s"] / pruned["end_to_end_s"],
        "latency_reduction_pct": 100.0 * (1 - pruned["end_to_end_s"] / full["end_to_end_s"]),
    }  # fmt: skip


QUESTIONS = (
    "what color is the chair next to the table in this room ?",
    "how many cups are there ?",
    "where is the lamp ?",
    "what is on the table ?",
    "are there more books or boxes in the room ?",
)


QUESTIONS_PER_SCENE = 20
"""Questions asked about one scene in the per-question bench. ScanQA's val split asks 66 per scene on average
(4,675 questions, 71 scenes; median 59): 20 keeps the bench short and still charges the cached path a fair share
of its once-per-scene prefix."""


def per_question(adapter, frames, budget: float, max_new_tokens: int, repeats: int, eos: int | None = None,
                 questions: int = QUESTIONS_PER_SCENE) -> dict:  # fmt: skip
    """Per-question time for several questions about one pruned scene: the whole prompt prefilled for every
    question (uncached) vs `adapter.answer`, which prefills the shared prefix (system prompt + kept visual tokens)
    once and each question from its KV cache. Encoding and pruning happen once either way and are not counted."""
    tokens = adapter.encode(frames)
    kept = make_pruner("segpruner").select(tokens, budget)
    asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(questions)]
    adapter.answer(tokens, kept, QUESTIONS[0], 1)  # warm-up; also fills the prefix cache
    uncached, cached = [], []
    for _ in range(repeats):
        adapter._prefix = None  # the first question of each round pays the prefix, as a new scene does
        t0 = time.perf_counter()
        for q in asked:
            adapter.answer(tokens, kept, q, max_new_tokens)
        cached.append((time.perf_counter() - t0) / len(asked))
        t0 = time.perf_counter()
        for q in asked:
            greedy_generate(adapter.model, adapter.prompt_embeddings(tokens, kept, q), max_new_tokens, eos)
        uncached.append((time.perf_counter() - t0) / len(asked))
    u, c = statistics.median(uncached), statistics.median(cached)
    return {"views": len(frames), "tokens_kept": int(len(kept)), "questions": len(asked),
            "uncached_s_per_question": u, "cached_s_per_question": c, "ratio": u / c}  # fmt: skip


SCANQA_ANSWER_TOKENS = 4
"""Tokens a ScanQA answer takes: its answers average 2.4 words (9,402 answers of the real val file), about three
tokens and the end token. A random-init model never emits its end token, so the per-question bench decodes this
many, as `eval scanqa` on a trained model would."""


def run(views: int = 4, budget: float = 0.09, max_new_tokens: int = 8, repeats: int = 3,
        size: ModelSize | None = None, per_question_views: int = 12) -> dict:  # fmt: skip
    """The mid-size random-init LLaVA-style model on `views` random RGB-D views; the per-question figures at
    `per_question_views` views (the ScanQA setting: 12 x 729 tokens) with ScanQA-length answers."""
    from segpilot.policies.qa.llava import LlavaAdapter

    adapter = LlavaAdapter(build_model(size or ModelSize()), _IdTokenizer())
    frames = _frames(views)
    result = _measure(adapter, frames, QUESTIONS[0], budget, max_new_tokens, repeats)
    answer = min(max_new_tokens, SCANQA_ANSWER_TOKENS)
    result["per_question"] = per_question(adapter, _frames(per_question_views), budget, answer, repeats)
    result["per_question"]["max_new_tokens"] = answer
    return result


def run_default(views: int = 12, budget: float = 0.09, repeats: int = 3) -> dict:
    """The embedded default QA model on the default generated room's coverage views (greedy until its end token)."""
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.pipeline import PruneConfig, load_views
    from segpilot.policies.qa.pipeline import load_adapter
    from segpilot.sim.cached_scan import generated_scan

    adapter = load_adapter(None)
    _, frames = load_views(ScanNetScene(generated_scan()), PruneConfig(views=views))
    eos = adapter.tokenizer.eos_token_id
    result = _measure(adapter, frames, "What color is the box on the table?", budget, 16, repeats, eos)
    result["per_question"] = per_question(adapter, frames, budget, 16, repeats, eos)
    return result


def _per_question_line(p: dict) -> str:
    return (
        f"  {p['questions']} questions about one scene ({p['views']} views, {p['tokens_kept']} tokens kept): "
        f"{1000 * p['uncached_s_per_question']:.1f} ms per question prefilling the whole prompt, "
        f"{1000 * p['cached_s_per_question']:.1f} ms from the scene's cached prefix ({p['ratio']:.1f}x)"
    )


def run_all(views: int, budget: float, max_new_tokens: int, repeats: int, cold_ask_runs: int, report) -> dict:
    """Everything `segpilot bench qa` measures, each part `report`ed (printed) as soon as it is done."""
    from segpilot.bench import cold

    r = run(views, budget, max_new_tokens, repeats)
    report(f"segpilot bench qa: random-init LLaVA-style model, {r['model_parameters'] / 1e6:.0f} M parameters, "
           f"{r['views']} views, {r['max_new_tokens']} new tokens, median of {repeats}")  # fmt: skip
    for label in ("full", "pruned"):
        x = r[label]
        report(f"{label:<8}{x['tokens']:>6} tokens  TTFT {1000 * x['ttft_s']:8.0f} ms  end-to-end "
               f"{1000 * x['end_to_end_s']:8.0f} ms")  # fmt: skip
    report(f"TTFT ratio {r['ttft_ratio']:.1f}x, end-to-end ratio {r['end_to_end_ratio']:.1f}x, "
           f"latency -{r['latency_reduction_pct']:.0f}% (SeGPruner reports -86%)")  # fmt: skip
    report(_per_question_line(r["per_question"]))
    d = run_default(budget=budget, repeats=repeats)
    report(
        f"embedded default QA model, {d['model_parameters'] / 1e6:.1f} M parameters, {d['views']} views of the "
        f"default generated room: TTFT {1000 * d['full']['ttft_s']:.0f} -> {1000 * d['pruned']['ttft_s']:.0f} ms "
        f"({d['ttft_ratio']:.1f}x), end-to-end {1000 * d['full']['end_to_end_s']:.0f} -> "
        f"{1000 * d['pruned']['end_to_end_s']:.0f} ms ({d['tokens_total']} -> {d['pruned']['tokens']} tokens)"
    )
    report(_per_question_line(d["per_question"]))
    out = {"random_init": r, "default_model": d}
    if cold_ask_runs > 0:
        out["first_ask"] = cold.first_ask(cold_ask_runs)
        report(cold.format_ask(out["first_ask"]))
    return out
