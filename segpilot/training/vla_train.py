"""`segpilot train vla`: behaviour cloning of the CogVLA-style policy on expert demonstrations.

Demonstrations come from `policies.vla.data.collect` (generated rooms, shortest-path expert
with noise injection). Each step samples a batch of (observation, instruction, expert chunk)
and minimises the cross-entropy of every chunk step, plus an auxiliary grounding loss: a
linear probe on the RGB stream's patch tokens predicts which patches show the instructed
object (binary cross-entropy against the expert's view). The previous-action input is
blanked at random so the policy cannot just repeat its last action (BC's "copycat" failure,
which showed as turning in place). Half of the batches run with LFP routing off, so the same
weights serve both modes (the routing on/off comparison of `sim run-vla`). Optional DAgger
rounds follow (see `dagger`): the policy's own rollouts, relabelled by the expert.
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
from segpilot.policies.schedule import TimedCosine
from segpilot.policies.vla.inputs import GoalInput
from segpilot.policies.vla.io import load_policy, save_policy
from segpilot.policies.vla.model import CogVLAPolicy, VLAConfig, with_goal_belief, with_memory
from segpilot.training.vla_dagger import dagger_collect
from segpilot.training.vla_demos import PREVIOUS_NONE, collect, concat, instruction_vocab, to_inputs, words_of


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
    camera_pitch_deg: float = DEFAULT_CAMERA_PITCH_DEG
    """Pitch of the policy's camera, degrees (negative looks down), recorded in its config.json. At -10 a
    table top drops out of the 90-degree view half a metre before contact; -30 keeps it in view up to
    contact but trained no better policy (docs/vla/pitch_run.json)."""
    max_minutes: float = 55.0
    """Wall-clock limit of the optimisation; the learning-rate schedule follows whichever of steps and
    time runs out first, so a time-limited run still ends annealed."""
    patch_size: int = 8
    """Vision patch size, pixels (8 at 64 px: 8 x 8 patches per stream)."""
    goal_loss_weight: float = 1.0
    """Weight of the auxiliary grounding loss (0 = behaviour cloning only)."""
    previous_dropout: float = 0.3
    """Share of training steps whose previous-action input is replaced by "none"."""
    init_from: str = ""
    """Continue from this policy folder instead of a fresh initialisation."""
    memory_tokens: int = 0
    """Give the init_from policy a SeGPruner 3D token memory of this many tokens (0 = as it is); its frozen
    memory encoder is a copy of that policy's grounding-trained RGB stream (see policies.vla.memory)."""
    memory_importance: float = 0.5
    """Share of the memory kept by goal saliency; the rest by 3D + feature diversity."""
    goal_belief: bool = False
    """Give the init_from policy the 3D goal belief (where a frozen copy of its grounding probe has
    seen the instructed object, relative to the agent; see policies.vla.goal_belief). Measured: 87 vs 86
    successes in 150 episodes for the default policy (docs/vla/goal_belief_run.json)."""
    goal_grounder: str = ""
    """Score the goal belief with this trained grounding network (a `segpilot train grounder` folder, needs
    goal_belief) instead of the frozen probe; it is copied into the policy, frozen."""
    goal_plan: bool = False
    """The goal input also carries the next action of the shortest path on the agent's own depth floor map
    towards the belief's estimate (policies.vla.floor_map; needs goal_belief)."""
    plan_labels: bool = False
    """Label demonstration and DAgger steps with the floor-map plan's action where the belief's estimate lies on
    the goal (the expert's label elsewhere), so the policy learns to follow the plan it reads (needs goal_plan)."""
    instruction_dropout: float = 0.0
    """Share of training steps whose instruction words are all replaced by <unk> (needs goal_belief): the goal
    belief, recorded with the real instruction, is then the policy's only goal information, so the policy
    learns to follow it instead of heading for whatever furniture looks right (modality dropout)."""
    dagger_rounds: int = 0
    """DAgger rounds after behaviour cloning: roll the policy out, relabel with the expert, retrain."""
    dagger_rooms: int = 100
    """New training rooms per DAgger round (seeds after the behaviour-cloning rooms)."""
    dagger_beta: float = 0.2
    """Share of DAgger steps that execute the expert's action instead of the policy's."""
    dagger_temperature: float = 1.0
    """Temperature of the policy's sampled moves in DAgger rollouts (as `sim run-vla` deploys it; 0 = argmax)."""
    dagger_max_steps: int = 150
    """Step limit of a DAgger rollout (a looping policy adds at most this many states)."""
    dagger_share: float = 0.5
    """Share of each DAgger-phase batch drawn from the rollouts (the states the policy itself visits); the
    rest comes from the expert's demonstrations."""
    dagger_minutes: float = 8.0
    """Optimisation time after each DAgger round, on all data gathered so far (peak lr halved)."""
    threads: int = 0
    """torch CPU threads (0 = torch's default)."""

    def __post_init__(self) -> None:
        for name in ("rooms", "episodes_per_room", "steps", "batch", "chunk", "image_size", "patch_size"):
            if getattr(self, name) < 1:
                raise SegpilotError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.noise < 1 or self.lr <= 0 or self.max_minutes <= 0 or self.threads < 0:
            raise SegpilotError("noise must lie in [0, 1); lr and max_minutes must be > 0")
        if self.dagger_rounds < 0 or self.dagger_rooms < 1 or self.dagger_max_steps < 1 or self.dagger_minutes <= 0:
            raise SegpilotError("dagger_rounds must be >= 0; dagger_rooms, dagger_max_steps, dagger_minutes > 0")
        if self.goal_loss_weight < 0 or not 0 <= self.previous_dropout <= 1 or not 0 <= self.dagger_beta <= 1:
            raise SegpilotError("goal_loss_weight must be >= 0; previous_dropout and dagger_beta in [0, 1]")
        if not 0 <= self.dagger_share <= 1:
            raise SegpilotError(f"dagger_share must lie in [0, 1], got {self.dagger_share}")
        if (self.memory_tokens or self.goal_belief) and not self.init_from:
            raise SegpilotError("memory_tokens and goal_belief need init_from: their frozen encoder is a trained "
                                "policy's RGB stream and grounding probe")  # fmt: skip
        if self.plan_labels and not self.goal_plan:
            raise SegpilotError("plan_labels label steps with the floor-map plan: they need goal_plan")
        if (self.goal_grounder or self.goal_plan) and not self.goal_belief:
            raise SegpilotError("goal_grounder and goal_plan refine the goal belief: they need goal_belief")
        if not 0 <= self.instruction_dropout < 1 or (self.instruction_dropout and not self.goal_belief):
            raise SegpilotError(f"instruction_dropout must lie in [0, 1) and needs goal_belief, got "
                                f"{self.instruction_dropout}")  # fmt: skip
        if self.dagger_temperature < 0:
            raise SegpilotError(f"dagger_temperature must be >= 0, got {self.dagger_temperature}")


def train_vla(cfg: TrainVLAConfig, progress: bool = True) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    policy = _initial_policy(cfg)
    t0 = time.time()
    demos, data_summary = collect(cfg.rooms, cfg.seed, cfg.image_size, cfg.chunk, cfg.episodes_per_room, cfg.noise,
                                  progress=progress, patch_size=cfg.patch_size,
                                  policy=policy if policy.config.memory_tokens or policy.config.goal_belief else None,
                                  camera_pitch_deg=policy.config.camera_pitch_deg,
                                  plan_labels=cfg.plan_labels)  # fmt: skip
    collect_minutes = (time.time() - t0) / 60
    log: list[dict] = []
    t1 = time.time()
    n_demos = len(demos.actions)
    steps_done = _fit(policy, demos, cfg, cfg.lr, cfg.max_minutes, log, "bc", progress)
    rounds: list[dict] = []

    def save(folder: Path) -> dict:
        """Weights, config and the log so far (each stage folder is a complete policy folder)."""
        policy.eval()
        save_policy(policy, folder)
        summary = {"config": asdict(cfg), "data": data_summary, "dagger": list(rounds),
                   "collect_minutes": collect_minutes, "train_minutes": (time.time() - t1) / 60,
                   "steps_done": steps_done, "parameters": sum(p.numel() for p in policy.parameters()),
                   "log": list(log)}  # fmt: skip
        (folder / "training_log.json").write_text(json.dumps(summary, indent=1))
        return summary

    if cfg.dagger_rounds:
        save(Path(cfg.out) / "stages" / "bc")  # kept for comparison
    for k in range(cfg.dagger_rounds):
        t = time.time()
        seed = cfg.seed + cfg.rooms + k * cfg.dagger_rooms
        extra, summary = dagger_collect(policy, cfg.dagger_rooms, seed, cfg.chunk, cfg.episodes_per_room,
                                        cfg.dagger_beta, cfg.dagger_max_steps, cfg.dagger_temperature,
                                        plan_labels=cfg.plan_labels)  # fmt: skip
        demos = concat([demos, extra])
        rounds.append({**summary, "collect_minutes": (time.time() - t) / 60})
        if progress:
            print(f"DAgger round {k + 1}: {summary['steps']} relabelled steps in {summary['episodes']} episodes "
                  f"({rounds[-1]['collect_minutes']:.1f} min)", flush=True)  # fmt: skip
        steps_done += _fit(policy, demos, cfg, cfg.lr / 2, cfg.dagger_minutes, log, f"dagger{k + 1}", progress,
                           split=n_demos)  # fmt: skip
        if k < cfg.dagger_rounds - 1:
            save(Path(cfg.out) / "stages" / f"dagger{k + 1}")
    return save(Path(cfg.out))


def _initial_policy(cfg: TrainVLAConfig) -> CogVLAPolicy:
    """A fresh policy, or `init_from`'s (with a new token memory when `memory_tokens` asks for one)."""
    torch.manual_seed(0)
    if not cfg.init_from:
        return CogVLAPolicy(VLAConfig(image_size=cfg.image_size, patch_size=cfg.patch_size, chunk=cfg.chunk,
                                      vocab=instruction_vocab(), camera_pitch_deg=cfg.camera_pitch_deg))  # fmt: skip
    policy = load_policy(cfg.init_from)
    c = policy.config
    if (c.image_size, c.patch_size, c.chunk, c.camera_pitch_deg) != (
        cfg.image_size, cfg.patch_size, cfg.chunk, cfg.camera_pitch_deg):  # fmt: skip
        raise SegpilotError(f"{cfg.init_from} was trained with other image_size, patch_size, chunk or camera_pitch_deg")
    if cfg.memory_tokens and policy.config.memory_tokens not in (0, cfg.memory_tokens):
        raise SegpilotError(f"{cfg.init_from} already has a memory of {policy.config.memory_tokens} tokens")
    if cfg.memory_tokens and not policy.config.memory_tokens:
        policy = with_memory(policy, cfg.memory_tokens, cfg.memory_importance)
    if cfg.goal_belief and policy.config.goal_belief:
        if cfg.goal_grounder or cfg.goal_plan != policy.config.goal_plan:
            raise SegpilotError(f"{cfg.init_from} already reads a goal belief: start goal_grounder / goal_plan "
                                "from a policy without one")  # fmt: skip
    elif cfg.goal_belief:
        from segpilot.policies.vla.grounding import load_grounder

        grounder = load_grounder(cfg.goal_grounder) if cfg.goal_grounder else None
        policy = with_goal_belief(policy, grounder, cfg.goal_plan)
    return policy


def _fit(policy, demos, cfg: TrainVLAConfig, lr: float, minutes: float, log: list, phase: str, progress: bool,
         split: int | None = None) -> int:  # fmt: skip
    """Optimise on `demos` for `cfg.steps` steps or `minutes`, whichever ends first (cosine schedule);
    returns the steps done. With `split`, steps from `split` on (the rollouts) fill `cfg.dagger_share`
    of each batch."""
    unique = sorted(set(demos.instruction))
    ids, valid = policy.encode_instruction([words_of(s) for s in unique])
    which = np.asarray([unique.index(s) for s in demos.instruction])
    trained = [p for p in policy.parameters() if p.requires_grad]  # not the frozen memory encoder
    opt = torch.optim.AdamW(trained, lr=lr, weight_decay=0.01)
    sched = TimedCosine(opt, cfg.steps, minutes, cfg.steps // 30)
    losses, t1 = [], time.time()
    rng = np.random.default_rng(len(log))
    policy.train()
    for step in range(cfg.steps):
        if sched.share(step) >= 1.0:
            break
        batch = _draw(rng, len(demos.actions), cfg.batch, split, cfg.dagger_share)
        rgb, depth = to_inputs(demos.rgb[batch], demos.depth[batch])
        previous = np.where(rng.random(cfg.batch) < cfg.previous_dropout, PREVIOUS_NONE, demos.previous[batch])
        words, word_valid = ids[which[batch]], valid[which[batch]]
        words, named = _blank_instructions(rng, words, word_valid, cfg.instruction_dropout)
        memory = None if demos.memory is None else torch.as_tensor(demos.memory[batch], dtype=torch.float32)
        belief = None if demos.goal is None else GoalInput.from_vector(policy.config, demos.goal[batch])
        logits, goal_logits = policy(rgb, depth, words, word_valid, routing=bool(step % 2 == 0), memory=memory,
                                     previous=torch.as_tensor(previous), return_goal=True, goal=belief)  # fmt: skip
        target = torch.as_tensor(demos.actions[batch])
        bc = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        # Grounding only where the instruction was read: a probe cannot tell which object <unk> means.
        grounding = (
            torch.nn.functional.binary_cross_entropy_with_logits(
                goal_logits, torch.as_tensor(demos.goal_patches[batch], dtype=torch.float32), reduction="none"
            )
            .mean(1)
            .mul(named)
            .sum()
            .div(named.sum().clamp(min=1))
        )
        loss = bc + cfg.goal_loss_weight * grounding
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        sched.step()
        losses.append((bc.item(), grounding.item()))
        if (step + 1) % 100 == 0:
            bc_mean, goal_mean = np.mean(losses[-100:], axis=0)
            log.append({"phase": phase, "step": step + 1, "loss": float(bc_mean), "grounding_loss": float(goal_mean),
                        "minutes": (time.time() - t1) / 60})  # fmt: skip
            if progress:
                print(f"{phase} step {step + 1}: action loss {bc_mean:.3f}, grounding loss {goal_mean:.3f} "
                      f"({log[-1]['minutes']:.1f} min)", flush=True)  # fmt: skip
    return len(losses)


def _blank_instructions(rng, words: torch.Tensor, word_valid: torch.Tensor, share: float,
                        ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Each row's words all become <unk> (id 1) with probability `share`; returns the words and which rows
    kept their instruction. With share 0 nothing is drawn, so training without dropout sees the same
    random stream as before the option existed."""
    if not share:
        return words, torch.ones(len(words), dtype=torch.bool)
    named = torch.as_tensor(rng.random(len(words)) >= share)
    return torch.where(named[:, None] | ~word_valid.bool(), words, torch.ones_like(words)), named


def _draw(rng, n: int, size: int, split: int | None, share: float) -> np.ndarray:
    """`size` step indices out of n; with `split` < n, round(share * size) of them from split .. n - 1."""
    if split is None or split >= n:
        return rng.integers(0, n, size)
    late = int(round(share * size))
    return np.concatenate([rng.integers(0, split, size - late), rng.integers(split, n, late)])
