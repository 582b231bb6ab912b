"""CogVLA pieces: CAtten mask, LFP schedule and routing, EFA, action head and spaces."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

from segpilot.errors import SegpilotError
from segpilot.policies.vla.data import instruction_vocab
from segpilot.policies.vla.efa import EFAEncoder, FiLM
from segpilot.policies.vla.lfp import RoutedLayer, additive, catten_mask, keep_counts, keep_ratio
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig
from segpilot.policies.vla.spaces import SPACES, get_space

SMALL = dict(image_size=32, patch_size=8, vision_hidden=32, vision_layers=2, aggregation_tokens=4, lm_hidden=32,
             lm_layers=4, lm_heads=2, vocab=instruction_vocab())  # fmt: skip


def test_catten_is_causal_except_bidirectional_within_the_action_block():
    m = catten_mask(5, 3)[0, 0]
    for q in range(8):
        for k in range(8):
            both_actions = q >= 5 and k >= 5
            assert bool(m[q, k]) == (k <= q or both_actions), (q, k)
    padded = catten_mask(2, 2, torch.tensor([[True, False, True, True]]))[0, 0]
    assert not padded[2, 1] and not padded[3, 1] and padded[1, 1]  # nobody reads the padding key


def test_lfp_schedule_is_the_shifted_cosine_with_a_floor():
    assert keep_ratio(0, 4) == 1.0
    assert keep_ratio(2, 4) == pytest.approx(0.5)
    assert keep_ratio(3, 4) == pytest.approx(max(0.15, math.cos(3 * math.pi / 4) / 2 + 0.5))
    assert keep_ratio(10, 10, floor=0.15) == 0.15
    assert keep_counts(20, 4) == [20, 17, 10, 3]


def _layer_inputs(n_visual=6, n_text=3, n_action=3, hidden=32):
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2,
                      num_hidden_layers=1, vocab_size=10)  # fmt: skip
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    layer = LlamaDecoderLayer(cfg, 0).eval()
    x = torch.randn(2, n_visual + n_text + n_action, hidden)
    mask = additive(catten_mask(n_visual + n_text, n_action), x.dtype)
    cos, sin = LlamaRotaryEmbedding(cfg)(x, torch.arange(x.shape[1])[None].expand(2, -1))
    return layer, x, mask, cos, sin


def test_routing_off_equals_the_plain_llama_layer():
    layer, x, mask, cos, sin = _layer_inputs()
    routed = RoutedLayer(layer, 32).eval()
    with torch.no_grad():
        ours = routed(x, mask, cos, sin, 6, None, x[:, 6:9].mean(1))
        ref = layer(x, attention_mask=mask.expand(2, -1, -1, -1), position_embeddings=(cos, sin))
    assert torch.allclose(ours, ref, atol=1e-6)


def test_lfp_keeps_the_scheduled_count_and_never_drops_text_or_action_tokens():
    layer, x, mask, cos, sin = _layer_inputs()
    routed = RoutedLayer(layer, 32).eval()
    torch.nn.init.normal_(routed.router.weight)
    with torch.no_grad():
        out = routed(x, mask, cos, sin, 6, 2, x[:, 6:9].mean(1))
    changed = (out != x).any(dim=-1)  # (B, N): which tokens the layer updated
    assert changed[:, :6].sum(dim=1).tolist() == [2, 2]  # exactly `keep` visual tokens ran the layer
    assert changed[:, 6:].all()  # every text and action token did
    score = routed.scores(x[:, :6], x[:, 6:9].mean(1))
    top = torch.topk(score, 2, dim=1).indices
    assert all(set(torch.nonzero(changed[b, :6])[:, 0].tolist()) == set(top[b].tolist()) for b in range(2))


def test_film_with_zero_gamma_and_beta_is_the_identity_and_efa_outputs_only_aggregation_tokens():
    film = FiLM(8, 16)
    x = torch.randn(3, 5, 16)
    assert torch.equal(film(x, torch.randn(3, 8)), x)
    enc = EFAEncoder(3, 32, 8, 32, 2, 2, aggregation_tokens=4, cond_dim=8)
    agg, patches = enc(torch.randn(2, 3, 32, 32), torch.randn(2, 8))
    assert agg.shape == (2, 4, 32) and patches.shape == (2, 16, 32)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_action_head_shapes_for_every_action_space(space):
    policy = CogVLAPolicy(VLAConfig(**SMALL, action_space=space, chunk=3)).eval()
    ids, valid = policy.encode_instruction([["find", "the", "lamp"], ["go", "to", "the", "red", "chair"]])
    out = policy(torch.randn(2, 3, 32, 32), torch.randn(2, 1, 32, 32), ids, valid)
    s = get_space(space)
    assert out.shape == (2, 3 * s.action_dim, s.head_outputs)
    assert policy.n_action == 3 * s.action_dim + 1
    same, goal = policy(torch.randn(2, 3, 32, 32), torch.randn(2, 1, 32, 32), ids, valid, return_goal=True)
    assert same.shape == out.shape and goal.shape == (2, policy.streams[0].n_patches)  # one logit per RGB patch


def test_normalisation_round_trip_and_bounds():
    s = get_space("ee_delta_7d")
    a = torch.tensor([[0.01, -0.02, 0.05, 0.1, -0.3, 0.0, 1.0]])
    assert torch.allclose(s.unnormalize(s.normalize(a)), a, atol=1e-6)
    assert s.normalize(torch.tensor([[1.0] * 7])).max() == 1.0  # clipped
    v = get_space("base_velocity")
    assert torch.allclose(v.normalize(torch.tensor([0.5, 0.0])), torch.tensor([1.0, 0.0]))
    with pytest.raises(SegpilotError, match="need 2 values"):
        v.normalize(torch.zeros(3))
    with pytest.raises(SegpilotError, match="discrete"):
        get_space("discrete_nav").normalize(torch.zeros(1))


def test_bad_inputs():
    with pytest.raises(SegpilotError, match="unknown action space 'teleport'"):
        VLAConfig(**SMALL, action_space="teleport")
    with pytest.raises(SegpilotError, match="camera_pitch_deg"):
        VLAConfig(**SMALL, camera_pitch_deg=-120.0)
    policy = CogVLAPolicy(VLAConfig(**SMALL))
    with pytest.raises(SegpilotError, match="instruction is empty"):
        policy.encode_instruction([[]])
    ids, valid = policy.encode_instruction([["find", "the", "lamp"]])
    with pytest.raises(SegpilotError, match=r"images must be \(B, 3, 32, 32\)"):
        policy(torch.randn(1, 3, 48, 48), torch.randn(1, 1, 48, 48), ids, valid)
