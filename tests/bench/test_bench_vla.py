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
    # 4 layers keep 40, 34, 20, 6 of 40 visual tokens: fewer LM FLOPs with routing on.
    assert r["visual_tokens"] == 40 and r["lm_flops_ratio_off_over_on"] > 1.2
    assert r["chunk_ms_routing_on"] > 0 and r["chunk_ms_routing_off"] > 0 and r["latency_ratio_off_over_on"] > 0
