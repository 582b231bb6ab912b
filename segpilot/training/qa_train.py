"""Training the embedded QA model: a small LLaVA-architecture VLM that looks, robust to token pruning.

The model is a standard `LlavaForConditionalGeneration` (CLIP vision tower + projector + Llama
LM) built from a config with a word-level tokenizer trained in-process, so the result loads
through `LlavaAdapter` like any user checkpoint. Two stages, one command, one time budget:
1. the vision tower learns to see from the simulator's per-pixel object ids (`qa_tower`:
   per-patch category / colour / place heads, a [CLS] presence head; heads are dropped);
2. the tower is frozen; each training room's views (chosen by coverage, as `ask` and `eval`
   choose them) are encoded once through the adapter's own `encode` - features, [CLS]
   saliency, 3D positions - and SeGPruner selections at a grid of budgets are computed once.
   Each step then takes one room, a random budget (all tokens, or 2-50% kept by SeGPruner or
   at random), and several of the room's questions: the prompt prefix (<s> USER: + kept
   tokens + 3D position embedding) runs through the LM once and its KV cache is shared by the
   questions' suffixes, packed into one block-masked sequence (`qa_loss`), so a room's visual
   tokens cost one pass, not one per question.
The 3D position embedding is recorded in the model's config (`segpilot_3d_position`), so
the adapter adds it at inference whenever the model was trained with it. Checkpoints
(`save_pretrained`, safetensors) and `training_log.json` are written every
`checkpoint_minutes`, so a stopped run keeps its finished work.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scannet import ScanNetScene
from segpilot.eval.datasets.scanqa import ScanQAItem, load_scanqa
from segpilot.policies.qa.build import build_llava
from segpilot.policies.qa.llava import LlavaAdapter
from segpilot.policies.qa.position3d import POSITION_3D_CONFIG_KEY
from segpilot.training.qa_grow import grow_language_model
from segpilot.training.qa_loss import shared_prefix_loss
from segpilot.training.qa_room_cache import RoomCache
from segpilot.training.qa_rooms import BUDGET_GRID, IMPORTANCE_RATIOS, prepare_rooms, view_ids


@dataclass(frozen=True)
class TrainConfig:
    """Model size and optimisation settings of `segpilot train qa`."""

    data: str = "data/synthetic_qa"
    """Output folder of `segpilot sim make-qa` (scans/ with instance-filt/, scenes/, ScanQA_v1.0_*.json)."""
    out: str = "models/segpilot-qa-default"
    """Checkpoint folder (safetensors, config, tokenizer, training log)."""
    views: int = 12
    """Views per room, chosen by coverage (as `ask`, `eval` and the study choose them)."""
    image_size: int = 224
    """Vision tower input size in pixels."""
    patch_size: int = 16
    """Vision tower patch size in pixels (14 x 14 tokens per view at 224 px)."""
    vision_hidden: int = 192
    """Vision tower width."""
    vision_layers: int = 4
    """Vision tower depth (its last layer feeds the projector)."""
    lm_hidden: int = 256
    """Language model width."""
    lm_layers: int = 4
    """Language model depth."""
    tower_minutes: float = 15.0
    """Stage 1: minutes of per-patch auxiliary training of the vision tower (0 = skip, e.g. with init_from)."""
    tower_batch: int = 24
    """Stage 1: views per step."""
    tower_lr: float = 1e-3
    """Stage 1: peak AdamW learning rate."""
    tower_extra_frames: int = 6
    """Stage 1: random frames per room beside its coverage views (more viewpoints for the tower)."""
    steps: int = 40000
    """Stage 2: optimisation steps (one room each: its tokens once, several of its questions)."""
    batch_questions: int = 32
    """Stage 2: questions of the same room per step (they share the visual tokens' KV cache; with the packed
    suffixes 32 cost ~1.3x what 16 do at 850 kept tokens)."""
    lr: float = 5e-4
    """Stage 2: peak AdamW learning rate (linear warm-up, cosine decay)."""
    full_token_share: float = 0.2
    """Share of steps that keep every token; the others keep 2-50%."""
    random_prune_share: float = 0.25
    """Share of pruned steps whose tokens are drawn at random instead of by SeGPruner (robust to other pruners)."""
    grounding_weight: float = 0.5
    """Weight of the grounding loss: at the middle LM layer, the question's last prompt position must point (by
    dot product) at the visual tokens of the objects the question is about (the simulator's object ids). The
    answer loss alone teaches a small LM from scratch to retrieve too slowly (a first run stayed at constant
    answers); 0 = answer loss only."""
    use_3d_position: bool = True
    """Add the sinusoidal 3D position embedding of each kept token (recorded in the model's config)."""
    seed: int = 0
    """Seed of initialisation, sampling and budgets."""
    max_minutes: float = 85.0
    """Wall-clock limit of both stages together; a checkpoint is written when it is reached. Stage 2's
    learning-rate schedule follows whichever of steps and time runs out first, so a time-limited run ends
    annealed."""
    checkpoint_minutes: float = 10.0
    """A checkpoint (and the log so far) is written this often."""
    init_from: str = ""
    """Continue from this checkpoint folder (its weights and tokenizer); empty = from scratch."""
    grow_lm_layers: int = 0
    """With init_from: insert this many identity-initialised decoder layers into the checkpoint's LM before
    training (`qa_grow`, LLaMA Pro block expansion: the grown model first answers exactly as the checkpoint
    did); 0 = keep its depth."""
    bf16_autocast: bool = False
    """Stage 2: run the projector and LM forward under CPU autocast to bfloat16 (weights, optimiser and loss stay
    float32). On CPUs with AMX (Sapphire Rapids and later) bfloat16 matrix products run ~6x faster than float32
    ones, which roughly halves a step; on others it may be slower. Inference is unchanged (float32)."""
    encode_cache: str = ""
    """Folder caching each room's coverage view ids and, keyed by the frozen tower's weights, its encoded tokens
    and SeGPruner selections (`qa_room_cache`): a continued run skips re-encoding (~16 min for 1,424 rooms on 2
    cores). Empty = no cache."""
    visible_counts_only: bool = False
    """Stage 2: a number question (a count or a comparison of counts) enters a step's loss only if every object
    it counts has a kept token in that step (`countable`). Otherwise its label asks for objects the step cannot
    see - 13% of the training counts with all tokens, 48% at a 3% budget, ~23% over the step mix (42 rooms) - which
    teaches the LM to add instances it has not seen (the default model over-counts ones, under-counts many)."""

    def __post_init__(self) -> None:
        for name in ("views", "image_size", "patch_size", "vision_hidden", "vision_layers", "lm_hidden", "lm_layers",
                     "steps", "batch_questions", "tower_batch"):  # fmt: skip
            if getattr(self, name) < 1:
                raise SegpilotError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % self.patch_size:
            raise SegpilotError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        if not 0.0 <= self.full_token_share <= 1.0 or not 0.0 <= self.random_prune_share <= 1.0:
            raise SegpilotError("full_token_share and random_prune_share must lie in [0, 1]")
        if self.lr <= 0 or self.tower_lr <= 0 or self.max_minutes <= 0 or self.checkpoint_minutes <= 0:
            raise SegpilotError("lr, tower_lr, max_minutes and checkpoint_minutes must be > 0")
        if self.tower_minutes < 0 or self.tower_extra_frames < 0 or self.grounding_weight < 0:
            raise SegpilotError("tower_minutes, tower_extra_frames and grounding_weight must be >= 0")
        if self.grow_lm_layers < 0 or (self.grow_lm_layers and not self.init_from):
            raise SegpilotError(f"grow_lm_layers {self.grow_lm_layers}: must be >= 0, and > 0 only with init_from "
                                "(a model from scratch takes lm_layers)")  # fmt: skip


def build_tokenizer(items: list[ScanQAItem]):
    """Word-level tokenizer over the prompt template, questions and answers.

    British "colour" is normalised to the data's "color", so `segpilot ask "What colour ..."`
    does not hit an unknown word."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"USER:", "ASSISTANT:"}
    for it in items:
        words.update(_words(it.question))
        for a in it.answers:
            words.update(_words(a))
    vocab = ["<pad>", "<unk>", "<s>", "</s>", "<image>"] + sorted(words)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace("colour", "color")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")  # fmt: skip


def countable(items: list[ScanQAItem], kept_objects: Tensor) -> list[ScanQAItem]:
    """The questions a step can answer from what it keeps: a number question only if every object it counts
    (its `object_ids`) is under a kept token (`kept_objects`, object id per kept token); the others all."""
    present = set(kept_objects.unique().tolist())
    return [it for it in items if it.question_type != "number" or set(it.object_ids) <= present]


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[\w']+|[^\w\s]", text.lower())


def build_model(cfg: TrainConfig, vocab_size: int, image_token: int):
    model = build_llava(cfg.image_size, cfg.patch_size, cfg.vision_hidden, cfg.vision_layers, cfg.lm_hidden,
                        cfg.lm_layers, 4 * cfg.lm_hidden, vocab_size, image_token, cfg.seed, vision_feature_layer=-1,
                        max_position_embeddings=4096, bos_token_id=2, eos_token_id=3, pad_token_id=0)  # fmt: skip
    if cfg.use_3d_position:
        setattr(model.config, POSITION_3D_CONFIG_KEY, {"kind": "sinusoidal", "frame": "world", "unit": "m"})
    return model


def _load(cfg: TrainConfig, items: list[ScanQAItem]):
    torch.manual_seed(cfg.seed)
    if not cfg.init_from:
        tokenizer = build_tokenizer(items)
        return build_model(cfg, len(tokenizer), tokenizer.convert_tokens_to_ids("<image>")), tokenizer
    from transformers import AutoTokenizer, LlavaForConditionalGeneration

    init = Path(cfg.init_from)
    if not any(init.glob("*.safetensors")):  # never torch.load a pickle (it can run code)
        raise SegpilotError(f"--init-from {init}: expected a checkpoint folder with .safetensors weights")
    try:
        model = LlavaForConditionalGeneration.from_pretrained(init, local_files_only=True, use_safetensors=True,
                                                              trust_remote_code=False)  # fmt: skip
        tokenizer = AutoTokenizer.from_pretrained(init, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise SegpilotError(f"--init-from {init}: {str(exc).splitlines()[0]}") from None
    return model, tokenizer


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    from segpilot.sim.scenes import Scene
    from segpilot.training.qa_tower import load_labelled_views, pretrain_tower

    t_start = time.time()
    data = Path(cfg.data)
    train_items = load_scanqa(data / "ScanQA_v1.0_train.json")
    val_path = data / "ScanQA_v1.0_val.json"
    val_items = load_scanqa(val_path) if val_path.exists() else []
    model, tokenizer = _load(cfg, train_items + val_items)
    grown = grow_language_model(model, cfg.grow_lm_layers) if cfg.grow_lm_layers else []
    adapter = LlavaAdapter(model, tokenizer)
    vision = adapter.vision
    by_scene: dict[str, list[ScanQAItem]] = {}
    for item in train_items:
        by_scene.setdefault(item.scene_id, []).append(item)
    cache = RoomCache(cfg.encode_cache) if cfg.encode_cache else None
    views = {s: view_ids(data / "scans" / s, cfg.views, cache) for s in sorted(by_scene)}
    summary: dict = {"config": asdict(cfg), "rooms": len(by_scene), "questions": len(train_items)}
    if grown:
        summary["grown_lm_layers"] = {"inserted_at": grown, "lm_layers": len(model.model.language_model.layers)}
    rng = random.Random(cfg.seed)
    # Stage 1: the tower learns to see.
    if cfg.tower_minutes > 0:
        grid = vision.grid_hw[0]

        def labelled(scene_id: str, ids: list[int]):
            scene = Scene.load(data / "scenes" / f"{scene_id}.json")
            return load_labelled_views(data / "scans" / scene_id, scene, ids, vision.image_size, grid, vision.mean,
                                       vision.std)  # fmt: skip

        tower_rooms = []
        for scene_id, ids in views.items():
            n_frames = len(ScanNetScene(data / "scans" / scene_id).valid_frame_ids())
            others = [i for i in range(n_frames) if i not in ids]
            tower_rooms.append(labelled(scene_id, ids + rng.sample(others, min(cfg.tower_extra_frames, len(others)))))
        held = None
        val_scenes = sorted({it.scene_id for it in val_items})[:10]
        if val_scenes:
            parts = [labelled(s, view_ids(data / "scans" / s, cfg.views, cache)) for s in val_scenes]
            fields = ("pixels", "category", "colour", "place")
            held = type(parts[0])(*(torch.cat([getattr(p, f) for p in parts]) for f in fields))
        summary["tower"] = pretrain_tower(model.model.vision_tower, model.config.vision_feature_layer, tower_rooms,
                                          held, cfg.tower_minutes, cfg.tower_batch, cfg.tower_lr, cfg.seed,
                                          progress)  # fmt: skip
        if progress:
            print(f"tower held-out patch accuracy: {summary['tower'].get('held_out_patch_accuracy')}", flush=True)
        del tower_rooms, held
    # Stage 2: frozen tower, encode and prune once per room, train projector + LM.
    model.model.vision_tower.requires_grad_(False)
    model.model.vision_tower.eval()
    rooms = prepare_rooms(adapter, data, by_scene, views, progress, cache)
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    minutes_left = cfg.max_minutes - (time.time() - t_start) / 60
    if minutes_left <= 0:
        raise SegpilotError(f"max_minutes {cfg.max_minutes} leaves no time for stage 2 after the tower")
    from segpilot.policies.schedule import TimedCosine

    sched = TimedCosine(opt, cfg.steps, minutes_left, max(1, min(cfg.steps // 20, 500)))
    log, losses, budgets = [], [], []
    t0 = last_save = time.time()
    out = Path(cfg.out)
    use_3d = cfg.use_3d_position
    from segpilot.policies.qa.position3d import sinusoidal_xyz

    model.model.language_model.train()
    for step in range(cfg.steps):
        if sched.share(step) >= 1.0:
            break
        room = rng.choice(rooms)
        items = rng.sample(room.items, min(cfg.batch_questions, len(room.items)))
        n = len(room.tokens)
        if rng.random() < cfg.full_token_share:
            kept, budget = torch.arange(n), 1.0
        elif rng.random() < cfg.random_prune_share:
            budget = float(np.exp(rng.uniform(np.log(BUDGET_GRID[0]), np.log(BUDGET_GRID[-1]))))
            kept = torch.sort(torch.randperm(n, generator=torch.Generator().manual_seed(rng.randrange(2**31)))[
                : max(1, round(budget * n))]).values  # fmt: skip
        else:
            budget = rng.choice(BUDGET_GRID)
            kept = room.selections[(rng.choice(IMPORTANCE_RATIOS), budget)]
        kept_objects = room.object_ids[kept]
        if cfg.visible_counts_only:
            items = countable(items, kept_objects)
            if not items:
                continue
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16_autocast):
            visual = model.model.multi_modal_projector(room.tokens.features[kept])
            if use_3d:
                visual = visual + sinusoidal_xyz(room.tokens.xyz[kept], visual.shape[1])
            loss = shared_prefix_loss(adapter, visual, items, kept_objects, cfg.grounding_weight,
                                      pad_to=64 if cfg.bf16_autocast else 0).float()  # fmt: skip
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        budgets.append(budget)
        if (step + 1) % 100 == 0:
            log.append({"step": step + 1, "loss": float(np.mean(losses[-100:])), "minutes": (time.time() - t0) / 60,
                        "mean_budget": float(np.mean(budgets[-100:]))})  # fmt: skip
            if progress:
                print(f"step {step + 1}: loss {log[-1]['loss']:.3f} ({log[-1]['minutes']:.1f} min)", flush=True)
        if time.time() - last_save > 60 * cfg.checkpoint_minutes:
            _save(
                model, tokenizer, out, {**summary, "steps_done": len(losses), "log": log, "partial": True}, cfg, t_start
            )
            last_save = time.time()
    summary.update({"steps_done": len(losses), "stage2_minutes": (time.time() - t0) / 60, "log": log})
    return _save(model, tokenizer, out, summary, cfg, t_start)


def _save(model, tokenizer, out: Path, summary: dict, cfg: TrainConfig, t_start: float) -> dict:
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {**summary, "minutes": (time.time() - t_start) / 60,
               "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
    previous = Path(cfg.init_from) / "training_log.json" if cfg.init_from else None
    if previous is not None and previous.exists():  # keep the whole history of a continued model
        before = json.loads(previous.read_text())
        summary["continued_from"] = before
        summary["total_minutes"] = before.get("total_minutes", before["minutes"]) + summary["minutes"]
        summary["total_steps"] = before.get("total_steps", before["steps_done"]) + summary["steps_done"]
    (out / "training_log.json").write_text(json.dumps(summary, indent=1))
    model.model.language_model.train()
    return summary
