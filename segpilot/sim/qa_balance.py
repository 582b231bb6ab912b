"""Questions that cannot be answered without looking: answer rebalancing and question-only baselines.

Templated questions about generated rooms have skewed answers ("Where is the cup?" - usually
"on the table"; "How many beds?" - always "one"), so a model can score by its language prior
alone. `balance` drops questions, in a seeded order, whose answer is already over-represented in
any of three groups: the question type, the question template (object and colour words
replaced), and the exact question text. `question_only_baselines` reports what answering
without the image reaches per type: the most frequent training answer per type, per template
and per exact question (each falling back to the coarser one for unseen groups), scored on
another split - the number a model must beat to show it looks.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

from segpilot.nav.vocab import COLOURS, FURNITURE, FURNITURE_COLOURS, SMALL, WALL_COLOURS

MAX_SHARE = 0.35
"""Target share of one answer in a group; the accepted sets stay under the 40% question-only bound."""
SLACK = 1
"""Answers a group accepts beyond the share (small groups must be able to start; 2 let the binary "more X or Y"
comparisons reach 41% per exact question)."""

_WORDS = sorted({*COLOURS, *FURNITURE_COLOURS, *WALL_COLOURS, *FURNITURE, *SMALL}, key=len, reverse=True)
_VOCAB = re.compile(r"\b(" + "|".join(re.escape(w) for w in _WORDS) + r")(es|s)?\b")


def template(question: str) -> str:
    """The question with every colour and category word replaced by `<x>`."""
    return _VOCAB.sub("<x>", question.lower())


def _keys(item: dict) -> tuple[tuple[str, str], ...]:
    t = item["question_type"]
    return (("type", t), ("template", t + "|" + template(item["question"])), ("exact", item["question"].lower()))


def balance(items: list[dict], seed: int) -> list[dict]:
    """The subset of `items` (ScanQA records with question_type) whose answers are balanced; order kept."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    keep = set()
    for i in order:
        answer = items[i]["answers"][0]
        keys = _keys(items[i])
        if all(counts[k][answer] + 1 <= MAX_SHARE * (totals[k] + 1) + SLACK for k in keys):
            keep.add(i)
            for k in keys:
                counts[k][answer] += 1
                totals[k] += 1
    return [items[i] for i in sorted(keep)]


def question_only_baselines(train: list[dict], test: list[dict]) -> dict[str, dict[str, float]]:
    """Per question type: EM (%) on `test` of the most frequent `train` answer per type, template, exact question."""
    tables: dict[str, dict[str, Counter]] = {"type": defaultdict(Counter), "template": defaultdict(Counter),
                                             "exact": defaultdict(Counter)}  # fmt: skip
    for it in train:
        for level, key in _keys(it):
            tables[level][key][it["answers"][0]] += 1

    def guess(it: dict, levels: tuple[str, ...]) -> str | None:
        for level, key in reversed([k for k in _keys(it) if k[0] in levels]):
            if tables[level].get(key):
                return tables[level][key].most_common(1)[0][0]
        return None

    out: dict[str, dict[str, float]] = {}
    by_type: dict[str, list[dict]] = defaultdict(list)
    for it in test:
        by_type[it["question_type"]].append(it)
    for t, items in sorted(by_type.items()):
        row = {"n": float(len(items))}
        for name, levels in (("per_type", ("type",)), ("per_template", ("type", "template")),
                             ("per_question", ("type", "template", "exact"))):  # fmt: skip
            hits = sum((guess(it, levels) or "").lower() in {a.lower() for a in it["answers"]} for it in items)
            row[name] = 100.0 * hits / len(items)
        row["best"] = max(row["per_type"], row["per_template"], row["per_question"])
        out[t] = row
    return out
