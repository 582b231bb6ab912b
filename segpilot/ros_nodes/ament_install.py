"""`segpilot ros-index`: the layout `ros2 launch` / `ros2 run` look for, written into a pip install's prefix.

launch_ros resolves `Node(package="segpilot", executable="scene_qa")` through the ament index:
`<prefix>/share/ament_index/resource_index/packages/segpilot` marks the package,
`<prefix>/share/segpilot/` holds package.xml, launch/ and config/, and the executables live in
`<prefix>/lib/segpilot/`. colcon writes all three; `pip install -e .` (an editable wheel) writes
none of them and `pip install .` puts the executables in bin/. This module writes the same
layout into any prefix (default: the running interpreter's, e.g. the project's .venv) so the
README's install is a package that ros2 finds once the prefix is on AMENT_PREFIX_PATH. Pure
Python: no rclpy, so it runs on a robot with an apt ROS 2 too.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

from segpilot.errors import SegpilotError

PACKAGE = "segpilot"


def node_entry_points() -> dict[str, str]:
    """The node executables setup.py declares, as installed: {name: "segpilot.ros_nodes.<node>:main"}."""
    from importlib.metadata import entry_points

    scripts = entry_points(group="console_scripts")
    nodes = {e.name: e.value for e in scripts if e.value.startswith(f"{PACKAGE}.ros_nodes.")}
    if not nodes:
        raise SegpilotError("no segpilot node executables are installed (pip install -e . first)")
    return nodes


def package_sources() -> Path:
    """The folder with package.xml, launch/ and config/: the source checkout of an editable install, or the
    share/segpilot a wheel install wrote (setup.py's data_files)."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "package.xml").is_file() and (checkout / "launch").is_dir():
        return checkout
    share = Path(sys.prefix) / "share" / PACKAGE
    if (share / "package.xml").is_file():
        return share
    raise SegpilotError(f"cannot find segpilot's package.xml, launch/ and config/ (looked in {checkout} and {share})")


def install_index(prefix: str | Path | None = None, python: str | None = None) -> Path:
    """Write the ament index entry, share/segpilot (links to the sources, so an editable install's edits show)
    and lib/segpilot/<node> launchers (run by `python`, default this interpreter) into `prefix`."""
    prefix = Path(prefix or sys.prefix).resolve()
    src = package_sources()
    python = python or sys.executable
    try:
        marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
        share = prefix / "share" / PACKAGE
        share.mkdir(parents=True, exist_ok=True)
        for name in ("package.xml", "launch", "config"):
            target, link = (src / name).resolve(), share / name
            if link.resolve() == target:
                continue  # a wheel install: share/segpilot is the source
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(target)
        lib = prefix / "lib" / PACKAGE
        lib.mkdir(parents=True, exist_ok=True)
        for node, target in node_entry_points().items():
            module, func = target.split(":")
            exe = lib / node
            exe.write_text(f"#!{python}\n# ros2 run / ros2 launch entry point written by `segpilot ros-index`\n"
                           f"import sys\n\nfrom {module} import {func}\n\nsys.exit({func}())\n")  # fmt: skip
            exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        raise SegpilotError(f"cannot write the ament index into {prefix}: {exc.strerror or exc}") from None
    return prefix


def ament_prefix_line(prefix: Path) -> str:
    """The shell line that puts `prefix` on AMENT_PREFIX_PATH (empty when it already is)."""
    if str(prefix) in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        return ""
    return f'export AMENT_PREFIX_PATH="{prefix}${{AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}}"'


def cmd_ros_index(args) -> int:
    """`segpilot ros-index [--prefix P]`."""
    prefix = install_index(args.prefix)
    print(f"segpilot: ament index, share/segpilot and lib/segpilot written under {prefix}")
    line = ament_prefix_line(prefix)
    if line:
        print(f"for ros2 launch / ros2 run (after sourcing ROS 2): {line}")
    return 0
