"""`VisualTokens`: the contract between the vision encoder, the pruners and the language model.

One flat set of N tokens over all views, in view-major, row-major patch order. Everything a
pruner may look at is here; the LM-space embedding is produced on demand for the kept
subset only (projecting all N tokens would waste the work the pruner saves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from segpilot.errors import SegpilotError


@dataclass(frozen=True)
class VisualTokens:
    """N visual tokens of V views with features, saliency and world positions.

    Attributes:
        features: (N, D) float vision features used for similarity (before any projector).
        saliency: (N,) float, higher = more important (encoder attention), finite.
        xyz: (N, 3) float32 world positions in metres, NaN where a patch has no valid depth.
        view: (N,) long, index of the view each token comes from.
        patch: (N,) long, row-major patch index inside its view's grid.
        grid_hw: (rows, cols) of the patch grid of every view.
        projector: maps features of a subset (K, D) to LM-space embeddings (K, D_lm);
            None when the features already live in LM space.
    """

    features: Tensor
    saliency: Tensor
    xyz: Tensor
    view: Tensor
    patch: Tensor
    grid_hw: tuple[int, int]
    projector: Callable[[Tensor], Tensor] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        f = self.features
        if f.ndim != 2:
            raise SegpilotError(f"VisualTokens.features must be (N, D), got shape {tuple(f.shape)}")
        n = f.shape[0]
        for name, t, shape in (
            ("saliency", self.saliency, (n,)),
            ("xyz", self.xyz, (n, 3)),
            ("view", self.view, (n,)),
            ("patch", self.patch, (n,)),
        ):
            if tuple(t.shape) != shape:
                raise SegpilotError(f"VisualTokens.{name} must have shape {shape}, got {tuple(t.shape)}")
        if self.view.dtype != torch.long or self.patch.dtype != torch.long:
            raise SegpilotError("VisualTokens.view and .patch must be torch.long index tensors")
        if n and not bool(torch.isfinite(self.saliency).all()):
            raise SegpilotError("VisualTokens.saliency must be finite (NaN/inf found)")
        if n and not bool(torch.isfinite(f).all()):
            raise SegpilotError("VisualTokens.features must be finite (NaN/inf found)")
        rows, cols = self.grid_hw
        if rows <= 0 or cols <= 0:
            raise SegpilotError(f"VisualTokens.grid_hw must be positive, got {self.grid_hw}")
        if n and (int(self.patch.min()) < 0 or int(self.patch.max()) >= rows * cols):
            raise SegpilotError(f"VisualTokens.patch must lie in [0, {rows * cols}) for grid {self.grid_hw}")

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def num_views(self) -> int:
        """Number of distinct views present."""
        return int(torch.unique(self.view).numel()) if len(self) else 0

    @property
    def has_xyz(self) -> Tensor:
        """(N,) bool: the token has a finite world position."""
        return torch.isfinite(self.xyz).all(dim=-1)

    def subset(self, index: Tensor) -> VisualTokens:
        """The tokens at `index` (keeps their view/patch ids and the projector)."""
        return VisualTokens(
            features=self.features[index],
            saliency=self.saliency[index],
            xyz=self.xyz[index],
            view=self.view[index],
            patch=self.patch[index],
            grid_hw=self.grid_hw,
            projector=self.projector,
        )

    def lm_embeddings(self, index: Tensor | None = None) -> Tensor:
        """LM-space embeddings of the tokens at `index` (all when None), in that order."""
        feats = self.features if index is None else self.features[index]
        return feats if self.projector is None else self.projector(feats)

    def to(self, device: torch.device | str) -> VisualTokens:
        """A copy on `device` (pruners are device-agnostic)."""
        return VisualTokens(
            features=self.features.to(device),
            saliency=self.saliency.to(device),
            xyz=self.xyz.to(device),
            view=self.view.to(device),
            patch=self.patch.to(device),
            grid_hw=self.grid_hw,
            projector=self.projector,
        )

    @staticmethod
    def concat(parts: Sequence[VisualTokens]) -> VisualTokens:
        """One token set of several, in order: views renumbered so part i's views follow part i-1's."""
        if not parts:
            raise SegpilotError("VisualTokens.concat needs at least one token set")
        if len({p.grid_hw for p in parts}) != 1:
            grids = sorted({p.grid_hw for p in parts})
            raise SegpilotError(f"VisualTokens.concat: the parts have different patch grids {grids}")
        views, offset = [], 0
        for p in parts:
            views.append(p.view + offset)
            offset += int(p.view.max()) + 1 if len(p) else 0
        return VisualTokens(
            features=torch.cat([p.features for p in parts]),
            saliency=torch.cat([p.saliency for p in parts]),
            xyz=torch.cat([p.xyz for p in parts]),
            view=torch.cat(views),
            patch=torch.cat([p.patch for p in parts]),
            grid_hw=parts[0].grid_hw,
            projector=parts[0].projector,
        )

    @staticmethod
    def from_views(
        features: Tensor, saliency: Tensor, xyz: Tensor, grid_hw: tuple[int, int], projector=None
    ) -> VisualTokens:
        """Flatten per-view tensors: features (V, T, D), saliency (V, T), xyz (V, T, 3)."""
        n_views, n_tok = saliency.shape
        if n_tok != grid_hw[0] * grid_hw[1]:
            raise SegpilotError(f"{n_tok} tokens per view do not fill a {grid_hw[0]}x{grid_hw[1]} grid")
        device = features.device
        return VisualTokens(
            features=features.reshape(n_views * n_tok, features.shape[-1]),
            saliency=saliency.reshape(-1).float(),
            xyz=xyz.reshape(-1, 3).float(),
            view=torch.arange(n_views, device=device).repeat_interleave(n_tok),
            patch=torch.arange(n_tok, device=device).repeat(n_views),
            grid_hw=grid_hw,
            projector=projector,
        )
