"""VLA demonstrations: the look-around expert labels episodes in generated rooms (the simulator), stacked into
`Demos` for behaviour cloning and DAgger."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor

from segpilot.nav.base import AgentPose, SimConfig
from segpilot.policies.vla.data import (  # noqa: F401 - the constants the demonstrations share with the model
    NAV_GOAL_CATEGORIES,
    PLAN_TRUST_M,
    PREVIOUS_NONE,
    SEEN_SHARE,
    STOP_MARGIN_M,
    Demos,
    concat,
    instruction_vocab,
    patch_coverage,
    vla_sim_config,
    words_of,
)
from segpilot.policies.vla.processor import to_inputs  # noqa: F401
from segpilot.policies.vla.spaces import DISCRETE_NAV_ACTIONS


class NoisyExpert:
    """Executes the expert's action, or with probability `noise` a random move (DART)."""

    def __init__(self, noise: float, seed: int):
        self.noise, self.rng = noise, np.random.default_rng(seed)

    def act(self, observation, expert_action: str) -> str:
        if expert_action != "stop" and self.rng.random() < self.noise:
            return DISCRETE_NAV_ACTIONS[int(self.rng.integers(1, 4))]
        return expert_action


PLAN_READER = SimpleNamespace(goal_belief=True, goal_plan=True)
"""The goal specs of a policy that reads the plan (plan labels need one): how its stored goal rows split."""


class LabelledEpisode:
    """One episode in a room's simulator, labelled step by step by the look-around expert.

    `label()` records the current observation with the expert's action there; `advance(action)`
    executes whichever action the driver chose. The expert first turns left until the goal is
    in view (at least `SEEN_SHARE` of the image; after one full turn it goes anyway), then
    follows the shortest path and stops `STOP_MARGIN_M` inside the success distance (0.15 m
    where the goal's surroundings leave no closer reachable cell). Shared by the demonstrations
    and DAgger's batched rollouts.
    """

    def __init__(self, sim, episode, patch_size: int, max_steps: int | None = None, memory=None, belief=None,
                 plan_labels: bool = False):  # fmt: skip
        from segpilot.nav.planning import ShortestPathExpert, distance_field, goal_region

        self.sim, self.episode, self.patch_size = sim, episode, patch_size
        self.goal = episode.goals[0]
        self.obs = self.sim.reset(episode.start_pose)
        for margin in (STOP_MARGIN_M, 0.15):  # closer if the goal's surroundings allow it
            region = goal_region(self.sim.grid, self.goal["bbox_min"], self.goal["bbox_max"],
                                 episode.success_distance - margin)  # fmt: skip
            self.expert = ShortestPathExpert(self.sim.grid, distance_field(self.sim.grid, region), self.sim.config)
            if np.isfinite(self.expert.value(self.obs.pose.x, self.obs.pose.y)):
                break
        self.expert.reset()
        self.limit = min(episode.max_steps, max_steps or episode.max_steps)
        self.full_turn = int(np.ceil(360.0 / self.sim.config.turn_step_deg))
        self.seen, self.before, self.done = False, PREVIOUS_NONE, False
        self.rgb: list = []
        self.depth: list = []
        self.previous: list[int] = []
        self.steps: list[int] = []
        self.goal_patches: list = []
        self.token_memory = memory  # the episode's `memory.TokenMemory` when the policy has one
        self.memory: list = []
        self.goal_belief = belief  # the episode's `goal_belief.GoalBelief` when the policy reads one
        self.goal_inputs: list = []
        self.plan_labels = plan_labels
        self.cameras: list = []

    def label(self, memory: Tensor | None = None, goal_input: Tensor | None = None) -> str:
        """Record the current observation (and the policy's memory and goal inputs there) and return the
        expert's action."""
        goal = self.obs.object_ids == self.goal["object_id"]
        t = len(self.steps)
        self.seen = self.seen or t >= self.full_turn or np.count_nonzero(goal) >= SEEN_SHARE * goal.size
        action = self.expert.act(self.obs) if self.seen else "turn_left"
        self.goal_patches.append(patch_coverage(goal, self.patch_size).astype(np.float16))
        if memory is not None:
            self.memory.append(memory.numpy().astype(np.float16))
        self.cameras.append(self.obs.frame.T_world_cam)
        if goal_input is not None:  # stored as the goal embedding's input row (GoalInput.vector)
            self.goal_inputs.append(goal_input.vector().numpy().astype(np.float32))
            action = self._plan_label(len(self.steps), action)
        self.previous.append(self.before)
        self.rgb.append(self.obs.frame.rgb)
        self.depth.append(self.obs.frame.depth.astype(np.float16))
        self.steps.append(DISCRETE_NAV_ACTIONS.index(action))
        return action

    def _plan_label(self, t: int, action: str) -> str:
        """With `plan_labels`, the floor-map plan's action at step t where the plan exists and the belief's estimate
        lies on the goal (within PLAN_TRUST_M of its footprint); else `action` (the expert's)."""
        from segpilot.nav.planning import footprint_distance
        from segpilot.policies.vla.goal_belief import PLAN_ACTIONS, RANGE_M
        from segpilot.policies.vla.inputs import GoalInput

        if not self.plan_labels or t >= len(self.goal_inputs):
            return action
        g = GoalInput.from_vector(PLAN_READER, self.goal_inputs[t])  # plan labels need a goal_plan policy
        belief, plan = g.belief.numpy(), None if g.plan is None else g.plan.numpy()
        if plan is None or belief[0] < 1 or plan[0] < 1:  # no estimate, or no path to it
            return action
        T = self.cameras[t]
        heading = T[:2, 2] / np.linalg.norm(T[:2, 2])
        x, y = T[:2, 3] + RANGE_M * (belief[1] * heading + belief[2] * np.array([-heading[1], heading[0]]))
        if footprint_distance(AgentPose(x, y, 0.0), self.goal["bbox_min"], self.goal["bbox_max"]) > PLAN_TRUST_M:
            return action
        return PLAN_ACTIONS[int(np.argmax(plan[1:5]))]

    def relabel_with_plan(self) -> None:
        """Apply `_plan_label` to every step once the goal inputs are known (demonstrations replay them after the
        episode)."""
        self.steps = [DISCRETE_NAV_ACTIONS.index(self._plan_label(t, DISCRETE_NAV_ACTIONS[a]))
                      for t, a in enumerate(self.steps)]  # fmt: skip

    def advance(self, action: str) -> None:
        """Execute `action`; the episode ends at stop or the step limit."""
        if action == "stop" or len(self.steps) >= self.limit:
            self.done = True
            return
        self.obs = self.sim.step(action)
        self.before = DISCRETE_NAV_ACTIONS.index(action)

    def chunk_labels(self, chunk: int) -> list[list[int]]:
        """The expert's labels at the next `chunk` states actually visited (stop after the end)."""
        padded = self.steps + [DISCRETE_NAV_ACTIONS.index("stop")] * chunk
        return [padded[i : i + chunk] for i in range(len(self.steps))]


def rooms(n_rooms: int, seed: int, per_room: int, image_size: int,
          camera_pitch_deg: float = SimConfig.camera_pitch_deg):  # fmt: skip
    """(room index, simulator, navigation episodes) for rooms seed .. seed + n_rooms - 1 (close the simulator)."""
    from segpilot.sim.embedded import EmbeddedSimulator
    from segpilot.sim.episodes import make_nav_episodes
    from segpilot.sim.scenes import generate_scene

    for r in range(n_rooms):
        scene = generate_scene(seed + r)
        sim = EmbeddedSimulator(scene, vla_sim_config(image_size, camera_pitch_deg))
        yield r, sim, make_nav_episodes(scene, sim.grid, per_room, seed + r, categories=NAV_GOAL_CATEGORIES)


def stack_episodes(episodes: list[LabelledEpisode], chunk: int, seed: int, n_rooms: int, noise: float,
                   ) -> tuple[Demos, dict]:  # fmt: skip
    """Finished episodes (in episode order) -> Demos and a summary."""
    demos = Demos(
        np.stack([x for e in episodes for x in e.rgb]),
        np.stack([x for e in episodes for x in e.depth]),
        [e.episode.instruction for e in episodes for _ in e.steps],
        np.asarray([c for e in episodes for c in e.chunk_labels(chunk)], dtype=np.int64),
        np.asarray([x for e in episodes for x in e.previous], dtype=np.int64),
        np.asarray([i for i, e in enumerate(episodes) for _ in e.steps]),
        np.stack([x for e in episodes for x in e.goal_patches]),
        np.stack([x for e in episodes for x in e.memory]) if episodes and episodes[0].memory else None,
        np.stack([x for e in episodes for x in e.goal_inputs]) if episodes and episodes[0].goal_inputs else None,
    )
    counts = np.bincount(demos.actions[:, 0], minlength=len(DISCRETE_NAV_ACTIONS))
    n = len(demos.actions)
    summary = {"rooms": n_rooms, "seed": seed, "episodes": len(episodes), "steps": n, "noise": noise,
               "action_share": {a: round(float(c) / max(1, n), 4)
                                for a, c in zip(DISCRETE_NAV_ACTIONS, counts, strict=True)}}  # fmt: skip
    return demos, summary


def collect(n_rooms: int, seed: int, image_size: int, chunk: int, per_room: int = 6, noise: float = 0.15,
            progress: bool = False, patch_size: int = 8, policy=None,
            camera_pitch_deg: float = SimConfig.camera_pitch_deg, plan_labels: bool = False,
            ) -> tuple[Demos, dict]:  # fmt: skip
    """Expert episodes (DART noise) in rooms seed .. seed + n_rooms - 1; returns the demos and a summary.

    With a `policy` that has a token memory or reads the goal belief, every step also records the memory
    and goal inputs it would see."""
    from segpilot.policies.vla.goal_belief import new_belief, replay_goal
    from segpilot.policies.vla.memory import TokenMemory, replay

    driver = NoisyExpert(noise, seed)
    done: list[LabelledEpisode] = []
    size = policy.config.memory_tokens if policy is not None else 0
    belief = policy is not None and policy.config.goal_belief
    for r, sim, episodes in rooms(n_rooms, seed, per_room, image_size, camera_pitch_deg):
        for ep in episodes:
            memory = TokenMemory(size, policy.config.memory_importance) if size else None
            episode = LabelledEpisode(sim, ep, patch_size, memory=memory, plan_labels=plan_labels)
            frames = []
            while not episode.done:
                frames.append(episode.obs.frame)
                episode.advance(driver.act(episode.obs, episode.label()))
            words = policy.encode_instruction([words_of(ep.instruction)]) if policy is not None else None
            with torch.inference_mode():
                if size:
                    episode.memory = list(replay(policy, memory, frames, *words).numpy().astype(np.float16))
                if belief:
                    episode.goal_inputs = list(replay_goal(policy, new_belief(policy.config), frames, *words))
                    episode.relabel_with_plan()
            done.append(episode)
        sim.close()
        if progress and (r + 1) % 20 == 0:
            print(f"rooms {r + 1}/{n_rooms}: {sum(len(e.steps) for e in done)} steps", flush=True)
    return stack_episodes(done, chunk, seed, n_rooms, noise)
