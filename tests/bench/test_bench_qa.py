from __future__ import annotations

import pytest

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


@pytest.mark.slow
def test_first_ask_runs_segpilot_ask_in_fresh_processes_and_reads_its_stages():
    from segpilot.bench.cold import ASK_STAGES, first_ask, format_ask

    r = first_ask(runs=2)
    assert len(r["runs"]) == 2 and all(x["answer"] for x in r["runs"])
    assert set(ASK_STAGES) | {"total"} == set(r["median_stages_ms"]) and r["median_stages_ms"]["startup"] > 0
    # the process's own total covers every stage, and the wall time seen from outside covers the total
    assert r["median_stages_ms"]["total"] >= sum(r["median_stages_ms"][k] for k in ASK_STAGES) - 20.0
    assert r["median_wall_ms"] >= r["median_stages_ms"]["total"] - 20.0
    assert "stages (ms): startup" in format_ask(r)
