"""Training a small LLaVA-architecture VLM on synthetic ScanQA data, robust to token pruning.

The model is a standard `LlavaForConditionalGeneration` (CLIP vision tower + projector + Llama
LM) built from a config with a word-level tokenizer trained in-process, so the result loads
through `LlavaAdapter` like any user checkpoint. Each step:
1. picks a scene and several of its questions, encodes the scene's views once (cached pixels),
2. draws a random token budget (all, or a fraction) and selects tokens with SeGPruner on
   the detached features and saliency - so the model sees pruned inputs during training,
3. puts the kept tokens' projected features into each question's prompt (a right-padded
   batch) and trains on the answer tokens (the first accepted answer).
Checkpoints are written with `save_pretrained` (safetensors) plus `training_log.json`.
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
from segpilot.geometry.unproject import patch_xyz
from segpilot.geometry.views import select_uniform
from segpilot.perception.encoders.base import to_pixel_values
from segpilot.perception.pruning.registry import make_pruner
from segpilot.perception.tokens import VisualTokens
from segpilot.policies.qa.build import build_llava
from segpilot.policies.qa.llava import DEFAULT_TEMPLATE, IMAGE_PLACEHOLDER, LlavaAdapter
from segpilot.policies.schedule import TimedCosine


@dataclass(frozen=True)
class TrainConfig:
    """Model size and optimisation settings of `segpilot train qa`."""

    data: str = "data/synthetic_qa"
    """Output folder of `segpilot sim make-qa` (scans/ and ScanQA_v1.0_*.json)."""
    out: str = "models/segpilot-qa-default"
    """Checkpoint folder (safetensors, config, tokenizer, training log)."""
    views: int = 8
    """Views per scene seen by the model."""
    image_size: int = 112
    """Vision tower input size in pixels."""
    patch_size: int = 16
    """Vision tower patch size in pixels (7 x 7 tokens per view at 112 px)."""
    vision_hidden: int = 192
    """Vision tower width."""
    vision_layers: int = 4
    """Vision tower depth."""
    lm_hidden: int = 256
    """Language model width."""
    lm_layers: int = 4
    """Language model depth."""
    steps: int = 3000
    """Optimisation steps (one scene each: its views once, several of its questions)."""
    batch_questions: int = 8
    """Questions of the same scene per step (they share one vision forward and one token budget)."""
    lr: float = 3e-4
    """Peak AdamW learning rate (linear warm-up, cosine decay)."""
    full_token_share: float = 0.3
    """Share of steps that keep every token; the others keep a random 5-50%."""
    seed: int = 0
    """Seed of initialisation, sampling and budgets."""
    max_minutes: float = 85.0
    """Wall-clock limit; a checkpoint is written when it is reached. The learning-rate schedule
    follows whichever of steps and time runs out first, so a time-limited run still ends annealed."""
    init_from: str = ""
    """Continue from this checkpoint folder (its weights and tokenizer); empty = from scratch."""

    def __post_init__(self) -> None:
        for name in ("views", "image_size", "patch_size", "vision_hidden", "vision_layers", "lm_hidden", "lm_layers",
                     "steps", "batch_questions"):  # fmt: skip
            if getattr(self, name) < 1:
                raise SegpilotError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % self.patch_size:
            raise SegpilotError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        if not 0.0 <= self.full_token_share <= 1.0 or self.lr <= 0 or self.max_minutes <= 0:
            raise SegpilotError("full_token_share must lie in [0, 1]; lr and max_minutes must be > 0")


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


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[\w']+|[^\w\s]", text.lower())


def build_model(cfg: TrainConfig, vocab_size: int, image_token: int):
    return build_llava(cfg.image_size, cfg.patch_size, cfg.vision_hidden, cfg.vision_layers, cfg.lm_hidden,
                       cfg.lm_layers, 4 * cfg.lm_hidden, vocab_size, image_token, cfg.seed,
                       max_position_embeddings=2048, bos_token_id=2, eos_token_id=3, pad_token_id=0)  # fmt: skip


class _SceneCache:
    """Per scene: pixel tensors of the chosen views and the 3D position of every patch, read once."""

    def __init__(self, root: Path, views: int, image_size: int, grid_hw: tuple[int, int], mean, std):
        self.root, self.views, self.image_size, self.grid_hw = root, views, image_size, grid_hw
        self.mean, self.std = mean, std
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    def get(self, scene_id: str):
        if scene_id not in self._cache:
            scene_dir = self.root / scene_id
            if not scene_dir.is_dir():
                raise SegpilotError(f"scene {scene_id} not found under {self.root}")
            scene = ScanNetScene(scene_dir)
            ids = scene.valid_frame_ids()
            frames = scene.frames([ids[i] for i in select_uniform(len(ids), self.views)])
            px = to_pixel_values([f.rgb for f in frames], self.image_size, self.mean, self.std)
            xyz = np.stack([patch_xyz(f.depth, f.camera, f.T_world_cam, self.grid_hw) for f in frames])
            self._cache[scene_id] = (px, torch.from_numpy(xyz))
        return self._cache[scene_id]


def _batch(adapter, visual: Tensor, items: list[ScanQAItem], rng: random.Random):
    """Right-padded (B, L, D) embeddings, attention mask and per-position targets of the logits.

    `targets[b, p]` is the token the logit at position p must predict (-100 = no loss): the last
    prompt position predicts the first answer token, the last answer input predicts </s>."""
    tok, embed = adapter.tokenizer, adapter.model.get_input_embeddings()
    before, after = DEFAULT_TEMPLATE.split(IMAGE_PLACEHOLDER)
    pre = embed(tok(before, return_tensors="pt").input_ids[0])
    seqs, targets = [], []
    for item in items:
        post = tok(after.format(question=item.question), add_special_tokens=False, return_tensors="pt").input_ids[0]
        ans = tok(" " + item.answers[0], add_special_tokens=False, return_tensors="pt").input_ids[0]
        ans = torch.cat([ans, torch.tensor([tok.eos_token_id])])
        seqs.append(torch.cat([pre, visual, embed(post), embed(ans[:-1])]))
        targets.append(ans)
    length = max(len(s) for s in seqs)
    inputs = torch.zeros(len(seqs), length, visual.shape[1])
    mask = torch.zeros(len(seqs), length, dtype=torch.long)
    labels = torch.full((len(seqs), length), -100, dtype=torch.long)
    for b, (s, t) in enumerate(zip(seqs, targets, strict=True)):
        inputs[b, : len(s)], mask[b, : len(s)] = s, 1
        # s = prompt + answer[:-1], so its last len(t) positions are the last prompt position and the
        # answer inputs: exactly the positions whose logits predict answer[0], ..., </s>.
        labels[b, len(s) - len(t) : len(s)] = t
    return inputs, mask, labels


def answer_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the answer tokens; `targets` are aligned with the logits (see `_batch`)."""
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    data = Path(cfg.data)
    train_items = load_scanqa(data / "ScanQA_v1.0_train.json")
    val_items = load_scanqa(data / "ScanQA_v1.0_val.json") if (data / "ScanQA_v1.0_val.json").exists() else []
    torch.manual_seed(cfg.seed)
    if cfg.init_from:
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
    else:
        tokenizer = build_tokenizer(train_items + val_items)
        model = build_model(cfg, len(tokenizer), tokenizer.convert_tokens_to_ids("<image>"))
    adapter = LlavaAdapter(model, tokenizer)
    vision = adapter.vision
    scenes = _SceneCache(data / "scans", cfg.views, cfg.image_size, vision.grid_hw, vision.mean, vision.std)
    by_scene: dict[str, list[ScanQAItem]] = {}
    for item in train_items:
        by_scene.setdefault(item.scene_id, []).append(item)
    scene_ids = sorted(by_scene)
    pruner = make_pruner("segpruner", mode="global")
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = TimedCosine(opt, cfg.steps, cfg.max_minutes, cfg.steps // 20)
    log, losses = [], []
    t0 = time.time()
    for step in range(cfg.steps):
        if sched.share(step) >= 1.0:
            break
        scene_id = rng.choice(scene_ids)
        items = rng.sample(by_scene[scene_id], min(cfg.batch_questions, len(by_scene[scene_id])))
        px, xyz = scenes.get(scene_id)
        model.train()
        vision._captured.clear()
        hidden = model.model.vision_tower(pixel_values=px, output_hidden_states=True).hidden_states[-2][:, 1:]
        # Selection sees what inference sees: detached features, [CLS]->patch saliency, 3D positions.
        saliency = vision._captured.pop()[:, :, 0, 1:].mean(dim=1).detach()
        tokens = VisualTokens.from_views(hidden.detach(), saliency, xyz, vision.grid_hw)
        budget = 1.0 if rng.random() < cfg.full_token_share else rng.uniform(0.05, 0.5)
        kept = torch.sort(pruner.select(tokens, budget)).values
        visual = model.model.multi_modal_projector(hidden.reshape(len(tokens), -1)[kept])
        inputs, mask, labels = _batch(adapter, visual, items, rng)
        logits = model(inputs_embeds=inputs, attention_mask=mask).logits
        loss = answer_loss(logits, labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step == cfg.steps - 1:
            log.append(
                {"step": step + 1, "loss": sum(losses[-50:]) / len(losses[-50:]), "minutes": (time.time() - t0) / 60}
            )
            if progress:
                print(f"step {step + 1}: loss {log[-1]['loss']:.3f} ({log[-1]['minutes']:.1f} min)", flush=True)
    out = Path(cfg.out)
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {"config": asdict(cfg), "steps_done": len(losses), "minutes": (time.time() - t0) / 60,
               "parameters": sum(p.numel() for p in model.parameters()), "log": log}  # fmt: skip
    previous = Path(cfg.init_from) / "training_log.json" if cfg.init_from else None
    if previous is not None and previous.exists():  # keep the whole history of a continued model
        before = json.loads(previous.read_text())
        summary["continued_from"] = before
        summary["total_minutes"] = before.get("total_minutes", before["minutes"]) + summary["minutes"]
        summary["total_steps"] = before.get("total_steps", before["steps_done"]) + summary["steps_done"]
    (out / "training_log.json").write_text(json.dumps(summary, indent=1))
    return summary
