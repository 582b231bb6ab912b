"""The CogVLA-style policy: EFA vision streams -> [visual, instruction, action placeholders] ->
LFP-routed Llama layers with CAtten -> MLP-ResNet action head, one forward pass per chunk.

Sizes are configuration (`VLAConfig`); the language layers are transformers'
`LlamaDecoderLayer`s with their rotary embedding, so the same code scales to a real LM's
width. Optional SeGPruner pre-selection (`memory_tokens` > 0): a running memory of the
episode's patch tokens with their 3D positions, pruned by SeGPruner to `memory_tokens` and
appended to the visual tokens with a sinusoidal embedding of their position in the current
camera frame - multi-view 3D memory, which none of the reference VLAs have (see `memory`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segpilot.errors import SegpilotError
from segpilot.policies.vla.configuration import VLAConfig  # noqa: F401 - re-exported
from segpilot.policies.vla.efa import EFAEncoder, StreamRouter, instruction_condition
from segpilot.policies.vla.grounding import GoalGrounder, GrounderConfig
from segpilot.policies.vla.head import MLPResNetHead
from segpilot.policies.vla.inputs import GoalInput, goal_input_size
from segpilot.policies.vla.lfp import RoutedLayer, additive, catten_mask, keep_counts
from segpilot.policies.vla.memory import MemoryEncoder
from segpilot.policies.vla.spaces import get_space


class CogVLAPolicy(nn.Module):
    """Observation + instruction -> one action chunk (logits or normalised values)."""

    def __init__(self, config: VLAConfig):
        super().__init__()
        from transformers import LlamaConfig
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding

        self.config = config
        self.space = get_space(config.action_space)
        h, d = config.lm_hidden, config.vision_hidden
        self.lm_config = LlamaConfig(hidden_size=h, intermediate_size=4 * h, num_hidden_layers=config.lm_layers,
                                     num_attention_heads=config.lm_heads, num_key_value_heads=config.lm_heads,
                                     vocab_size=len(config.vocab), max_position_embeddings=512)  # fmt: skip
        self.lm_config._attn_implementation = "sdpa"
        self.embed = nn.Embedding(len(config.vocab), h, padding_idx=0)
        args = (config.image_size, config.patch_size, d, config.vision_layers, max(1, d // 32),
                config.aggregation_tokens, h)  # fmt: skip
        self.streams = nn.ModuleList([EFAEncoder(3, *args), EFAEncoder(1, *args)])  # RGB, depth
        self.stream_router = StreamRouter(h, 2)
        self.visual_proj = nn.Linear(d, h)
        self.memory_proj = nn.Linear(d, h)
        self.layers = nn.ModuleList(
            RoutedLayer(LlamaDecoderLayer(self.lm_config, i), h) for i in range(config.lm_layers)
        )
        self.rotary = LlamaRotaryEmbedding(self.lm_config)
        self.norm = LlamaRMSNorm(h, eps=self.lm_config.rms_norm_eps)
        self.n_action = self.space.placeholders(config.chunk)
        self.action_queries = nn.Parameter(torch.randn(self.n_action, h) * 0.02)
        # The previous discrete action (+ "none"): one proprioception-like token after the instruction.
        self.previous_action = nn.Embedding(len(self.space.discrete) + 1 if self.space.discrete else 1, h)
        self.head = MLPResNetHead(h, self.space.head_outputs)
        # Auxiliary grounding probe: which RGB patches show the instructed object (training signal only).
        self.goal_probe = nn.Linear(d, 1)
        # The 3D goal belief's features -> added to the previous-action token; zero until trained
        # (`with_goal_belief`), so a policy given the belief starts exactly where it was.
        self.goal_embed = nn.Sequential(nn.Linear(goal_input_size(config), h), nn.SiLU(), nn.Linear(h, h)) \
            if config.goal_belief else None  # fmt: skip
        if config.goal_grounder:  # frozen; filled by `with_goal_belief`
            self.grounder = GoalGrounder(GrounderConfig(config.image_size, config.image_size // 4,
                                                        config.grounder_width, config.grounder_embed_dim,
                                                        config.vocab)).requires_grad_(False)  # fmt: skip
        if config.memory_tokens or config.goal_belief:  # frozen; filled by `with_memory` / `with_goal_belief`
            self.memory_encoder = MemoryEncoder(nn.Embedding(len(config.vocab), h, padding_idx=0),
                                                EFAEncoder(3, *args), nn.Linear(d, 1))  # fmt: skip

    def encode_instruction(self, words: list[list[str]]) -> tuple[Tensor, Tensor]:
        """Word ids (B, T) padded with 0, and their validity mask."""
        index = {w: i for i, w in enumerate(self.config.vocab)}
        t = self.config.max_instruction_words
        ids = torch.zeros(len(words), t, dtype=torch.long)
        for b, ws in enumerate(words):
            if not ws:
                raise SegpilotError("the instruction is empty")
            if len(ws) > t:
                raise SegpilotError(f"the instruction has {len(ws)} words; this policy reads at most {t}")
            ids[b, : len(ws)] = torch.tensor([index.get(w, 1) for w in ws])
        return ids, ids != 0

    def instruction_vector(self, words: Tensor, word_valid: Tensor) -> Tensor:
        """Mean embedding of the instruction's words (B, lm_hidden): the FiLM and router condition."""
        return instruction_condition(self.embed, words, word_valid)

    def forward(self, rgb: Tensor, depth: Tensor, words: Tensor, word_valid: Tensor, routing: bool = True,
                memory: Tensor | None = None, previous: Tensor | None = None,
                return_goal: bool = False,
                goal: GoalInput | None = None) -> Tensor | tuple[Tensor, Tensor]:  # fmt: skip
        """rgb (B, 3, S, S) and depth (B, 1, S, S) normalised; memory (B, M, vision_hidden) pre-selected
        memory tokens with their position embedding (required exactly when memory_tokens > 0); previous
        (B,) the action executed before (its last index = none); goal the goal inputs (`inputs.GoalInput`:
        the belief, and the plan for goal_plan policies; required exactly when goal_belief is set)
        -> (B, chunk * action_dim, head_outputs); with `return_goal` also the grounding probe's logits
        (B, P) of each RGB patch showing the instructed object."""
        s = self.config.image_size
        if rgb.shape[1:] != (3, s, s) or depth.shape[1:] != (1, s, s) or len(rgb) != len(depth):
            raise SegpilotError(f"images must be (B, 3, {s}, {s}) and (B, 1, {s}, {s}), got "
                                f"{tuple(rgb.shape)} and {tuple(depth.shape)}")  # fmt: skip
        m = self.config.memory_tokens
        expected = (len(rgb), m, self.config.vision_hidden)
        if (memory is None) != (m == 0) or (memory is not None and tuple(memory.shape) != expected):
            raise SegpilotError(f"this policy reads {m} memory tokens: memory must be "
                                f"{f'(B, {m}, {self.config.vision_hidden})' if m else 'None'}, got "
                                f"{None if memory is None else tuple(memory.shape)}")  # fmt: skip
        if (goal is None) == self.config.goal_belief:
            raise SegpilotError(f"this policy {'reads a' if self.config.goal_belief else 'has no'} goal belief: "
                                f"goal must be {'a GoalInput' if self.config.goal_belief else 'None'}")  # fmt: skip
        if goal is not None:
            if not isinstance(goal, GoalInput):
                raise SegpilotError(f"goal must be a GoalInput (named, shape-checked parts), got {type(goal).__name__}")
            goal.check(self.config, len(rgb))
        if previous is None:
            previous = torch.full((len(rgb),), self.previous_action.num_embeddings - 1, dtype=torch.long)
        state = self.previous_action(previous)  # the proprioception token: previous action (+ goal belief)
        if goal is not None:
            state = state + self.goal_embed(goal.vector().to(state.device))
        text = torch.cat([self.embed(words), state[:, None]], dim=1)
        instr = self.instruction_vector(words, word_valid)
        word_valid = torch.cat([word_valid.bool(), torch.ones(len(rgb), 1, dtype=torch.bool)], dim=1)
        valid = word_valid.to(text.dtype)[..., None]
        encoded = [enc(x, instr) for enc, x in zip(self.streams, (rgb, depth), strict=True)]
        visual = self.visual_proj(self.stream_router([e[0] for e in encoded], instr))
        if memory is not None:
            visual = torch.cat([visual, self.memory_proj(memory)], dim=1)
        b, nv, nt = len(rgb), visual.shape[1], text.shape[1]
        x = torch.cat([visual, text, self.action_queries.expand(b, -1, -1)], dim=1)
        key_valid = torch.cat([torch.ones(b, nv, dtype=torch.bool), word_valid.bool(),
                               torch.ones(b, self.n_action, dtype=torch.bool)], dim=1)  # fmt: skip
        mask = additive(catten_mask(nv + nt, self.n_action, key_valid), x.dtype)
        positions = torch.arange(x.shape[1])[None].expand(b, -1)
        cos, sin = self.rotary(x, positions)
        keeps = keep_counts(nv, len(self.layers), self.config.lfp_floor) if routing else [None] * len(self.layers)
        for layer, keep in zip(self.layers, keeps, strict=True):
            text_h = x[:, nv : nv + nt]
            text_mean = (text_h * valid).sum(1) / valid.sum(1).clamp(min=1)
            x = layer(x, mask, cos, sin, nv, keep, text_mean)
        actions = self.head(self.norm(x[:, -self.n_action : -1]))  # the last placeholder ends the chunk
        return (actions, self.goal_probe(encoded[0][1]).squeeze(-1)) if return_goal else actions


def _extend(policy: CogVLAPolicy, new_modules: tuple[str, ...], **changes) -> CogVLAPolicy:
    """A policy with `changes` to `policy`'s config and the same weights; its frozen encoder (memory and goal
    belief share one) is `policy`'s if it has one, else a frozen copy of `policy`'s embedding, RGB stream and
    grounding probe. Only the modules named in `new_modules` may be new."""
    from dataclasses import replace

    new = CogVLAPolicy(replace(policy.config, **changes))
    state = {k: v for k, v in policy.state_dict().items() if not k.startswith("memory_encoder.")}
    missing, unexpected = new.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(("memory_encoder.", *new_modules)) for k in missing):
        raise SegpilotError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    frozen = getattr(policy, "memory_encoder", None)
    new.memory_encoder = frozen if frozen is not None else MemoryEncoder.copy_of(policy)
    return new


def with_memory(policy: CogVLAPolicy, tokens: int, importance: float = 0.5) -> CogVLAPolicy:
    """`policy` with a SeGPruner memory of `tokens` tokens: the same weights plus a frozen copy of its
    embedding, RGB stream and grounding probe as the memory encoder (the memory projection starts at zero)."""
    new = _extend(policy, (), memory_tokens=tokens, memory_importance=importance)
    nn.init.zeros_(new.memory_proj.weight)  # the memory starts as a constant input: training begins at `policy`
    return new


def with_goal_belief(policy: CogVLAPolicy, grounder: GoalGrounder | None = None, plan: bool = False) -> CogVLAPolicy:
    """`policy` reading the 3D goal belief: the same weights, a frozen copy of its embedding, RGB stream and
    grounding probe as the belief's encoder (or the trained `grounder`, frozen, scoring the belief), with
    `plan` the floor-map path's next action, and a goal embedding whose output starts at zero (training
    begins at `policy`'s behaviour)."""
    if grounder is not None and (grounder.config.vocab != policy.config.vocab
                                 or grounder.config.image_size != policy.config.image_size):  # fmt: skip
        raise SegpilotError("the grounder was trained with another vocabulary or image size than the policy")
    sizes = {} if grounder is None else {"grounder_width": grounder.config.width,
                                         "grounder_embed_dim": grounder.config.embed_dim}  # fmt: skip
    new = _extend(policy, ("goal_embed.", "grounder."), goal_belief=True, goal_grounder=grounder is not None,
                  goal_plan=plan, **sizes)  # fmt: skip
    if grounder is not None:
        new.grounder.load_state_dict(grounder.state_dict())
    nn.init.zeros_(new.goal_embed[-1].weight)
    nn.init.zeros_(new.goal_embed[-1].bias)
    return new
