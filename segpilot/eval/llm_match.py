"""OpenEQA's LLM-Match with a local judge model: each answer gets a mark 1-5; score = mean 100 (s - 1) / 4.

The judge is any local causal LM folder (transformers, safetensors, no network). OpenEQA
uses GPT-4 with its "mmbench" prompt (and "mmbench-extra" for items with `extra_answers`); a
local judge is a substitute, so metrics.json names the judge. An output with no readable mark
counts as 1 and is counted as unparsed.
"""

from __future__ import annotations

import re
from pathlib import Path

from segpilot.errors import SegpilotError

_INSTRUCTIONS = (
    "You are an AI assistant who will help me to evaluate the response given the question and the correct "
    "answer{extra_clause}.\n"
    "To mark a response, you should output a single integer between 1 and 5 (including 1, 5).\n"
    "5 means that the response perfectly matches the answer{extra_match}.\n"
    "1 means that the response is completely different from the answer{extra_match}.\n\n"
)
_EXAMPLES = (
    ("Is it overcast?", "no", "yes", 1),
    ("Who is standing at the table?", "woman", "Jessica", 3),
    ("Are there drapes to the right of the bed?", "yes", "yes", 5),
)


def _prompt(extra: bool) -> str:
    """OpenEQA's LLM-Match prompts: "mmbench" and, for items with `extra_answers`, "mmbench-extra".

    Written after OpenEQA's `prompts/mmbench.txt` / `mmbench-extra.txt` as its `llm_match.py` uses them
    (instructions, worked examples, then "Your Turn"; the extra variant lists the other accepted
    answers); the files themselves were not at hand to compare word for word."""
    head = _INSTRUCTIONS.format(extra_clause=", and extra answers that are also correct" if extra else "",
                                extra_match=" or any of the extra answers" if extra else "")  # fmt: skip
    shots = "".join(
        f"Example {i}:\nQuestion: {q}\nAnswer: {a}\n" + (f"Extra Answers: ['{a}']\n" if extra else "")
        + f"Response: {r}\nYour mark: {m}\n\n" for i, (q, a, r, m) in enumerate(_EXAMPLES, 1)
    )  # fmt: skip
    turn = "Your Turn:\nQuestion: {question}\nAnswer: {answer}\n"
    turn += "Extra Answers: {extra_answers}\n" if extra else ""
    return head + shots + turn + "Response: {prediction}\nYour mark:"


PROMPT = _prompt(extra=False)
PROMPT_EXTRA = _prompt(extra=True)


def parse_mark(text: str) -> int | None:
    """The first integer 1-5 in the judge's output (after its last 'Your mark:' when present)."""
    tail = text.split("Your mark:")[-1]
    match = re.search(r"\b([1-5])\b", tail)
    return int(match.group(1)) if match else None


class LocalJudge:
    """Greedy judge on a local causal LM."""

    def __init__(self, path: str | Path, max_new_tokens: int = 4):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise SegpilotError(f"judge {path} is not a transformers checkpoint folder (no config.json)")
        self.name = str(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
        self.max_new_tokens = max_new_tokens

    def mark(self, question: str, answer: str, prediction: str, extra_answers=None) -> tuple[int, bool]:
        """(mark 1-5, parsed?); `extra_answers` (OpenEQA's other accepted answers) selects the extra prompt."""
        import torch

        template = PROMPT_EXTRA if extra_answers else PROMPT
        prompt = template.format(question=question, answer=answer, prediction=prediction,
                                 extra_answers=list(extra_answers or []))  # fmt: skip
        ids = self.tokenizer(prompt, return_tensors="pt").input_ids
        with torch.inference_mode():
            out = self.model.generate(ids, max_new_tokens=self.max_new_tokens, do_sample=False)
        text = self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        mark = parse_mark(text)
        return (mark, True) if mark is not None else (1, False)


def llm_match_score(marks: list[int]) -> float:
    return 100.0 * sum((m - 1) / 4 for m in marks) / len(marks) if marks else 0.0
