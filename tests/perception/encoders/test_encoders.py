"""Encoder adapters on tiny random-init transformers towers (built offline from configs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, SiglipVisionConfig, SiglipVisionModel

from segpilot.errors import SegpilotError
from segpilot.perception.encoders.base import make_encoder, to_pixel_values
from segpilot.perception.encoders.hf import HFVisionEncoder

TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 56,
    "patch_size": 14,
}
IMAGES = [np.random.default_rng(i).integers(0, 255, (60, 80, 3), dtype=np.uint8) for i in range(3)]


@pytest.mark.parametrize("config_cls,family", [(CLIPVisionConfig, "clip"), (SiglipVisionConfig, "siglip")])
def test_saliency_equals_the_models_own_attentions(config_cls, family):
    enc = HFVisionEncoder.from_config(config_cls(**TINY), batch_size=2)
    out = enc.encode(IMAGES)
    assert out.features.shape == (3, 16, 32) and out.saliency.shape == (3, 16) and out.grid_hw == (4, 4)
    assert enc.model.config._attn_implementation != "eager"  # only the saliency layer runs eager
    model = enc.model
    model.set_attn_implementation("eager")
    x = to_pixel_values(IMAGES, 56, enc.mean, enc.std)
    with torch.no_grad():
        ref = model(pixel_values=x, output_attentions=True, output_hidden_states=True)
    attn = ref.attentions[-2]
    if family == "clip":
        expected_sal = attn[:, :, 0, 1:].mean(1)
        expected_feat = ref.hidden_states[-2][:, 1:]
    else:
        expected_sal = attn.mean(2).mean(1)
        expected_feat = ref.hidden_states[-2]
    assert torch.allclose(out.saliency, expected_sal, atol=1e-5)
    assert torch.allclose(out.features, expected_feat, atol=1e-4)


@pytest.mark.parametrize(
    "model_cls,config_cls", [(CLIPVisionModel, CLIPVisionConfig), (SiglipVisionModel, SiglipVisionConfig)]
)
def test_load_from_a_local_folder(tmp_path, model_cls, config_cls):
    torch.manual_seed(0)
    model_cls._from_config(config_cls(**TINY)).save_pretrained(tmp_path)
    enc = make_encoder(str(tmp_path))
    assert enc.encode(IMAGES[:1]).features.shape == (1, 16, 32)


def test_missing_or_wrong_folder(tmp_path):
    with pytest.raises(SegpilotError, match="unknown encoder"):
        make_encoder(str(tmp_path / "nope"))
    with pytest.raises(SegpilotError, match="no config.json"):
        HFVisionEncoder.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(SegpilotError):
        HFVisionEncoder.from_pretrained(tmp_path)


def test_bad_images():
    enc = HFVisionEncoder.from_config(SiglipVisionConfig(**TINY))
    with pytest.raises(SegpilotError, match="uint8"):
        enc.encode([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(SegpilotError, match="at least one"):
        enc.encode([])


def test_default_pretrained_encoder_grid():
    enc = make_encoder("efficientnet-lite0")
    out = enc.encode(IMAGES[:2])
    assert out.grid_hw == (27, 27) and out.features.shape == (2, 729, 112)
    assert torch.isfinite(out.saliency).all() and (out.saliency >= 0).all()


def test_a_tower_forward_outside_encode_keeps_no_attention_maps():
    """Training the tower runs it directly: the saliency hook must not keep each step's attention (and its autograd
    graph) alive - it did, and an 85-minute training run was OOM-killed at 21 GB."""
    enc = HFVisionEncoder.from_config(CLIPVisionConfig(**TINY), batch_size=2)
    x = torch.randn(2, 3, TINY["image_size"], TINY["image_size"])
    for _ in range(3):
        enc.model(pixel_values=x, output_hidden_states=True).hidden_states[-1].sum().backward()
    assert enc._captured == []
    enc.encode([np.zeros((20, 20, 3), np.uint8)] * 3)
    assert len(enc._captured) == 1 and not enc._captured[0].requires_grad


@pytest.mark.parametrize("config_cls", [CLIPVisionConfig, SiglipVisionConfig])
def test_layers_after_the_feature_layer_do_not_run(config_cls):
    """hidden_states[-2] (LLaVA's default) needs 2 of 3 layers: encode skips the last one (issue 20) and gives the
    tower its whole layer list back, so training and saving still see every layer."""
    enc = HFVisionEncoder.from_config(config_cls(**TINY), feature_layer=-2)
    layers = enc._layers()
    calls = []
    layers[-1].register_forward_hook(lambda *_: calls.append(1))
    enc.encode(IMAGES[:1])
    assert calls == [] and enc._layers() is layers and len(layers) == 3
    x = to_pixel_values(IMAGES[:1], 56, enc.mean, enc.std)
    with torch.no_grad():
        out = enc.model(pixel_values=x, output_hidden_states=True)
    assert calls == [1] and len(out.hidden_states) == 4  # a plain forward of the model still runs every layer
