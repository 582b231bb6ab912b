"""Flat frozen dataclass configs <-> CLI flags <-> ROS 2 parameter files.

Every config field is a scalar with a docstring (the string literal right below it). The same
field name is a CLI flag (`--field-name`), a ROS parameter and a key in config/*.yaml, whose
layout is the one `ros2 run ... --ros-args --params-file` reads:

    segpilot:            # node name, or /** for every node
      ros__parameters:
        method: segpruner
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import typing
from pathlib import Path
from typing import Any

import yaml

from segpilot.errors import SegpilotError


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Docstrings of a dataclass's fields (the string literal after each annotated field); parsed from the source
    once per class (callers must not mutate the dict)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if (
                    isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)
                ):
                    docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), prefix: str = ""
) -> None:
    """Add one `--flag` per scalar field of `cls` (default None = take the config's default); with `prefix`
    ("segpruner.") the flags are `--segpruner.lam` and the values land under dotted names."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or isinstance(f.default, tuple | list):
            continue
        kind = hints[f.name]
        flag = "--" + prefix + f.name.replace("_", "-")
        help_ = f"{docs.get(f.name, '')} (default: {f.default})".replace("%", "%%")  # argparse formats help
        choices = literal_choices(kind)
        if kind is bool:
            parser.add_argument(flag, dest=prefix + f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_)  # fmt: skip
        elif choices:  # a Literal: --help lists the values
            parser.add_argument(flag, dest=prefix + f.name, type=type(choices[0]), choices=choices, default=None,
                                help=help_)  # fmt: skip
        else:
            parser.add_argument(flag, dest=prefix + f.name, type=kind, default=None, metavar=kind.__name__.upper(),
                                help=help_)  # fmt: skip


def literal_choices(kind) -> tuple:
    """The values of a `Literal[...]` annotation (empty for any other type)."""
    return typing.get_args(kind) if typing.get_origin(kind) is typing.Literal else ()


def load_params_file(path: str | Path, node: str = "segpilot") -> dict[str, Any]:
    """Parameters for `node` from a ROS 2 params YAML (node name or `/**` section)."""
    path = Path(path)
    if not path.exists():
        raise SegpilotError(f"parameter file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SegpilotError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise SegpilotError(f"{path}: expected a ROS 2 parameter mapping ({node}: ros__parameters: ...), "
                            f"got a {type(data).__name__}")  # fmt: skip
    params: dict[str, Any] = {}
    for key in ("/**", node, f"/{node}", f"/**/{node}"):
        section = data.get(key, {}) if isinstance(data, dict) else {}
        if section and not isinstance(section.get("ros__parameters"), dict):
            raise SegpilotError(f"{path}: section {key!r} must hold a 'ros__parameters' mapping")
        params.update(flatten(section.get("ros__parameters", {})) if section else {})
    return params


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter mappings as ROS 2 reads them: {"segpruner": {"lam": 0.5}} -> {"segpruner.lam": 0.5}."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def build_config(cls: type, *layers: dict[str, Any]) -> Any:
    """Instantiate `cls` from layered dicts (later wins; None values are ignored).

    Unknown keys are an error naming the accepted ones, so a typo in a YAML file or a ROS
    parameter does not silently fall back to a default.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key not in names:
                raise SegpilotError(
                    f"unknown parameter {key!r} for {cls.__name__}; expected one of {', '.join(sorted(names))}"
                )
            merged[key] = value
    hints = typing.get_type_hints(cls)
    for key, value in merged.items():
        kind = hints[key]
        choices = literal_choices(kind)
        if choices:
            if value not in choices:
                raise SegpilotError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}")
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            merged[key] = float(value)
        elif isinstance(value, bool) and kind is not bool:  # YAML `views: true` is not the number 1
            raise SegpilotError(f"parameter {key!r} must be {kind.__name__}, got {value!r}")
        elif not isinstance(value, kind):
            raise SegpilotError(f"parameter {key!r} must be {kind.__name__}, got {value!r}")
    return cls(**merged)
