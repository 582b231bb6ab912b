"""Greedy farthest-point sampling under SeGPruner's fused distance, batched and exact.

The fused distance between a token j and a chosen centre c is

    d(j, c) = lam * ||p_j - p_c|| / d_max + (1 - lam) * (1 - cos(f_j, f_c))

and farthest-point sampling keeps, for every token, the running minimum of d to the chosen
set and picks the argmax each step (first index on ties, like `torch.argmax`).

Why this file is not the obvious loop: every step of the obvious loop reads all N x D
features (a matrix-vector product), which is memory-bound; 12 views x 729 tokens x 1152-d
is 40 MB per step. Here the running minimum is kept *lazily*:

- `bound[j]` is the minimum over the centres already applied to token j, so it is an upper
  bound of the true running minimum; centres chosen since the last flush are "pending".
- To pick the next centre we only need exact values at the top: the top-M stale tokens
  by bound are brought up to date against the pending centres (a small batched product),
  until the argmax is a token that is up to date. A stale token's true value is at most
  its bound, so that argmax is the exact argmax (ties included, see `_next_centres`).
- Every R steps the pending centres are applied to all tokens with one matrix-matrix
  product (compute-bound instead of memory-bound).

Exactness: features are L2-normalised and snapped to a 2^-15 grid (`quantize_unit_features`:
int16 grid units). Each product of two snapped components is a multiple of 2^-30 and every
partial sum stays below 2 in magnitude (Cauchy-Schwarz), so every dot product is exact in
int32 units (the compiled kernels) and in float64 (the torch paths) in any summation order,
on any BLAS, CPU or GPU; the exact value is then rounded once to float32. The distances are
built by the same elementwise float32 helpers in every implementation, so this kernel, the
compiled one and the plain loop in `reference.py` return the same indices bit for bit.

Why 2^-15 and not coarser: the grid is the only difference from the public SeGPruner code,
which works on the float features. A 2^-11 grid (exact even in float32) moved cosines by
~3e-4 and kept different tokens (96.5% identical per view, 70% in global mode, where one
early difference changes every later pick); at 2^-15 the cosines move by ~1e-5, about the
float32 reference's own rounding noise, and the selections match it (`segpilot bench prune`
prints the share, a test keeps it >= 99.5%).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

SNAP_SCALE = 32768.0  # 2^15: see the module docstring for why dot products are then exact.
Q_MAX = 32767
"""Largest grid unit (int16): a one-hot feature's 1.0 is stored as 32767 / 32768."""


SERIAL_GRAIN = 32768
"""torch's parallel grain size: element-wise ops on fewer elements run on the calling thread."""
SERIAL_MAX = 1 << 20
"""Inputs up to this many elements are quantized (here) and gathered (`segpruner._take_rows`) on the calling thread
in numpy; larger ones use torch's threads."""


def quantize_unit_features(features: Tensor, scratch: Workspace | None = None) -> Tensor:
    """Rows L2-normalised and rounded to the 2^-15 grid, as int16 grid units (clamped to +-`Q_MAX`).

    The one definition every path uses, so all kernels see the same numbers. Zero rows stay
    zero (their cosine to anything is 0). The norm is summed in float64 and rounded to float32,
    so the grid units do not depend on the summation order of a device's reduction. With a
    `scratch` workspace the result lives in its buffers (valid until the workspace is used
    again): fresh 40 MB allocations cost more page faults than the arithmetic itself.
    """
    f = features.float()
    if f.device.type == "cpu" and f.ndim == 2 and SERIAL_GRAIN < f.numel() <= SERIAL_MAX:
        # A small input in numpy, on this thread alone: on a busy machine torch's two-thread ops (and the
        # concatenation of blocks under its parallel grain) waited for a descheduled worker, 8.8 ms median per call
        # for the demo's 588 x 256 features against 0.5 ms with one thread. The same arithmetic: float64 norm
        # rounded to float32, float32 product, round half to even, clamp.
        a = f.detach().numpy()
        norm = np.sqrt(np.square(a, dtype=np.float64).sum(axis=1, keepdims=True)).astype(np.float32)
        scale = np.float32(SNAP_SCALE) / np.maximum(norm, np.float32(1e-12))
        return torch.from_numpy(np.clip(np.rint(a * scale), -Q_MAX, Q_MAX).astype(np.int16))
    norm = torch.linalg.vector_norm(f, dim=-1, keepdim=True, dtype=torch.float64).float()
    scale = SNAP_SCALE / norm.clamp_min(1e-12)
    if scratch is None:
        return torch.round(f * scale).clamp_(-Q_MAX, Q_MAX).to(torch.int16)
    tmp = scratch.get("quantize_f32", f.shape, torch.float32, f.device)
    torch.mul(f, scale, out=tmp).round_().clamp_(-Q_MAX, Q_MAX)
    out = scratch.get("quantize_i16", f.shape, torch.int16, f.device)
    return out.copy_(tmp)


class Workspace:
    """Reusable buffers keyed by name, shape, dtype and device (one per thread)."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, Tensor] = {}

    def get(self, name: str, shape: torch.Size, dtype: torch.dtype, device: torch.device) -> Tensor:
        key = (name, tuple(shape), dtype, str(device))
        if key not in self._buffers:
            self._buffers = {k: v for k, v in self._buffers.items() if k[0] != name}
            self._buffers[key] = torch.empty(shape, dtype=dtype, device=device)
        return self._buffers[key]


def snap_unit_features(features: Tensor) -> Tensor:
    """`quantize_unit_features` as float64 values (multiples of 2^-15): their dot products are exact in float64."""
    return quantize_unit_features(features).double() / SNAP_SCALE


def geo_distance(p_a: Tensor, valid_a: Tensor, p_b: Tensor, valid_b: Tensor) -> Tensor:
    """Euclidean distance, broadcast; 0 where either side has no 3D position.

    Written as explicit elementwise ops (not `norm`) so every caller rounds identically.
    Invalid positions must already be replaced by finite numbers (zeros) in `p_a`/`p_b`.
    """
    d = p_a - p_b
    g = torch.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2])
    return torch.where(valid_a & valid_b, g, torch.zeros((), dtype=g.dtype, device=g.device))


def fused_distance(sim: Tensor, geo: Tensor, w_geo: float, w_feat: float, inv_dmax: Tensor, bias: Tensor) -> Tensor:
    """d = w_geo * geo / d_max + w_feat * (1 - cos) + bias; shared by all implementations.

    SeGPruner uses w_geo = lam, w_feat = 1 - lam, bias = 0. A per-token bias turns the same
    greedy rule into maximal marginal relevance (see `diversity.py`).
    """
    return w_geo * (geo * inv_dmax) + w_feat * (1.0 - sim) + bias


class _Batch:
    """Tensors of one batched run (B independent problems over T tokens) and its pending centres."""

    def __init__(
        self, feats: Tensor, xyz: Tensor, weights: tuple[float, float], inv_dmax: Tensor, bias: Tensor, width: int
    ):
        n_batch, n_tok, dim = feats.shape
        self.feats = feats  # (B, T, D) snapped float64
        self.flat = feats.reshape(n_batch * n_tok, dim)
        self.valid = torch.isfinite(xyz).all(-1)  # (B, T)
        self.pos = torch.where(self.valid[..., None], xyz, torch.zeros((), device=xyz.device))
        self.w_geo, self.w_feat = weights
        self.bias = bias  # (B, T)
        self.inv_dmax = inv_dmax.to(torch.float32)[:, None, None]  # (B, 1, 1)
        self.offset = torch.arange(n_batch, device=feats.device)[:, None] * n_tok  # (B, 1)
        # Pending centres, gathered once when chosen (index_select beats advanced indexing).
        self.p_feat = feats.new_empty((n_batch, width, dim))
        self.p_pos = self.pos.new_empty((n_batch, width, 3))
        self.p_valid = torch.empty((n_batch, width), dtype=torch.bool, device=feats.device)
        self.n_pending = 0

    def push(self, centre: Tensor) -> None:
        """Add one centre per problem, (B,), to the pending set."""
        flat = self.offset[:, 0] + centre
        i = self.n_pending
        self.p_feat[:, i] = self.flat.index_select(0, flat)
        self.p_pos[:, i] = self.pos.reshape(-1, 3).index_select(0, flat)
        self.p_valid[:, i] = self.valid.reshape(-1).index_select(0, flat)
        self.n_pending += 1

    def distances(self, idx: Tensor) -> Tensor:
        """Min fused distance of tokens `idx` (B, m) to the pending centres -> (B, m)."""
        n_batch, m = idx.shape
        flat = (self.offset + idx).reshape(-1)
        f_tok = self.flat.index_select(0, flat).reshape(n_batch, m, -1)
        p_tok = self.pos.reshape(-1, 3).index_select(0, flat).reshape(n_batch, m, 1, 3)
        v_tok = self.valid.reshape(-1).index_select(0, flat).reshape(n_batch, m, 1)
        b_tok = self.bias.reshape(-1).index_select(0, flat).reshape(n_batch, m, 1)
        return self._min_distance(f_tok, p_tok, v_tok, b_tok)

    def distances_all(self) -> Tensor:
        """Min fused distance of every token to the pending centres -> (B, T); one GEMM."""
        return self._min_distance(self.feats, self.pos[:, :, None, :], self.valid[:, :, None], self.bias[:, :, None])

    def _min_distance(self, f_tok: Tensor, p_tok: Tensor, v_tok: Tensor, b_tok: Tensor) -> Tensor:
        p = self.n_pending
        sim = torch.bmm(f_tok, self.p_feat[:, :p].transpose(1, 2)).float()  # (B, m, p), exact then rounded once
        geo = geo_distance(p_tok, v_tok, self.p_pos[:, None, :p], self.p_valid[:, None, :p])
        return fused_distance(sim, geo, self.w_geo, self.w_feat, self.inv_dmax, b_tok).amin(dim=2)


def greedy_fps(
    feats: Tensor,
    xyz: Tensor,
    candidates: Tensor,
    k: Tensor,
    start: Tensor,
    inv_dmax: Tensor,
    w_geo: float,
    w_feat: float,
    bias: Tensor | None = None,
    flush_every: int = 24,
    verify: int = 16,
    max_rounds: int = 4,
) -> Tensor:
    """Exact batched farthest-point sampling under the fused distance.

    Args:
        feats: (B, T, D) float64 features already passed through `snap_unit_features`.
        xyz: (B, T, 3) positions, NaN where a token has none (geometric term 0 for it).
        candidates: (B, T) bool, the tokens that may be chosen.
        k: (B,) long, how many to choose per problem (at most its candidate count).
        start: (B,) long, the first centre of each problem (a candidate when k > 0).
        inv_dmax: (B,) float32, 1 / d_max of each problem.
        w_geo, w_feat: weights of the geometric and the feature term (`fused_distance`).
        bias: (B, T) float32 added to every distance of a token; None = zeros.
        flush_every: pending centres applied to all tokens at once (GEMM width R).
        verify: stale tokens brought up to date per verification round (M).
        max_rounds: verification rounds per step before a full flush is cheaper.

    Returns:
        (B, max(k)) long: chosen indices in selection order, -1 past each problem's k.
    """
    n_batch, n_tok, _ = feats.shape
    device = feats.device
    k_max = int(k.max()) if k.numel() else 0
    out = torch.full((n_batch, k_max), -1, dtype=torch.long, device=device)
    if k_max == 0:
        return out
    if bias is None:
        bias = torch.zeros(candidates.shape, dtype=torch.float32, device=device)
    batch = _Batch(feats, xyz, (w_geo, w_feat), inv_dmax, bias, flush_every)
    neg_inf = torch.tensor(float("-inf"), device=device)
    bound = torch.where(candidates, torch.tensor(float("inf"), device=device), neg_inf)
    stale = torch.zeros_like(candidates)
    rows = torch.arange(n_batch, device=device)
    centre = start.clone()
    for step in range(k_max):
        active = step < k
        out[active, step] = centre[active]
        # A finished problem re-selects its last centre: re-applying it changes nothing.
        batch.push(centre)
        bound[rows, centre] = neg_inf
        if step == k_max - 1:
            break
        stale.fill_(True)
        # The first step flushes at once: untouched bounds are all +inf, nothing to rank.
        found = None
        if step > 0 and batch.n_pending < flush_every:
            found = _next_centres(batch, bound, stale, rows, verify, max_rounds)
        if found is None:
            bound = torch.minimum(bound, batch.distances_all())
            batch.n_pending = 0
            stale.zero_()
            found = bound.argmax(dim=1)
        centre = found
    return out


def _next_centres(
    batch: _Batch, bound: Tensor, stale: Tensor, rows: Tensor, verify: int, max_rounds: int = 4
) -> Tensor | None:
    """Exact argmax of the running minimum, updating stale bounds in place as needed.

    Returns None when `max_rounds` verification rounds did not settle it: then a full flush
    (one GEMM) is cheaper than more rounds.

    A chosen token c is up to date and, for any stale j, true_j <= bound_j <= value_c, with
    equality only when c comes first (argmax returns the first maximum) - so c is also the
    first maximum of the true values, as in the plain loop.
    """
    m = min(verify, bound.shape[1])
    for _ in range(max_rounds):
        centre = bound.argmax(dim=1)
        # A problem with no candidate left has max -inf: nothing to verify there.
        unsettled = stale[rows, centre] & (bound[rows, centre] > float("-inf"))
        if not bool(unsettled.any()):
            return centre
        # The stale argmax is among the top m by bound; fresh ones recompute harmlessly.
        idx = bound.topk(m, dim=1, sorted=False).indices  # (B, m)
        fresh = torch.minimum(bound.gather(1, idx), batch.distances(idx))
        bound.scatter_(1, idx, fresh)
        stale.scatter_(1, idx, False)
    return None
