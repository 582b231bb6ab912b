"""SeGPruner 3D token memory: what the VLA has seen, pruned to a fixed number of tokens.

A camera policy whose only memory is its last action forgets the goal as soon as it turns
away from it: after the look-around it cannot tell where the sofa it saw was. The memory
keeps `memory_tokens` patch tokens of everything seen in the episode with their world
positions. Each step, the tokens in memory and the current frame's patch tokens are pruned
together by SeGPruner (global mode): `memory_importance` of the budget goes to the most
salient tokens - saliency is the grounding probe's score of a patch showing the instructed
object, so the goal stays in memory once seen - and the rest to 3D + feature diversity, a
coarse map of where the agent has looked. The policy reads the kept tokens with a sinusoidal
embedding of their position in the current camera frame (metres), i.e. where the goal is
relative to the agent now.

The tokens come from `MemoryEncoder`: a frozen copy of a trained policy's instruction
embedding, RGB stream and grounding probe. Frozen, so the memory of a demonstration step can
be computed once when the demonstration is recorded (the running memory is sequential and
could not be recomputed per training batch), and is the same memory the deployed policy
builds.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn

from segpilot.errors import SegpilotError


class MemoryEncoder(nn.Module):
    """Frozen instruction embedding + RGB EFA stream + grounding probe -> patch tokens and their saliency."""

    def __init__(self, embed: nn.Embedding, stream: nn.Module, probe: nn.Linear):
        super().__init__()
        self.embed, self.stream, self.probe = embed, stream, probe
        self.requires_grad_(False)

    @classmethod
    def copy_of(cls, policy) -> MemoryEncoder:
        """Frozen copies of `policy`'s embedding, RGB stream and goal probe (a policy trained with grounding)."""
        return cls(copy.deepcopy(policy.embed), copy.deepcopy(policy.streams[0]), copy.deepcopy(policy.goal_probe))

    @torch.no_grad()
    def forward(self, rgb: Tensor, words: Tensor, word_valid: Tensor) -> tuple[Tensor, Tensor]:
        """rgb (B, 3, S, S) normalised -> patch tokens (B, P, D) and saliency logits (B, P)."""
        from segpilot.policies.vla.efa import instruction_condition

        patches = self.stream(rgb, instruction_condition(self.embed, words, word_valid))[1]
        return patches, self.probe(patches).squeeze(-1)


class TokenMemory:
    """One episode's running memory: `size` tokens (features, saliency, world xyz), pruned by SeGPruner."""

    def __init__(self, size: int, importance: float):
        from segpilot.perception.pruning.registry import make_pruner

        if size < 1:
            raise SegpilotError(f"memory size must be >= 1 token, got {size}")
        self.size = size
        self.pruner = make_pruner("segpruner", mode="global", importance_ratio=importance)
        self.features = self.saliency = self.xyz = None

    def update(self, features: Tensor, saliency: Tensor, xyz_world: Tensor) -> None:
        """Add one frame's patch tokens (P, D), (P,), (P, 3) world metres (NaN = no depth) and prune to `size`."""
        from segpilot.perception.tokens import VisualTokens

        if self.features is not None:
            features = torch.cat([self.features, features])
            saliency = torch.cat([self.saliency, saliency])
            xyz_world = torch.cat([self.xyz, xyz_world])
        n = len(features)
        tokens = VisualTokens(features.float(), saliency.float(), xyz_world.float(), torch.zeros(n, dtype=torch.long),
                              torch.zeros(n, dtype=torch.long), (1, 1))  # fmt: skip
        keep = self.pruner.select(tokens, self.size) if n > self.size else torch.arange(n)
        self.features, self.saliency, self.xyz = features[keep], saliency[keep], xyz_world[keep]

    def inputs(self, T_world_cam: np.ndarray) -> Tensor:  # noqa: N803
        """(size, D) the policy's memory input: features + sinusoidal embedding of the camera-frame position."""
        from segpilot.geometry.conventions import invert_pose
        from segpilot.geometry.unproject import transform_points
        from segpilot.policies.qa.position3d import sinusoidal_xyz

        if self.features is None:
            raise SegpilotError("the memory is empty: update it with the current frame first")
        if len(self.features) < self.size:
            raise SegpilotError(f"the memory holds {len(self.features)} tokens; a frame of at least {self.size} "
                                f"patches is needed")  # fmt: skip
        local = torch.from_numpy(transform_points(invert_pose(T_world_cam), self.xyz.double().numpy())).float()
        return self.features.float() + sinusoidal_xyz(local, self.features.shape[-1])


def encode_frames(policy, frames: list, words: Tensor, word_valid: Tensor) -> tuple[Tensor, Tensor]:
    """Frames (any size) -> the memory encoder's patch tokens (B, P, D) and saliency (B, P), one batch."""
    from segpilot.policies.vla.processor import resize_frame, to_inputs

    size = policy.config.image_size
    resized = [resize_frame(f.rgb, f.depth, size)[0] for f in frames]
    rgb, _ = to_inputs(np.stack(resized), np.zeros((len(frames), size, size), np.float32))
    return policy.memory_encoder(rgb, words.expand(len(frames), -1), word_valid.expand(len(frames), -1))


def patch_positions(policy, frame) -> np.ndarray:
    """World position (P, 3) of each of the policy's patches in `frame` (any size; NaN without depth)."""
    from segpilot.geometry.unproject import patch_xyz

    grid = policy.config.image_size // policy.config.patch_size
    return patch_xyz(frame.depth, frame.camera, frame.T_world_cam, (grid, grid))


def _add(policy, memory: TokenMemory, frame, patches: Tensor, saliency: Tensor) -> Tensor:
    memory.update(patches, saliency, torch.from_numpy(patch_positions(policy, frame)))
    return memory.inputs(frame.T_world_cam)


def observe(policy, memories: list[TokenMemory], frames: list, words: Tensor, word_valid: Tensor) -> Tensor:
    """Update each episode's memory with its current frame (batched encoding) -> memory inputs (B, size, D)."""
    patches, saliency = encode_frames(policy, frames, words, word_valid)
    return torch.stack([_add(policy, m, f, p, s) for m, f, p, s in zip(memories, frames, patches, saliency,
                                                                        strict=True)])  # fmt: skip


def replay(policy, memory: TokenMemory, frames: list, words: Tensor, word_valid: Tensor, batch: int = 64) -> Tensor:
    """One episode's frames in order (words (1, T)) -> the memory input at every step (T, size, D).

    The same as `observe` step by step, with the encoder batched over the episode: how the
    demonstrations, recorded without the policy in the loop, get their memory."""
    out = []
    for i in range(0, len(frames), batch):
        patches, saliency = encode_frames(policy, frames[i : i + batch], words, word_valid)
        out += [_add(policy, memory, f, p, s) for f, p, s in zip(frames[i : i + batch], patches, saliency,
                                                                 strict=True)]  # fmt: skip
    return torch.stack(out)
