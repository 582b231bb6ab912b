"""Write the embedded QA model's card (card.json + README.md) from the runs that measured it.

Reads: the make-qa summary (data, question-only baselines, colour report), the training log,
`segpilot eval scanqa` folders on the held-out test split (all tokens, SeGPruner 9% and 3%),
the budget study on the val split, the visibility table and the ask-on-held-out-rooms report.

    python scripts/qa_model_card.py --model segpilot/data/models/qa-default --data data/qa320 \
        --eval runs/card --study runs/study --visibility docs/qa_visibility.json --ask docs/qa_ask_rooms.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from segpilot.eval.metrics import exact_match

EVALS = (("all tokens", "full"), ("SeGPruner 9%", "segpruner9"), ("SeGPruner 3%", "segpruner3"))


def per_group(pred_file: Path, qa: dict[str, dict]) -> dict:
    """EM@1 per question type and on the questions no single view answers."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in pred_file.read_text().splitlines():
        r = json.loads(line)
        item = qa[r["question_id"]]
        ok = int(exact_match(r["prediction"], item["answers"]))
        keys = ["all", f"type:{item['question_type']}"]
        if not item.get("single_view_answerable", True):
            keys.append("needs_more_than_one_view")
        for k in keys:
            groups[k][0] += ok
            groups[k][1] += 1
    return {k: {"n": n, "EM@1": 100.0 * a / n} for k, (a, n) in sorted(groups.items())}


NOT_KEPT = [
    "A: tower 10 min without class weights, max 85 min: OOM-killed at tower step 425 (the vision encoder's saliency "
    "hook kept every training step's attention and graph; fixed, with a test)",
    "B: tower 10 min without class weights: held-out per-patch small-object category 21.3%, place 39.8%, colour "
    "90.9%; stopped when stage 2 began, to add class-balanced weights",
    "C: a continuation of qa-run3 started at the end of a session and stopped with it while loading its tower "
    "views (no checkpoint); started again as qa-run4",
    "D: qa-run15, a continuation of qa-run14 on 3,424 rooms (its data + `make-qa --scenes 800 --seed 8000`), lost at "
    "~step 13,600 of ~14,000 when its machine was shut down with the data disk (checkpoints lived on that disk)",
    "E: qa-run16, a continuation of qa-run14 on 624 rooms only (qa320's train split + `make-qa --scenes 400 --seed "
    "8000`), lr 3e-4, float32 (AMD CPU without AMX), 2,702 steps in 52 min: 68.6 EM@1 with all tokens on the test "
    "split vs run 14's 69.8 (object 73.2 vs 78.2, relation 67.8 vs 70.4, number 40.2 vs 39.9, needs > 1 view 41.9 vs "
    "39.8); four passes over few rooms (train loss 0.42 -> 0.26) overwrote what the earlier rooms taught: not kept",
]


def chain(log: dict):
    """The training log and those it continued from (`--init-from`), newest first."""
    while log:
        yield log
        log = log.get("continued_from")


def runs(log: dict) -> list[dict]:
    """Every run of the model's chain (`--init-from` continuations first to last) with its time and settings."""
    out = []
    for run in chain(log):
        cfg = run["config"]
        command = f"segpilot train qa --data {cfg['data']} --out {cfg['out']}"
        if cfg["init_from"]:
            command += f" --init-from {cfg['init_from']}"
        command += f" --tower-minutes {cfg['tower_minutes']:g} --max-minutes {cfg['max_minutes']:g}"
        command += f" --grounding-weight {cfg.get('grounding_weight', 0):g}"
        if cfg.get("lr", 5e-4) != 5e-4:
            command += f" --lr {cfg['lr']:g}"
        if cfg.get("seed", 0):
            command += f" --seed {cfg['seed']}"
        command += f" --batch-questions {cfg.get('batch_questions', 16)}"  # its default changed (16 -> 32)
        if cfg.get("grow_lm_layers", 0):
            command += f" --grow-lm-layers {cfg['grow_lm_layers']}"
        if cfg.get("bf16_autocast", False):
            command += " --bf16-autocast"
        if cfg.get("visible_counts_only", False):
            command += " --visible-counts-only"
        if cfg.get("encode_cache"):
            command += f" --encode-cache {cfg['encode_cache']}"
        out.append({"command": command, "minutes": run["minutes"], "stage2_steps": run["steps_done"],
                    "partial": run.get("partial", False),
                    **({"lm_layers_after": run["grown_lm_layers"]["lm_layers"]} if run.get("grown_lm_layers") else {}),
                    "tower_held_out_patch_accuracy": run.get("tower", {}).get("held_out_patch_accuracy")})
    return out[::-1]


def earlier_sources(card_path: str | None, known: set[str]) -> list[dict]:
    """The training-data sources of the card of the model a continuation started from, those not already listed,
    marked `"earlier_runs_only": true` (empty without a card)."""
    if not card_path:
        return []
    earlier = json.loads(Path(card_path).read_text())["training_data"]["sources"]
    return [{**s, "earlier_runs_only": True} for s in earlier if s["make_qa"] not in known]


def stored_dtype(weights: Path) -> str:
    """The floating dtype(s) of a safetensors file's tensors (`qa_half_weights.py` writes float16 when float32
    would pass 30 MB)."""
    from safetensors import safe_open

    with safe_open(weights, "pt") as f:
        kinds = {str(f.get_slice(k).get_dtype()).lower() for k in f.keys()}
    names = {"f16": "float16", "f32": "float32", "bf16": "bfloat16", "float16": "float16", "float32": "float32"}
    return "/".join(sorted(names.get(k, k) for k in kinds))


def last_tower(log: dict) -> dict:
    """The tower figures of the newest run that trained it (a continuation with `--tower-minutes 0` keeps the
    tower of the run before, so its figures are that run's)."""
    run = next((r for r in chain(log) if r.get("tower")), None)
    return {} if run is None else {"trained_by": run["config"]["out"],
                                   **{k: v for k, v in run["tower"].items() if k != "log"}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("model", "data", "eval"):
        ap.add_argument(f"--{name}", required=True)
    for name in ("study", "visibility", "ask", "counting"):  # added to the card when given and present
        ap.add_argument(f"--{name}", default=None)
    ap.add_argument("--extra-train", action="append", default=[],
                    help="another make-qa folder whose every split went into the training data (repeatable)")
    ap.add_argument("--earlier-card", default=None,
                    help="card.json of the model this run continued from (--init-from): the rooms its runs trained "
                         "on are listed too, since a continuation on new rooms still carries what they taught")
    args = ap.parse_args()
    model, data = Path(args.model), Path(args.data)
    summary = json.loads((data / "summary.json").read_text())
    log = json.loads((model / "training_log.json").read_text())
    qa = {it["question_id"]: it for it in json.loads((data / "ScanQA_v1.0_test.json").read_text())}
    evaluation = {}
    for label, folder in EVALS:
        run = Path(args.eval) / folder
        evaluation[label] = {"metrics": json.loads((run / "metrics.json").read_text()),
                             "groups": per_group(run / "predictions.jsonl", qa)}  # fmt: skip
    def optional(path) -> dict | None:
        return json.loads(Path(path).read_text()) if path and Path(path).exists() else None

    study = optional(args.study and Path(args.study) / "study_budget.json")
    visibility = optional(args.visibility)
    ask = optional(args.ask)
    counting = optional(args.counting)
    full = evaluation["all tokens"]["groups"]["all"]["EM@1"]
    extra = [json.loads((Path(e) / "summary.json").read_text()) for e in args.extra_train]
    sources = [{"make_qa": f"--scenes {x['scenes']} --seed {x['seed']}",
                "splits_used": ["train"] if x is summary else ["train", "val", "test"],
                "rooms": x["rooms"], "questions": x["questions"]} for x in [summary, *extra]]  # fmt: skip
    sources += earlier_sources(args.earlier_card, {s["make_qa"] for s in sources})
    train_rooms = sum(sum(s["rooms"][k] for k in s["splits_used"]) for s in sources)
    train_questions = sum(sum(s["questions"][k] for k in s["splits_used"]) for s in sources)
    made_by = " + ".join(f"`segpilot sim make-qa {s['make_qa']}`" for s in sources)
    card = {
        "schema_version": 2,
        "architecture": "LlavaForConditionalGeneration (CLIP vision tower + MLP projector + Llama LM), "
        "sinusoidal 3D position embedding of the visual tokens (config key segpilot_3d_position)",
        "parameters": log["parameters"],
        "stored_weights": stored_dtype(model / "model.safetensors"),
        "data": {k: summary[k] for k in ("seed", "scenes", "rooms", "questions", "questions_before_balancing",
                                         "type_mix", "needs_more_than_one_view", "question_only_baselines",
                                         "colour_recovery")},  # fmt: skip
        "training_data": {"rooms": train_rooms, "questions": train_questions,
                          "sources": sources,
                          "assembled_by": f"python scripts/qa_combine.py {data}"
                          + "".join(f" --all-splits {e}" for e in args.extra_train)
                          + f" --out {log['config']['data']}"},  # fmt: skip
        "training": {"minutes": log.get("total_minutes", log["minutes"]),
                     "tower": last_tower(log),
                     "stage2_steps": log["steps_done"], "stage2_minutes": log.get("stage2_minutes"),
                     "config": log["config"], "final_loss": log["log"][-1]["loss"] if log["log"] else None,
                     "runs": runs(log), "runs_not_kept": NOT_KEPT},  # fmt: skip
        "evaluation_test": {label: e["groups"] for label, e in evaluation.items()},
        "kept_share_of_full_em": {label: 100.0 * e["groups"]["all"]["EM@1"] / max(full, 1e-9)
                                  for label, e in evaluation.items()},  # fmt: skip
        "study_val": study and {k: study[k] for k in ("questions", "budgets", "reference", "rows", "sweep")},
        "visibility": visibility,
        "ask_held_out_rooms": ask and {k: v for k, v in ask.items() if k != "examples"},
        "counting_all_tokens": counting,
    }
    (model / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    lines = [
        "# segpilot embedded QA model",
        "",
        f"{card['architecture']}; {card['parameters'] / 1e6:.1f} M parameters (stored as {card['stored_weights']}, "
        "computed in float32); trained by `segpilot train qa` in "
        f"{log.get('total_minutes', log['minutes']):.0f} min ({len(card['training']['runs'])} runs) on a 2-core CPU "
        f"on {made_by} ({train_rooms} training rooms, {train_questions:,} questions; the first one's val and test "
        "rooms held out). Synthetic rooms only: it answers questions "
        "about segpilot's generated rooms, not real scans. Full figures: card.json.",
        "",
        f"| held-out test split ({summary['rooms']['test']} rooms) | n | EM@1 | "
        + " | ".join(t for t in sorted(summary["type_mix"]))
        + " | needs > 1 view |",
        "|---|---|---|" + "---|" * len(summary["type_mix"]) + "---|",
    ]
    for label, e in evaluation.items():
        g = e["groups"]
        lines.append(f"| {label} | {g['all']['n']} | {g['all']['EM@1']:.1f} | "
                     + " | ".join(f"{g[f'type:{t}']['EM@1']:.1f}" for t in sorted(summary["type_mix"]))
                     + f" | {g.get('needs_more_than_one_view', {}).get('EM@1', float('nan')):.1f} |")  # fmt: skip
    base = summary["question_only_baselines"]["test"]
    lines.append("| question-only baseline (best of per type / template / question) | | | "
                 + " | ".join(f"{base[t]['best']:.1f}" for t in sorted(summary["type_mix"])) + " | |")  # fmt: skip
    if counting:
        c = counting
        lines += ["", f"Counting (\"How many ...\", all tokens, `scripts/qa_counting.py`): {c['right_pct']:.1f}% "
                  f"right; {c['right_when_every_instance_visible_pct']:.1f}% of the {c['every_instance_visible']} "
                  "whose every instance shows in the views: what fails is the counting, not the seeing. Mean error "
                  "by true count: " + ", ".join(f"{k}: {v:+.2f}" for k, v in c["mean_error_by_true_count"].items())
                  + " (answers drift toward the common counts)."]  # fmt: skip
    (model / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
