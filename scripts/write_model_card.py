"""Write the model card (README.md + card.json) of a trained QA model from its training log and eval runs.

    python scripts/write_model_card.py MODEL_DIR DATA_DIR RUN_FULL RUN_PRUNED

RUN_FULL / RUN_PRUNED are `segpilot eval scanqa` run folders (metrics.json) on the same split.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _stages(log: dict) -> list[dict]:
    """Training stages, first first (a continued model's log nests the one it continued)."""
    return ([*_stages(log["continued_from"])] if "continued_from" in log else []) + [log]


def main(model: Path, data: Path, run_full: Path, run_pruned: Path) -> None:
    log = json.loads((model / "training_log.json").read_text())
    summary = json.loads((data / "summary.json").read_text())
    full = json.loads((run_full / "metrics.json").read_text())
    pruned = json.loads((run_pruned / "metrics.json").read_text())
    card = {
        "schema_version": 1,
        "architecture": "LlavaForConditionalGeneration (CLIP vision tower + MLP projector + Llama LM)",
        "parameters": log["parameters"],
        "training": {
            "data_seed": summary["seed"],
            "scenes": summary["scenes"],
            "questions": summary["questions"],
            "steps": log.get("total_steps", log["steps_done"]),
            "minutes": round(log.get("total_minutes", log["minutes"]), 1),
            "stages": [
                {
                    "steps": st["steps_done"],
                    "minutes": round(st["minutes"], 1),
                    "lr": st["config"]["lr"],
                    "init_from": st["config"].get("init_from", ""),
                }
                for st in _stages(log)
            ],
            "config": log["config"],
            "final_loss": log["log"][-1]["loss"] if log["log"] else None,
        },  # fmt: skip
        "evaluation": {
            "split": full["run"].get("qa_file"),
            "full_tokens": {k: full.get(k) for k in ("n", "EM@1", "refined_EM@1", "CIDEr", "BLEU-1", "ROUGE-L")},
            "segpruner_9pct": {k: pruned.get(k) for k in ("n", "EM@1", "refined_EM@1", "CIDEr", "BLEU-1", "ROUGE-L")},
            "per_type_full": full.get("per_type"),
            "per_type_segpruner_9pct": pruned.get("per_type"),
        },
    }
    (model / "card.json").write_text(json.dumps(card, indent=1))
    f, p = card["evaluation"]["full_tokens"], card["evaluation"]["segpruner_9pct"]
    (model / "README.md").write_text(
        f"# segpilot embedded QA model\n\n"
        f"{card['architecture']}, {card['parameters'] / 1e6:.1f} M parameters, trained by `segpilot train qa` "
        f"for {card['training']['steps']} steps ({card['training']['minutes']} min on a 2-core CPU) on "
        f"`segpilot sim make-qa` data (seed {summary['seed']}, {summary['scenes']} rooms).\n\n"
        f"| split {full['run'].get('qa_file')} | n | EM@1 | refined EM@1 | CIDEr |\n|---|---|---|---|---|\n"
        f"| all tokens | {f['n']} | {f['EM@1']:.1f} | {f['refined_EM@1']:.1f} | {f.get('CIDEr') or 0:.1f} |\n"
        f"| SeGPruner 9% | {p['n']} | {p['EM@1']:.1f} | {p['refined_EM@1']:.1f} | {p.get('CIDEr') or 0:.1f} |\n\n"
        "Synthetic data only: it answers questions about segpilot's generated rooms, not real scans.\n"
    )
    print(f"wrote {model}/README.md and card.json")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:5]))
