"""`segpilot` command line: argument parsing only; the work lives in the pipeline modules.

    segpilot prune [--scene DIR] [--views 12] [--method segpruner] [--budget 0.09] [--out RUN]
    segpilot ask "QUESTION" --model DIR [--scene DIR]
    segpilot eval scanqa --qa FILE --scenes ROOT --model DIR --out RUN
    segpilot bench prune [--shapes 12x729x1152,8x196x256] [--repeats 5] [--json FILE]
    segpilot sim make-qa --scenes N --seed S --out DIR | render --seed S --out DIR | expert --episodes N
    segpilot bench sim
    segpilot methods

Errors in the input (missing files, bad values, unknown names) print one line
`segpilot: error: ...` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources
from pathlib import Path

from segpilot.errors import SegpilotError

SCHEMA_VERSION = 1


def demo_scene_path() -> Path:
    """The bundled ScanNet-layout scene (real habitat-sim frames of a furnished room)."""
    return Path(str(resources.files("segpilot") / "data" / "demo_scene"))


def build_parser() -> argparse.ArgumentParser:
    from segpilot.config import add_config_arguments
    from segpilot.pipeline import PruneConfig

    parser = argparse.ArgumentParser(prog="segpilot", description="3D-aware visual token pruning for multi-view RGB-D.")
    sub = parser.add_subparsers(dest="command", required=True)

    prune = sub.add_parser("prune", help="prune the visual tokens of a ScanNet-layout scene and draw the result")
    prune.add_argument(
        "--scene", type=Path, default=None, help="ScanNet-layout scene folder (default: the bundled demo scene)"
    )
    prune.add_argument("--out", type=Path, default=None, help="output folder for kept.json, overlays and the PLY")
    prune.add_argument(
        "--params-file", type=Path, default=None, help="ROS 2 style parameter YAML (config/*.yaml); flags override it"
    )
    add_config_arguments(prune, PruneConfig)

    ask = sub.add_parser("ask", help="answer a question about a scan with a VLM on pruned 3D tokens")
    ask.add_argument("question", help="the question, e.g. 'What color is the sofa?'")
    ask.add_argument("--model", type=Path, required=True, help="local VLM checkpoint folder (LLaVA family)")
    ask.add_argument("--scene", type=Path, default=None, help="ScanNet-layout scene folder (default: bundled demo)")
    _add_qa_args(ask)
    add_config_arguments(ask, PruneConfig, skip=("encoder",))

    ev = sub.add_parser("eval", help="batch evaluation")
    ev_sub = ev.add_subparsers(dest="eval", required=True)
    es = ev_sub.add_parser("scanqa", help="answer and score a ScanQA file; a rerun resumes where it stopped")
    es.add_argument("--qa", type=Path, required=True, help="ScanQA JSON file")
    es.add_argument("--scenes", type=Path, required=True, help="folder of ScanNet-layout scenes named by scene_id")
    es.add_argument("--model", type=Path, required=True, help="local VLM checkpoint folder (LLaVA family)")
    es.add_argument("--out", type=Path, required=True, help="run folder: predictions.jsonl, metrics.json")
    es.add_argument("--limit", type=int, default=None, help="only the first N questions")
    es.add_argument("--no-meteor", action="store_true", help="skip METEOR (starts a Java process)")
    es.add_argument("--engine", choices=("local", "ray"), default="local", help="local process or Ray actors")
    es.add_argument("--workers", type=int, default=2, help="Ray engine: worker actors, one model each")
    es.add_argument("--ray-address", default=None, help="Ray engine: existing cluster address (default: start one)")
    _add_qa_args(es)
    add_config_arguments(es, PruneConfig, skip=("encoder",))

    tr = sub.add_parser("train", help="train the embedded default models")
    tr_sub = tr.add_subparsers(dest="train", required=True)
    tq = tr_sub.add_parser(
        "qa", help="train the small LLaVA-architecture QA model on make-qa data (hours: run it outside CI)"
    )
    from segpilot.policies.qa.train import TrainConfig

    add_config_arguments(tq, TrainConfig)

    eo = ev_sub.add_parser("openeqa", help="answer and score OpenEQA questions from extracted episode frames")
    eo.add_argument("--qa", type=Path, required=True, help="open-eqa-v0.json (or a subset in its format)")
    eo.add_argument("--frames", type=Path, required=True, help="root of extracted frames (<root>/<episode_history>/)")
    eo.add_argument("--model", type=Path, required=True, help="local VLM checkpoint folder (LLaVA family)")
    eo.add_argument("--out", type=Path, required=True, help="run folder")
    eo.add_argument("--judge", type=Path, default=None, help="local causal LM folder for LLM-Match (optional)")
    eo.add_argument("--limit", type=int, default=None, help="only the first N questions")
    eo.add_argument("--no-meteor", action="store_true", help="skip METEOR (starts a Java process)")
    _add_qa_args(eo)
    add_config_arguments(eo, PruneConfig, skip=("encoder",))

    st = sub.add_parser("study", help="studies that write committed tables and plots")
    st_sub = st.add_subparsers(dest="study", required=True)
    sb = st_sub.add_parser("budget", help="every pruner at budgets 1%%, 3%%, 9%%, 25%%, 100%% on a ScanQA split")
    sb.add_argument("--qa", type=Path, required=True, help="ScanQA JSON file (e.g. the synthetic val split)")
    sb.add_argument("--scenes", type=Path, required=True, help="folder of ScanNet-layout scenes")
    sb.add_argument("--model", type=Path, required=True, help="local VLM checkpoint folder")
    sb.add_argument("--out", type=Path, required=True, help="study folder (resumable)")
    sb.add_argument("--limit", type=int, default=None, help="only the first N questions")
    sb.add_argument("--budgets", default="0.01,0.03,0.09,0.25,1.0", help="comma-separated fractions")
    _add_qa_args(sb)
    add_config_arguments(sb, PruneConfig, skip=("encoder", "method", "budget"))

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    bp = bench_sub.add_parser("prune", help="speed, exactness and coverage of every pruner")
    bp.add_argument("--shapes", default="12x729x1152,8x196x256", help="comma-separated VIEWSxTOKENSxDIM shapes")
    bp.add_argument("--budget", type=float, default=0.09, help="fraction of tokens kept (default 0.09)")
    bp.add_argument("--repeats", type=int, default=5, help="timed runs per method (median reported)")
    bp.add_argument("--json", default=None, help="also write the rows to this JSON file")
    bp.add_argument(
        "--scene", default=None, help="also bench real tokens of this ScanNet-layout scene ('demo' = the bundled one)"
    )

    bq = bench_sub.add_parser("qa", help="latency of full vs pruned tokens on a ~150M LLaVA-style model")
    bq.add_argument("--views", type=int, default=4)
    bq.add_argument("--budget", type=float, default=0.09)
    bq.add_argument("--max-new-tokens", type=int, default=8)
    bq.add_argument("--repeats", type=int, default=3)

    bs = bench_sub.add_parser("sim", help="frames per second of the embedded simulator")
    bs.add_argument("--scenes", type=int, default=3, help="generated rooms to time (default 3)")
    bs.add_argument("--frames", type=int, default=200, help="frames per room (default 200)")

    sim = sub.add_parser("sim", help="embedded simulator: synthetic data, pictures, expert episodes")
    sim_sub = sim.add_subparsers(dest="sim", required=True)
    mq = sim_sub.add_parser("make-qa", help="render generated rooms and write ScanQA-format question splits")
    mq.add_argument("--scenes", type=int, required=True, help="number of generated rooms")
    mq.add_argument("--seed", type=int, default=0, help="seed of the first room (room i uses seed + i)")
    mq.add_argument("--out", type=Path, required=True, help="output folder")
    rd = sim_sub.add_parser("render", help="montage (rgb, depth, ids) and top-down map of a generated room")
    rd.add_argument("--seed", type=int, default=0)
    rd.add_argument("--out", type=Path, required=True)
    ex = sim_sub.add_parser("expert", help="run the shortest-path expert on generated navigation episodes")
    ex.add_argument("--episodes", type=int, default=20)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", type=Path, default=None, help="write episodes.json, metrics and trajectory maps")

    sub.add_parser("methods", help="list the registered pruning methods and encoders")
    return parser


def _add_qa_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-new-tokens", type=int, default=16, help="answer length limit (default 16)")
    parser.add_argument("--use-3d-position", action="store_true", help="add the sinusoidal 3D position embedding")
    parser.add_argument("--params-file", type=Path, default=None, help="ROS 2 style parameter YAML")


def _qa_config(args: argparse.Namespace):
    from segpilot.config import build_config, load_params_file
    from segpilot.pipeline import PruneConfig

    file_params = load_params_file(args.params_file) if args.params_file else {}
    file_params.pop("encoder", None)  # the VLM encodes with its own vision tower
    names = set(PruneConfig.__dataclass_fields__)
    return build_config(PruneConfig, file_params, {k: v for k, v in vars(args).items() if k in names})


def cmd_ask(args: argparse.Namespace) -> int:
    from segpilot.policies.qa import commands

    if args.max_new_tokens < 1:
        raise SegpilotError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    result = commands.ask(
        args.question, args.model, args.scene or demo_scene_path(), _qa_config(args), args.max_new_tokens,
        args.use_3d_position,
    )  # fmt: skip
    print(f"answer: {result['answer']}")
    print(f"tokens kept {result['tokens_kept']} / {result['tokens_total']}")
    print("timings: " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in result["timings_s"].items()))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from segpilot.policies.qa import commands

    if args.eval == "openeqa":
        metrics = commands.eval_openeqa(
            args.qa, args.frames, args.model, args.out, _qa_config(args), args.max_new_tokens, args.use_3d_position,
            judge=args.judge, meteor=not args.no_meteor, limit=args.limit,
        )  # fmt: skip
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("per_type", "run")}, indent=1))
        return 0
    metrics = commands.eval_scanqa(
        args.qa, args.scenes, args.model, args.out, _qa_config(args), args.max_new_tokens, args.use_3d_position,
        meteor=not args.no_meteor, limit=args.limit, engine=args.engine, workers=args.workers,
        ray_address=args.ray_address,
    )  # fmt: skip
    shown = {k: v for k, v in metrics.items() if k not in ("per_type", "run")}
    print(json.dumps(shown, indent=1))
    print(f"wrote {args.out}/predictions.jsonl and {args.out}/metrics.json")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from segpilot.eval.study import study_budget

    try:
        budgets = tuple(float(b) for b in args.budgets.split(","))
    except ValueError:
        raise SegpilotError(f"--budgets must be comma-separated fractions, got {args.budgets!r}") from None
    if not all(0 < b <= 1 for b in budgets):
        raise SegpilotError(f"--budgets must lie in (0, 1], got {args.budgets}")
    table = study_budget(args.qa, args.scenes, args.model, args.out, _qa_config(args), budgets, args.limit,
                         args.max_new_tokens)  # fmt: skip
    print(f"{'method':<26}" + "".join(f"{100 * b:>8g}%" for b in budgets))
    for method in dict.fromkeys(r["method"] for r in table["rows"]):
        cells = {r["budget"]: r["EM@1"] for r in table["rows"] if r["method"] == method}
        print(f"{method:<26}" + "".join(f"{cells[b]:>9.1f}" for b in budgets))
    print(f"EM@1 (%); wrote {args.out}/study_budget.json and study_budget.png")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from segpilot.config import build_config
    from segpilot.policies.qa.train import TrainConfig, train

    names = set(TrainConfig.__dataclass_fields__)
    config = build_config(TrainConfig, {k: v for k, v in vars(args).items() if k in names})
    summary = train(config)
    print(f"wrote {config.out}: {summary['steps_done']} steps in {summary['minutes']:.1f} min, "
          f"{summary['parameters'] / 1e6:.1f} M parameters")  # fmt: skip
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from segpilot.config import build_config, load_params_file
    from segpilot.eval.datasets.scannet import ScanNetScene
    from segpilot.pipeline import PruneConfig, PrunePipeline

    file_params = load_params_file(args.params_file) if args.params_file else {}
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "scene", "out", "params_file")}
    config = build_config(PruneConfig, file_params, flags)
    scene = ScanNetScene(args.scene or demo_scene_path())
    pipeline = PrunePipeline(config)
    result = pipeline.run_scene(scene)
    n, k = len(result.tokens), len(result.kept)
    mode = f"[{config.mode}]" if config.method == "segpruner" else ""
    print(
        f"scene {scene.scene_id}: {len(result.view_ids)} views x "
        f"{result.tokens.grid_hw[0]}x{result.tokens.grid_hw[1]} patches, encoder {config.encoder}"
    )
    print(f"kept {k} / {n} tokens ({100.0 * k / max(n, 1):.1f}%) with {config.method}{mode}")
    print("timings: " + ", ".join(f"{name} {1000 * s:.1f} ms" for name, s in result.timings.items()))
    if args.out:
        _write_prune_outputs(args.out, scene, result, pipeline)
        print(f"wrote {args.out}/kept.json, {len(result.view_ids)} overlays and tokens.ply")
    return 0


def _write_prune_outputs(out: Path, scene, result, pipeline) -> None:
    import numpy as np

    from segpilot.viz.overlay import save_overlay, write_ply

    out.mkdir(parents=True, exist_ok=True)
    tokens, kept = result.tokens.to("cpu"), result.kept.cpu()
    keep_mask = np.zeros(len(tokens), dtype=bool)
    keep_mask[kept.numpy()] = True
    by_view: dict[str, list[int]] = {}
    for v, (frame_id, frame) in enumerate(zip(result.view_ids, result.views, strict=True)):
        patches = tokens.patch.numpy()[(tokens.view.numpy() == v) & keep_mask].tolist()
        by_view[str(frame_id)] = patches
        title = f"frame {frame_id}: kept {len(patches)}/{tokens.grid_hw[0] * tokens.grid_hw[1]} patches"
        save_overlay(out / f"view_{frame_id:05d}.png", frame.rgb, np.array(patches), tokens.grid_hw, title)
    colours = np.where(keep_mask[:, None], np.array([255, 90, 0], np.uint8), np.array([150, 150, 150], np.uint8))
    n_points = write_ply(out / "tokens.ply", tokens.xyz.numpy(), colours)
    record = {
        "schema_version": SCHEMA_VERSION,
        "scene": str(scene.root),
        "scene_id": scene.scene_id,
        "frame_ids": result.view_ids,
        "grid_hw": list(tokens.grid_hw),
        "n_tokens": len(tokens),
        "n_kept": int(len(kept)),
        "config": pipeline.describe(),
        "kept": kept.tolist(),
        "kept_patches_by_frame": by_view,
        "ply_points": n_points,
        "timings_s": result.timings,
    }
    tmp = out / "kept.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / "kept.json")  # atomic: a reader never sees half a file


def cmd_bench(args: argparse.Namespace) -> int:
    from segpilot.bench import prune as bench_prune

    if args.bench == "sim":
        return _bench_sim(args)
    if args.bench == "qa":
        from segpilot.bench import qa as bench_qa

        if args.views < 1 or args.repeats < 1 or args.max_new_tokens < 1 or not 0 < args.budget <= 1:
            raise SegpilotError("bench qa needs --views, --repeats, --max-new-tokens >= 1 and 0 < --budget <= 1")
        r = bench_qa.run(args.views, args.budget, args.max_new_tokens, args.repeats)
        print(f"segpilot bench qa: random-init LLaVA-style model, {r['model_parameters'] / 1e6:.0f} M parameters, "
              f"{r['views']} views, {r['max_new_tokens']} new tokens, median of {args.repeats}")  # fmt: skip
        for label in ("full", "pruned"):
            x = r[label]
            print(f"{label:<8}{x['tokens']:>6} tokens  TTFT {1000 * x['ttft_s']:8.0f} ms  end-to-end "
                  f"{1000 * x['end_to_end_s']:8.0f} ms")  # fmt: skip
        print(f"TTFT ratio {r['ttft_ratio']:.1f}x, end-to-end ratio {r['end_to_end_ratio']:.1f}x, "
              f"latency -{r['latency_reduction_pct']:.0f}% (SeGPruner reports -86%)")  # fmt: skip
        return 0
    if args.repeats < 1:
        raise SegpilotError(f"--repeats must be >= 1, got {args.repeats}")
    shapes = [s for s in args.shapes.split(",") if s]
    for s in shapes:
        parts = s.lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise SegpilotError(f"shape {s!r} must be VIEWSxTOKENSxDIM with positive integers, e.g. 12x729x1152")
    scene = demo_scene_path() if args.scene == "demo" else args.scene
    return bench_prune.main(shapes, args.budget, args.repeats, args.json, scene)


def _bench_sim(args: argparse.Namespace) -> int:
    from segpilot.sim import commands

    if args.scenes < 1 or args.frames < 1:
        raise SegpilotError("--scenes and --frames must be >= 1")
    rows = commands.bench(args.scenes, args.frames)
    print(f"segpilot bench sim: embedded simulator, {rows[0]['width']}x{rows[0]['height']} RGB-D + object ids")
    print(f"{'scene':<16}{'triangles':>10}{'render fps':>12}{'step fps':>10}")
    for r in rows:
        print(f"{r['scene']:<16}{r['triangles']:>10}{r['render_fps']:>12.1f}{r['step_fps']:>10.1f}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from segpilot.sim import commands

    if args.sim == "make-qa":
        from segpilot.sim.make_qa import make_qa

        if args.scenes < 1:
            raise SegpilotError(f"--scenes must be >= 1, got {args.scenes}")
        summary = make_qa(args.out, args.scenes, args.seed)
        print(json.dumps(summary, indent=1))
        print(f"wrote {args.out}/scans/, ScanQA_v1.0_{{train,val,test}}.json and summary.json")
    elif args.sim == "render":
        for path in commands.render(args.seed, args.out):
            print(f"wrote {path}")
    else:
        if args.episodes < 1:
            raise SegpilotError(f"--episodes must be >= 1, got {args.episodes}")
        print(json.dumps(commands.run_expert(args.episodes, args.seed, args.out), indent=1))
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from segpilot.perception.encoders.base import available_encoders
    from segpilot.perception.pruning.registry import available_pruners

    print("pruning methods: " + ", ".join(available_pruners()))
    print("encoders: " + ", ".join(available_encoders()) + ", or a local CLIP/SigLIP checkpoint folder")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"prune": cmd_prune, "ask": cmd_ask, "eval": cmd_eval, "bench": cmd_bench, "sim": cmd_sim,
                "train": cmd_train, "study": cmd_study, "methods": cmd_methods}  # fmt: skip
    try:
        return handlers[args.command](args)
    except SegpilotError as exc:
        print(f"segpilot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segpilot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
