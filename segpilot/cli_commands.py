"""Handlers of the `segpilot` subcommands: they call the library; `cli.py` only parses arguments."""

from __future__ import annotations

import argparse
import json

from segpilot.errors import SegpilotError
from segpilot.resources import demo_scene_path


def _qa_config(args: argparse.Namespace):
    from segpilot.config import load_params_file
    from segpilot.pipeline import prune_config

    file_params = load_params_file(args.params_file) if args.params_file else {}
    file_params.pop("encoder", None)  # the VLM encodes with its own vision tower
    return prune_config(file_params, _prune_flags(args))


def _prune_flags(args: argparse.Namespace) -> dict:
    """PruneConfig's fields and the dotted method parameters among the parsed flags."""
    from segpilot.pipeline import PruneConfig

    names = set(PruneConfig.__dataclass_fields__)
    return {k: v for k, v in vars(args).items() if k in names or ("." in k and v is not None)}


def _scan_config(args: argparse.Namespace):
    from segpilot.config import build_config
    from segpilot.eval.datasets.sources import ScanConfig

    names = set(ScanConfig.__dataclass_fields__)
    return build_config(ScanConfig, {k: v for k, v in vars(args).items() if k in names})


def cmd_convert(args: argparse.Namespace) -> int:
    from segpilot.eval.datasets.sources import convert

    scan = _scan_config(args)
    out, n = convert(args.src, args.out, format=scan.format or None, intrinsics=scan.intrinsics or None,
                     max_depth_m=scan.max_depth_m, tum_camera=scan.tum_camera or None)  # fmt: skip
    print(f"wrote {n} frames in ScanNet export layout to {out}")
    return 0


def _print_answer(text: str, kept: int, total: int, timings: dict[str, float]) -> None:
    print(f"answer: {text}")
    print(f"tokens kept {kept} / {total}")
    print("timings: " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in timings.items()))


def cmd_ask(args: argparse.Namespace) -> int:
    from segpilot.bench.timing import process_seconds
    from segpilot.eval import qa_runs as commands

    started = getattr(args, "started_s", None)  # the console script's start-up: python, torch, segpilot, flags

    if args.max_new_tokens < 1:
        raise SegpilotError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if (args.question is None) == (args.questions is None):
        raise SegpilotError("ask needs a question or --questions FILE (not both)")
    examples = args.questions is not None and str(args.questions) == "examples" and not args.questions.exists()
    if examples and args.scene is not None:
        raise SegpilotError("--questions examples asks a generated room's example questions: use it without --scene")
    # a question file is read before any work (rendering a room, loading the model)
    questions = None if args.questions is None or examples else commands.load_questions(args.questions)
    scene = args.scene
    if scene is None:
        from segpilot.sim.cached_scan import DEFAULT_ASK_SEED, generated_scan

        scene = generated_scan(DEFAULT_ASK_SEED if args.room_seed is None else args.room_seed)
        print(f"scene: generated room {scene.name} ({scene}; example questions in questions.json)")
    elif args.room_seed is not None:
        raise SegpilotError("--room-seed picks a generated room: use it without --scene")
    if examples:
        questions = commands.load_questions(scene / "questions.json")
    if questions is not None:
        summary = commands.ask_many(questions, args.model, scene, _qa_config(args), args.max_new_tokens,
                                    args.use_3d_position, args.out, scan=_scan_config(args))  # fmt: skip
        for r in summary["answers"]:
            mark = "" if r["right"] is None else (" [right]" if r["right"] else f" [expected {r['answers'][0]}]")
            print(f"{r['question']} -> {r['prediction']}{mark}")
        if summary["scored"]:
            print(f"{summary['right']}/{summary['scored']} right ({summary['right_pct']:.1f}%)")
        if args.out:
            print(f"wrote {args.out}/answers.jsonl")
        return 0
    result = commands.ask(
        args.question, args.model, scene, _qa_config(args), args.max_new_tokens, args.use_3d_position, args.out,
        scan=_scan_config(args),
    )  # fmt: skip
    timings = {**({"startup": started} if started is not None else {}), **result["startup_s"], **result["timings_s"]}
    total = process_seconds() if started is not None else None
    _print_answer(result["prediction"], result["tokens_kept"], result["tokens_total"],
                  {**timings, **({"total": total} if total is not None else {})})  # fmt: skip
    if args.out:
        print(f"wrote {args.out}/kept.json, the view overlays and tokens.ply")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from segpilot.eval import qa_runs as commands

    if args.eval == "openeqa":
        metrics = commands.eval_openeqa(
            args.qa, args.frames, args.model, args.out, _qa_config(args), args.max_new_tokens, args.use_3d_position,
            judge=args.judge, meteor=not args.no_meteor, limit=args.limit, subset=args.subset,
            require_all=args.require_all, force=args.force,
        )  # fmt: skip
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("per_type", "run")}, indent=1))
        return 0
    metrics = commands.eval_scanqa(
        args.qa, args.scenes, args.model, args.out, _qa_config(args), args.max_new_tokens, args.use_3d_position,
        meteor=not args.no_meteor, limit=args.limit, engine=args.engine, workers=args.workers,
        ray_address=args.ray_address, scan=_scan_config(args), require_all=args.require_all, force=args.force,
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
    sweep_mode = None if args.sweep_mode == "none" else args.sweep_mode
    table = study_budget(args.qa, args.scenes, args.model, args.out, _qa_config(args), budgets, args.limit,
                         args.max_new_tokens, sweep_mode=sweep_mode, force=args.force)  # fmt: skip
    print(f"{'method':<26}" + "".join(f"{100 * b:>8g}%" for b in budgets))
    for method in dict.fromkeys(r["method"] for r in table["rows"]):
        rows = {r["budget"]: r for r in table["rows"] if r["method"] == method}
        mark = lambda r: "*" if r.get("em_minus_segpruner", {}).get("significant") else " "  # noqa: E731
        print(f"{method:<26}" + "".join(f"{rows[b]['EM@1']:>8.1f}{mark(rows[b])}" for b in budgets))
    for row in table["sweep"]:
        print(f"segpruner[{row['mode']}] lam={row['lam']:g} r={row['importance_ratio']:g} at "
              f"{100 * row['budget']:g}%: EM@1 {row['EM@1']:.1f}")  # fmt: skip
    print(
        f"EM@1 (%); * = differs from {table['reference']} at that budget (paired bootstrap 95% interval excludes 0); "
        f"wrote {args.out}/study_budget.json and study_budget.png"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from segpilot.config import build_config

    if args.train == "vla":
        from segpilot.training.vla_train import TrainVLAConfig, train_vla

        fields = TrainVLAConfig.__dataclass_fields__
        vla = build_config(TrainVLAConfig, {k: v for k, v in vars(args).items() if k in fields})
        r = train_vla(vla)
        print(f"wrote {vla.out}: {r['steps_done']} steps in {r['train_minutes']:.1f} min (+{r['collect_minutes']:.1f}"
              f" min of demonstrations), {r['parameters'] / 1e6:.1f} M parameters")  # fmt: skip
        return 0
    if args.train == "grounder":
        from segpilot.training.grounder_train import TrainGrounderConfig, train_grounder

        grounder = build_config(TrainGrounderConfig, {k: v for k, v in vars(args).items()
                                                      if k in TrainGrounderConfig.__dataclass_fields__})  # fmt: skip
        m = train_grounder(grounder)
        v = m["validation"]
        print(f"wrote {grounder.out}: {m['steps']} steps in {m['train_minutes']:.1f} min; validation top-1 patch on "
              f"the object {v['top1_hit_visible']:.1%} where visible, false alarms {v['false_alarm_absent']:.1%} "
              "where absent")  # fmt: skip
        return 0
    from segpilot.training.qa_train import TrainConfig, train

    names = set(TrainConfig.__dataclass_fields__)
    config = build_config(TrainConfig, {k: v for k, v in vars(args).items() if k in names})
    summary = train(config)
    print(f"wrote {config.out}: {summary['steps_done']} steps in {summary['minutes']:.1f} min, "
          f"{summary['parameters'] / 1e6:.1f} M parameters")  # fmt: skip
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from segpilot.config import load_params_file
    from segpilot.pipeline import PrunePipeline, prune_config

    file_params = load_params_file(args.params_file) if args.params_file else {}
    config = prune_config(file_params, _prune_flags(args))
    scene = _scan_config(args).open(args.scene or demo_scene_path())
    pipeline = PrunePipeline(config)
    result = pipeline.run_scene(scene)
    n, k = len(result.tokens), len(result.kept)
    mode = f"[{config.pruner_params()['mode']}]" if config.method == "segpruner" else ""
    print(
        f"scene {scene.scene_id}: {len(result.view_ids)} views x "
        f"{result.tokens.grid_hw[0]}x{result.tokens.grid_hw[1]} patches, encoder {config.encoder}"
    )
    print(f"kept {k} / {n} tokens ({100.0 * k / max(n, 1):.1f}%) with {config.method}{mode}")
    print("timings: " + ", ".join(f"{name} {1000 * s:.1f} ms" for name, s in result.timings.items()))
    if args.out:
        from segpilot.viz.prune_outputs import write_prune_outputs

        write_prune_outputs(args.out, scene, result, pipeline)
        print(f"wrote {args.out}/kept.json, {len(result.view_ids)} overlays and tokens.ply")
    return 0


def _bench_vla(args: argparse.Namespace) -> int:
    from segpilot.bench.vla import run

    if args.repeats < 1:
        raise SegpilotError("bench vla needs --repeats >= 1")
    r = run(args.repeats)
    print(f"segpilot bench vla: one action chunk, batch 1, median of {r['repeats']}, {r['threads']} torch threads")
    for name in ("embedded", "lm_heavy"):
        x = r[name]
        print(f"{name:<9} LM {x['lm_layers']} x {x['lm_hidden']} over {x['visual_tokens']} visual tokens: "
              f"routing on {x['chunk_ms_routing_on']:.1f} ms / off {x['chunk_ms_routing_off']:.1f} ms "
              f"(latency {x['latency_ratio_off_over_on']:.2f}x), "
              f"LM FLOPs {x['lm_flops_ratio_off_over_on']:.2f}x lower")  # fmt: skip
    if args.json:
        from segpilot.eval.runner import write_json_atomic

        write_json_atomic(args.json, _with_machine(r))
    return 0


def _with_machine(result: dict) -> dict:
    """A bench's figures with the CPU they were measured on (`bench/machine.py` says why)."""
    from segpilot.bench import machine

    return {"machine": machine.describe(), **result}


def cmd_bench(args: argparse.Namespace) -> int:
    from segpilot.bench import prune as bench_prune

    if args.bench == "sim":
        return _bench_sim(args)
    if args.bench == "ros":
        from segpilot.bench.ros import bench_ros, print_report

        if args.frames < 1 or args.rate_hz <= 0 or args.questions < 1:
            raise SegpilotError("bench ros needs --frames >= 1, --rate-hz > 0 and --questions >= 1")
        r = bench_ros(args.frames, args.rate_hz, args.questions)
        print_report(r)
        if args.json:
            from segpilot.eval.runner import write_json_atomic

            write_json_atomic(args.json, _with_machine(r))
        return 0
    if args.bench == "vla":
        return _bench_vla(args)
    if args.bench == "qa":
        from segpilot.bench import qa as bench_qa

        if not 1 <= args.views <= 256 or args.repeats < 1 or args.max_new_tokens < 1 or not 0 < args.budget <= 1 \
                or not 0 <= args.cold_ask_runs <= 100:  # fmt: skip
            raise SegpilotError("bench qa needs 1 <= --views <= 256, --repeats and --max-new-tokens >= 1, "
                                "0 < --budget <= 1 and 0 <= --cold-ask-runs <= 100")  # fmt: skip
        results = bench_qa.run_all(args.views, args.budget, args.max_new_tokens, args.repeats, args.cold_ask_runs,
                                   report=print)  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(_with_machine(results), indent=1) + "\n")
            print(f"wrote {args.json}")
        return 0
    if args.repeats < 1:
        raise SegpilotError(f"--repeats must be >= 1, got {args.repeats}")
    if not 0 < args.budget <= 1:
        raise SegpilotError(f"--budget must be a fraction in (0, 1], got {args.budget}")
    shapes = [s for s in args.shapes.split(",") if s]
    if not shapes:
        raise SegpilotError("--shapes must list at least one VIEWSxTOKENSxDIM shape")
    for s in shapes:
        parts = s.lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise SegpilotError(f"shape {s!r} must be VIEWSxTOKENSxDIM with positive integers, e.g. 12x729x1152")
        views, tokens, _ = (int(p) for p in parts)
        if int(round(tokens**0.5)) ** 2 != tokens or views > 256:
            raise SegpilotError(f"shape {s!r}: tokens per view must be a square grid (e.g. 729 = 27 x 27) and "
                                "views at most 256")  # fmt: skip
        if round(args.budget * views * tokens) < 2:
            raise SegpilotError(f"shape {s!r} at --budget {args.budget} keeps fewer than 2 tokens; use a larger one")
    if not 0 <= args.background_load <= 64:
        raise SegpilotError(f"--background-load must lie in 0..64 processes, got {args.background_load}")
    if not 0 <= args.reference_rooms <= 100:
        raise SegpilotError(f"--reference-rooms must lie in 0..100, got {args.reference_rooms}")
    parts = [v.strip() for v in args.view_scaling.split(",") if v.strip()]
    scaling = [int(v) for v in parts if v.isdigit() and 0 < int(v) <= 256]
    if len(scaling) != len(parts):
        raise SegpilotError(f"--view-scaling must list view counts in 1..256, e.g. 4,8,12,24,48,96; got "
                            f"{args.view_scaling!r}")  # fmt: skip
    scene = demo_scene_path() if args.scene == "demo" else args.scene
    return bench_prune.main(shapes, args.budget, args.repeats, args.json, scene, args.background_load,
                            args.reference_rooms, scaling)  # fmt: skip


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
        if args.workers < 1:
            raise SegpilotError(f"--workers must be >= 1, got {args.workers}")
        summary = make_qa(args.out, args.scenes, args.seed, workers=args.workers, balanced=not args.no_balance,
                          shapes=args.shapes)
        print(json.dumps(summary, indent=1))
        print(f"wrote {args.out}/scans/, ScanQA_v1.0_{{train,val,test}}.json and summary.json")
    elif args.sim == "run-vla":
        from segpilot.eval import vla_runs as evaluate

        modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.routing]
        if args.habitat is not None:
            report = evaluate.run_vla_habitat(args.policy, args.habitat, args.episodes_file, args.episodes, args.seed,
                                              args.out, args.replan_every, modes, args.temperature,
                                              args.gpu_device_id)  # fmt: skip
            for m in report["modes"].values():
                m.pop("per_episode")
            print(json.dumps(report, indent=1))
            return 0
        if args.episodes_file is not None or args.gpu_device_id != -1:
            raise SegpilotError("--episodes-file and --gpu-device-id apply to --habitat runs only")
        report = evaluate.run_vla(args.policy, args.episodes, args.seed, args.out, args.replan_every, modes,
                                  temperature=args.temperature)  # fmt: skip
        for m in report["modes"].values():
            m.pop("per_episode")
        print(json.dumps(report, indent=1))
    elif args.sim == "export-habitat":
        from segpilot.sim.habitat_export import export_habitat_scene
        from segpilot.sim.scenes import generate_scene

        print(f"wrote {export_habitat_scene(generate_scene(args.seed), args.out)} (pass it to --habitat)")
    elif args.sim == "habitat-scan":
        print(f"wrote {commands.habitat_scan(args.habitat, args.out, args.episodes_file, args.gpu_device_id)}")
    elif args.sim == "render":
        for path in commands.render(args.seed, args.out, shapes=args.shapes):
            print(f"wrote {path}")
    else:
        if args.episodes < 1:
            raise SegpilotError(f"--episodes must be >= 1, got {args.episodes}")
        print(json.dumps(commands.run_expert(args.episodes, args.seed, args.out), indent=1))
    return 0


def cmd_bag(args: argparse.Namespace) -> int:
    from segpilot.config import build_config
    from segpilot.policies.qa.pipeline import QAPipeline, load_adapter
    from segpilot.ros_nodes.bag import BagTopics, read_keyframes
    from segpilot.ros_nodes.keyframes import MemoryConfig

    topics = BagTopics(args.color_topic, args.depth_topic, args.camera_info_topic, args.camera_pose_topic,
                       args.fixed_frame, args.camera_frame)  # fmt: skip
    names = set(MemoryConfig.__dataclass_fields__)
    memory = build_config(MemoryConfig, {k: v for k, v in vars(args).items() if k in names})
    frames, stats = read_keyframes(args.bag, topics, memory)
    config = _qa_config(args)
    pipeline = QAPipeline(load_adapter(args.model, use_3d_position=args.use_3d_position, device=config.device),
                          config, args.max_new_tokens)  # fmt: skip
    answer = pipeline.answer_frames(frames, args.question, str(args.bag))
    dropped = {k.removeprefix("dropped_"): v for k, v in stats.items() if k.startswith("dropped_")}
    print(f"bag: {stats['frames']} RGB-D frames, {len(frames)} keyframes, dropped {dropped or 'none'}")
    _print_answer(answer.text, len(answer.kept), answer.n_tokens, answer.timings)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from segpilot.perception.encoders.base import available_encoders
    from segpilot.perception.pruning.registry import available_pruners

    print("pruning methods: " + ", ".join(available_pruners()))
    print("encoders: " + ", ".join(available_encoders()) + ", or a local CLIP/SigLIP checkpoint folder")
    return 0
