"""`segpilot bench prune --background-load N`: SeGPruner's kernels with one thread and with the default threads,
on an idle machine and while N busy processes (started and stopped here) compete for the cores.

A robot runs many processes: a multi-threaded kernel whose threads meet at a barrier waits for whichever thread the
scheduler took away (global mode's scan used to meet one every greedy step; it now runs serially on lazy cells).
The figure that matters is the loaded default-thread time against the loaded one-thread time (issue 20's target:
within 2x), and the idle default-thread time (unchanged).
"""

from __future__ import annotations

import subprocess
import sys
import time

MODES = ("per_view", "global", "hierarchical")


def _time_modes(tokens: dict, budget: float, repeats: int, threads: tuple[int, ...], rounds: int = 3) -> dict:
    """{threads: {(shape, mode): median ms}}, the thread counts taking turns in `rounds` blocks: on a busy machine
    the load changes from one second to the next, and timing one count after the other compared different loads.
    Each block sets the thread count and makes one untimed call first (a changed count rebuilds thread pools,
    which a process that keeps its count never pays)."""
    import statistics
    import time

    import numba
    import torch

    from segpilot.perception.pruning import fps_host
    from segpilot.perception.pruning.registry import make_pruner

    per_block = max(1, -(-repeats // rounds))
    out: dict = {th: {} for th in threads}
    for shape, t in tokens.items():
        for mode in MODES:
            pruner = make_pruner("segpruner", mode=mode)
            times: dict = {th: [] for th in threads}
            for _ in range(rounds):
                for th in threads:
                    numba.set_num_threads(th)
                    torch.set_num_threads(th)
                    fps_host.set_threads(th)  # the plain threads over the kernels compiled at install
                    pruner.select(t, budget)
                    for _ in range(per_block):
                        t0 = time.perf_counter()
                        pruner.select(t, budget)
                        times[th].append(time.perf_counter() - t0)
            for th in threads:
                out[th][(shape, mode)] = 1000.0 * statistics.median(times[th])
    return out


def busy_processes(n: int) -> list[subprocess.Popen]:
    """`n` processes that spin on a core each until killed (the background load)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run(shapes: list[str], budget: float, repeats: int, load: int) -> list[dict]:
    import numba
    import torch

    from segpilot.bench.timing import Shape
    from segpilot.perception.pruning import fps_host
    from segpilot.perception.synthetic import room_tokens

    default = max(numba.get_num_threads(), torch.get_num_threads(), fps_host.threads())
    tokens = {}
    for text in shapes:
        s = Shape.parse(text)
        tokens[str(s)] = room_tokens(s.views, s.grid, s.dim, seed=0)
    counts = (1, default) if default > 1 else (1,)
    idle = _time_modes(tokens, budget, repeats, counts)
    procs = busy_processes(load)
    try:
        time.sleep(0.5)
        loaded = _time_modes(tokens, budget, repeats, counts)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        numba.set_num_threads(default)
        torch.set_num_threads(default)
        fps_host.set_threads(None)
    rows = []
    for key in idle[1]:
        shape, mode = key
        rows.append({"shape": shape, "method": f"segpruner[{mode}]", "threads": default, "background_load": load,
                     "idle_1_thread_ms": idle[1][key], "idle_ms": idle[default][key],
                     "loaded_1_thread_ms": loaded[1][key], "loaded_ms": loaded[default][key],
                     "loaded_vs_1_thread": loaded[default][key] / loaded[1][key]})  # fmt: skip
    return rows


def format_rows(rows: list[dict]) -> str:
    if not rows:
        return ""
    r0 = rows[0]
    lines = [f"\nSeGPruner with 1 vs {r0['threads']} threads, idle and under {r0['background_load']} busy processes "
             f"(target: loaded {r0['threads']} threads within 2x of loaded 1 thread)",
             f"{'shape':<14}{'method':<26}{'idle 1t':>10}{'idle':>10}{'loaded 1t':>12}{'loaded':>10}{'ratio':>8}"]
    for r in rows:
        lines.append(f"{r['shape']:<14}{r['method']:<26}{r['idle_1_thread_ms']:>8.1f}ms{r['idle_ms']:>8.1f}ms"
                     f"{r['loaded_1_thread_ms']:>10.1f}ms{r['loaded_ms']:>8.1f}ms{r['loaded_vs_1_thread']:>7.2f}x")
    return "\n".join(lines)
