"""ScanQA metrics: exact match (official and "refined") and the captioning metrics.

- EM@1 (ScanQA): the prediction, normalised, equals one of the normalised answers.
  Normalisation: lower case, surrounding whitespace and a trailing full stop removed,
  inner whitespace collapsed. (EM@10 needs ten ranked predictions; segpilot's models give one.)
- Refined EM@1 (LLaVA-3D): also counts a match when either string contains the other.
- BLEU-1..4, METEOR, ROUGE-L, CIDEr: pycocoevalcap 1.2 after its PTBTokenizer, as ScanQA's
  official evaluation (Video-3D LLM skips the PTB step; `metrics.json` says which ran).
  SPICE is left out: it downloads Stanford CoreNLP. METEOR and PTB need Java.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import defaultdict
from collections.abc import Sequence

TOKENIZATION = "pycocoevalcap PTBTokenizer"


def normalize(text: str) -> str:
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text[:-1].rstrip() if text.endswith(".") else text


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    p = normalize(prediction)
    return any(p == normalize(a) for a in answers)


def refined_exact_match(prediction: str, answers: Sequence[str]) -> bool:
    p = normalize(prediction)
    for answer in answers:
        a = normalize(answer)
        if p == a or (p and a and (p in a or a in p)):
            return True
    return False


def question_type(question: str) -> str:
    """ScanQA-style type from the wording: color, number, place, object nature, object, other."""
    q = question.strip().lower()
    if "color" in q or "colour" in q:
        return "color"
    if q.startswith("how many") or q.startswith("are there more"):
        return "number"
    if q.startswith("where"):
        return "place"
    if q.startswith(("what type", "what kind", "what shape")):
        return "object nature"
    if q.startswith(("what", "which")):
        return "object"
    return "other"


def caption_metrics(predictions: dict[str, str], references: dict[str, Sequence[str]], meteor: bool = True) -> dict:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr over question ids (pycocoevalcap, PTB-tokenised)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    if not predictions:
        return {}
    tok = PTBTokenizer()
    with contextlib.redirect_stdout(io.StringIO()):  # the scorers print progress lines
        gts = tok.tokenize({k: [{"caption": a} for a in references[k]] for k in predictions})
        res = tok.tokenize({k: [{"caption": v}] for k, v in predictions.items()})
        bleu, _ = Bleu(4).compute_score(gts, res)
        out = {f"BLEU-{i + 1}": float(b) for i, b in enumerate(bleu)}
        out["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
        out["CIDEr"] = float(Cider().compute_score(gts, res)[0])
        if meteor:
            from pycocoevalcap.meteor.meteor import Meteor

            out["METEOR"] = float(Meteor().compute_score(gts, res)[0])
    return out


def scanqa_metrics(records: Sequence[dict], meteor: bool = True) -> dict:
    """Metrics over prediction records {question_id, question, prediction, answers, question_type?}."""
    scored = [r for r in records if r.get("answers")]
    if not scored:
        return {"n": 0}
    em = [exact_match(r["prediction"], r["answers"]) for r in scored]
    rem = [refined_exact_match(r["prediction"], r["answers"]) for r in scored]
    by_type: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for r, a, b in zip(scored, em, rem, strict=True):
        by_type[r.get("question_type") or question_type(r["question"])].append((a, b))
    out = {
        "n": len(scored),
        "EM@1": 100.0 * sum(em) / len(em),
        "refined_EM@1": 100.0 * sum(rem) / len(rem),
        "per_type": {
            t: {
                "n": len(v),
                "EM@1": 100.0 * sum(a for a, _ in v) / len(v),
                "refined_EM@1": 100.0 * sum(b for _, b in v) / len(v),
            }
            for t, v in sorted(by_type.items())
        },  # fmt: skip
        "caption_metrics_tokenization": TOKENIZATION,
    }
    caps = caption_metrics(
        {r["question_id"]: r["prediction"] for r in scored}, {r["question_id"]: r["answers"] for r in scored}, meteor
    )
    out.update({k: 100.0 * v for k, v in caps.items()})
    return out
