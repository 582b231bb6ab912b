"""Registry of pruning methods by name (lerobot-style factory, duplicates refused).

Built-in methods are imported lazily on first use, so `import segpilot` stays light and a
broken optional method cannot break the others. Third-party methods register with
`@register_pruner("name")` on a class whose constructor takes keyword parameters.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from segpilot.errors import SegpilotError
from segpilot.perception.pruning.base import Pruner

_BUILTIN_MODULES = {
    "segpruner": "segpilot.perception.pruning.segpruner",
    "random": "segpilot.perception.pruning.baselines",
    "uniform": "segpilot.perception.pruning.baselines",
    "saliency": "segpilot.perception.pruning.baselines",
    "divprune": "segpilot.perception.pruning.diversity",
    "fps3d": "segpilot.perception.pruning.diversity",
    "kcenter": "segpilot.perception.pruning.diversity",
    "mmr": "segpilot.perception.pruning.diversity",
}
_REGISTRY: dict[str, Callable[..., Pruner]] = {}


def register_pruner(name: str) -> Callable[[Callable[..., Pruner]], Callable[..., Pruner]]:
    """Class decorator registering a pruner factory under `name`; a taken name is an error."""

    def decorate(factory: Callable[..., Pruner]) -> Callable[..., Pruner]:
        if name in _REGISTRY:
            raise SegpilotError(f"a pruner named {name!r} is already registered ({_REGISTRY[name]!r})")
        _REGISTRY[name] = factory
        return factory

    return decorate


def available_pruners() -> list[str]:
    """All pruner names: built-ins and anything registered so far, sorted."""
    return sorted(set(_BUILTIN_MODULES) | set(_REGISTRY))


def make_pruner(name: str, **params: Any) -> Pruner:
    """Instantiate the pruner `name` with keyword `params` (validated by its config)."""
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise SegpilotError(f"unknown pruning method {name!r}; expected one of {', '.join(available_pruners())}")
    try:
        return _REGISTRY[name](**params)
    except TypeError as exc:
        raise SegpilotError(f"bad parameters for pruner {name!r}: {exc}") from None
