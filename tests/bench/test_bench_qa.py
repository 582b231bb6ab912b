from __future__ import annotations

from segpilot.bench.qa import ModelSize, run


def test_bench_qa_small_model_reports_ratios():
    size = ModelSize(image_size=56, vision_hidden=48, vision_layers=2, lm_hidden=48, lm_layers=2, lm_intermediate=96,
                     vocab=128)  # fmt: skip
    r = run(views=2, budget=0.25, max_new_tokens=2, repeats=1, size=size, per_question_views=3)
    assert r["tokens_total"] == 32 and r["pruned"]["tokens"] == 8
    assert r["ttft_ratio"] > 0 and r["end_to_end_ratio"] > 0
    p = r["per_question"]
    assert p["questions"] == 20 and p["tokens_kept"] == 12 and p["views"] == 3 and p["max_new_tokens"] == 2
    assert p["cached_s_per_question"] > 0 and p["ratio"] == p["uncached_s_per_question"] / p["cached_s_per_question"]
