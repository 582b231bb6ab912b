"""The per-command parser and the console script's exit."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from segpilot.cli_parser import COMMANDS, build_parser


def _flags(parser: argparse.ArgumentParser, path: list[str]) -> dict:
    """{command path: sorted option strings} of every (sub)command below `path`."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(_flags(sub, [*path, name]))
    out[" ".join(path)] = sorted(s for a in parser._actions for s in a.option_strings)
    return out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_alone_gets_the_same_flags_as_in_the_full_parser(command):
    # `segpilot ask` builds only ask's flags (start-up time); they must be exactly those of the full parser
    alone = {
        k: v for k, v in _flags(build_parser(command), ["segpilot"]).items() if k.startswith(f"segpilot {command}")
    }
    full = {k: v for k, v in _flags(build_parser(), ["segpilot"]).items() if k.startswith(f"segpilot {command}")}
    assert alone == full and full


def test_the_other_commands_stay_listed_but_empty():
    parser = build_parser("methods")
    flags = _flags(parser, ["segpilot"])
    assert flags["segpilot ask"] == ["--help", "-h"]
    assert parser.parse_args(["methods"]).command == "methods"


def test_the_console_script_flushes_its_output_and_keeps_the_exit_status(tmp_path):
    # run() skips the interpreter's teardown: what a command printed must still arrive, errors still exit 2
    ok = subprocess.run([sys.executable, "-m", "segpilot.cli", "methods"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "segpruner" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "segpilot.cli", "prune", "--scene", str(tmp_path / "missing")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("segpilot: error:") and len(bad.stderr.splitlines()) == 1
