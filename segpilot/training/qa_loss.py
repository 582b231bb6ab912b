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
                       token_objects: Tensor | None = None, grounding_weight: float = 0.0) -> Tensor:  # fmt: skip
    """Answer cross-entropy of several questions about the same visual tokens, the prefix computed once.

    The prompt is `<s> USER: ` + visual tokens + `\n{question} ASSISTANT:` + answer: everything up
    to the visual tokens is the same for the room's questions, so its keys / values are computed
    once and repeated over the batch; the suffixes (question + answer inputs) are right-padded.
    The last prompt position predicts the first answer token, the last answer input </s> -
    exactly the positions inference reads (tested against the one-sequence definition).

    With `token_objects` (object id per visual token) and `grounding_weight` > 0, the grounding loss is added:
    at the middle layer, the last prompt position's hidden state scores every visual token by dot product, and
    the log of the softmax mass on the tokens of the question's objects is maximised (questions whose objects
    have no kept token are left out)."""
    model, tok = adapter.model, adapter.tokenizer
    embed = model.get_input_embeddings()
    before, _ = DEFAULT_TEMPLATE.split(IMAGE_PLACEHOLDER)
    pre = embed(tok(before, return_tensors="pt").input_ids[0])
    prefix = torch.cat([pre, visual])[None]
    lm = model.model.language_model
    ground = grounding_weight > 0 and token_objects is not None
    first = lm(inputs_embeds=prefix, use_cache=True, output_hidden_states=ground)
    cache = first.past_key_values
    cache.batch_repeat_interleave(len(items))
    pieces = [_question_pieces(adapter, it) for it in items]
    length = max(len(post) + len(ans) - 1 for post, ans in pieces)
    ids = torch.zeros(len(items), length, dtype=torch.long)
    mask = torch.zeros(len(items), prefix.shape[1] + length, dtype=torch.long)
    mask[:, : prefix.shape[1]] = 1
    labels = torch.full((len(items), length), -100, dtype=torch.long)
    for b, (post, ans) in enumerate(pieces):
        seq = torch.cat([post, ans[:-1]])
        ids[b, : len(seq)] = seq
        mask[b, prefix.shape[1] : prefix.shape[1] + len(seq)] = 1
        labels[b, len(post) - 1 : len(seq)] = ans
    out = lm(inputs_embeds=embed(ids), attention_mask=mask, past_key_values=cache, use_cache=True,
             output_hidden_states=ground)  # fmt: skip
    logits = model.lm_head(out.last_hidden_state)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    if not ground:
        return loss
    layer = len(lm.layers) // 2
    keys = first.hidden_states[layer][0, len(pre) :]  # (K, D) visual tokens
    queries = out.hidden_states[layer][torch.arange(len(items)), torch.tensor([len(p) - 1 for p, _ in pieces])]
    scores = queries @ keys.T / keys.shape[1] ** 0.5  # (B, K)
    terms = []
    for b, item in enumerate(items):
        target = torch.isin(token_objects, torch.tensor(item.object_ids, dtype=token_objects.dtype))
        if target.any():
            terms.append(torch.logsumexp(scores[b], 0) - torch.logsumexp(scores[b][target], 0))
    return loss + grounding_weight * torch.stack(terms).mean() if terms else loss
