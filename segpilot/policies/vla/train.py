"""`segpilot train vla`: behaviour cloning of the CogVLA-style policy on expert demonstrations.

Demonstrations come from `policies.vla.data.collect` (generated rooms, shortest-path expert
with noise injection). Each step samples a batch of (observation, instruction, expert chunk)
and minimises the cross-entropy of every chunk step. Half of the batches run with LFP routing
off, so the same weights serve both modes (the routing on/off comparison of `sim run-vla`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from segpilot.errors import SegpilotError
from segpilot.policies.schedule import TimedCosine
from segpilot.policies.vla.data import collect, instruction_vocab, to_inputs, words_of
from segpilot.policies.vla.io import save_policy
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig


@dataclass(frozen=True)
class TrainVLAConfig:
    """Data, size and optimisation settings of `segpilot train vla`."""

    out: str = "models/segpilot-vla-default"
    """Policy folder (model.safetensors, config.json, training_log.json)."""
    rooms: int = 300
    """Generated training rooms (seeds seed .. seed + rooms - 1)."""
    seed: int = 20000
    """First training room seed (held-out evaluation rooms start at 30000)."""
    episodes_per_room: int = 6
    """Expert episodes per room."""
    noise: float = 0.15
    """Share of demonstration steps where a random move is executed instead of the expert's."""
    steps: int = 10000
    """Optimisation steps."""
    batch: int = 32
    """Demonstration steps per batch."""
    lr: float = 5e-4
    """Peak AdamW learning rate (linear warm-up, cosine decay)."""
    chunk: int = 4
    """Actions per chunk."""
    image_size: int = 64
    """Policy camera size, pixels."""
    max_minutes: float = 55.0
    """Wall-clock limit of the optimisation; the learning-rate schedule follows whichever of steps and
    time runs out first, so a time-limited run still ends annealed."""
    patch_size: int = 16
    """Vision patch size, pixels (16 at 64 px: 4 x 4 patches per stream)."""
    threads: int = 0
    """torch CPU threads (0 = torch's default)."""

    def __post_init__(self) -> None:
        for name in ("rooms", "episodes_per_room", "steps", "batch", "chunk", "image_size", "patch_size"):
            if getattr(self, name) < 1:
                raise SegpilotError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.noise < 1 or self.lr <= 0 or self.max_minutes <= 0 or self.threads < 0:
            raise SegpilotError("noise must lie in [0, 1); lr and max_minutes must be > 0")


def train_vla(cfg: TrainVLAConfig, progress: bool = True) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.time()
    demos, data_summary = collect(cfg.rooms, cfg.seed, cfg.image_size, cfg.chunk, cfg.episodes_per_room, cfg.noise,
                                  progress=progress)  # fmt: skip
    collect_minutes = (time.time() - t0) / 60
    torch.manual_seed(0)
    policy = CogVLAPolicy(VLAConfig(image_size=cfg.image_size, patch_size=cfg.patch_size, chunk=cfg.chunk,
                                    vocab=instruction_vocab()))  # fmt: skip
    unique = sorted(set(demos.instruction))
    ids, valid = policy.encode_instruction([words_of(s) for s in unique])
    which = np.asarray([unique.index(s) for s in demos.instruction])
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = TimedCosine(opt, cfg.steps, cfg.max_minutes, cfg.steps // 30)
    log, losses, t1 = [], [], time.time()
    rng = np.random.default_rng(0)
    policy.train()
    for step in range(cfg.steps):
        if sched.share(step) >= 1.0:
            break
        batch = rng.integers(0, len(demos.actions), cfg.batch)
        rgb, depth = to_inputs(demos.rgb[batch], demos.depth[batch])
        logits = policy(rgb, depth, ids[which[batch]], valid[which[batch]], routing=bool(step % 2 == 0),
                        previous=torch.as_tensor(demos.previous[batch]))  # fmt: skip
        target = torch.as_tensor(demos.actions[batch])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0 or step == cfg.steps - 1:
            log.append({"step": step + 1, "loss": float(np.mean(losses[-100:])), "minutes": (time.time() - t1) / 60})
            if progress:
                print(f"step {step + 1}: loss {log[-1]['loss']:.3f} ({log[-1]['minutes']:.1f} min)", flush=True)
    policy.eval()
    save_policy(policy, cfg.out)
    summary = {"config": asdict(cfg), "data": data_summary, "collect_minutes": collect_minutes,
               "train_minutes": (time.time() - t1) / 60, "steps_done": len(losses),
               "parameters": sum(p.numel() for p in policy.parameters()), "log": log}  # fmt: skip
    (Path(cfg.out) / "training_log.json").write_text(json.dumps(summary, indent=1))
    return summary
