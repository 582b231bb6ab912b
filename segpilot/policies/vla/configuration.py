"""Configuration of a VLA policy (lerobot's split: configuration apart from modeling): sizes, action space,
routing, inputs and the camera it expects; saved as config.json beside the weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from segpilot.errors import SegpilotError
from segpilot.nav.base import DEFAULT_CAMERA_PITCH_DEG, CameraConfig
from segpilot.policies.vla.spaces import get_space

VLA_HFOV_DEG = 90.0
"""Horizontal field of view of the VLA's camera (Habitat's default), degrees."""


def vla_camera(image_size: int, camera_pitch_deg: float = DEFAULT_CAMERA_PITCH_DEG) -> CameraConfig:
    """The camera of a VLA policy: square `image_size` images, a 90-degree pinhole field of view, the default mount
    height, pitched by `camera_pitch_deg`."""
    return CameraConfig(width=image_size, height=image_size, hfov_deg=VLA_HFOV_DEG, pitch_deg=camera_pitch_deg)


@dataclass(frozen=True)
class VLAConfig:
    """Sizes, action space and routing of a VLA policy (saved as config.json beside the weights)."""

    image_size: int = 64
    """Square input size of both vision streams (RGB and depth), pixels."""
    patch_size: int = 8
    """ViT patch size, pixels."""
    vision_hidden: int = 96
    """Vision stream width."""
    vision_layers: int = 2
    """Vision stream depth (each block followed by instruction FiLM)."""
    aggregation_tokens: int = 16
    """EFA aggregation tokens per stream: the only tokens that leave the encoder."""
    lm_hidden: int = 128
    """Language model width."""
    lm_layers: int = 4
    """Language model depth (Llama decoder layers)."""
    lm_heads: int = 4
    """Attention heads of the language model."""
    action_space: str = "discrete_nav"
    """discrete_nav, base_velocity or ee_delta_7d (see policies.vla.spaces)."""
    chunk: int = 4
    """Actions per chunk (decoded in one forward pass)."""
    lfp_floor: float = 0.15
    """Lowest share of visual tokens an LFP-routed layer keeps."""
    memory_tokens: int = 0
    """Size of the SeGPruner 3D token memory appended to the visual tokens (0 = off; at most the patches
    of one frame)."""
    memory_importance: float = 0.5
    """Share of the memory kept by saliency (the grounding probe's goal score); the rest by 3D + feature
    diversity (SeGPruner's importance_ratio)."""
    goal_belief: bool = False
    """Read the 3D goal belief (see `goal_belief`), added to the previous-action token: where a frozen grounding
    probe has seen the instructed object, relative to the agent now."""
    goal_grounder: bool = False
    """Score the goal belief with the separate grounding network (`grounding`, frozen, its weights under
    `grounder.`) instead of the frozen probe (needs goal_belief)."""
    grounder_width: int = 48
    """Channels of the goal grounder (`grounding.GrounderConfig.width`)."""
    grounder_embed_dim: int = 32
    """Word embedding size of the goal grounder."""
    goal_plan: bool = False
    """The goal input also carries the next action of the shortest path on the agent's own depth floor map
    towards the belief's estimate (`floor_map`); the policy still decides (needs goal_belief)."""
    max_instruction_words: int = 8
    """Instruction length the model reads (longer instructions are an error)."""
    camera_pitch_deg: float = DEFAULT_CAMERA_PITCH_DEG
    """Pitch of the camera the policy was trained with, degrees (negative looks down): square images of a
    90-degree pinhole camera 1.25 m above the floor. Every backend (embedded, Habitat, ROS sim_bridge) must
    render with it; a robot's camera should match it."""
    vocab: tuple[str, ...] = field(default=("<pad>", "<unk>"))
    """Instruction words; index 0 pads, index 1 is unknown."""

    def __post_init__(self) -> None:
        get_space(self.action_space)
        if (self.goal_grounder or self.goal_plan) and not self.goal_belief:
            raise SegpilotError("goal_grounder and goal_plan refine the goal belief: they need goal_belief")
        if self.goal_grounder and self.image_size % 4:
            raise SegpilotError(f"the goal grounder scores 4 x 4 pixel patches: image_size {self.image_size} must "
                                "be a multiple of 4")  # fmt: skip
        if self.image_size % self.patch_size:
            raise SegpilotError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        if self.chunk < 1 or self.lm_layers < 1 or self.aggregation_tokens < 1 or not 0 < self.lfp_floor <= 1:
            raise SegpilotError("chunk, lm_layers and aggregation_tokens must be >= 1 and lfp_floor in (0, 1]")
        self.camera  # noqa: B018 - the camera every backend renders: checked by CameraConfig
        n_patches = (self.image_size // self.patch_size) ** 2
        if not 0 <= self.memory_tokens <= n_patches or not 0 <= self.memory_importance <= 1:
            raise SegpilotError(
                f"memory_tokens must lie in 0..{n_patches} (the patches of one frame) and "
                f"memory_importance in [0, 1], got {self.memory_tokens} and {self.memory_importance}"
            )

    @property
    def camera(self) -> CameraConfig:
        """The camera this policy was trained with and every backend must render for it (`vla_camera`)."""
        return vla_camera(self.image_size, self.camera_pitch_deg)

    @property
    def n_visual(self) -> int:
        """Visual tokens the language model reads: the aggregation tokens plus the memory."""
        return self.aggregation_tokens + self.memory_tokens

    def to_dict(self) -> dict:
        return {**asdict(self), "vocab": list(self.vocab)}
