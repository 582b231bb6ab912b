"""segpruner keeps the public SeGPruner code's tokens on float inputs (issue 20): the only difference between the
two is segpilot's snapping of the unit features to an exact-arithmetic grid, and at 2^-15 that moves cosines less
than the float32 reference's own rounding, so the selections differ only at near-ties."""

from __future__ import annotations

import pytest

from segpilot.perception.pruning.reference import segpruner_loop
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.synthetic import room_tokens


@pytest.mark.parametrize("mode", ["per_view", "global"])
@pytest.mark.parametrize(("ratio", "lam"), [(0.0, 0.5), (0.6, 0.25)])  # the public code's setting, segpilot's default
def test_segpruner_keeps_the_float_reference_tokens(mode, ratio, lam):
    same = total = 0
    for seed in range(20):  # random rooms: 8 views x 14 x 14 tokens, 128-d, 9% kept
        tokens = room_tokens(n_views=8, grid_hw=(14, 14), dim=128, seed=seed)
        k = round(0.09 * len(tokens))
        reference = set(segpruner_loop(tokens, k, ratio, lam, mode, snap=False))  # float32, from the definition
        kept = set(make_pruner("segpruner", mode=mode, importance_ratio=ratio, lam=lam).select(tokens, k).tolist())
        same, total = same + len(reference & kept), total + k
    assert same / total >= 0.995, f"{mode}: {same / total:.2%} of the reference's tokens kept"


def test_the_float_reference_is_not_the_snapped_loop():
    """The float reference really is float arithmetic (else the test above would compare a loop with itself)."""
    import torch

    from segpilot.perception.pruning.fps import snap_unit_features

    tokens = room_tokens(n_views=2, grid_hw=(5, 5), dim=16, seed=0)
    unit = torch.nn.functional.normalize(tokens.features.float(), dim=-1)
    assert not torch.equal(snap_unit_features(tokens.features).float(), unit)
