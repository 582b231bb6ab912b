"""`segpilot bench vla`: what LFP routing saves per action chunk, on and off in one run.

At the embedded policy's size (a 4-layer, 128-wide LM over 16 visual tokens) the language
layers are a small part of a chunk's time, so routing's gathers cost about what its skipped
tokens save. CogVLA's 2.8x comes from a 7B LM over hundreds of visual tokens, so the bench
also times a randomly initialised LM-dominated shape (`LM_HEAVY`: 8 layers x 1024 wide over
256 visual tokens) with the same code. Each shape alternates on / off calls so both see the
same machine load; figures are medians and ratios, never absolute targets.
"""

from __future__ import annotations

import statistics
import time

import torch

from segpilot.policies.vla.data import instruction_vocab
from segpilot.policies.vla.inputs import GoalInput
from segpilot.policies.vla.lfp import lm_flops
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig

LM_HEAVY = dict(lm_hidden=1024, lm_layers=8, lm_heads=16, aggregation_tokens=256)


def time_chunks(policy: CogVLAPolicy, repeats: int) -> dict:
    """Median seconds per chunk (batch 1) and LM FLOPs, routing on and off."""
    s = policy.config.image_size
    torch.manual_seed(0)
    rgb, depth = torch.randn(1, 3, s, s), torch.randn(1, 1, s, s)
    words, valid = policy.encode_instruction([["go", "to", "the", "black", "sofa"]])
    m = policy.config.memory_tokens
    memory = torch.randn(1, m, policy.config.vision_hidden) if m else None
    goal = GoalInput.zeros(policy.config, 1) if policy.config.goal_belief else None
    seconds: dict[bool, list[float]] = {True: [], False: []}
    with torch.inference_mode():
        for routing in (True, False):  # warm-up
            policy(rgb, depth, words, valid, routing=routing, memory=memory, goal=goal)
        for _ in range(repeats):
            for routing in (True, False):
                t = time.perf_counter()
                policy(rgb, depth, words, valid, routing=routing, memory=memory, goal=goal)
                seconds[routing].append(time.perf_counter() - t)
    n_visual, n_text = policy.config.n_visual, int(valid.sum()) + 1
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    flops_on, flops_off = (lm_flops(policy, n_visual, n_text, r) for r in (True, False))
    return {"visual_tokens": n_visual, "lm_layers": policy.config.lm_layers, "lm_hidden": policy.config.lm_hidden,
            "parameters": sum(p.numel() for p in policy.parameters()), "chunk_ms_routing_on": 1000 * on,
            "chunk_ms_routing_off": 1000 * off, "latency_ratio_off_over_on": off / on,
            "lm_gflops_routing_on": flops_on / 1e9, "lm_gflops_routing_off": flops_off / 1e9,
            "lm_flops_ratio_off_over_on": flops_off / flops_on}  # fmt: skip


def run(repeats: int = 10) -> dict:
    """The embedded default policy and an LM-dominated shape (random weights; timing only)."""
    from segpilot.policies.vla.io import load_policy

    embedded = load_policy()
    torch.manual_seed(0)
    big = CogVLAPolicy(VLAConfig(vocab=instruction_vocab(), **LM_HEAVY)).eval()
    return {"repeats": repeats, "threads": torch.get_num_threads(), "embedded": time_chunks(embedded, repeats),
            "lm_heavy": time_chunks(big, repeats)}  # fmt: skip
