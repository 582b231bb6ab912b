"""Write a checkpoint's weights as float16 safetensors (config dtype stays float32: transformers loads them as float32).

Why: the embedded default model must stay under 30 MB (the repository carries it); a 6-layer LM at 256 wide with the
tower is 8.4 M parameters, 33.7 MB in float32 and 16.9 MB in float16. Float16 keeps 11 significant bits: a loaded
LM's hidden states moved by ~3e-4 of their scale on the checkpoint this was written for. Every figure of the card is
measured on the stored (rounded) weights, after this step.

    python scripts/qa_half_weights.py segpilot/data/models/qa-default/model.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="model.safetensors, rewritten in place")
    args = parser.parse_args()
    config = json.loads((args.weights.parent / "config.json").read_text())
    if config.get("dtype", "float32") != "float32":
        raise SystemExit(f"{args.weights.parent}/config.json: dtype {config.get('dtype')!r}, expected float32")
    state = load_file(args.weights)
    big = max(float(v.abs().max()) for v in state.values() if v.is_floating_point() and v.numel())
    if big > 6e4:
        raise SystemExit(f"{args.weights}: a weight of magnitude {big:.3g} does not fit float16")
    half = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in state.items()}
    before = args.weights.stat().st_size
    tmp = args.weights.with_suffix(".tmp")
    save_file(half, tmp, metadata={"format": "pt"})
    tmp.replace(args.weights)
    print(f"{args.weights}: {before / 1e6:.1f} -> {args.weights.stat().st_size / 1e6:.1f} MB (float16)")


if __name__ == "__main__":
    main()
