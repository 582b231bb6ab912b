"""Faithfulness to the public pruners' code, measured on float inputs (`segpilot bench prune` prints it).

The public SeGPruner code runs its farthest-point sampling on float32 L2-normalised features; segpilot runs it on
features snapped to an exact-arithmetic grid (identical indices on every backend). This compares the two on
random synthetic rooms, per view (the public code's mode) and globally: the share of the reference's kept tokens
segpilot keeps, how many rooms match exactly, and the time of each. The reference is re-implemented from its
definition (`pruning/reference.py`, `snap=False`), no code of the public repository is used. DivPrune likewise:
the official algorithm from its definition (cosine distances, first the token whose nearest neighbour is farthest,
then max-min) against `divprune`.
"""

from __future__ import annotations

import statistics

import torch

from segpilot.bench.timing import Shape, timed_ms
from segpilot.perception.pruning.reference import segpruner_loop
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.pruning.segpruner import PUBLIC_SETTING
from segpilot.perception.synthetic import room_tokens

R_LAM = (PUBLIC_SETTING["importance_ratio"], PUBLIC_SETTING["lam"])
"""Both sides run the public code's setting (what the public code does)."""


def official_divprune(features: torch.Tensor, k: int) -> list[int]:
    """DivPrune (Alvar et al., CVPR 2025) from its definition, in the features' dtype (the public code: float32):
    cosine distances; first the token whose nearest other token is farthest, then max-min. Sorted indices."""
    unit = torch.nn.functional.normalize(features, dim=-1)
    picks: list[int] = []
    nearest = torch.full((len(unit),), float("inf"), dtype=unit.dtype)
    for i in range(k):
        if i == 0:
            dist = 1.0 - unit @ unit.T
            dist.fill_diagonal_(float("inf"))
            scores = dist.min(dim=0).values  # distance of each token to its nearest other token
        else:
            nearest = torch.minimum(nearest, 1.0 - unit @ unit[picks[-1]])
            scores = nearest.clone()
            scores[torch.tensor(picks)] = float("-inf")
        picks.append(int(torch.argmax(scores)))
    return sorted(picks)


def run(shapes: list[str], budget: float, rooms: int) -> list[dict]:
    """One row per shape and method: identity with the float reference over `rooms` random rooms, and times."""
    rows = []
    for text in shapes:
        shape = Shape.parse(text)
        methods = {
            "segpruner[per_view]": (lambda t, k: segpruner_loop(t, k, *R_LAM, "per_view", snap=False),
                                    make_pruner("segpruner", mode="per_view", **PUBLIC_SETTING)),
            "segpruner[global]": (lambda t, k: segpruner_loop(t, k, *R_LAM, "global", snap=False),
                                  make_pruner("segpruner", mode="global", **PUBLIC_SETTING)),
            "divprune": (lambda t, k: official_divprune(t.features.float(), k), make_pruner("divprune")),
        }  # fmt: skip
        for name, (reference, pruner) in methods.items():
            same, total, exact, ref_ms, our_ms = 0, 0, 0, [], []
            for seed in range(rooms):
                tokens = room_tokens(shape.views, shape.grid, shape.dim, seed=1000 + seed)
                k = round(budget * len(tokens))
                t_ref, ref = timed_ms(lambda: set(reference(tokens, k)))  # noqa: B023 - called at once
                pruner.select(tokens, k)  # warm
                t_our, ours = timed_ms(lambda: set(pruner.select(tokens, k).tolist()))  # noqa: B023
                same, total, exact = same + len(ref & ours), total + k, exact + (ref == ours)
                ref_ms.append(t_ref)
                our_ms.append(t_our)
            rows.append({"shape": str(shape), "method": name, "rooms": rooms, "identical_share": same / total,
                         "rooms_identical": exact, "reference_ms": statistics.median(ref_ms),
                         "segpilot_ms": statistics.median(our_ms)})  # fmt: skip
    return rows


def format_rows(rows: list[dict]) -> str:
    title = "\nPublic reference from its definition (float32) vs segpilot, random rooms (target >= 99.5% identical)"
    head = f"{'shape':<14}{'method':<22}{'identical':>10}{'rooms':>9}{'ref ms':>10}{'ours ms':>10}{'speed-up':>9}"
    lines = [title, head]
    for r in rows:
        lines.append(f"{r['shape']:<14}{r['method']:<22}{100 * r['identical_share']:>9.2f}%"
                     f"{r['rooms_identical']:>5}/{r['rooms']:<3}{r['reference_ms']:>10.1f}{r['segpilot_ms']:>10.1f}"
                     f"{r['reference_ms'] / max(r['segpilot_ms'], 1e-9):>8.1f}x")  # fmt: skip
    return "\n".join(lines)
