"""The plain, obviously correct loop of SeGPruner's farthest-point sampling.

Kept as the oracle for `fps.greedy_fps` (tests assert identical indices) and as the
baseline of `segpilot bench prune`. One problem at a time, one matrix-vector product per
step, the running minimum updated eagerly - exactly the paper's description.
"""

from __future__ import annotations

import torch
from torch import Tensor

from segpilot.perception.pruning.fps import fused_distance, geo_distance


def greedy_fps_loop(
    feats: Tensor,
    xyz: Tensor,
    candidates: Tensor,
    k: int,
    start: int,
    inv_dmax: Tensor,
    w_geo: float,
    w_feat: float,
    bias: Tensor | None = None,
) -> list[int]:
    """FPS over one problem: feats (T, D) snapped float64 (exact cosines, rounded once to float32) or float32
    unit features (the public code's float arithmetic), xyz (T, 3) NaN = none, candidates (T,) bool."""
    if bias is None:
        bias = torch.zeros(feats.shape[0])
    valid = torch.isfinite(xyz).all(-1)
    pos = torch.where(valid[:, None], xyz, torch.zeros(()))
    mind = torch.where(candidates, torch.tensor(float("inf")), torch.tensor(float("-inf")))
    chosen: list[int] = []
    centre = int(start)
    for _ in range(k):
        chosen.append(centre)
        sim = (feats @ feats[centre]).float()
        geo = geo_distance(pos, valid, pos[centre], valid[centre])
        mind = torch.minimum(mind, fused_distance(sim, geo, w_geo, w_feat, inv_dmax, bias))
        mind[centre] = float("-inf")
        centre = int(torch.argmax(mind))
    return chosen


def segpruner_loop(tokens, k: int, importance_ratio: float, lam: float, mode: str, snap: bool = True) -> list[int]:
    """Plain SeGPruner for the exact modes: `per_view` (reference code) or `global`.

    `snap=True`: on the features segpilot's kernels see (the 2^-15 grid, exact cosines), so the fast modes must
    return exactly these indices. `snap=False`: the public SeGPruner code's arithmetic, straight from its
    definition - float32 L2-normalised features and float32 cosines - the selection segpilot is measured against.

    Budget split per view: K // V each, the first K % V views one more, water-filled when a
    view has fewer tokens than its share (same rule as `base.split_budget`).
    """
    from segpilot.perception.pruning.base import split_budget
    from segpilot.perception.pruning.fps import snap_unit_features

    if snap:
        feats = snap_unit_features(tokens.features)
    else:
        feats = torch.nn.functional.normalize(tokens.features.float(), dim=-1)
    saliency = tokens.saliency.tolist()
    has_pos = torch.isfinite(tokens.xyz).all(-1).tolist()
    if mode == "global":
        groups = [list(range(len(tokens)))]
        shares = [k]
    else:
        views = sorted(set(tokens.view.tolist()))
        groups = [torch.nonzero(tokens.view == v).flatten().tolist() for v in views]
        shares = split_budget(torch.tensor([len(g) for g in groups]), k).tolist()
    kept: list[int] = []
    for members, share in zip(groups, shares, strict=True):
        n_imp = int(share * importance_ratio)
        important = sorted(members, key=lambda i: (-saliency[i], i))[:n_imp]
        important_set = set(important)
        rest = [i for i in members if i not in important_set]
        kept += important
        if share - n_imp <= 0:
            continue
        start = min(rest, key=lambda i: (-saliency[i], i))
        with_pos = [i for i in rest if has_pos[i]]
        d_max = 0.0
        if with_pos:
            anchor = min(with_pos, key=lambda i: (-saliency[i], i))
            d_max = float(torch.linalg.vector_norm(tokens.xyz[with_pos] - tokens.xyz[anchor], dim=-1).max())
        # float32 division, as the fast path does (a float64 division then rounding may differ).
        inv = 1.0 / torch.tensor(d_max if d_max > 0 else 1.0, dtype=torch.float32)
        local = torch.tensor(members)
        rest_set = set(rest)
        cand = torch.tensor([i in rest_set for i in members])
        picks = greedy_fps_loop(
            feats[local], tokens.xyz[local].float(), cand, share - n_imp, members.index(start), inv, lam, 1.0 - lam
        )
        kept += [members[p] for p in picks]
    return sorted(kept)
