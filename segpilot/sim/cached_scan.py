"""The generated room `segpilot ask` uses when no --scene is given, rendered once into a cache.

A room the default model never saw in training (its seed lies outside every make-qa split
used for training), rendered like the make-qa data so the model is in distribution. The
scan is written into a temporary folder and renamed when complete, so an interrupted first
run never leaves a half-written scan behind; `questions.json` beside it lists the templated
questions the room supports, as examples to ask.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from segpilot.resources import cache_dir

DEFAULT_ASK_SEED = 7002
RENDER_VERSION = 2
"""Bumped when the renderer's output changes (2: QA lighting, instance labels); older cached scans are re-rendered."""


def generated_scan(seed: int = DEFAULT_ASK_SEED, root: Path | None = None) -> Path:
    """Folder of the ScanNet-layout scan of generated room `seed` (rendered on first use, ~2 s)."""
    from segpilot.sim.make_qa import questions_for, render_scan
    from segpilot.sim.scenes import generate_scene

    scene = generate_scene(seed)
    root = (root or cache_dir() / "scans").expanduser()
    final = root / scene.scene_id
    stamp = final / "render.json"
    if (final / "questions.json").exists() and stamp.exists() and json.loads(stamp.read_text()) == RENDER_VERSION:
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{scene.scene_id}-", dir=root))
    try:
        render_scan(scene, tmp)
        questions = [
            {"question": q["question"], "answers": q["answers"], "type": q["type"]} for q in questions_for(scene)
        ]
        (tmp / "questions.json").write_text(json.dumps(questions, indent=1))
        (tmp / "render.json").write_text(json.dumps(RENDER_VERSION))
        if final.exists():  # a stale partial scan from an older layout
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
