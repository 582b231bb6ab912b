"""A name -> factory registry with lazy built-ins and refused duplicates (lerobot-style).

Built-ins are listed as name -> module; the module is imported on first use and registers
its classes with the `register` decorator, so importing segpilot stays light and a broken
optional component cannot break the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from segpilot.errors import SegpilotError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories of one kind of component (pruners, encoders, ...) by name."""

    def __init__(self, kind: str, builtins: dict[str, str]):
        self.kind = kind
        self._builtins = dict(builtins)
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering a factory under `name`; a taken name is an error."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise SegpilotError(f"a {self.kind} named {name!r} is already registered ({self._factories[name]!r})")
            self._factories[name] = factory
            return factory

        return decorate

    def names(self) -> list[str]:
        """Built-in and registered names, sorted."""
        return sorted(set(self._builtins) | set(self._factories))

    def __contains__(self, name: str) -> bool:
        return name in self._builtins or name in self._factories

    def get(self, name: str) -> Callable[..., T]:
        """The factory of `name`, importing its built-in module on first use."""
        if name not in self._factories and name in self._builtins:
            importlib.import_module(self._builtins[name])
        if name not in self._factories:
            raise SegpilotError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}")
        return self._factories[name]
