"""Convert the recorded habitat-sim fixture into the bundled ScanNet-layout demo scene.

    python scripts/make_demo_scene.py ../shared/fixtures/habitat segpilot/data/demo_scene

The demo scene is real habitat-sim output (9 RGB-D frames of a furnished room, see the
fixture's README), passed through segpilot's own Habitat conversion and ScanNet writer, so
the default `segpilot prune` run exercises the same code paths as a user's scan.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.eval.datasets.scannet import write_scene
from segpilot.sim.habitat_convert import frame_from_habitat


def main(src: Path, dst: Path) -> None:
    frames = []
    for i in range(len(list((src / "frames").glob("state_*.json")))):
        state = json.loads((src / "frames" / f"state_{i}.json").read_text())
        sensor = state["sensors"]["depth"]
        frames.append(
            frame_from_habitat(
                np.asarray(Image.open(src / "frames" / f"rgb_{i}.png").convert("RGB")),
                np.load(src / "frames" / f"depth_{i}.npy"),
                np.asarray(sensor["position"]),
                np.asarray(sensor["rotation_wxyz"]),
                state["hfov_deg"],
                stamp=float(i),
            )
        )
    if dst.exists():
        shutil.rmtree(dst)
    write_scene(dst, frames)
    shutil.copy(src / "objects.json", dst / "objects.json")
    print(f"wrote {len(frames)} frames to {dst}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
