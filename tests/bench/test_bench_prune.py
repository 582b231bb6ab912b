"""The benchmark runs end to end on small shapes and reports the exact modes as exact."""

from __future__ import annotations

from segpilot.bench.prune import format_table, run_bench


def test_bench_small_shapes():
    rows = run_bench(["3x16x8", "2x25x16"], budget=0.2, repeats=1)
    methods = {r["method"] for r in rows}
    assert {"segpruner[per_view]", "segpruner[global]", "segpruner[hierarchical]", "random", "mmr"} <= methods
    for r in rows:
        if r["method"] in ("segpruner[per_view]", "segpruner[global]"):
            assert r["exact_vs_loop"] is True
        if r["method"] == "segpruner[global]":
            assert r["agreement_with_global"] == 1.0
    assert "segpruner[global]" in format_table(rows)


def test_committed_results_are_consistent():
    """docs/bench_prune.json (the figures quoted in the README) says the exact modes were exact."""
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parents[2] / "docs" / "bench_prune.json").read_text())
    assert data["schema_version"] == 1
    assert data["machine"]["cpu"] and data["machine"]["cores"] >= 1  # figures are only comparable on the same CPU
    exact_rows = [r for r in data["rows"] if r["method"] in ("segpruner[per_view]", "segpruner[global]")]
    assert len(exact_rows) >= 4 and all(r["exact_vs_loop"] for r in exact_rows)
    assert all(r["agreement_with_global"] == 1.0 for r in exact_rows if r["method"] == "segpruner[global]")
    assert {r["budget"] for r in data["rows"] if r["shape"] == "12x729x1152"} == {787}


def test_view_scaling_times_each_view_count_and_fits_the_exponent():
    from segpilot.bench.scaling import fit_exponent, format_result, run

    r = run([2, 4], tokens_per_view=16, dim=8)
    reference, default = r["settings"]  # the public code's setting and segpilot's default
    assert (reference["lam"], reference["importance_ratio"]) == (0.5, 0.0)
    assert (default["lam"], default["importance_ratio"]) == (0.25, 0.6)
    for s in r["settings"]:
        assert [row["views"] for row in s["rows"]] == [2, 4] and [row["tokens"] for row in s["rows"]] == [32, 64]
        assert all(row["ms"] > 0 for row in s["rows"])
    assert format_result(r).count("fitted exponent") == 2
    quadratic = [{"views": v, "ms": 3.0 * v**2} for v in (4, 8, 16, 32)]
    assert abs(fit_exponent(quadratic) - 2.0) < 1e-9


def test_reference_rows_compare_with_the_float_definition():
    from segpilot.bench.reference import format_rows, run

    rows = run(["3x49x16"], budget=0.1, rooms=2)
    assert {r["method"] for r in rows} == {"segpruner[per_view]", "segpruner[global]", "divprune"}
    assert all(0.0 <= r["identical_share"] <= 1.0 and r["rooms"] == 2 for r in rows)
    assert "identical" in format_rows(rows)
