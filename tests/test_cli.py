"""The `segpilot` command as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segpilot.cli import demo_scene_path, main

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segpilot.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_prune_on_the_bundled_scene_writes_json_pngs_and_ply(tmp_path):
    out = tmp_path / "run"
    proc = _run(
        "prune", "--views", "3", "--view-selection", "uniform", "--budget-fraction", "0.09", "--method", "segpruner",
        "--segpruner.mode", "global", "--out", str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "kept 197 / 2187 tokens" in proc.stdout
    record = json.loads((out / "kept.json").read_text())
    assert record["schema_version"] == 1 and record["n_kept"] == 197 and len(record["kept"]) == 197
    assert record["frame_ids"] == [0, 3, 5]  # round(i * 8 / 3)
    assert sum(len(v) for v in record["kept_patches_by_frame"].values()) == 197
    pngs = sorted(out.glob("view_*.png"))
    assert len(pngs) == 3
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(out / "tokens.ply"))
    assert len(cloud.points) == record["ply_points"] > 0
    colours = np.asarray(cloud.colors)
    assert (np.abs(colours - [1.0, 90 / 255, 0.0]).sum(1) < 1e-6).sum() <= 197  # kept are orange


def test_params_file_and_flag_override(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("segpilot:\n  ros__parameters:\n    method: uniform\n    budget_tokens: 50\n    views: 2\n")
    proc = _run("prune", "--params-file", str(params), "--budget-tokens", "40")
    assert proc.returncode == 0, proc.stderr
    assert "kept 40 / 1458 tokens" in proc.stdout and "with uniform" in proc.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["prune", "--method", "nope"], "unknown pruning method 'nope'"),
        (["prune", "--scene", "/does/not/exist"], "scan not found"),
        (["prune", "--budget-fraction", "-0.5"], "budget_fraction must lie in"),
        (["prune", "--budget-fraction", "0.5", "--budget-tokens", "10"], "set one budget, not both"),
        (["prune", "--segpruner.mode", "sideways"], "invalid choice: 'sideways' (choose from 'per_view', 'global'"),
        (["prune", "--encoder", "nope"], "unknown encoder"),
        (["bench", "prune", "--shapes", "12x7"], "VIEWSxTOKENSxDIM"),
        (["bench", "prune", "--view-scaling", "4,x"], "--view-scaling must list view counts"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = _run(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_params_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("segpilot:\n  ros__parameters:\n    lamda: 0.3\n")
    assert main(["prune", "--params-file", str(bad)]) == 2
    assert "unknown parameter 'lamda'" in capsys.readouterr().err


def test_methods_lists_the_registry(capsys):
    assert main(["methods"]) == 0
    assert "segpruner" in capsys.readouterr().out


def test_bundled_scene_is_packaged():
    assert (demo_scene_path() / "depth" / "0.png").exists()


def test_run_scene_loads_only_the_chosen_frames(monkeypatch):
    """A ScanNet scan has thousands of frames: uniform view selection reads just the chosen ones, coverage the
    candidates' depth and the chosen ones' colour."""
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.pipeline import PruneConfig, PrunePipeline

    loaded: list[int] = []
    depth_only: list[int] = []
    original = ScanNetScene.frame

    def spy(self, frame_id, rgb=True):
        (loaded if rgb else depth_only).append(frame_id)
        return original(self, frame_id, rgb)

    monkeypatch.setattr(ScanNetScene, "frame", spy)
    pipeline = PrunePipeline(PruneConfig(views=2, view_selection="uniform", method="uniform", budget_tokens=10))
    result = pipeline.run_scene(ScanNetScene(demo_scene_path()))
    assert loaded == [0, 4] == result.view_ids  # round(i * 8 / 2)
    loaded.clear()
    pipeline = PrunePipeline(PruneConfig(views=2, view_selection="coverage", coverage_candidates=3, budget_tokens=10))
    result = pipeline.run_scene(ScanNetScene(demo_scene_path()))
    # coverage reads the candidates' depth, then the chosen views whole
    assert depth_only == [0, 3, 6] and loaded == result.view_ids and set(result.view_ids) <= {0, 3, 6}
    assert len(result.view_ids) == 2 and len(result.kept) == 10


def test_sim_commands(tmp_path):
    proc = _run("sim", "make-qa", "--scenes", "1", "--seed", "3", "--out", str(tmp_path / "qa"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "qa" / "summary.json").read_text())["scenes"] == 1
    proc = _run("sim", "render", "--seed", "3", "--out", str(tmp_path / "r"))
    assert (
        proc.returncode == 0 and (tmp_path / "r" / "montage.png").exists() and (tmp_path / "r" / "topdown.png").exists()
    )
    proc = _run("sim", "expert", "--episodes", "2", "--seed", "1", "--out", str(tmp_path / "e"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["success_rate"] == 1
    proc = _run("bench", "sim", "--scenes", "1", "--frames", "5")
    assert proc.returncode == 0 and "render fps" in proc.stdout
    proc = _run("sim", "make-qa", "--scenes", "0", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--scenes must be >= 1" in proc.stderr
