"""`segpilot`'s argument parser: one builder per command.

Why per command: the flags of the pruning methods and configs are generated from their dataclasses (types,
defaults and field docstrings parsed from the source), and importing and parsing all of them for every command
cost ~0.5 s on 2 cores. `build_parser("ask")` fills in only `ask`'s flags; the other commands are listed (for
`segpilot --help`) but empty. `build_parser()` fills in every command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from segpilot.cli_checks import pth

SCAN_FORMATS = "ScanNet export / .sens / SensReader / 7-Scenes / TUM RGB-D / Redwood / OpenEQA (detected)"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (`segpilot <cmd>: error: ...`, exit 2), not a usage block:
    every bad input gets one line; `--help` still prints the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_prune_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """PruneConfig's flags and every registered pruning method's own (`--segpruner.lam`, `--mmr.theta`, ...)."""
    from segpilot.config import add_config_arguments
    from segpilot.perception.pruning.registry import method_configs
    from segpilot.pipeline import PruneConfig

    add_config_arguments(parser, PruneConfig, skip=skip)
    for method, cls in method_configs().items():
        add_config_arguments(parser, cls, prefix=f"{method}.")


def _add_eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=pth, default=None, help="local VLM checkpoint folder (default: embedded model)")
    parser.add_argument("--out", type=pth, required=True, help="run folder: predictions.jsonl, metrics.json")
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N questions (N >= 1)")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (starts a Java process)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="discard results in --out made with another configuration, model or question file",
    )


def _add_qa_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-new-tokens", type=int, default=16, help="answer length limit (default 16)")
    parser.add_argument(
        "--use-3d-position",
        action="store_true",
        help="add the sinusoidal 3D position embedding (models trained with it, like the embedded default, "
        "record it in their config and always get it)",
    )
    parser.add_argument("--params-file", type=pth, default=None, help="ROS 2 style parameter YAML")


def _prune(prune: argparse.ArgumentParser) -> None:
    from segpilot.config import add_config_arguments
    from segpilot.eval.datasets.sources import ScanConfig

    prune.add_argument(
        "--scene", type=pth, default=None, help=f"scan folder or .sens file, {SCAN_FORMATS} (default: the demo scene)"
    )
    add_config_arguments(prune, ScanConfig)
    prune.add_argument("--out", type=pth, default=None, help="output folder for kept.json, overlays and the PLY")
    prune.add_argument(
        "--params-file", type=pth, default=None, help="ROS 2 style parameter YAML (config/*.yaml); flags override it"
    )
    add_prune_arguments(prune)


def _ask(ask: argparse.ArgumentParser) -> None:
    from segpilot.config import add_config_arguments
    from segpilot.eval.datasets.sources import ScanConfig

    ask.add_argument("question", nargs="?", default=None, help="the question, e.g. 'What color is the sofa?'")
    ask.add_argument(
        "--questions",
        type=pth,
        default=None,
        help="answer every question of this JSON file instead (a list of texts or of objects with 'question' and "
        "optional 'answers'); `--questions examples` asks the generated room's own example questions (its "
        "questions.json): the scan is encoded and pruned once",
    )
    ask.add_argument("--model", type=pth, default=None, help="local VLM checkpoint folder (default: embedded model)")
    ask.add_argument(
        "--scene",
        type=pth,
        default=None,
        help=f"scan folder or .sens file, {SCAN_FORMATS} (default: a generated room, rendered once into the cache)",
    )
    add_config_arguments(ask, ScanConfig)
    ask.add_argument(
        "--room-seed",
        type=int,
        default=None,
        help="seed of the generated room used without --scene (default: 7002, a held-out room)",
    )
    ask.add_argument(
        "--out",
        type=pth,
        default=None,
        help="write the kept-token overlay PNGs and tokens.ply of the asked scene here",
    )
    _add_qa_args(ask)
    add_prune_arguments(ask, skip=("encoder",))


def _eval(ev: argparse.ArgumentParser) -> None:
    from segpilot.config import add_config_arguments
    from segpilot.eval.datasets.sources import ScanConfig

    ev_sub = ev.add_subparsers(dest="eval", required=True)
    es = ev_sub.add_parser("scanqa", help="answer and score a ScanQA file; a rerun resumes where it stopped")
    es.add_argument("--qa", type=pth, required=True, help="ScanQA JSON file")
    es.add_argument(
        "--scenes",
        type=pth,
        required=True,
        help="folder of scans named by scene_id (<id>/ in any format, or <id>.sens)",
    )
    _add_require_all(es, "scene")
    add_config_arguments(es, ScanConfig)
    _add_eval_args(es)
    es.add_argument("--engine", choices=("local", "ray"), default="local", help="local process or Ray actors")
    es.add_argument("--workers", type=int, default=2, help="Ray engine: worker actors, one model each")
    es.add_argument("--ray-address", default=None, help="Ray engine: existing cluster address (default: start one)")
    _add_qa_args(es)
    add_prune_arguments(es, skip=("encoder",))

    eo = ev_sub.add_parser("openeqa", help="answer and score OpenEQA questions from extracted episode frames")
    eo.add_argument("--qa", type=pth, required=True, help="open-eqa-v0.json (or a subset in its format)")
    eo.add_argument("--frames", type=pth, required=True, help="root of extracted frames (<root>/<episode_history>/)")
    eo.add_argument("--judge", type=pth, default=None, help="local causal LM folder for LLM-Match (optional)")
    eo.add_argument(
        "--subset",
        type=pth,
        default=None,
        help="JSON list of question ids to answer (e.g. the official open-eqa-v0-184-questions.json)",
    )
    _add_require_all(eo, "episode folder")
    _add_eval_args(eo)
    _add_qa_args(eo)
    add_prune_arguments(eo, skip=("encoder",))


def _train(tr: argparse.ArgumentParser) -> None:
    from segpilot.config import add_config_arguments

    tr_sub = tr.add_subparsers(dest="train", required=True)
    tq = tr_sub.add_parser(
        "qa", help="train the small LLaVA-architecture QA model on make-qa data (hours: run it outside CI)"
    )
    from segpilot.training.qa_train import TrainConfig

    add_config_arguments(tq, TrainConfig)
    tv = tr_sub.add_parser(
        "vla", help="behaviour-clone the CogVLA-style navigation policy on expert demos (about an hour: outside CI)"
    )
    from segpilot.training.vla_train import TrainVLAConfig

    add_config_arguments(tv, TrainVLAConfig)
    tg = tr_sub.add_parser(
        "grounder", help="train the VLA's goal grounding network on simulator object ids (20 minutes: outside CI)"
    )
    from segpilot.training.grounder_train import TrainGrounderConfig

    add_config_arguments(tg, TrainGrounderConfig)


def _study(st: argparse.ArgumentParser) -> None:
    st_sub = st.add_subparsers(dest="study", required=True)
    sb = st_sub.add_parser("budget", help="every pruner at budgets 1%%, 3%%, 9%%, 25%%, 100%% on a ScanQA split")
    sb.add_argument("--qa", type=pth, required=True, help="ScanQA JSON file (e.g. the synthetic val split)")
    sb.add_argument("--scenes", type=pth, required=True, help="folder of ScanNet-layout scenes")
    sb.add_argument("--model", type=pth, required=True, help="local VLM checkpoint folder")
    sb.add_argument("--out", type=pth, required=True, help="study folder (resumable)")
    sb.add_argument(
        "--sweep-mode",
        choices=("global", "hierarchical", "per_view", "none"),
        default="global",
        help="SeGPruner mode of the (lam, r) sweep at 3%% and 9%% (default global; none = skip)",
    )
    sb.add_argument("--limit", type=positive_int, default=None, help="only the first N questions (N >= 1)")
    sb.add_argument(
        "--force",
        action="store_true",
        help="discard a study in --out made with another configuration, model or question file",
    )
    sb.add_argument("--budgets", default="0.01,0.03,0.09,0.25,1.0", help="comma-separated fractions")
    _add_qa_args(sb)
    add_prune_arguments(sb, skip=("encoder", "method", "budget_fraction", "budget_tokens"))


def _bench(bench: argparse.ArgumentParser) -> None:
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    bp = bench_sub.add_parser("prune", help="speed, exactness and coverage of every pruner")
    bp.add_argument("--shapes", default="12x729x1152,8x196x256", help="comma-separated VIEWSxTOKENSxDIM shapes")
    bp.add_argument("--budget", type=float, default=0.09, help="fraction of tokens kept (default 0.09)")
    bp.add_argument("--repeats", type=int, default=5, help="timed runs per method (median reported)")
    bp.add_argument("--json", default=None, help="also write the rows to this JSON file")
    bp.add_argument("--background-load", type=int, default=0, metavar="N",
                    help="also time SeGPruner with 1 and all threads, idle and under N busy processes it starts and "
                    "stops (e.g. 2x the cores)")  # fmt: skip
    bp.add_argument("--view-scaling", default="4,8,12,24,48,96", metavar="V,V,...",
                    help="time exact global SeGPruner on one thread at these view counts (729 tokens per view) and "
                    "fit the growth exponent ('' = skip)")  # fmt: skip
    bp.add_argument("--reference-rooms", type=int, default=3, metavar="N",
                    help="compare SeGPruner and DivPrune with the public code's float selection on N random rooms "
                    "(0 = skip)")  # fmt: skip
    bp.add_argument(
        "--scene", default=None, help="also bench real tokens of this ScanNet-layout scene ('demo' = the bundled one)"
    )

    bq = bench_sub.add_parser("qa", help="latency of full vs pruned tokens on a ~150M LLaVA-style model")
    bq.add_argument("--views", type=int, default=4)
    bq.add_argument("--budget", type=float, default=0.09)
    bq.add_argument("--max-new-tokens", type=int, default=8)
    bq.add_argument("--repeats", type=int, default=3)
    bq.add_argument("--json", type=pth, default=None, help="also write the figures to this JSON file")
    bq.add_argument("--cold-ask-runs", type=int, default=3, metavar="N",
                    help="also run `segpilot ask` (make demo's question) N times in fresh processes and report its "
                    "stages (the first may render the room; the median is over the others; 0 = skip)")  # fmt: skip

    br = bench_sub.add_parser("ros", help="rgbd_memory throughput at 640x480 and question->answer latency over DDS")
    br.add_argument("--frames", type=int, default=300, help="RGB-D sets to stream (default 300)")
    br.add_argument("--rate-hz", type=float, default=60.0, help="send rate (default 60 Hz)")
    br.add_argument("--questions", type=int, default=5, help="questions to time (default 5)")
    br.add_argument("--json", type=pth, default=None, help="also write the figures to this JSON file")
    bv = bench_sub.add_parser("vla", help="LFP routing on vs off per action chunk")
    bv.add_argument("--repeats", type=int, default=10, help="timed chunks per mode (median reported)")
    bv.add_argument("--json", type=pth, default=None, help="also write the figures to this JSON file")
    bs = bench_sub.add_parser("sim", help="frames per second of the embedded simulator")
    bs.add_argument("--scenes", type=int, default=3, help="generated rooms to time (default 3)")
    bs.add_argument("--frames", type=int, default=200, help="frames per room (default 200)")


def _sim(sim: argparse.ArgumentParser) -> None:
    sim_sub = sim.add_subparsers(dest="sim", required=True)
    mq = sim_sub.add_parser("make-qa", help="render generated rooms and write ScanQA-format question splits")
    mq.add_argument("--scenes", type=int, required=True, help="number of generated rooms")
    mq.add_argument("--seed", type=int, default=0, help="seed of the first room (room i uses seed + i)")
    mq.add_argument("--out", type=pth, required=True, help="output folder")
    mq.add_argument("--workers", type=int, default=1, help="rooms rendered in parallel processes (default 1)")
    mq.add_argument("--shapes", type=int, choices=(1, 2), default=1,
                    help="small-object mesh version: 1 (default) one cylinder for cup / vase / bottle, 2 a silhouette "
                         "per category")  # fmt: skip
    mq.add_argument("--no-balance", action="store_true",
                    help="keep every templated question (default: rebalance answers so no type, template or exact "
                         "question is answerable above 40%% without the image)")  # fmt: skip
    rd = sim_sub.add_parser("render", help="montage (rgb, depth, ids) and top-down map of a generated room")
    rd.add_argument("--seed", type=int, default=0)
    rd.add_argument("--out", type=pth, required=True)
    rd.add_argument("--shapes", type=int, choices=(1, 2), default=1, help="small-object mesh version (see make-qa)")
    ex = sim_sub.add_parser("expert", help="run the shortest-path expert on generated navigation episodes")
    ex.add_argument("--episodes", type=int, default=20)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", type=pth, default=None, help="write episodes.json, metrics and trajectory maps")

    rv = sim_sub.add_parser("run-vla", help="held-out navigation episodes with the VLA policy, routing on and off")
    rv.add_argument("--episodes", type=int, default=20, help="episodes (2 per generated room)")
    rv.add_argument("--seed", type=int, default=30000, help="first held-out room seed (training uses 20000+)")
    rv.add_argument("--policy", type=pth, default=None, help="VLA policy folder (default: embedded policy)")
    rv.add_argument("--out", type=pth, default=None, help="write metrics.json and trajectory maps")
    rv.add_argument("--replan-every", type=int, default=1, help="actions executed per decoded chunk (default 1)")
    rv.add_argument("--temperature", type=float, default=1.0, help="sample moves at this temperature (0 = argmax)")
    rv.add_argument("--routing", choices=("both", "on", "off"), default="both", help="LFP routing modes to run")
    rv.add_argument("--habitat", type=pth, default=None,
                    help="run through habitat-sim on this scene instead (a stage config from export-habitat, or any "
                         "scene habitat-sim loads with --episodes-file)")  # fmt: skip
    _add_habitat_args(rv, "with --habitat: navigation episodes JSON (default: generated in an exported room)",
                      "with --habitat: ")  # fmt: skip
    xh = sim_sub.add_parser("export-habitat", help="write a generated room for habitat-sim (stage config, GLB, "
                                                   "semantic PLY, scene graph)")  # fmt: skip
    xh.add_argument("--seed", type=int, default=30000, help="room seed")
    xh.add_argument("--out", type=pth, required=True, help="output folder")
    hs = sim_sub.add_parser("habitat-scan", help="render a QA view trajectory through habitat-sim into a "
                                                 "ScanNet-layout scan (for ask / eval scanqa)")  # fmt: skip
    hs.add_argument("--habitat", type=pth, required=True, help="stage config (export-habitat) or habitat scene")
    _add_habitat_args(hs, "question episodes (eqa_episodes_*.json); default: an exported room's coverage trajectory")
    hs.add_argument("--out", type=pth, required=True, help="scan folder to write")


def _bag(bag: argparse.ArgumentParser) -> None:
    from segpilot.config import add_config_arguments
    from segpilot.ros_nodes.keyframes import MemoryConfig

    bag_sub = bag.add_subparsers(dest="bag", required=True)
    bq = bag_sub.add_parser("qa", help="keyframes of a bag's RGB-D topics -> pruned 3D tokens -> an answer")
    bq.add_argument("--bag", type=pth, required=True, help="rosbag2 folder (or .mcap / .db3 file)")
    bq.add_argument("--question", required=True, help="the question")
    bq.add_argument("--model", type=pth, default=None, help="local VLM checkpoint folder (default: embedded model)")
    for name, default in (("color", "/color/image_raw"), ("depth", "/depth/image_raw"),
                          ("camera-info", "/color/camera_info"), ("camera-pose", "/camera_pose")):  # fmt: skip
        bq.add_argument(
            f"--{name}-topic",
            default=default,
            help=f"topic in the bag (default {default})"
            + ("; /tf reads the transform chain from --fixed-frame" if name == "camera-pose" else ""),
        )
    bq.add_argument("--fixed-frame", default="map", help="with --camera-pose-topic /tf: world frame (default map)")
    bq.add_argument(
        "--camera-frame", default="", help="with /tf: the camera's optical frame (default: the colour image's frame_id)"
    )
    add_config_arguments(bq, MemoryConfig, skip=("encoder", "encoder_threads", "world_frame"))
    _add_qa_args(bq)
    add_prune_arguments(bq, skip=("encoder",))


def _add_require_all(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--require-all", action="store_true",
                        help=f"fail on a question whose {what} is missing (default: skip and count it)")  # fmt: skip


def _add_habitat_args(parser: argparse.ArgumentParser, episodes_help: str, gpu_prefix: str = "") -> None:
    parser.add_argument("--episodes-file", type=pth, default=None, help=episodes_help)
    parser.add_argument("--gpu-device-id", type=int, default=-1, help=f"{gpu_prefix}CUDA device (-1 = CPU rendering)")


def _ros_index(ri: argparse.ArgumentParser) -> None:
    ri.add_argument("--prefix", type=pth, default=None, help="install prefix (default: this Python's, e.g. .venv)")


def _convert(cv: argparse.ArgumentParser) -> None:
    from segpilot.config import add_config_arguments
    from segpilot.eval.datasets.sources import ScanConfig

    cv.add_argument("src", type=pth, help=f"scan folder or .sens file, {SCAN_FORMATS}")
    cv.add_argument("out", type=pth, help="new folder for the ScanNet-layout scan")
    add_config_arguments(cv, ScanConfig)


def _no_flags(parser: argparse.ArgumentParser) -> None:
    pass


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "prune": ("prune the visual tokens of an RGB-D scan and draw the result", _prune),
    "ask": ("answer a question about a scan with a VLM on pruned 3D tokens", _ask),
    "eval": ("batch evaluation", _eval),
    "train": ("train the embedded default models", _train),
    "study": ("studies that write committed tables and plots", _study),
    "bench": ("benchmarks that print figures", _bench),
    "sim": ("embedded simulator: synthetic data, pictures, expert episodes", _sim),
    "bag": ("answer from a recorded rosbag2 (.db3 or .mcap)", _bag),
    "methods": ("list the registered pruning methods and encoders", _no_flags),
    "ros-index": ("make this install a package ros2 launch / ros2 run find (ament index, share/segpilot, "
                  "lib/segpilot executables)", _ros_index),
    "convert": ("write any RGB-D scan in ScanNet export layout", _convert),
}  # fmt: skip
"""Command -> (help line, builder of its flags), in `segpilot --help` order."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; flags filled in for `command` only (None = all commands)."""
    parser = OneLineParser(prog="segpilot", description="3D-aware visual token pruning for multi-view RGB-D.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_, build) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_)
        if command in (None, name):
            build(cmd)
    return parser
