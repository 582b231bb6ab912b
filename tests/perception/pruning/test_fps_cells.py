"""The lazy-cell kernel of one big problem returns the eager kernel's indices, ties and edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segpilot.perception.pruning import fps_cpu, fps_host
from segpilot.perception.pruning.fps import quantize_unit_features
from segpilot.perception.synthetic import room_tokens

pytestmark = pytest.mark.skipif(not fps_cpu.available(), reason="numba missing")


def _room(views: int, side: int, dim: int, seed: int, drop: float = 0.2):
    t = room_tokens(views, (side, side), dim, seed=seed, invalid_fraction=0.05)
    q = quantize_unit_features(t.features).numpy()[None]
    valid = torch.isfinite(t.xyz).all(-1).numpy()[None]
    pos = np.where(valid[..., None], t.xyz.numpy()[None], 0).astype(np.float32)
    rng = np.random.default_rng(seed)
    cand = rng.random(valid.shape) > drop
    return q, pos, valid, cand, rng


def _both(q, pos, valid, bias, cand, k, w_geo, inv_dmax=0.2):
    start = np.array([int(np.flatnonzero(cand[0])[0])], np.int64)
    args = (q, pos, valid, bias, cand, np.array([k], np.int64), start, np.full(1, inv_dmax, np.float32), w_geo,
            1.0 - w_geo)  # fmt: skip
    return fps_host.greedy_fps_cpu(*args, parallel=False), fps_host.greedy_fps_cells(*args)


@pytest.mark.parametrize(
    "seed,views,side,dim,w_geo",
    [
        (0, 6, 9, 32, 0.5),
        (1, 12, 7, 64, 0.5),
        (2, 4, 13, 16, 0.9),
        (3, 8, 9, 48, 0.1),
        (4, 3, 17, 8, 1.0),
        (5, 5, 9, 24, 0.0),
    ],
)
def test_rooms_with_invalid_positions_biases_and_masks(seed, views, side, dim, w_geo):
    q, pos, valid, cand, rng = _room(views, side, dim, seed)
    bias = (rng.random(valid.shape) * 0.05 - 0.02).astype(np.float32)
    k = int(cand.sum() * 0.15)
    eager, cells = _both(q, pos, valid, bias, cand, k, w_geo)
    assert (eager >= 0).all() and np.array_equal(eager, cells)


def test_exact_ties_keep_the_first_index():
    # every token twice (same features, same position): equal minima everywhere, the smaller index must win
    q, pos, valid, cand, _ = _room(4, 9, 16, 7, drop=0.0)
    q, pos, valid, cand = (np.concatenate([a, a], axis=1) for a in (q, pos, valid, cand))
    bias = np.zeros(valid.shape, np.float32)
    eager, cells = _both(q, pos, valid, bias, cand, 200, 0.5)
    assert np.array_equal(eager, cells)


def test_all_candidates_no_positions_and_zero_features():
    q, pos, valid, cand, _ = _room(2, 9, 8, 9, drop=0.5)
    bias = np.zeros(valid.shape, np.float32)
    eager, cells = _both(q, pos, valid, bias, cand, int(cand.sum()), 0.5)  # every candidate, then -1 past them
    assert np.array_equal(eager, cells) and sorted(cells[0]) == sorted(np.flatnonzero(cand[0]))
    no_pos = np.zeros_like(valid)
    eager, cells = _both(q, np.zeros_like(pos), no_pos, bias, cand, 40, 0.5)
    assert np.array_equal(eager, cells)
    q0 = q.copy()
    q0[0, ::3] = 0  # zero rows: cosine 0 to anything
    eager, cells = _both(q0, pos, valid, bias, cand, 60, 0.3)
    assert np.array_equal(eager, cells)


def test_grid_resolution_grows_with_the_tokens():
    assert fps_host.cells_per_axis(100) == 4
    assert fps_host.cells_per_axis(8748) == 5 and fps_host.cells_per_axis(34992) == 8
    assert fps_host.cells_per_axis(69984) == 10 and fps_host.cells_per_axis(10**7) == 32


def test_int16_dot_is_exact_at_the_grid_extremes():
    # The dot product accumulates in wrapping int32 (so it compiles to vpmaddwd): exact for snapped unit rows,
    # whose partial sums stay below 2^31, including one-hot rows at the clamp (+-32767) and dense unit rows.
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((64, 1152)).astype(np.float32)
    dense[:8] = 0.0
    dense[np.arange(8), rng.integers(0, 1152, 8)] = rng.choice([-1.0, 1.0], 8)  # one-hot rows
    dense[8:16] = np.sign(dense[8:16])  # every component at the same magnitude
    q = quantize_unit_features(torch.from_numpy(dense)).numpy()
    exact = q.astype(np.int64) @ q.astype(np.int64).T
    got = np.array([[fps_cpu._dot_int16(a, b) for b in q] for a in q])
    assert np.array_equal(got, exact)
    assert np.array_equal(fps_cpu._norms(q), np.sqrt(np.diag(exact).astype(np.float64)) / 32768.0)


@pytest.mark.parametrize("cells", [1, 4, 12])
def test_many_steps_long_histories_and_stale_tokens(cells, monkeypatch):
    # 2,400 tokens, 30% kept: hundreds of steps, so tokens stay stale for many centres and the cells' histories
    # outgrow their first room in the pool; one cell (everything in one history) and fine cells too
    monkeypatch.setattr(fps_host, "cells_per_axis", lambda n: cells)
    q, pos, valid, cand, rng = _room(24, 10, 24, 11, drop=0.0)
    bias = (rng.random(valid.shape) * 0.03).astype(np.float32)
    eager, lazy = _both(q, pos, valid, bias, cand, int(cand.sum() * 0.3), 0.6)
    assert (eager >= 0).all() and np.array_equal(eager, lazy)
