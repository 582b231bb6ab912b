"""Checks every `segpilot` command gets before any work, and the one-line form of expected failures.

Why here and not in each command: the same flag (a seed, a float, an output path) means the same
thing everywhere, and a check that runs after 40-95 s of work loses that work. What is checked:
- every float flag is finite (`--budget inf`, `--lr nan`, `--temperature nan`, `--max-minutes nan`);
- seeds are >= 0, `--max-new-tokens` >= 1;
- `--device` names a torch device this machine has;
- output paths (`--out`, `--json`) are usable: not empty, a folder where a folder is meant, a
  file where a file is meant, and writable - before the command starts working.
Expected failures that still happen later (a full disk, a corrupt safetensors / image / bag / JSON,
a file that is a folder) print `segpilot: error: ...` on one line and exit 2; SEGPILOT_DEBUG=1
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from segpilot.errors import SegpilotError

OUTPUT_DIRS = ("out",)
OUTPUT_FILES = ("json",)


def pth(text: str) -> Path:
    """argparse type of every path flag: an empty string is not the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return Path(text)


def check_device(device: str) -> None:
    """One line for a device torch cannot parse or this machine does not have."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise SegpilotError(f"--device {device!r} is not a torch device (expected cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SegpilotError(f"--device {device}: no CUDA device on this machine (use cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SegpilotError(f"--device {device}: only {torch.cuda.device_count()} CUDA devices here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SegpilotError(f"--device {device}: MPS is not available on this machine")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise SegpilotError(f"--device {device}: expected cpu, cuda, cuda:N or mps")


def _writable_dir(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise SegpilotError(f"--{flag} {path} is a file; expected a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise SegpilotError(f"--{flag} {path}: {probe} is not a writable folder")


def check_args(args: argparse.Namespace) -> None:
    """Validate the flags shared by many commands (see the module docstring)."""
    for name, value in vars(args).items():
        flag = name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise SegpilotError(f"--{flag} must be a finite number, got {value}")
        leaf = name.rsplit(".", 1)[-1]  # method parameters are dotted: random.seed
        if (leaf == "seed" or leaf.endswith("_seed")) and isinstance(value, int) and value < 0:
            raise SegpilotError(f"--{flag} must be >= 0, got {value}")
        if name == "max_new_tokens" and isinstance(value, int) and value < 1:
            raise SegpilotError(f"--max-new-tokens must be >= 1, got {value}")
        if name == "device" and isinstance(value, str):
            check_device(value)
        if name in OUTPUT_DIRS + OUTPUT_FILES and isinstance(value, str):  # config-dataclass flags are strings
            if not value.strip():
                raise SegpilotError(f"--{flag} must be a path, got an empty string")
            value = Path(value)
        if value is None or not isinstance(value, Path):
            continue
        if name in OUTPUT_DIRS:
            _writable_dir(value, flag)
        elif name in OUTPUT_FILES:
            if value.is_dir():
                raise SegpilotError(f"--{flag} {value} is a folder; expected a file name")
            _writable_dir(value.parent if str(value.parent) else Path("."), flag)


def one_line(exc: BaseException) -> str | None:
    """The one-line message of an expected failure, or None for a bug (which keeps its traceback)."""
    import json
    import zlib

    expected: tuple[type[BaseException], ...] = (OSError, json.JSONDecodeError, UnicodeDecodeError, zlib.error,
                                                 RecursionError, MemoryError)  # fmt: skip
    try:
        import yaml

        expected += (yaml.YAMLError,)
    except ImportError:  # pragma: no cover
        pass
    try:
        from safetensors import SafetensorError

        expected += (SafetensorError,)
    except ImportError:  # pragma: no cover
        pass
    try:
        from PIL import UnidentifiedImageError

        expected += (UnidentifiedImageError,)
    except ImportError:  # pragma: no cover
        pass
    from_rosbags = type(exc).__module__.startswith("rosbags")
    if not isinstance(exc, expected) and not from_rosbags:
        return None
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no details'}"
