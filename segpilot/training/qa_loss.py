"""The QA trainer's loss: answer cross-entropy of a room's questions sharing one visual prefix, plus grounding."""

from __future__ import annotations

import torch
from torch import Tensor

from segpilot.eval.datasets.scanqa import ScanQAItem
from segpilot.policies.qa.llava import DEFAULT_TEMPLATE, IMAGE_PLACEHOLDER, LlavaAdapter


def _question_pieces(adapter: LlavaAdapter, item: ScanQAItem) -> tuple[Tensor, Tensor]:
    """Token ids of a question's prompt part after the image and of its answer (+ </s>)."""
    tok = adapter.tokenizer
    _, after = DEFAULT_TEMPLATE.split(IMAGE_PLACEHOLDER)
    post = tok(after.format(question=item.question), add_special_tokens=False, return_tensors="pt").input_ids[0]
    ans = tok(" " + item.answers[0], add_special_tokens=False, return_tensors="pt").input_ids[0]
    return post, torch.cat([ans, torch.tensor([tok.eos_token_id])])


def shared_prefix_loss(adapter: LlavaAdapter, visual: Tensor, items: list[ScanQAItem],
                       token_objects: Tensor | None = None, grounding_weight: float = 0.0,
                       pad_to: int = 0) -> Tensor:  # fmt: skip
    """Answer cross-entropy of several questions about the same visual tokens, the prefix computed once.

    The prompt is `<s> USER: ` + visual tokens + `\n{question} ASSISTANT:` + answer: everything up
    to the visual tokens is the same for the room's questions, so its keys / values are computed
    once. The questions' suffixes (question + answer inputs) are then packed into ONE sequence after
    the prefix, with a block mask - each suffix sees the whole prefix and itself causally, never
    another suffix - and position ids restarting at the prefix length for each. Packing, rather than
    a batch over a repeated KV cache, turns every suffix's attention to the prefix into one large
    matrix product: with the repeated cache, small per-question attention made a step's cost grow
    ~20 ms per question at 850 kept tokens (1 thread), more than the prefix itself. The last prompt
    position predicts the first answer token, the last answer input </s> - exactly the positions
    inference reads (tested against the one-sequence definition).

    With `token_objects` (object id per visual token) and `grounding_weight` > 0, the grounding loss is added:
    at the middle layer, the last prompt position's hidden state scores every visual token by dot product, and
    the log of the softmax mass on the tokens of the question's objects is maximised (questions whose objects
    have no kept token are left out).

    `pad_to` > 0 pads the prefix and the packed suffixes to multiples of it with positions nothing attends to and
    no loss reads (the same loss): under bfloat16 autocast, oneDNN builds a kernel for every new matrix shape,
    and with the rooms' varying token counts that cost more than the bfloat16 products saved (measured, 2
    threads: 340-385 ms per step float32, 374-404 bfloat16 unpadded)."""
    model, tok = adapter.model, adapter.tokenizer
    embed = model.get_input_embeddings()
    before, _ = DEFAULT_TEMPLATE.split(IMAGE_PLACEHOLDER)
    pre = embed(tok(before, return_tensors="pt").input_ids[0])
    n_prefix = len(pre) + len(visual)
    prefix_pad = -n_prefix % pad_to if pad_to > 0 else 0
    prefix = torch.cat([pre, visual, visual.new_zeros(prefix_pad, visual.shape[1])])[None]
    lm = model.model.language_model
    ground = grounding_weight > 0 and token_objects is not None
    # causal: the padding at the prefix's end changes nothing before it
    first = lm(inputs_embeds=prefix, use_cache=True, output_hidden_states=ground)
    pieces = [_question_pieces(adapter, it) for it in items]
    seqs = [torch.cat([post, ans[:-1]]) for post, ans in pieces]
    starts = torch.tensor([0] + [len(q) for q in seqs]).cumsum(0)
    total = int(starts[-1])
    suffix_pad = -total % pad_to if pad_to > 0 else 0
    ids = torch.cat(seqs + [torch.full((suffix_pad,), int(tok.eos_token_id))])
    segment = torch.repeat_interleave(torch.arange(len(seqs)), torch.tensor([len(q) for q in seqs]))
    segment = torch.cat([segment, torch.full((suffix_pad,), -1)])  # padding: a segment of its own
    local = torch.arange(total + suffix_pad) - torch.cat([starts[segment[:total]], torch.full((suffix_pad,), total)])
    n_cols = n_prefix + prefix_pad
    mask = torch.zeros(total + suffix_pad, n_cols + total + suffix_pad, dtype=torch.bool)
    mask[:total, :n_prefix] = True  # every question sees the real prefix, never its padding
    same = (segment[:, None] == segment[None, :]) & (local[None, :] <= local[:, None])
    mask[:, n_cols:] = same
    labels = torch.full((total + suffix_pad,), -100, dtype=torch.long)
    for b, (post, ans) in enumerate(pieces):
        labels[starts[b] + len(post) - 1 : starts[b + 1]] = ans
    out = lm(inputs_embeds=embed(ids)[None], attention_mask=mask[None, None], position_ids=(n_prefix + local)[None],
             past_key_values=first.past_key_values, use_cache=True, output_hidden_states=ground)  # fmt: skip
    logits = model.lm_head(out.last_hidden_state[0])
    loss = torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100)
    if not ground:
        return loss
    layer = len(lm.layers) // 2
    keys = first.hidden_states[layer][0, len(pre) : n_prefix]  # (K, D) visual tokens
    last_prompt = starts[:-1] + torch.tensor([len(post) - 1 for post, _ in pieces])
    queries = out.hidden_states[layer][0, last_prompt]
    scores = queries @ keys.T / keys.shape[1] ** 0.5  # (B, K)
    terms = []
    for b, item in enumerate(items):
        target = torch.isin(token_objects, torch.tensor(item.object_ids, dtype=token_objects.dtype))
        if target.any():
            terms.append(torch.logsumexp(scores[b], 0) - torch.logsumexp(scores[b][target], 0))
    return loss + grounding_weight * torch.stack(terms).mean() if terms else loss
