"""`segpilot train grounder`: the goal grounding network, trained on the simulator's object-id images.

Frames come from the states navigation visits: the look-around expert's episodes with DART
noise (`data.LabelledEpisode`) in generated rooms, every `stride`-th step. Each frame is
labelled for every furniture object of its room that an instruction can name unambiguously
(`episodes.describe_goal`), visible or not: the target of a patch is the share of its pixels
showing that object, so one frame teaches both "this is the grey chair" and "the brown chair
is not here". Loss: binary cross-entropy per patch, so the sigmoid is a probability the belief
can add up.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from segpilot.errors import SegpilotError
from segpilot.nav.base import DEFAULT_CAMERA_PITCH_DEG
from segpilot.policies.vla.grounding import GoalGrounder, GrounderConfig, save_grounder

VISIBLE_SHARE = 0.005
"""An object covering at least this share of a frame counts as visible (for the metrics)."""


def collect_grounding(n_rooms: int, seed: int, image_size: int, grid: int, stride: int = 3, noise: float = 0.3,
                      camera_pitch_deg: float = DEFAULT_CAMERA_PITCH_DEG, progress: bool = False) -> dict:  # fmt: skip
    """Frames and per-instruction patch targets from rooms seed .. seed + n_rooms - 1 (arrays in a dict)."""
    from segpilot.sim.episodes import describe_goal
    from segpilot.training.vla_demos import NAV_GOAL_CATEGORIES, LabelledEpisode, NoisyExpert, patch_coverage, rooms

    driver = NoisyExpert(noise, seed)
    rgb, depth, pair_frame, pair_text, pair_target = [], [], [], [], []
    for r, sim, episodes in rooms(n_rooms, seed, 3, image_size, camera_pitch_deg):
        named = [(o.id, describe_goal(sim.scene, o)[0]) for o in sim.scene.objects
                 if o.kind != "structure" and o.category in NAV_GOAL_CATEGORIES]  # fmt: skip
        named = [(i, text) for i, text in named if text]
        for ep in episodes:
            episode = LabelledEpisode(sim, ep, image_size // grid)
            while not episode.done:
                if len(episode.steps) % stride == 0:
                    ids = episode.obs.object_ids
                    for obj_id, text in named:
                        pair_frame.append(len(rgb))
                        pair_text.append(text)
                        pair_target.append(patch_coverage(ids == obj_id, image_size // grid).astype(np.float16))
                    rgb.append(episode.obs.frame.rgb)
                    depth.append(episode.obs.frame.depth.astype(np.float16))
                episode.advance(driver.act(episode.obs, episode.label()))
        sim.close()
        if progress and (r + 1) % 20 == 0:
            print(f"rooms {r + 1}/{n_rooms}: {len(rgb)} frames, {len(pair_text)} labelled pairs", flush=True)
    return {"rgb": np.stack(rgb), "depth": np.stack(depth), "frame": np.asarray(pair_frame),
            "text": pair_text, "target": np.stack(pair_target)}  # fmt: skip


def _batch(model: GoalGrounder, data: dict, pairs: np.ndarray):
    from segpilot.policies.vla.data import to_inputs, words_of

    frames, where = np.unique(data["frame"][pairs], return_inverse=True)
    x, d = to_inputs(data["rgb"][frames], data["depth"][frames].astype(np.float32))
    words = model.encode_instruction([words_of(data["text"][i]) for i in pairs])
    return x, d, torch.as_tensor(where), words, torch.as_tensor(data["target"][pairs].astype(np.float32))


def grounding_metrics(model: GoalGrounder, data: dict, batch: int = 512) -> dict:
    """Top-1 patch hit rate where the object is visible; false alarms (a patch over 0.5) where it is not."""
    hits, visible, alarms, absent, losses = 0, 0, 0, 0, []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(data["frame"]), batch):
            x, d, where, words, target = _batch(model, data, np.arange(i, min(i + batch, len(data["frame"]))))
            logits = model.scores(model.features(x, d)[where], words)
            losses.append(float(torch.nn.functional.binary_cross_entropy_with_logits(logits, target)))
            seen = target.mean(1) >= VISIBLE_SHARE
            top = logits.argmax(1)
            hits += int((target[torch.arange(len(top)), top] > 0)[seen].sum())
            visible += int(seen.sum())
            alarms += int((logits[~seen].max(1).values > 0).sum())
            absent += int((~seen).sum())
    return {"loss": float(np.mean(losses)), "top1_hit_visible": hits / max(visible, 1),
            "false_alarm_absent": alarms / max(absent, 1), "visible_pairs": visible,
            "absent_pairs": absent}  # fmt: skip


@dataclass(frozen=True)
class TrainGrounderConfig:
    """`segpilot train grounder` (one field = one flag)."""

    out: str = "data/grounder"
    """Output folder (grounder.json, grounder.safetensors, grounder_metrics.json)."""
    rooms: int = 600
    """Generated training rooms (seeds seed .. seed + rooms - 1), three episodes each."""
    seed: int = 20000
    """First training room seed (the VLA's training rooms; evaluation starts at 30000)."""
    val_rooms: int = 30
    """Validation rooms for the metrics (seeds val_seed ..)."""
    val_seed: int = 40000
    """First validation room seed."""
    max_minutes: float = 20.0
    """Optimisation time (the cosine learning-rate schedule spans it)."""
    batch_frames: int = 64
    """Frames per step (each scored against every instruction of its room)."""
    lr: float = 2e-3
    """Peak learning rate (AdamW)."""
    image_size: int = 64
    """Frame size, pixels: the policy's image size."""
    camera_pitch_deg: float = DEFAULT_CAMERA_PITCH_DEG
    """Camera pitch of the frames: the policy's."""
    threads: int = 0
    """torch CPU threads (0 = torch's default)."""

    def __post_init__(self) -> None:
        if min(self.rooms, self.val_rooms, self.batch_frames) < 1 or self.max_minutes <= 0 or self.lr <= 0:
            raise SegpilotError(f"rooms, val_rooms and batch_frames must be >= 1, max_minutes and lr > 0, got "
                                f"{self.rooms}, {self.val_rooms}, {self.batch_frames}, {self.max_minutes}, "
                                f"{self.lr}")  # fmt: skip


def train_grounder(cfg: TrainGrounderConfig) -> dict:
    """Collect, train for `max_minutes` (cosine schedule over that time), save to `out` with its metrics."""
    from segpilot.policies.vla.data import instruction_vocab

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    config = GrounderConfig(cfg.image_size, cfg.image_size // 4, vocab=instruction_vocab())
    t0 = time.perf_counter()
    data = collect_grounding(cfg.rooms, cfg.seed, config.image_size, config.grid,
                             camera_pitch_deg=cfg.camera_pitch_deg, progress=True)  # fmt: skip
    val = collect_grounding(cfg.val_rooms, cfg.val_seed, config.image_size, config.grid,
                            camera_pitch_deg=cfg.camera_pitch_deg)  # fmt: skip
    collect_minutes = (time.perf_counter() - t0) / 60
    model = GoalGrounder(config)
    lr, batch_frames = cfg.lr, cfg.batch_frames
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    n_frames = len(data["rgb"])
    by_frame = np.split(np.arange(len(data["frame"])), np.flatnonzero(np.diff(data["frame"])) + 1)
    start, step, log = time.perf_counter(), 0, []
    budget = cfg.max_minutes * 60
    while (elapsed := time.perf_counter() - start) < budget:
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * elapsed / budget))
        model.train()
        pairs = np.concatenate([by_frame[i] for i in rng.choice(n_frames, batch_frames, replace=False)])
        x, d, where, words, target = _batch(model, data, pairs)
        flip = rng.random() < 0.5  # left-right mirror: the same objects, the same instructions
        if flip:
            g = config.grid
            x, d = x.flip(-1), d.flip(-1)
            target = target.view(-1, g, g).flip(-1).reshape(len(target), -1)
        logits = model.scores(model.features(x, d)[where], words)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            log.append({"step": step, "minutes": round(elapsed / 60, 2), "loss": round(loss.item(), 5)})
            print(json.dumps(log[-1]), flush=True)
    metrics = {"config": asdict(cfg), "collect_minutes": round(collect_minutes, 2),
               "train_minutes": round(budget / 60, 2), "steps": step, "train_frames": n_frames,
               "train_pairs": len(data["frame"]), "validation": grounding_metrics(model, val), "log": log}  # fmt: skip
    save_grounder(model, cfg.out)
    (Path(cfg.out) / "grounder_metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
