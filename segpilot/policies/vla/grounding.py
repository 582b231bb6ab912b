"""Goal grounding: which parts of an RGB-D frame show the object an instruction names.

The 3D goal belief (`goal_belief`) is only as good as the patch scores it accumulates. Scored
by the policy's own grounding probe (a linear read-out of the action encoder's 8 x 8 patches),
the belief's estimate was on the wrong object in about a third of the validation episodes,
and a planner driving to that estimate failed exactly there; with the true goal patches the
same planner succeeded in 90% of them (`docs/vla/grounded_plan_run.json`). So the grounding
gets a network of its own, trained on the simulator's object-id images.

The design is LSeg-like late fusion, because one frame is scored against several
instructions during training (and the image part is the costly part): a small convolutional
encoder turns the frame into a `grid` x `grid` map of features (a stride-8 context branch is
upsampled and added to the stride-4 branch, so a patch sees the whole object), and the
instruction (the mean of its word embeddings) modulates those features (FiLM) before a
per-patch MLP scores them. Colour words and category words both matter ("the grey chair"
vs "the brown chair" in one room), so the instruction is embedded, not matched by name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from segpilot.errors import SegpilotError

WEIGHTS = "grounder.safetensors"
CONFIG = "grounder.json"


@dataclass(frozen=True)
class GrounderConfig:
    """Sizes of the grounding network (one field per entry of grounder.json)."""

    image_size: int = 64
    """Square input frame, pixels (the policy's image size)."""
    grid: int = 16
    """Patches per side of the score map (image_size / grid pixels per patch)."""
    width: int = 48
    """Channels of the stride-4 features."""
    embed_dim: int = 32
    """Word embedding size."""
    vocab: tuple[str, ...] = field(default=("<pad>", "<unk>"))
    """Instruction words; index 0 pads, 1 stands for unknown words."""

    def __post_init__(self) -> None:
        if self.image_size % self.grid or self.image_size // self.grid != 4:
            raise SegpilotError(f"the grounder scores 4 x 4 pixel patches: image_size must be 4 * grid, got "
                                f"{self.image_size} and {self.grid}")  # fmt: skip
        if self.width < 8 or self.embed_dim < 4 or len(self.vocab) < 2:
            raise SegpilotError(f"width >= 8, embed_dim >= 4 and a vocabulary with <pad> and <unk> expected, got "
                                f"{self.width}, {self.embed_dim}, {len(self.vocab)} words")  # fmt: skip


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(8, c_out), nn.SiLU())


class GoalGrounder(nn.Module):
    """(RGB, depth, instruction) -> (B, grid * grid) logits that each patch (row-major) shows the named object."""

    def __init__(self, config: GrounderConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.stem = nn.Sequential(_block(4, w // 2, 2), _block(w // 2, w, 2), _block(w, w, 1))  # stride 4
        self.context = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w, 1), nn.Conv2d(2 * w, w, 1))  # stride 8
        self.embed = nn.Embedding(len(config.vocab), config.embed_dim, padding_idx=0)
        self.film = nn.Linear(config.embed_dim, 2 * w)
        self.score = nn.Sequential(nn.Conv2d(w, w, 1), nn.SiLU(), nn.Conv2d(w, 1, 1))

    def encode_instruction(self, words: list[list[str]]) -> Tensor:
        """Word lists -> padded word ids (B, T)."""
        index = {x: i for i, x in enumerate(self.config.vocab)}
        if any(not ws for ws in words):
            raise SegpilotError("the instruction is empty")
        t = max(len(ws) for ws in words)
        ids = torch.zeros(len(words), t, dtype=torch.long)
        for b, ws in enumerate(words):
            ids[b, : len(ws)] = torch.tensor([index.get(x, 1) for x in ws])
        return ids

    def features(self, rgb: Tensor, depth: Tensor) -> Tensor:
        """Normalised RGB (B, 3, S, S) and depth (B, 1, S, S) (`data.to_inputs`) -> (B, width, grid, grid)."""
        s = self.config.image_size
        if rgb.shape[1:] != (3, s, s) or depth.shape[1:] != (1, s, s):
            raise SegpilotError(f"the grounder reads {s} x {s} frames, got RGB {tuple(rgb.shape)} and depth "
                                f"{tuple(depth.shape)}")  # fmt: skip
        x = self.stem(torch.cat([rgb, depth], 1))
        return x + nn.functional.interpolate(self.context(x), size=x.shape[-2:], mode="nearest")

    def scores(self, features: Tensor, word_ids: Tensor) -> Tensor:
        """Features (B, width, g, g) and word ids (B, T) -> logits (B, g * g)."""
        valid = (word_ids != 0).float()
        instruction = (self.embed(word_ids) * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
        gamma, beta = self.film(instruction)[..., None, None].chunk(2, dim=1)
        return self.score(features * (1 + gamma) + beta).flatten(1)

    def forward(self, rgb: Tensor, depth: Tensor, word_ids: Tensor) -> Tensor:
        return self.scores(self.features(rgb, depth), word_ids)


def save_grounder(model: GoalGrounder, folder: str | Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS))
    (folder / CONFIG).write_text(json.dumps({**asdict(model.config), "vocab": list(model.config.vocab)}, indent=1))


def load_grounder(folder: str | Path) -> GoalGrounder:
    """The grounder saved in `folder` (grounder.json + grounder.safetensors), in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG).exists() or not (folder / WEIGHTS).exists():
        raise SegpilotError(f"no goal grounder in {folder}: expected {CONFIG} and {WEIGHTS}")
    try:
        raw = json.loads((folder / CONFIG).read_text())
        config = GrounderConfig(**{**raw, "vocab": tuple(raw["vocab"])})
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise SegpilotError(f"{folder / CONFIG} is not a grounder config: {exc}") from None
    model = GoalGrounder(config)
    model.load_state_dict(load_file(str(folder / WEIGHTS)))
    return model.eval()
