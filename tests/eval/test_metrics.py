"""Metric values on small hand-checked examples."""

from __future__ import annotations

import math

import pytest

from segpilot.eval.metrics import caption_metrics, exact_match, question_type, refined_exact_match, scanqa_metrics


def test_exact_match_normalisation():
    assert exact_match("Brown.", ["brown"])
    assert exact_match("  on the  table ", ["on the table"])
    assert not exact_match("brown table", ["brown"])
    assert refined_exact_match("brown table", ["brown"])  # substring either way
    assert refined_exact_match("table", ["the wooden table"])
    assert not refined_exact_match("", ["brown"])


def test_question_types():
    assert question_type("What color is the chair?") == "color"
    assert question_type("How many chairs are there?") == "number"
    assert question_type("Where is the lamp?") == "place"
    assert question_type("What kind of table is it?") == "object nature"
    assert question_type("What is on the table?") == "object"
    assert question_type("Is it big?") == "other"


def test_caption_metrics_hand_checked():
    # One question: prediction "brown table" vs reference "a brown table" -> unigram precision 2/2.
    m = caption_metrics({"1": "brown table"}, {"1": ["a brown table"]}, meteor=False)
    assert m["BLEU-1"] == pytest.approx(math.exp(1 - 3 / 2), rel=1e-6)  # precision 1 x brevity penalty exp(1 - r/c)
    # ROUGE-L: LCS 2, precision 1, recall 2/3, beta 1.2 -> F = (1+1.44) P R / (R + 1.44 P)
    p, r = 1.0, 2 / 3
    assert m["ROUGE-L"] == pytest.approx((1 + 1.2**2) * p * r / (r + 1.2**2 * p), rel=1e-6)


def test_scanqa_metrics_and_breakdown():
    records = [
        {"question_id": "a", "question": "What color is the bed?", "prediction": "grey", "answers": ["grey"]},
        {"question_id": "b", "question": "How many cups are there?", "prediction": "two cups", "answers": ["two"]},
        {
            "question_id": "c",
            "question": "Where is the lamp?",
            "prediction": "on the floor",
            "answers": ["on the table"],
        },
    ]
    m = scanqa_metrics(records, meteor=True)
    assert m["n"] == 3 and m["EM@1"] == pytest.approx(100 / 3) and m["refined_EM@1"] == pytest.approx(200 / 3)
    assert m["per_type"]["color"]["EM@1"] == 100.0 and m["per_type"]["number"]["refined_EM@1"] == 100.0
    assert 0 < m["METEOR"] <= 100 and m["caption_metrics_tokenization"] == "pycocoevalcap PTBTokenizer"
