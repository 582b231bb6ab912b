from __future__ import annotations

import torch

from segpilot.bench.vla import time_chunks
from segpilot.policies.vla.data import instruction_vocab
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig


def test_bench_vla_reports_routing_ratios_from_the_scheduled_counts():
    torch.manual_seed(0)
    config = VLAConfig(image_size=32, patch_size=8, vision_hidden=32, vision_layers=1, aggregation_tokens=40,
                       lm_hidden=32, lm_layers=4, lm_heads=2, vocab=instruction_vocab())  # fmt: skip
    policy = CogVLAPolicy(config).eval()
    r = time_chunks(policy, repeats=2)
    # 4 layers keep 40, 34, 20, 6 of 40 visual tokens (shifted cosine, floor 0.15): the FLOPs, counted by hand.
    h, n_text, n_action = config.lm_hidden, 6, policy.n_action  # 5 instruction words + 1
    per_token = 2 * (4 * h * h + 3 * h * policy.lm_config.intermediate_size)

    def flops(keeps):
        return sum(per_token * (k + n_text + n_action) + 4 * (k + n_text + n_action) ** 2 * h for k in keeps)

    assert r["visual_tokens"] == 40
    assert abs(r["lm_flops_ratio_off_over_on"] - flops([40] * 4) / flops([40, 34, 20, 6])) < 1e-9
    assert abs(r["latency_ratio_off_over_on"] - r["chunk_ms_routing_off"] / r["chunk_ms_routing_on"]) < 1e-9
