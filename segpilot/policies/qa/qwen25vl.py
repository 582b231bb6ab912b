"""Qwen2.5-VL adapter: its own windowed ViT + 2x2 patch merger, and multimodal RoPE positions.

- encode: each view is resized (aspect ratio kept) to multiples of 28 px with its longer side
  near `image_size`, flattened into patches exactly as Qwen's image processor does (tested
  against `Qwen2VLImageProcessorPil`), and run through `model.model.visual`; one visual token is
  one merged 2x2 patch group, already in LM space (the merger is the projector). Qwen's ViT
  returns no attention weights, so the saliency is recomputed from the inputs of the last
  full-attention block: the attention each merged token receives, averaged over queries, heads
  and its four patches.
- positions: Qwen2.5-VL gives every image token a (t, h, w) RoPE position and text after an
  image continues from the image's extent. The adapter computes the positions of the full
  prompt (every token of every view) with the model's own `get_rope_index`, then keeps the
  columns of the text and of the kept tokens - so a kept token keeps the position it had,
  and nothing after it moves. With nothing pruned the logits equal the model's own
  input_ids + pixel_values path (tested).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame
from segpilot.geometry.unproject import patch_xyz
from segpilot.perception.encoders.base import to_pixel_values
from segpilot.perception.tokens import VisualTokens
from segpilot.policies.qa.base import Answer, crop_cache, greedy_generate
from segpilot.policies.qa.families import register_adapter
from segpilot.policies.qa.llava import IMAGE_PLACEHOLDER, LlavaAdapter
from segpilot.policies.qa.position3d import sinusoidal_xyz

QWEN_TEMPLATE = "<|im_start|>user\n<image>{question}<|im_end|>\n<|im_start|>assistant\n"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def qwen_patches(pixels: Tensor, patch: int, merge: int, temporal: int) -> Tensor:
    """(3, H, W) normalised image -> (H/p * W/p, 3 * temporal * p * p) in Qwen's merge-unit order."""
    c, h, w = pixels.shape
    gh, gw = h // patch, w // patch
    x = pixels[None].repeat(temporal, 1, 1, 1)  # a still image is repeated over the temporal patch
    x = x.reshape(1, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gh * gw, c * temporal * patch * patch)


@register_adapter("qwen2_5_vl")
class Qwen25VLAdapter(LlavaAdapter):
    """Wraps one Qwen2_5_VLForConditionalGeneration instance and its tokenizer."""

    family = "qwen2_5_vl"
    model_class = "Qwen2_5_VLForConditionalGeneration"
    default_template = QWEN_TEMPLATE

    def __init__(self, model, tokenizer, template: str | None = None, use_3d_position: bool = False,
                 min_valid_fraction: float = 0.5, image_size: int = 448, device: str = "cpu", **_):  # fmt: skip
        template = template or self.default_template
        if template.count(IMAGE_PLACEHOLDER) != 1 or "{question}" not in template:
            raise SegpilotError(f"prompt template needs exactly one {IMAGE_PLACEHOLDER} and a {{question}} field")
        self.model = model.eval().to(device)
        self.tokenizer, self.template, self.device = tokenizer, template, torch.device(device)
        self.use_3d_position, self.min_valid_fraction = use_3d_position, min_valid_fraction
        self.visual = model.model.visual
        vc = model.config.vision_config
        self.patch, self.merge = int(vc.patch_size), int(vc.spatial_merge_size)
        self.temporal = int(vc.temporal_patch_size)
        self.unit = self.patch * self.merge
        if image_size < self.unit:
            raise SegpilotError(f"image_size must be at least {self.unit} px, got {image_size}")
        self.image_size = image_size
        self.ids = {k: int(getattr(model.config, f"{k}_token_id")) for k in ("image", "vision_start", "vision_end")}
        attn = self.visual.blocks[max(self.visual.fullatt_block_indexes)].attn
        self._captured: list[tuple[Tensor, tuple[Tensor, Tensor]]] = []
        attn.register_forward_pre_hook(
            lambda _m, args, kwargs: self._captured.append((args[0], kwargs["position_embeddings"])), with_kwargs=True
        )
        self._attn = attn
        self._prefix = None  # (key, KV cache, prefix length, tokens) of the last kept set answered about
        self._lock = threading.Lock()

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) in pixels, multiples of 28 with the longer side near image_size, aspect ratio kept."""
        scale = self.image_size / max(height, width)
        return tuple(max(self.unit, round(d * scale / self.unit) * self.unit) for d in (height, width))  # type: ignore[return-value]

    def pixel_values(self, rgb: np.ndarray) -> tuple[Tensor, Tensor]:
        """Qwen's flattened patches of one view and its (1, grid_h, grid_w) in patches."""
        size = self.input_size(*np.asarray(rgb).shape[:2])
        px = to_pixel_values([rgb], size, CLIP_MEAN, CLIP_STD)[0]
        grid = torch.tensor([[1, size[0] // self.patch, size[1] // self.patch]])
        return qwen_patches(px, self.patch, self.merge, self.temporal), grid

    @torch.inference_mode()
    def _encode_view(self, rgb: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        px, grid = self.pixel_values(rgb)
        self._captured.clear()
        merged = self.visual(px.to(self.device, self.visual.dtype), grid_thw=grid.to(self.device)).pooler_output
        hidden, (cos, sin) = self._captured.pop()
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

        n = hidden.shape[0]
        q, k = self._attn.qkv(hidden).reshape(n, 3, self._attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)[:2]
        q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
        probs = torch.softmax(torch.einsum("qhd,khd->hqk", q.float(), k.float()) * self._attn.scaling, dim=-1)
        received = probs.mean(dim=(0, 1)).reshape(-1, self.merge**2).mean(dim=1)  # window order, per merged token
        from transformers.vision_utils import get_vision_window_index

        window_index, _ = get_vision_window_index(
            grid.to(self.device), spatial_merge_size=self.merge, window_size=self.visual.window_size,
            patch_size=self.patch,
        )  # fmt: skip
        saliency = received[torch.argsort(window_index)]
        return merged.float(), saliency, grid

    def encode(self, frames: Sequence[Frame]) -> VisualTokens:
        if len(frames) == 0:
            raise SegpilotError("encode needs at least one view")
        feats, sal, grids = zip(*(self._encode_view(f.rgb) for f in frames), strict=True)
        if len({tuple(g[0].tolist()) for g in grids}) != 1:
            raise SegpilotError("all views must have the same image size")
        grid_hw = (int(grids[0][0, 1]) // self.merge, int(grids[0][0, 2]) // self.merge)
        xyz = np.stack([patch_xyz(f.depth, f.camera, f.T_world_cam, grid_hw, self.min_valid_fraction) for f in frames])
        tokens = VisualTokens.from_views(torch.stack(feats), torch.stack(sal), torch.from_numpy(xyz), grid_hw)
        self._grid = grids[0]
        return tokens

    def full_prompt_ids(self, n_views: int, tokens_per_view: int, question: str) -> tuple[Tensor, Tensor]:
        """Token ids of the unpruned prompt and the mask of its image tokens."""
        if not question.strip():
            raise SegpilotError("the question is empty")
        before, after = self.template.format(question=question.strip()).split(IMAGE_PLACEHOLDER)
        enc = lambda text: self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
        view = [self.ids["vision_start"]] + [self.ids["image"]] * tokens_per_view + [self.ids["vision_end"]]
        ids = torch.cat([enc(before), torch.tensor(view * n_views), enc(after)])
        return ids, ids == self.ids["image"]

    def prompt(self, tokens: VisualTokens, kept: Tensor, question: str) -> tuple[Tensor, Tensor]:
        """(1, L, D) prompt embeddings and (3, 1, L) RoPE positions with only the kept visual tokens."""
        n_views = int(tokens.view.max()) + 1
        per_view = len(tokens) // n_views
        ids, is_image = self.full_prompt_ids(n_views, per_view, question)
        gh, gw = tokens.grid_hw
        grid = torch.tensor([[1, gh * self.merge, gw * self.merge]] * n_views)
        positions, _ = self.model.model.get_rope_index(ids[None], mm_token_type_ids=is_image[None].int(),
                                                       image_grid_thw=grid)  # fmt: skip
        kept = torch.sort(kept.to(torch.long)).values
        keep = ~is_image
        keep[torch.nonzero(is_image)[:, 0][kept]] = True
        with torch.inference_mode():
            emb = self.model.get_input_embeddings()(ids[keep].to(self.device))
            visual = tokens.lm_embeddings(kept).to(self.device, emb.dtype)
            if self.use_3d_position:
                visual = visual + sinusoidal_xyz(tokens.xyz[kept].to(visual.device), visual.shape[1]).to(visual.dtype)
            emb[is_image[keep].to(self.device)] = visual
        return emb[None], positions[:, :, keep].to(self.device)

    def prompt_embeddings(self, tokens: VisualTokens, kept: Tensor, question: str) -> Tensor:
        return self.prompt(tokens, kept, question)[0]

    @torch.inference_mode()
    def logits(self, tokens: VisualTokens, kept: Tensor, question: str) -> Tensor:
        embeds, positions = self.prompt(tokens, kept, question)
        return self.model(inputs_embeds=embeds, position_ids=positions).logits

    def prefix_length(self, tokens: VisualTokens, kept: Tensor) -> int:
        """Prompt positions up to and including the last view's vision_end: the part no question changes (text
        after an image continues from the image's extent, so even the question's RoPE positions do not move it)."""
        before = self.template.split(IMAGE_PLACEHOLDER)[0]
        n_before = len(self.tokenizer(before, add_special_tokens=False).input_ids)
        return n_before + 2 * (int(tokens.view.max()) + 1) + len(kept)

    def _prefix_cache(self, tokens: VisualTokens, kept: Tensor, embeds: Tensor, positions: Tensor):
        """KV cache of the prompt's question-independent prefix (system text and every view with its kept
        tokens), computed once per kept set and reused by each question about it (see `LlavaAdapter`)."""
        key = self._prefix_key(tokens, kept)
        if self._prefix is None or self._prefix[0] != key:
            n = self.prefix_length(tokens, kept)
            out = self.model(inputs_embeds=embeds[:, :n], position_ids=positions[..., :n], use_cache=True,
                             logits_to_keep=1)  # fmt: skip
            self._prefix = (key, out.past_key_values, n, tokens)  # `tokens` held so its id is not reused
        return self._prefix[1], self._prefix[2]

    def _answer(self, tokens: VisualTokens, kept: Tensor, question: str, max_new_tokens: int) -> Answer:
        t0 = time.perf_counter()
        embeds, positions = self.prompt(tokens, kept, question)
        with torch.inference_mode():
            cache, n = self._prefix_cache(tokens, kept, embeds, positions)
        t1 = time.perf_counter()
        eos = self.tokenizer.eos_token_id
        try:
            ids, timings = greedy_generate(self.model, embeds[:, n:], max_new_tokens, eos,
                                           position_ids=positions[..., n:], past_key_values=cache)  # fmt: skip
        finally:
            crop_cache(cache, n)  # back to the shared prefix for the next question
        text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        return Answer(text, sorted(int(i) for i in kept), len(tokens), {"prefix": t1 - t0, **timings})
