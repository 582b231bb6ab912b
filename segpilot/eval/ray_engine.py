"""The batch evaluation on a Ray cluster: one model per worker actor, same files as the local engine.

Questions are grouped by scene (a worker encodes and prunes a scene once for all of its
questions) and the groups are handed to `workers` actors. Only the driver writes
`predictions.jsonl`, as each group comes back, so the resume and atomicity guarantees of
`runner.run_batch` hold unchanged and the metrics equal the local engine's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from segpilot.errors import SegpilotError
from segpilot.eval.datasets.scanqa import ScanQAItem
from segpilot.eval.runner import PredictionLog, finish, make_record


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """One line instead of a hang when `--ray-address host:port` does not answer."""
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SegpilotError(f"--ray-address must be host:port (or ray://host:port), got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise SegpilotError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def run_batch_ray(
    items: Sequence[ScanQAItem],
    answerer_factory: Callable[[], Callable[[ScanQAItem], dict]],
    out_dir: str | Path,
    workers: int = 2,
    meteor: bool = True,
    run_info: dict | None = None,
    address: str | None = None,
) -> dict:
    """`answerer_factory` must be picklable (e.g. functools.partial of a module-level function)."""
    import ray

    if workers < 1:
        raise SegpilotError(f"--workers must be >= 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = PredictionLog(out / "predictions.jsonl")
    done = log.finished()
    groups: dict[str, list[ScanQAItem]] = defaultdict(list)
    for it in items:
        if it.question_id not in done:
            groups[it.scene_id].append(it)
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            check_reachable(address)
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            # "local": always a new cluster of our own, never whatever an earlier `ray start` left in Ray's
            # current-cluster file; its servers listen on loopback only.
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, _node_ip_address="127.0.0.1")  # fmt: skip
    try:
        actors = [_Worker.remote(answerer_factory) for _ in range(min(workers, max(1, len(groups))))]
        pending = {}
        for i, group in enumerate(groups.values()):
            pending[actors[i % len(actors)].answer_group.remote(group)] = group
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(ready[0])
            try:
                results = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, SegpilotError) else None
                if cause is not None:
                    raise cause from None
                raise
            for item, result in zip(group, results, strict=True):
                record = make_record(item, result)
                log.append(record)
                done[item.question_id] = record
    finally:
        if started_here:
            ray.shutdown()
    return finish(items, done, out, meteor, run_info)


def _make_worker_class():
    import ray

    @ray.remote(num_cpus=1)
    class Worker:
        def __init__(self, factory):
            import torch

            torch.set_num_threads(1)  # one core per actor: no oversubscription
            self.answer = factory()

        def answer_group(self, group):
            return [self.answer(item) for item in group]

    return Worker


class _LazyWorker:
    """Defers importing ray (a heavy optional import) until the Ray engine is used."""

    _cls = None

    def remote(self, *args):
        if _LazyWorker._cls is None:
            _LazyWorker._cls = _make_worker_class()
        return _LazyWorker._cls.remote(*args)


_Worker = _LazyWorker()
