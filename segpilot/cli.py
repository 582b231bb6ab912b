"""`segpilot` command line: dispatch only; the flags live in `cli_parser`, the work in the pipeline modules.

    segpilot prune [--scene DIR] [--views 12] [--method segpruner] [--budget-fraction 0.09 | --budget-tokens K]
    segpilot ask "QUESTION" [--scene DIR] [--model DIR] [--method M --budget-fraction F --views V] [--out DIR]
    segpilot eval scanqa --qa FILE --scenes ROOT --model DIR --out RUN
    segpilot bench prune [--shapes 12x729x1152,8x196x256] [--repeats 5] [--json FILE]
    segpilot sim make-qa --scenes N --seed S --out DIR | render --seed S --out DIR | expert --episodes N
    segpilot sim export-habitat --seed S --out DIR | habitat-scan --habitat STAGE --out SCAN
    segpilot sim run-vla [--habitat STAGE] [--episodes N] [--seed S] [--routing both|on|off] [--out DIR]
    segpilot bench sim
    segpilot bench vla [--repeats 10] [--json FILE]
    segpilot methods
    segpilot ros-index [--prefix DIR]

Errors in the input (missing files, bad values, unknown names) print one line
`segpilot: error: ...` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import os
import sys

from segpilot.cli_checks import check_args, one_line
from segpilot.cli_parser import COMMANDS, build_parser
from segpilot.errors import SegpilotError
from segpilot.resources import demo_scene_path  # noqa: F401 - re-exported for users and tests


def main(argv: list[str] | None = None, whole_process: bool = False) -> int:
    """Run one command; `whole_process`: this process exists for the command (the console script), so its age
    is the command's start-up time, which `ask` reports."""
    argv = sys.argv[1:] if argv is None else argv
    # the first word is the command (the top-level parser has no other positional or valued flag)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if whole_process:
        from segpilot.bench.timing import process_seconds

        args.started_s = process_seconds()
    from segpilot.policies.qa import hf_import

    hf_import.install()  # any command that loads transformers reads its import structure from the cache
    from segpilot import cli_commands as c
    from segpilot.ros_nodes.ament_install import cmd_ros_index as ros_index

    handlers = {"convert": c.cmd_convert, "prune": c.cmd_prune, "ask": c.cmd_ask, "eval": c.cmd_eval,
                "bench": c.cmd_bench, "sim": c.cmd_sim,
                "train": c.cmd_train, "bag": c.cmd_bag, "study": c.cmd_study, "methods": c.cmd_methods,
                "ros-index": ros_index}  # fmt: skip
    try:
        check_args(args)
        return handlers[args.command](args)
    except SegpilotError as exc:
        print(f"segpilot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segpilot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # expected failures (disk full, corrupt files) as one line; bugs keep a traceback
        message = None if os.environ.get("SEGPILOT_DEBUG") else one_line(exc)
        if message is None:
            raise
        print(f"segpilot: error: {message}", file=sys.stderr)
        return 2


def run() -> None:
    """The `segpilot` console script: `main`, then a fast exit.

    A process that imported torch and transformers spends ~0.5-1.6 s on 2 cores tearing its modules down after the
    command is done (measured after `ask`'s answer was printed). Nothing of segpilot's needs that teardown: the
    streams are flushed and the atexit handlers (logging, temporary folders, multiprocessing) run, then the
    process exits. With a non-daemon thread still running (a library's worker), the normal exit waits for it."""
    import atexit
    import threading

    rc = main(whole_process=True)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(rc)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    run()  # python -m segpilot.cli
