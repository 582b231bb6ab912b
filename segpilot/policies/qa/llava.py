"""LLaVA-1.5 / LLaVA-NeXT style adapter (CLIP vision tower + projector + Llama-family LM).

- encode: the model's own vision tower through `HFVisionEncoder` (features of
  hidden_states[vision_feature_layer] without [CLS], i.e. LLaVA's "default" strategy, and
  [CLS]->patch saliency of that layer), plus the 3D position of every patch;
- answer: the kept tokens (view-major, patch order) are projected by the model's
  multi_modal_projector, plus a sinusoidal 3D position embedding when asked for or when the
  model's config records that it was trained with one (`segpilot_3d_position`), and replace
  the `<image>` placeholder of the prompt through `inputs_embeds`; greedy decoding.
With nothing pruned, the logits equal the model's own (input_ids + pixel_values) path
(tested). Images are resized to the tower's square input without cropping, so every patch
maps onto the whole RGB-D frame (`geometry.unproject.patch_index`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.geometry.unproject import patch_xyz
from segpilot.perception.encoders.hf import HFVisionEncoder
from segpilot.perception.tokens import VisualTokens
from segpilot.policies.qa.base import Answer, crop_cache, greedy_generate
from segpilot.policies.qa.families import register_adapter
from segpilot.policies.qa.position3d import POSITION_3D_CONFIG_KEY, sinusoidal_xyz

DEFAULT_TEMPLATE = "USER: <image>\n{question} ASSISTANT:"
IMAGE_PLACEHOLDER = "<image>"


@register_adapter("llava")
class LlavaAdapter:
    """Wraps one LlavaForConditionalGeneration instance and its tokenizer."""

    family = "llava"
    model_class = "LlavaForConditionalGeneration"
    default_template = DEFAULT_TEMPLATE
    vision_family = "clip"  # HFVisionEncoder family: [CLS]->patch saliency
    feature_strategy = "default"  # LLaVA drops [CLS] from the selected layer

    def __init__(
        self,
        model,
        tokenizer,
        template: str | None = None,
        use_3d_position: bool = False,
        min_valid_fraction: float = 0.5,
        batch_size: int = 4,
        device: str = "cpu",
    ):
        template = template or self.default_template
        if template.count(IMAGE_PLACEHOLDER) != 1 or "{question}" not in template:
            raise SegpilotError(f"prompt template needs exactly one {IMAGE_PLACEHOLDER} and a {{question}} field")
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.template = template
        # A model trained with the 3D position embedding records it in its config and always gets it.
        self.use_3d_position = use_3d_position or bool(getattr(model.config, POSITION_3D_CONFIG_KEY, None))
        self.min_valid_fraction = min_valid_fraction
        self.device = torch.device(device)
        self.vision = self._vision_encoder(model, batch_size, device)
        self.projector = model.model.multi_modal_projector
        self.hidden_size = model.get_input_embeddings().weight.shape[1]
        self._prefix = None  # (key, KV cache, prefix length, tokens) of the last kept set answered about
        self._lock = threading.Lock()

    def _vision_encoder(self, model, batch_size: int, device: str) -> HFVisionEncoder:
        cfg = model.config
        if cfg.vision_feature_select_strategy != self.feature_strategy or not isinstance(cfg.vision_feature_layer, int):
            raise SegpilotError(f"{self.family} adapter supports vision_feature_select_strategy="
                                f"'{self.feature_strategy}' with one feature layer")  # fmt: skip
        return HFVisionEncoder(model.model.vision_tower, self.vision_family, feature_layer=cfg.vision_feature_layer,
                               batch_size=batch_size, device=device)  # fmt: skip

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs):
        """Load a local checkpoint folder (safetensors, no remote code, no network)."""
        import transformers
        from safetensors import SafetensorError
        from transformers import AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise SegpilotError(f"{path} is not a transformers checkpoint folder (no config.json)")
        try:
            model = getattr(transformers, cls.model_class).from_pretrained(
                path, local_files_only=True, use_safetensors=True, trust_remote_code=False
            )
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError, SafetensorError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise SegpilotError(f"cannot load a {cls.family} checkpoint from {path}: {first}") from None
        return cls(model, tokenizer, **kwargs)

    def encode(self, frames: Sequence[Frame]) -> VisualTokens:
        enc = self.vision.encode([f.rgb for f in frames])
        xyz = np.stack(
            [patch_xyz(f.depth, f.camera, f.T_world_cam, enc.grid_hw, self.min_valid_fraction) for f in frames]
        )
        return VisualTokens.from_views(enc.features, enc.saliency, torch.from_numpy(xyz), enc.grid_hw, self.project)

    @torch.inference_mode()
    def project(self, features: Tensor) -> Tensor:
        """LM-space embeddings of vision features (K, D_vision) -> (K, D_lm)."""
        return self.projector(features.to(self.device))

    def visual_embeddings(self, tokens: VisualTokens, kept: Tensor) -> Tensor:
        kept = torch.sort(kept.to(torch.long)).values  # view-major, patch order
        emb = tokens.lm_embeddings(kept)
        if self.use_3d_position:
            emb = emb + sinusoidal_xyz(tokens.xyz[kept].to(emb.device), emb.shape[1]).to(emb.dtype)
        return emb

    def prompt_embeddings(self, tokens: VisualTokens, kept: Tensor, question: str) -> Tensor:
        """(1, L, D) prompt embeddings with the kept visual tokens at the placeholder."""
        if not question.strip():
            raise SegpilotError("the question is empty")
        before, after = self.template.format(question=question.strip()).split(IMAGE_PLACEHOLDER)
        embed = self.model.get_input_embeddings()
        pieces = []
        ids_before = self.tokenizer(before, add_special_tokens=True, return_tensors="pt").input_ids
        ids_after = self.tokenizer(after, add_special_tokens=False, return_tensors="pt").input_ids
        pieces.append(embed(ids_before.to(self.device))[0])
        pieces.append(self.visual_embeddings(tokens, kept))
        pieces.append(embed(ids_after.to(self.device))[0])
        return torch.cat(pieces)[None]

    @torch.inference_mode()
    def logits(self, tokens: VisualTokens, kept: Tensor, question: str) -> Tensor:
        return self.model(inputs_embeds=self.prompt_embeddings(tokens, kept, question)).logits

    @staticmethod
    def _prefix_key(tokens: VisualTokens, kept: Tensor) -> tuple:
        """What identifies a cached prefix: the token set (held in the entry, so its id is not reused) and the
        sorted kept indices."""
        return id(tokens), len(tokens), hash(torch.sort(kept.to(torch.long)).values.cpu().numpy().tobytes())

    def _prefix_cache(self, tokens: VisualTokens, kept: Tensor):
        """KV cache of the prompt up to and including the visual tokens, reused by every question about the same
        kept tokens (a scene's questions in `eval`, `ask --questions`, the ROS node): the visual tokens, most of
        the prompt, run through the LM once per scene instead of once per question."""
        kept = torch.sort(kept.to(torch.long)).values
        key = self._prefix_key(tokens, kept)
        if self._prefix is None or self._prefix[0] != key:
            before = self.template.split(IMAGE_PLACEHOLDER)[0]
            ids = self.tokenizer(before, add_special_tokens=True, return_tensors="pt").input_ids.to(self.device)
            embeds = torch.cat([self.model.get_input_embeddings()(ids)[0], self.visual_embeddings(tokens, kept)])
            out = self.model(inputs_embeds=embeds[None], use_cache=True, logits_to_keep=1)
            # `tokens` is held so its id cannot be reused by another object while the entry lives
            self._prefix = (key, out.past_key_values, embeds.shape[0], tokens)
        return self._prefix[1], self._prefix[2]

    def answer(self, tokens: VisualTokens, kept: Tensor, question: str, max_new_tokens: int = 16) -> Answer:
        if not question.strip():
            raise SegpilotError("the question is empty")
        with self._lock:  # one shared prefix cache: answers about it run one at a time
            return self._answer(tokens, kept, question, max_new_tokens)

    def _answer(self, tokens: VisualTokens, kept: Tensor, question: str, max_new_tokens: int) -> Answer:
        t0 = time.perf_counter()
        with torch.inference_mode():
            cache, n_prefix = self._prefix_cache(tokens, kept)
            after = self.template.format(question=question.strip()).split(IMAGE_PLACEHOLDER)[1]
            ids = self.tokenizer(after, add_special_tokens=False, return_tensors="pt").input_ids.to(self.device)
            suffix = self.model.get_input_embeddings()(ids)
        t1 = time.perf_counter()
        try:
            out_ids, timings = greedy_generate(self.model, suffix, max_new_tokens, self.tokenizer.eos_token_id,
                                               past_key_values=cache)  # fmt: skip
        finally:
            crop_cache(cache, n_prefix)  # back to the shared prefix for the next question
        text = self.tokenizer.decode(out_ids, skip_special_tokens=True).strip()
        return Answer(text, sorted(int(i) for i in kept), len(tokens), {"prefix": t1 - t0, **timings})
