"""Vision towers from transformers: CLIP-style (with [CLS]) and SigLIP-style (without).

Saliency follows the pruning literature:
- CLIP: attention from [CLS] to each patch in the chosen layer, averaged over heads
  (FasterVLM / VTC-CLS);
- SigLIP has no [CLS]: the attention each token *receives*, averaged over all queries and
  then over heads (SeGPruner).
The layer defaults to the one whose output feeds the projector (LLaVA: hidden_states[-2]).

Only that one layer runs eager attention (its attention module gets its own config copy);
the others keep the fast SDPA path. Attention weights are read with a forward hook on that
module, and this model instance alone is touched - no library class is patched.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.perception.encoders.views import EncodedViews, to_pixel_values

_FAMILIES = {
    "clip_vision_model": "clip",
    "clip": "clip",
    "siglip_vision_model": "siglip",
    "siglip": "siglip",
}
_DEFAULT_NORM = {
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


class HFVisionEncoder:
    """A transformers CLIP / SigLIP vision tower as a segpilot `VisionEncoder`."""

    def __init__(
        self,
        model: torch.nn.Module,
        family: str,
        feature_layer: int = -2,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        batch_size: int = 4,
        device: str = "cpu",
    ):
        if family not in ("clip", "siglip"):
            raise SegpilotError(f"vision family must be clip or siglip, got {family!r}")
        cfg = model.config
        self.family = family
        self.name = f"hf-{family}"
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.image_size = int(cfg.image_size)
        grid = self.image_size // int(cfg.patch_size)
        self.grid_hw = (grid, grid)
        n_layers = int(cfg.num_hidden_layers)
        if not -n_layers <= feature_layer < n_layers + 1 or feature_layer == 0:
            raise SegpilotError(
                f"feature_layer must index a transformer layer's output (1..{n_layers} or -1..-{n_layers})"
            )
        self.feature_layer = feature_layer
        # hidden_states[i] is the output of layer i - 1, so its attention is layer i - 1's.
        self._n_used = feature_layer if feature_layer > 0 else n_layers + 1 + feature_layer
        self._attn_layer = self._n_used - 1
        default_mean, default_std = _DEFAULT_NORM[family]
        self.mean = tuple(mean or default_mean)
        self.std = tuple(std or default_std)
        layer = self._layers()[self._attn_layer]
        layer.self_attn.config = copy.copy(layer.self_attn.config)
        layer.self_attn.config._attn_implementation = "eager"
        self._captured: list[Tensor] = []
        # Captured only inside `encode`: a forward of the tower for anything else (training it) must not pile up
        # attention maps and their autograd graphs (that leak filled 21 GB in 425 training steps).
        self._capturing = False
        layer.self_attn.register_forward_hook(lambda _m, _i, out: self._captured.append(out[1]) if self._capturing
                                              else None)  # fmt: skip

    def _tower(self) -> torch.nn.Module:
        # transformers 5 flattened the tower (model.encoder); 4.x nested it (model.vision_model).
        return getattr(self.model, "vision_model", self.model)

    def _layers(self) -> torch.nn.ModuleList:
        return self._tower().encoder.layers

    def _hidden_at_feature_layer(self, pixel_values: Tensor) -> Tensor:
        """hidden_states[feature_layer] of the tower, running only the layers up to it.

        LLaVA-1.5 reads hidden_states[-2]: the last layer's output feeds nothing (1/L of the encoding FLOPs), so
        the embeddings and the used layers are called directly instead of the model's forward (a forward over a
        shortened layer list would leave transformers' output recorders hooked to the shorter list). The result
        equals the full forward's hidden state (tested)."""
        tower = self._tower()
        hidden = tower.embeddings(pixel_values)
        if self.family == "clip":
            hidden = tower.pre_layrnorm(hidden)
        for layer in self._layers()[: self._n_used]:
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    @staticmethod
    def from_pretrained(path: str | Path, feature_layer: int = -2, batch_size: int = 4, device: str = "cpu"):
        """Load a local checkpoint folder (safetensors only, no remote code, no network)."""
        from transformers import AutoConfig, CLIPVisionModel, SiglipVisionModel

        path = Path(path)
        if not (path / "config.json").exists():
            raise SegpilotError(f"{path} is not a transformers checkpoint folder (no config.json)")
        cfg = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        family = _FAMILIES.get(cfg.model_type)
        if family is None:
            raise SegpilotError(f"{path}: model_type {cfg.model_type!r} is not a CLIP or SigLIP vision model")
        cls = CLIPVisionModel if family == "clip" else SiglipVisionModel
        try:
            model = cls.from_pretrained(path, local_files_only=True, use_safetensors=True, trust_remote_code=False)
        except OSError as exc:
            raise SegpilotError(f"cannot load weights from {path} (safetensors expected): {exc}") from None
        mean, std = _read_norm(path)
        return HFVisionEncoder(model, family, feature_layer, mean, std, batch_size, device)

    @staticmethod
    def from_config(config, seed: int = 0, **kwargs) -> HFVisionEncoder:
        """A randomly initialised tower from a CLIPVisionConfig / SiglipVisionConfig (tests)."""
        from transformers import CLIPVisionModel, SiglipVisionModel

        family = _FAMILIES.get(config.model_type)
        if family is None:
            raise SegpilotError(f"config model_type {config.model_type!r} is not a CLIP or SigLIP vision model")
        torch.manual_seed(seed)
        cls = CLIPVisionModel if family == "clip" else SiglipVisionModel
        return HFVisionEncoder(cls._from_config(config), family, **kwargs)

    @torch.inference_mode()
    def encode(self, images: Sequence[np.ndarray]) -> EncodedViews:
        if len(images) == 0:
            raise SegpilotError("encode needs at least one image")
        feats, sal = [], []
        for i in range(0, len(images), self.batch_size):
            x = to_pixel_values(images[i : i + self.batch_size], self.image_size, self.mean, self.std)
            self._captured.clear()
            self._capturing = True
            try:
                hidden = self._hidden_at_feature_layer(x.to(self.device))
            finally:
                self._capturing = False
            attn = self._captured[-1]  # (B, heads, S, S)
            if self.family == "clip":
                feats.append(hidden[:, 1:].float())
                sal.append(attn[:, :, 0, 1:].mean(dim=1).float())
            else:
                feats.append(hidden.float())
                sal.append(attn.mean(dim=2).mean(dim=1).float())
        return EncodedViews(torch.cat(feats), torch.cat(sal), self.grid_hw)


def _read_norm(path: Path) -> tuple[list[float] | None, list[float] | None]:
    """image_mean / image_std from preprocessor_config.json when the folder has one."""
    pre = path / "preprocessor_config.json"
    if not pre.exists():
        return None, None
    try:
        data = json.loads(pre.read_text())
    except json.JSONDecodeError as exc:
        raise SegpilotError(f"{pre} is not valid JSON: {exc}") from None
    return data.get("image_mean"), data.get("image_std")
