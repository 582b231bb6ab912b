"""Synthetic 3D question answering data in ScanQA format, rendered by the embedded simulator.

    <out>/scans/<scene_id>/            ScanNet export layout (colour JPEG, uint16 mm depth,
                                        4x4 pose and intrinsic text files)
    <out>/scenes/<scene_id>.json|.ply  scene graph and mesh (ground truth)
    <out>/ScanQA_v1.0_{train,val,test}.json
    <out>/eqa_episodes_{split}.json    the same questions as question episodes (start pose,
                                        view-collection trajectory, question, answers)
    <out>/questions_unbalanced.json    every templated question per split, before balancing
    <out>/summary.json                 question-type mix, multi-view statistics, question-only
                                        baselines per type, colour recovery per colour name

Questions follow ScanQA's kinds - object, colour, number, place and relations - and their
answers and object ids come from the scene graph. A question is *single-view answerable*
when one frame shows every object it needs (150+ pixels each); the summary reports how
many are not. Unlike real ScanQA, the test split keeps its answers (it is synthetic).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from segpilot.eval.datasets.scannet import write_scene
from segpilot.nav.vocab import COLOURS, FURNITURE_COLOURS
from segpilot.sim.base import AgentPose, SimConfig
from segpilot.sim.embedded import EmbeddedSimulator
from segpilot.sim.episodes import QuestionEpisode, save_episodes, yaw_to_quat_xyzw
from segpilot.sim.scenes import SURFACES, Scene, generate_scene

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
VISIBLE_PIXELS = 150  # ~12x12 px at 320x240: enough to tell a small object's category and colour


# ScanNet's depth camera sees ~58 degrees, not Habitat's 90; more ambient light keeps shaded colours apart
# (white vs grey, yellow vs orange: `colour_recovery` in the summary).
QA_SIM_CONFIG = SimConfig(hfov_deg=60.0, ambient_light=0.75)


def coverage_trajectory(sim: EmbeddedSimulator, lattice: int = 3, headings: int = 12) -> list[AgentPose]:
    """Poses that cover the room: a lattice of standing points, each looking all around."""
    from segpilot.sim.embedded import free_point_near

    scene = sim.scene
    poses = []
    for i in range(lattice):
        for j in range(lattice):
            x, y = free_point_near(sim, (i + 0.5) / lattice * scene.width, (j + 0.5) / lattice * scene.depth)
            poses += [AgentPose(x, y, 2 * math.pi * h / headings) for h in range(headings)]
    return poses


def _names(objs) -> list[str]:
    return [o.category for o in objs]


def _where(scene: Scene, o) -> str:
    if o.support is not None:
        return SURFACES.get(scene.by_id(o.support).category, "on the " + scene.by_id(o.support).category)
    if o.near is not None:
        return f"next to the {scene.by_id(o.near).category}"
    return "on the floor"


def questions_for(scene: Scene) -> list[dict]:
    """All templated questions of a scene: dicts with question, answers, object_ids, type."""
    out: list[dict] = []
    items = [o for o in scene.objects if o.kind != "structure"]
    cat_count = Counter(o.category for o in items)
    unique_cat = {c for c, n in cat_count.items() if n == 1}

    def add(kind, question, answers, objs):
        out.append({"question": question, "answers": answers, "object_ids": [o.id for o in objs],
                    "object_names": _names(objs), "type": kind})  # fmt: skip

    for s in items:
        on = [o for o in items if o.support == s.id]
        if s.category not in unique_cat or not on:
            continue
        if len(on) == 1:
            add("object", f"What is on the {s.category}?", [on[0].category], [on[0], s])
        for o in on:
            same_colour = [x for x in on if x.colour == o.colour]
            if len(same_colour) == 1:
                add("object", f"What {o.colour} object is on the {s.category}?", [o.category], [o, s])
            same_cat = [x for x in on if x.category == o.category]
            if len(same_cat) == 1:
                add("color", f"What color is the {o.category} on the {s.category}?", [o.colour], [o, s])
    for o in items:
        if o.category in unique_cat:
            add("color", f"What color is the {o.category}?", [o.colour], [o])
            if o.kind == "object":
                add("place", f"Where is the {o.category}?", [_where(scene, o)], [o])
        same = [x for x in items if x.category == o.category and x.colour == o.colour]
        if o.kind == "object" and len(same) == 1 and o.category not in unique_cat:
            add("place", f"Where is the {o.colour} {o.category}?", [_where(scene, o)], [o])
        if o.near is not None and scene.by_id(o.near).category in unique_cat:
            anchor = scene.by_id(o.near)
            near = [x for x in items if x.near == anchor.id]
            if len(near) == 1:
                add("relation", f"What is next to the {anchor.category}?", [o.category], [o, anchor])
            if len(same) == 1:
                add("relation", f"What is the {o.colour} {o.category} next to?", [anchor.category], [o, anchor])

    def count(question, objs):
        if 0 < len(objs) < len(NUMBER_WORDS):
            add("number", question, [NUMBER_WORDS[len(objs)], str(len(objs))], objs)

    for cat in sorted(cat_count):
        count(f"How many {_plural(cat)} are there in the room?",
              [o for o in items if o.category == cat])  # fmt: skip
    small = [o for o in items if o.kind == "object"]
    for colour in sorted({o.colour for o in small}):
        same = [o for o in small if o.colour == colour]
        if len(same) >= 2:  # usually spread over the room: no single view shows them all
            count(f"How many {colour} objects are there in the room?", same)
    count("How many objects are on the floor?", [o for o in small if o.support is None])
    cats = sorted(c for c in cat_count if c in {o.category for o in small})
    for i, a in enumerate(cats):  # comparisons need every instance of both: often spread out
        for b in cats[i + 1 :]:
            na, nb = cat_count[a], cat_count[b]
            if na != nb and max(na, nb) >= 2:
                more = _plural(a if na > nb else b)
                objs = [o for o in small if o.category in (a, b)]
                add("number", f"Are there more {_plural(a)} or {_plural(b)} in the room?", [more], objs)
    return out


def _plural(category: str) -> str:
    return category + ("es" if category.endswith("x") else "s")


def render_scan(scene: Scene, scan_dir: Path, config: SimConfig | None = None):
    """Render a room along its coverage trajectory into a ScanNet-layout scan; returns poses and observations.

    Beside ScanNet's colour / depth / pose folders the scan gets `instance-filt/<frame>.png` (uint16 object id
    per pixel, 0 = none; ids are the scene graph's), as ScanNet ships 2D instance labels: the QA model's vision
    tower learns per-patch category and colour from them."""
    sim = EmbeddedSimulator(scene, config or QA_SIM_CONFIG)
    poses = coverage_trajectory(sim)
    observations = [sim.render(p) for p in poses]
    write_scene(scan_dir, [o.frame for o in observations])
    (scan_dir / "instance-filt").mkdir(exist_ok=True)
    for i, o in enumerate(observations):
        Image.fromarray(o.object_ids.astype(np.uint16)).save(scan_dir / "instance-filt" / f"{i}.png")
    return poses, observations


def colour_recovery(scene: Scene, observations, min_pixels: int = VISIBLE_PIXELS) -> Counter:
    """Per colour name: visible object-frames ("seen") and how many a nearest-colour rule on the object's mean
    rendered pixel names right ("recovered"). The rule compares with every named colour the rooms use (small
    objects and furniture, unshaded); it tells whether the renderer's shading keeps the names apart."""
    palette = {**{n: np.array(c, float) for n, c in FURNITURE_COLOURS.items()},
               **{n: np.array(c, float) for n, c in COLOURS.items()}}  # fmt: skip
    names, refs = list(palette), np.stack(list(palette.values()))
    out: Counter = Counter()
    for o in observations:
        ids, counts = np.unique(o.object_ids, return_counts=True)
        rgb = o.frame.rgb.reshape(-1, 3).astype(float)
        flat = o.object_ids.ravel()
        for oid, n in zip(ids, counts, strict=True):
            if oid == 0 or n < min_pixels:
                continue
            obj = scene.by_id(int(oid))
            if obj.kind == "structure":
                continue
            mean = rgb[flat == oid].mean(0)
            guess = names[int(np.argmin(((refs - mean) ** 2).sum(1)))]
            out[(obj.colour, "seen")] += 1
            out[(obj.colour, "recovered")] += int(guess == obj.colour)
    return out


def _room(args) -> dict:
    """Render one room and build its question records (a worker of `make_qa`)."""
    out, seed, config, shapes = args
    scene = generate_scene(seed, shapes=shapes)
    scene.save(out / "scenes")
    poses, observations = render_scan(scene, out / "scans" / scene.scene_id, config)
    visible = [set(np.flatnonzero(np.bincount(o.object_ids.ravel()) >= VISIBLE_PIXELS)) for o in observations]
    items, skipped = [], 0
    for q_index, q in enumerate(questions_for(scene)):
        needed = set(q["object_ids"])
        if not set().union(*visible) >= needed:
            skipped += 1
            continue
        items.append({
            "question_id": f"{scene.scene_id}-{q_index}", "scene_id": scene.scene_id,
            "question": q["question"], "answers": q["answers"], "object_ids": q["object_ids"],
            "object_names": q["object_names"], "question_type": q["type"],
            "single_view_answerable": any(needed <= v for v in visible),
        })  # fmt: skip
    colours = colour_recovery(scene, observations)
    return {"scene_id": scene.scene_id, "items": items, "skipped": skipped, "frames": len(poses),
            "trajectory": [[p.x, p.y, p.yaw] for p in poses],
            "colours": {f"{c}|{k}": v for (c, k), v in colours.items()}}  # fmt: skip


def make_qa(
    out: str | Path,
    n_scenes: int,
    seed: int,
    config: SimConfig | None = None,
    splits=(0.7, 0.15),
    workers: int = 1,
    balanced: bool = True,
    shapes: int = 1,
) -> dict:
    """Generate scenes, render them, write ScanQA-format splits; returns the summary dict.

    Rooms `seed .. seed + n_scenes - 1` are split by room (train first, then val, test), so no
    held-out room shares a seed with a training room. With `balanced`, each split keeps only the
    questions `qa_balance.balance` accepts (no answer dominates its type, template or exact
    question); the summary reports the question-only baselines and how well rendered colours
    can be told apart. `workers` render rooms in parallel processes; `shapes` is the small-object mesh version
    (`scenes.SHAPES`)."""
    from segpilot.sim.qa_balance import balance, question_only_baselines

    out = Path(out)
    config = config or QA_SIM_CONFIG
    # Split by scene: every split gets at least one scene once there are three.
    n_val = max(1, round(n_scenes * splits[1])) if n_scenes >= 3 else 0
    n_test = max(1, round(n_scenes * (1.0 - splits[0] - splits[1]))) if n_scenes >= 3 else 0
    n_train = n_scenes - n_val - n_test
    jobs = [(out, seed + i, config, shapes) for i in range(n_scenes)]
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            rooms = pool.map(_room, jobs, chunksize=1)
    else:
        rooms = [_room(job) for job in jobs]
    records: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    trajectories, colours, skipped, frames = {}, Counter(), 0, 0
    for i, room in enumerate(rooms):
        split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
        for it in room["items"]:
            records[split].append({**it, "question_id": f"{split}-{it['question_id']}"})
        trajectories[room["scene_id"]] = room["trajectory"]
        colours.update(room["colours"])
        skipped += room["skipped"]
        frames += room["frames"]
    generated = {s: len(v) for s, v in records.items()}
    # every templated question before balancing, so another balancing rule never needs a re-render
    (out / "questions_unbalanced.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "questions_unbalanced.json").write_text(json.dumps(records))
    if balanced:
        records = {s: balance(v, seed + k) for k, (s, v) in enumerate(records.items())}
    per_type, multi = Counter(), Counter()
    for split, items in records.items():
        for it in items:
            per_type[it["question_type"]] += 1
            multi[it["question_type"]] += int(not it["single_view_answerable"])
        (out / f"ScanQA_v1.0_{split}.json").write_text(json.dumps(items, indent=1))
        save_episodes(out / f"eqa_episodes_{split}.json", [_episode(it, trajectories[it["scene_id"]]) for it in items])
    total = sum(per_type.values())
    names = sorted({k.split("|")[0] for k in colours})
    summary = {
        "schema_version": 2, "scenes": n_scenes, "seed": seed, "shapes": shapes, "frames": frames,
        "rooms": {"train": n_train, "val": n_val, "test": n_test},
        "questions": {s: len(v) for s, v in records.items()}, "questions_before_balancing": generated,
        "balanced": balanced, "type_mix": dict(per_type),
        "needs_more_than_one_view": dict(multi), "needs_more_than_one_view_total": sum(multi.values()),
        "needs_more_than_one_view_share": (sum(multi.values()) / total) if total else 0.0,
        "skipped_never_visible": skipped,
        "question_only_baselines": {
            held_out: question_only_baselines(records["train"], records[held_out])
            for held_out in ("val", "test") if records["train"] and records[held_out]
        },
        "colour_recovery": {
            c: {"object_frames": colours[f"{c}|seen"],
                "nearest_colour_recovers_pct": 100.0 * colours[f"{c}|recovered"] / max(1, colours[f"{c}|seen"])}
            for c in names
        },
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _episode(item: dict, trajectory: list[list[float]]) -> QuestionEpisode:
    x, y, yaw = trajectory[0]
    return QuestionEpisode(
        episode_id=item["question_id"], scene_id=item["scene_id"], start_position=[x, y, 0.0],
        start_rotation=yaw_to_quat_xyzw(yaw), trajectory=trajectory,
        question={"question_text": item["question"], "answer_text": item["answers"][0], "answers": item["answers"],
                  "question_type": item["question_type"], "object_ids": item["object_ids"]},
    )  # fmt: skip
