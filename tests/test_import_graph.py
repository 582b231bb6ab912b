"""The import graph, walked with grimp (import-linter's graph builder): no circles inside segpilot/, the layer
contracts of pyproject.toml hold (`lint-imports`), and they do fail on a deliberately wrong import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cycles(package: str) -> list[list[str]]:
    import grimp

    graph = grimp.build_graph(package)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_circle_inside_segpilot():
    assert _cycles("segpilot") == []


def _lint(cwd: Path, env_path: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **({"PYTHONPATH": str(env_path)} if env_path else {})}
    exe = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_layer_contracts_hold_and_fail_on_a_wrong_import(tmp_path):
    ok = _lint(REPO)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The same sources in a scratch copy, plus one core module that imports the simulator: the contract must fail.
    copy = tmp_path / "src"
    shutil.copytree(REPO / "segpilot", copy / "segpilot", ignore=shutil.ignore_patterns("data", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    (copy / "segpilot" / "geometry" / "wrong.py").write_text("import segpilot.sim.embedded  # noqa: F401\n")
    bad = _lint(copy, env_path=copy)
    assert bad.returncode != 0 and "segpilot.geometry.wrong -> segpilot.sim.embedded" in bad.stdout, bad.stdout


def test_importing_the_policies_loads_no_adapter():
    code = ("import sys, segpilot.policies.vla.agent, segpilot.policies.qa.pipeline, segpilot.pipeline; "
            "print([m for m in sys.modules if m.startswith(('segpilot.sim', 'segpilot.eval', 'segpilot.ros_nodes', "
            "'segpilot.viz', 'segpilot.training', 'rclpy'))])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
