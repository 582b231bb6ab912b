"""The action head: an MLP-ResNet over each action placeholder's hidden state (OpenVLA-OFT / CogVLA)."""

from __future__ import annotations

from torch import Tensor, nn


class MLPResNetHead(nn.Module):
    """Linear -> residual MLP blocks -> LayerNorm -> Linear(outputs); one row per placeholder."""

    def __init__(self, hidden: int, outputs: int, blocks: int = 2):
        super().__init__()
        self.inp = nn.Linear(hidden, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, outputs))

    def forward(self, x: Tensor) -> Tensor:
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)
