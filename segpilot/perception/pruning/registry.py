"""Registry of pruning methods by name (duplicates refused, built-ins imported lazily).

Third-party methods register with `@register_pruner("name")` on a class whose constructor
takes keyword parameters and which implements `base.Pruner`.
"""

from __future__ import annotations

from typing import Any

from segpilot.errors import SegpilotError
from segpilot.perception.pruning.base import Pruner
from segpilot.registry import Registry

PRUNERS: Registry[Pruner] = Registry(
    "pruning method",
    {
        "segpruner": "segpilot.perception.pruning.segpruner",
        "random": "segpilot.perception.pruning.baselines",
        "uniform": "segpilot.perception.pruning.baselines",
        "saliency": "segpilot.perception.pruning.baselines",
        "divprune": "segpilot.perception.pruning.diversity",
        "fps3d": "segpilot.perception.pruning.diversity",
        "kcenter": "segpilot.perception.pruning.diversity",
        "mmr": "segpilot.perception.pruning.diversity",
    },
)
register_pruner = PRUNERS.register
available_pruners = PRUNERS.names


def method_config(name: str) -> type | None:
    """The config dataclass a pruner owns (its parameters), or None for a method without parameters."""
    return getattr(PRUNERS.get(name), "Config", None)


def method_configs() -> dict[str, type]:
    """Every registered method's config dataclass, by method name (methods without parameters left out)."""
    return {name: cls for name in available_pruners() if (cls := method_config(name)) is not None}


def make_pruner(name: str, **params: Any) -> Pruner:
    """Instantiate the pruner `name` with keyword `params` (validated by its config)."""
    factory = PRUNERS.get(name)
    try:
        return factory(**params)
    except TypeError as exc:
        raise SegpilotError(f"bad parameters for pruner {name!r}: {exc}") from None
