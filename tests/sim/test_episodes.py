from __future__ import annotations

import math

import numpy as np
import pytest

from segpilot.errors import SegpilotError
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.episodes import load_episodes, make_nav_episodes, run_nav_episode, save_episodes
from segpilot.sim.planning import ShortestPathExpert, distance_field, goal_region, traversable
from segpilot.sim.scenes import generate_scene


def _expert(sim, ep):
    g = ep.goals[0]
    field = distance_field(sim.grid, goal_region(sim.grid, g["bbox_min"], g["bbox_max"], ep.success_distance - 0.15))
    return ShortestPathExpert(sim.grid, field, sim.config)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expert_reaches_every_goal(seed):
    scene = generate_scene(100 + seed)
    sim = EmbeddedSimulator(scene)
    episodes = make_nav_episodes(scene, sim.grid, 3, seed)
    assert len(episodes) == 3
    for ep in episodes:
        assert ep.instruction.startswith(("find the", "go to the"))
        res = run_nav_episode(sim, _expert(sim, ep), ep)
        assert res.success, res
        assert res.collisions == 0 and 0.8 < res.spl <= 1.0
        assert res.distance_to_goal <= ep.success_distance


def test_distance_field_is_geodesic():
    scene = generate_scene(7)
    sim = EmbeddedSimulator(scene)
    goal = np.zeros(sim.grid.shape, bool)
    r, c = np.argwhere(~sim.grid.blocked)[0]
    goal[r, c] = True
    field = distance_field(sim.grid, goal)
    assert field[r, c] == 0.0
    free = np.argwhere(np.isfinite(field))
    rr, cc = free[-1]
    straight = sim.grid.resolution * math.hypot(rr - r, cc - c)
    assert field[rr, cc] >= straight - 1e-9  # never shorter than the straight line
    assert np.isinf(field[sim.grid.blocked]).all()


def test_planner_avoids_gaps_the_agent_cannot_thread():
    class Grid:  # two rooms joined by a one-cell gap and by a five-cell corridor
        resolution = 0.05
        blocked = np.zeros((30, 30), bool)

    Grid.blocked[:, 14:16] = True
    Grid.blocked[5, 14:16] = False  # one cell wide
    assert not traversable(Grid)[5, 14:16].any()
    goal = np.zeros((30, 30), bool)
    goal[5, 25] = True
    assert np.isinf(distance_field(Grid, goal)[5, 3])  # only the gap joined the rooms
    Grid.blocked[20:25, 14:16] = False  # five cells wide
    assert traversable(Grid)[20:25, 14:16].all()
    assert np.isfinite(distance_field(Grid, goal)[5, 3])


def test_expert_is_not_stuck_where_the_grid_path_squeezes_through_a_gap():
    # Room 20000's first furniture episode: the 8-connected path led through a one-cell gap and
    # the expert turned in place until the step limit.
    scene = generate_scene(20000)
    sim = EmbeddedSimulator(scene)
    ep = make_nav_episodes(scene, sim.grid, 1, 20000, categories=("table", "chair", "sofa", "bed", "shelf", "cabinet"))[
        0
    ]
    assert run_nav_episode(sim, _expert(sim, ep), ep).success


def test_metrics_of_a_failed_episode():
    scene = generate_scene(3)
    sim = EmbeddedSimulator(scene)
    ep = make_nav_episodes(scene, sim.grid, 1, 0)[0]

    class Stopper:
        def reset(self):
            pass

        def act(self, obs):
            return "stop"

    res = run_nav_episode(sim, Stopper(), ep)
    assert not res.success and res.spl == 0.0 and res.steps == 1


def test_episode_files_round_trip(tmp_path):
    scene = generate_scene(4)
    sim = EmbeddedSimulator(scene)
    eps = make_nav_episodes(scene, sim.grid, 2, 0)
    save_episodes(tmp_path / "e.json", eps)
    back = load_episodes(tmp_path / "e.json")
    assert back == eps
    (tmp_path / "bad.json").write_text('{"schema_version": 1, "episodes": [{"nope": 1}]}')
    with pytest.raises(SegpilotError, match="not a segpilot episode file"):
        load_episodes(tmp_path / "bad.json")
