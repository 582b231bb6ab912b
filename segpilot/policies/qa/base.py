"""What every VLM adapter returns, and the greedy prefill/decode loop they share.

Adapters insert the kept tokens' LM-space embeddings into the prompt through
`inputs_embeds`, so pruning never needs the model's own image-token bookkeeping; timings are
taken per stage so a pruning method's savings show up where they happen (prefill).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Answer:
    """A generated answer with the kept token ids and per-stage wall times in seconds."""

    text: str
    kept: list[int]
    n_tokens: int
    timings: dict[str, float] = field(default_factory=dict)

    def to_record(self) -> dict:
        """The one JSON record of an answer that `ask`, `eval`, the budget study and the ROS `scene_qa` node write
        (each adds its own ids): the prediction, tokens kept and total, seconds per stage."""
        return {"prediction": self.text, "tokens_kept": len(self.kept), "tokens_total": self.n_tokens,
                "timings_s": dict(self.timings)}  # fmt: skip


def crop_cache(cache, length: int) -> None:
    """Cut a transformers KV cache back to its first `length` positions (transformers 5 takes the number of
    positions to remove, as a negative count)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


@torch.inference_mode()
def greedy_generate(
    model, inputs_embeds: Tensor, max_new_tokens: int, eos_token_id: int | None, position_ids: Tensor | None = None,
    past_key_values=None,
) -> tuple[list[int], dict[str, float]]:  # fmt: skip
    """Greedy decoding with a KV cache; returns new token ids and prefill / decode seconds.

    `position_ids` (..., 1, L) are passed for models whose prompt positions are not 0..L-1
    (Qwen2.5-VL's multimodal RoPE, pruned prompts); generated tokens continue from the last
    prompt position + 1 in every component. With `past_key_values` (a KV cache of a shared prompt prefix),
    `inputs_embeds` is only the rest of the prompt; the cache is extended in place (crop it back to reuse it)."""
    t0 = time.perf_counter()
    step_kwargs = lambda i: {} if position_ids is None else {"position_ids": position_ids[..., -1:] + 1 + i}
    prefill_kwargs = {} if position_ids is None else {"position_ids": position_ids}
    # logits only at the last prompt position: the others are never read (22% of the prefill FLOPs at 12 views)
    if past_key_values is not None:
        prefill_kwargs["past_key_values"] = past_key_values
    out = model(inputs_embeds=inputs_embeds, use_cache=True, logits_to_keep=1, **prefill_kwargs)
    next_id = int(out.logits[0, -1].argmax())
    t1 = time.perf_counter()
    ids: list[int] = []
    past = out.past_key_values
    for _ in range(max_new_tokens):
        if eos_token_id is not None and next_id == eos_token_id:
            break
        ids.append(next_id)
        if len(ids) == max_new_tokens:
            break
        out = model(
            input_ids=torch.tensor([[next_id]], device=inputs_embeds.device),
            past_key_values=past,
            use_cache=True,
            **step_kwargs(len(ids) - 1),
        )
        past = out.past_key_values
        next_id = int(out.logits[0, -1].argmax())
    t2 = time.perf_counter()
    return ids, {"prefill": t1 - t0, "decode": t2 - t1}
