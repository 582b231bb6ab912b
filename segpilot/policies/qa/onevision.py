"""LLaVA-OneVision style adapter (SigLIP vision tower + projector + Qwen2 LM), SeGPruner's base model.

Views are fed the way OneVision feeds several images: each view is one base tile (no anyres
crops), all of its patch features (`vision_feature_select_strategy="full"`), followed by the
model's learned `image_newline` embedding. With nothing pruned this is the model's own
multi-image path (`batch_num_images`), and the logits are equal (tested). Pruning keeps a
view's surviving tokens in patch order and still closes the view with its newline, so the LM
sees where one view ends; a view with no kept token is left out whole.
SigLIP has no [CLS] token, so the saliency is the attention each patch receives, averaged
over queries and heads (`HFVisionEncoder`, family "siglip").
"""

from __future__ import annotations

import torch
from torch import Tensor

from segpilot.perception.tokens import VisualTokens
from segpilot.policies.qa.families import register_adapter
from segpilot.policies.qa.llava import LlavaAdapter

QWEN2_TEMPLATE = "<|im_start|>user\n<image>\n{question}<|im_end|>\n<|im_start|>assistant\n"


@register_adapter("llava_onevision")
class OneVisionAdapter(LlavaAdapter):
    """Wraps one LlavaOnevisionForConditionalGeneration instance and its tokenizer."""

    family = "llava_onevision"
    model_class = "LlavaOnevisionForConditionalGeneration"
    default_template = QWEN2_TEMPLATE
    vision_family = "siglip"  # no [CLS]: saliency = attention each patch receives
    feature_strategy = "full"  # every patch of the selected layer

    def visual_embeddings(self, tokens: VisualTokens, kept: Tensor) -> Tensor:
        kept = torch.sort(kept.to(torch.long)).values
        emb = super().visual_embeddings(tokens, kept)
        views = tokens.view[kept].to(emb.device)
        newline = self.model.model.image_newline.to(emb.dtype)[None]
        pieces = []
        for v in torch.unique_consecutive(views):
            pieces += [emb[views == v], newline]
        return torch.cat(pieces) if pieces else emb
