from __future__ import annotations

import pytest

from segpilot.errors import SegpilotError
from segpilot.perception.pruning.registry import available_pruners, make_pruner, register_pruner


def test_builtins_listed():
    assert {"segpruner", "random", "uniform", "saliency", "divprune", "fps3d", "kcenter", "mmr"} <= set(
        available_pruners()
    )


def test_duplicate_name_refused():
    make_pruner("random")  # make sure the built-in is registered
    with pytest.raises(SegpilotError, match="already registered"):

        @register_pruner("random")
        class Clash:  # pragma: no cover - never instantiated
            pass


def test_unknown_name_names_the_choices():
    with pytest.raises(SegpilotError, match="unknown pruning method 'nope'.*segpruner"):
        make_pruner("nope")


def test_bad_parameters_are_one_clear_error():
    with pytest.raises(SegpilotError, match="mode must be one of"):
        make_pruner("segpruner", mode="sideways")
    with pytest.raises(SegpilotError, match="lam must lie in"):
        make_pruner("segpruner", lam=2.0)
    with pytest.raises(SegpilotError, match="bad parameters for pruner 'random'"):
        make_pruner("random", colour="red")
