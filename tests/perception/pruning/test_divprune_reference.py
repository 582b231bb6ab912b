"""DivPrune against a plain re-implementation of the official algorithm (Alvar et al., CVPR 2025, its public
`DivPrune` function as described: cosine distance matrix; first pick the token whose nearest other token is
farthest, i.e. the largest second-smallest distance per column; then argmax of the min distance to the picks),
the one `segpilot bench prune` also measures against."""

from __future__ import annotations

import torch

from segpilot.bench.reference import official_divprune
from segpilot.perception.pruning.diversity import nearest_neighbour_farthest
from segpilot.perception.pruning.fps import SNAP_SCALE, quantize_unit_features
from segpilot.perception.pruning.registry import make_pruner
from tests.conftest import make_tokens


def test_divprune_is_the_official_algorithm():
    for seed in range(6):
        tokens = make_tokens(n_views=6, grid=12, dim=64, seed=seed)
        k = round(0.09 * len(tokens))
        ours = make_pruner("divprune").select(tokens, k).tolist()
        # segpilot's kernels work on features snapped to a 2^-15 grid (identical on every backend):
        snapped = quantize_unit_features(tokens.features).double() / SNAP_SCALE
        assert ours == sorted(official_divprune(snapped, k))
        # the first centre is the official one on the raw float features too
        assert nearest_neighbour_farthest(snapped.float()) == official_divprune(tokens.features.double(), 1)[0]


def test_nearest_neighbour_start_works_in_blocks():
    unit = torch.nn.functional.normalize(torch.randn(300, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    assert nearest_neighbour_farthest(unit, block=7) == nearest_neighbour_farthest(unit, block=1024)
