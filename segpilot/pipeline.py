"""The pruning pipeline shared by the CLI, the ROS nodes and batch evaluation.

frames --(view selection)--> views --(encoder)--> features, saliency
       --(depth, intrinsics, pose)--> per-patch world xyz      } VisualTokens
VisualTokens --(pruner.select(budget))--> kept indices
"""

from __future__ import annotations

import math
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import torch

from segpilot.config import build_config
from segpilot.errors import SegpilotError
from segpilot.geometry.frame import Frame, FrameSource
from segpilot.geometry.views import VIEW_SELECTIONS, select_max_coverage, select_uniform
from segpilot.perception.encoders.base import make_encoder
from segpilot.perception.pruning.base import Budget
from segpilot.perception.pruning.registry import available_pruners, make_pruner, method_config, method_configs
from segpilot.perception.tokenize import tokens_from_frames
from segpilot.perception.tokens import VisualTokens

DEFAULT_BUDGET_FRACTION = 0.09
"""Share of tokens kept when no budget is set (SeGPruner: 91% fewer visual tokens)."""
MAX_VIEWS = 256
"""Most views one question may encode (a bound on the work a single request can ask for)."""


@dataclass(frozen=True)
class PruneConfig:
    """What to prune and how (one field = one CLI flag = one ROS parameter)."""

    views: int = 12
    """Number of views taken from the scan."""
    view_selection: Literal["uniform", "coverage"] = "coverage"
    """How views are chosen: coverage (greedy voxel coverage: the embedded QA model is trained on these views, and
    12 of them show every object of 94% of its questions vs 61% for uniform) or uniform (SeGPruner's rule)."""
    coverage_voxel_m: float = 0.1
    """Voxel size in metres for coverage view selection."""
    encoder: str = "efficientnet-lite0"
    """Vision encoder: a registered name or a local CLIP/SigLIP checkpoint folder."""
    min_valid_fraction: float = 0.5
    """A patch gets a 3D position only if at least this share of its pixels has valid depth."""
    method: str = "segpruner"
    """Pruning method (see `segpilot prune --help` for the list)."""
    budget_fraction: float = 0.0
    """Share of all tokens kept, in (0, 1]; 0 = not set. With neither budget set, 0.09 (SeGPruner's 91% fewer
    tokens) applies."""
    budget_tokens: int = 0
    """Exact number of tokens kept; 0 = not set. Set at most one of budget_fraction and budget_tokens."""
    coverage_candidates: int = 300
    """coverage view selection over a scan: at most this many evenly strided frames are loaded."""
    device: str = "cpu"
    """Torch device for the encoder and the pruner."""
    method_params: tuple[tuple[str, Any], ...] = ()
    """Parameters of the pruning methods as ("<method>.<field>", value) pairs, e.g. ("segpruner.lam", 0.5): each
    method owns its config dataclass (`<Pruner>.Config`); the CLI flags (--segpruner.lam) and ROS parameters
    (segpruner.lam) are generated from it, so every parameter of every method is reachable."""

    def __post_init__(self) -> None:
        if self.coverage_candidates < 1:
            raise SegpilotError(f"coverage_candidates must be >= 1, got {self.coverage_candidates}")
        if not 1 <= self.views <= MAX_VIEWS:
            raise SegpilotError(f"views must lie in [1, {MAX_VIEWS}], got {self.views}")
        if self.view_selection not in VIEW_SELECTIONS:
            raise SegpilotError(
                f"view_selection must be one of {', '.join(VIEW_SELECTIONS)}, got {self.view_selection!r}"
            )
        if self.method not in available_pruners():
            raise SegpilotError(
                f"unknown pruning method {self.method!r}; expected one of {', '.join(available_pruners())}"
            )
        if not (math.isfinite(self.budget_fraction) and 0.0 <= self.budget_fraction <= 1.0):
            raise SegpilotError(f"budget_fraction must lie in (0, 1] (0 = not set), got {self.budget_fraction}")
        if self.budget_tokens < 0:
            raise SegpilotError(f"budget_tokens must be >= 1 (0 = not set), got {self.budget_tokens}")
        if self.budget_fraction > 0 and self.budget_tokens > 0:
            raise SegpilotError(f"set one budget, not both: budget_fraction {self.budget_fraction} and budget_tokens "
                                f"{self.budget_tokens}")  # fmt: skip
        params = dict(self.method_params)
        configs = method_configs()
        for key in params:
            method, _, name = key.partition(".")
            if method not in configs or name not in configs[method].__dataclass_fields__:
                known = ", ".join(f"{m}.{f}" for m, c in configs.items() for f in c.__dataclass_fields__)
                raise SegpilotError(f"unknown method parameter {key!r}; expected one of {known}")
        for method in configs:
            self.method_config(method)  # every given value is checked, not only the chosen method's
        make_pruner(self.method, **self.pruner_params())

    @property
    def budget_value(self) -> Budget:
        """The budget as the pruners take it: an int token count or a float fraction (`Pruner.select`)."""
        if self.budget_tokens > 0:
            return int(self.budget_tokens)
        return float(self.budget_fraction) if self.budget_fraction > 0 else DEFAULT_BUDGET_FRACTION

    def method_config(self, method: str | None = None):
        """The config dataclass instance of `method` (default: the chosen one) from `method_params`, or None."""
        method = method or self.method
        cls = method_config(method)
        if cls is None:
            return None
        prefix = f"{method}."
        return build_config(cls, {k[len(prefix):]: v for k, v in self.method_params if k.startswith(prefix)})

    def pruner_params(self) -> dict:
        """Keyword parameters of the chosen pruner (its config's fields)."""
        config = self.method_config()
        return {} if config is None else asdict(config)

    @staticmethod
    def extra_parameters() -> dict[str, tuple[Any, Any, str]]:
        """The dotted method parameters ("segpruner.lam") beside the fields: name -> (default, annotation, doc).
        ROS nodes declare them (`ros_nodes.base`), as the CLI adds their flags."""
        from segpilot.config import field_docs

        out = {}
        for method, cls in method_configs().items():
            docs, hints = field_docs(cls), typing.get_type_hints(cls)
            for f in fields(cls):
                out[f"{method}.{f.name}"] = (f.default, hints[f.name], f"{method}: {docs.get(f.name, '')}")
        return out

    @classmethod
    def from_params(cls, values: dict[str, Any]) -> PruneConfig:
        """From one flat dict of ROS parameters / flags, dotted method parameters included."""
        return prune_config(values)

    def with_method_params(self, **params) -> PruneConfig:
        """A copy with `method_params` updated from keyword pairs ("segpruner.lam"= written segpruner__lam)."""
        merged = {**dict(self.method_params), **{k.replace("__", "."): v for k, v in params.items()}}
        return replace(self, method_params=tuple(sorted(merged.items())))


def prune_config(*layers: dict[str, Any]) -> PruneConfig:
    """`PruneConfig` from layered flat dicts (later wins) whose dotted keys ("segpruner.lam") are method parameters."""
    plain: list[dict[str, Any]] = []
    method_params: dict[str, Any] = {}
    for layer in layers:
        plain.append({k: v for k, v in layer.items() if "." not in k and k != "method_params"})
        method_params.update({k: v for k, v in layer.items() if "." in k and v is not None})
    config = build_config(PruneConfig, *plain)
    return replace(config, method_params=tuple(sorted(method_params.items())))


@dataclass
class PruneResult:
    """Tokens, kept indices, the chosen views and per-stage wall times (seconds).

    `view_ids` are the chosen frames' ids: ScanNet frame numbers for `run_scene`, indices
    into the given sequence for `run`. Token view v comes from `views[v]`.
    """

    tokens: VisualTokens
    kept: torch.Tensor
    view_ids: list[int]
    views: list[Frame]
    timings: dict[str, float] = field(default_factory=dict)


def select_views(frames: Sequence[Frame], config: PruneConfig) -> list[int]:
    """Indices of the views `config` selects among frames already in memory."""
    if config.view_selection == "coverage":
        return select_max_coverage(frames, config.views, config.coverage_voxel_m)
    return select_uniform(len(frames), config.views)


def load_views(scene: FrameSource, config: PruneConfig) -> tuple[list[int], list[Frame]]:
    """Frame ids and frames of the views `config` selects, reading only what selection needs.

    A ScanNet scan has thousands of frames; uniform selection loads just the chosen ones,
    coverage selection at most `coverage_candidates` evenly strided ones.
    """
    ids = scene.valid_frame_ids()
    if not ids:
        raise SegpilotError(f"scene {scene.scene_id} has no frames with a valid pose")
    if config.view_selection == "uniform":
        chosen = [ids[i] for i in select_uniform(len(ids), config.views)]
        return chosen, scene.frames(chosen)
    candidates = ids[:: max(1, math.ceil(len(ids) / config.coverage_candidates))]
    depth_only = getattr(scene, "depth_only_frames", False)  # coverage reads depth and poses, not colour
    frames = scene.frames(candidates, rgb=False) if depth_only else scene.frames(candidates)
    picked = select_max_coverage(frames, config.views, config.coverage_voxel_m)
    chosen = [candidates[i] for i in picked]
    return chosen, scene.frames(chosen) if depth_only else [frames[i] for i in picked]


class PrunePipeline:
    """Holds the tokenizer and the pruner; `run` is the whole data flow for one scan.

    `tokenize` turns the chosen views into `VisualTokens`: by default `config.encoder` with
    `tokens_from_frames`; a VLM adapter passes its own `encode` (its vision tower, with the projector
    for the kept tokens' LM embeddings), so QA runs this same pipeline (`policies.qa.QAPipeline`)."""

    def __init__(self, config: PruneConfig, tokenize: Callable[[Sequence[Frame]], VisualTokens] | None = None):
        self.config = config
        if tokenize is None:
            self.encoder = make_encoder(config.encoder, device=config.device)
            tokenize = lambda views: tokens_from_frames(views, self.encoder, config.min_valid_fraction)  # noqa: E731
        self.tokenize = tokenize
        self.pruner = make_pruner(config.method, **config.pruner_params())

    def select_views(self, frames: Sequence[Frame]) -> list[int]:
        return select_views(frames, self.config)

    def run(self, frames: Sequence[Frame]) -> PruneResult:
        """Select views among `frames` (already in memory, e.g. a ROS keyframe buffer) and prune."""
        if not frames:
            raise SegpilotError("the scan has no frames with a valid pose")
        t0 = time.perf_counter()
        chosen = self.select_views(frames)
        return self._run_views(chosen, [frames[i] for i in chosen], time.perf_counter() - t0)

    def run_scene(self, scene: FrameSource) -> PruneResult:
        """Like `run`, but reads from disk only the frames that view selection needs."""
        t0 = time.perf_counter()
        chosen, views = load_views(scene, self.config)
        return self._run_views(chosen, views, time.perf_counter() - t0)

    def _run_views(self, view_ids: list[int], views: list[Frame], select_s: float) -> PruneResult:
        t1 = time.perf_counter()
        tokens = self.tokenize(views).to(self.config.device)
        t2 = time.perf_counter()
        kept = self.pruner.select(tokens, self.config.budget_value)
        t3 = time.perf_counter()
        timings = {"select_views": select_s, "encode": t2 - t1, "prune": t3 - t2}
        return PruneResult(tokens, kept, view_ids, views, timings)

    def describe(self) -> dict:
        return asdict(self.config)
