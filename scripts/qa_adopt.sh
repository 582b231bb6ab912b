#!/usr/bin/env bash
# Adopt a trained QA run as the committed default model and regenerate every figure that depends on it.
#
#   bash scripts/qa_adopt.sh data/qa-runN [extra make-qa folders trained on whole...]
#   e.g. bash scripts/qa_adopt.sh data/qa-run9 data/qa400b data/qa400c
#
# Needs data/qa320 (held-out val / test rooms, `segpilot sim make-qa --scenes 320 --seed 1000`). About 25 minutes on
# 2 cores: test-split card (2.5 min), regression rooms, `ask` on 10 rooms, the budget study (18 min), model card,
# golden outputs. Then by hand: MEASURED in tests/policies/qa/test_default_model.py (printed below), the README's
# model paragraph, ask examples and budget-study tables (`python scripts/study_table.py docs/study_budget.json`).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: qa_adopt.sh data/qa-runN [extra make-qa folders...]}
shift
n=${run##*run}
dest=segpilot/data/models/qa-default
mkdir -p runs
earlier=()
if python -c "import json, sys; sys.exit(0 if json.load(open('$run/training_log.json')).get('continued_from') else 1)"; then
  cp "$dest/card.json" "runs/card_before_r$n.json"  # a continuation: its card lists the earlier runs' rooms too
  earlier=(--earlier-card "runs/card_before_r$n.json")
fi
for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json training_log.json; do
  cp "$run/$f" "$dest/$f"
done
python scripts/qa_half_weights.py "$dest/model.safetensors"  # under 30 MB; every figure below reads these weights
python scripts/qa_eval_card.py --model "$dest" --data data/qa320 --out "runs/card_r$n"
python scripts/qa_counting.py data/qa320 "runs/card_r$n/full/predictions.jsonl" --json docs/qa_counting.json
python scripts/qa_rooms_em.py
python scripts/qa_ask_rooms.py --json docs/qa_ask_rooms.json
segpilot study budget --qa data/qa320/ScanQA_v1.0_val.json --scenes data/qa320/scans --model "$dest" --limit 640 \
  --max-new-tokens 8 --sweep-mode global --out "runs/study_r$n"
cp "runs/study_r$n/study_budget.json" "runs/study_r$n/study_budget.png" docs/
extra=()
for e in "$@"; do extra+=(--extra-train "$e"); done
python scripts/qa_model_card.py --model "$dest" --data data/qa320 "${extra[@]}" --eval "runs/card_r$n" \
  --study "runs/study_r$n" --visibility docs/qa_visibility.json --ask docs/qa_ask_rooms.json \
  --counting docs/qa_counting.json "${earlier[@]}"
python -m tests.golden_outputs
