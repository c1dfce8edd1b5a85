"""Task sampling speed: one `Task.sample()` at the NTM paper's lengths, B = 32 and B = 1024.

    python bench/bench_tasks.py [--repeats 20] [--batches 32 1024] [--serial-steps N]

Prints a table and writes bench/results/tasks.json. For each task and batch size, the median
wall-clock time of one ``sample()`` (drawing inputs, running the machine on all of them with the
batched engine, encoding tensors) over `--repeats` calls, and the median time of the engine's
``run_batch`` alone on the same inputs (the rest is drawing and encoding, in numpy). Machine
building and numba compilation are excluded (a warm-up call comes first) and reported apart.

Lengths are the paper's training distributions, drawn per sample:
copy n ~ U{1..20}; repeat copy n ~ U{1..10}, k ~ U{1..10}; priority sort n = 20 (all 20 kept, and
the paper's 16 of 20).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tasks import get_task  # noqa: E402
from tasks.task import run_machine  # noqa: E402
from turing import engine  # noqa: E402

CASES = [  # (task, lengths: "uniform" over the training range or a fixed n)
    ("copy", "uniform"),
    ("repeat_copy", "uniform"),
    ("sort", 20),
    ("sort_paper", 20),
]


def lengths_for(task, how, rng, B):
    if how == "uniform":
        lo, hi = task.train_lengths
        return rng.integers(lo, hi + 1, size=B)
    return how


def bench(name, how, B, repeats) -> dict:
    t0 = time.perf_counter()
    task = get_task(name)
    rng = np.random.default_rng(0)
    task.sample(rng, B, lengths_for(task, how, rng, B))     # builds the machine, compiles, warms up
    cold = time.perf_counter() - t0
    sample_s, engine_s, steps = [], [], []
    for _ in range(repeats):
        lengths = lengths_for(task, how, rng, B)
        t0 = time.perf_counter()
        batch = task.sample(rng, B, lengths)
        sample_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_machine(task.machine, batch.input_symbols, task._max_steps(batch.lengths.numpy()))
        engine_s.append(time.perf_counter() - t0)
        steps.append(float(batch.machine_steps.float().mean()))
    return {"task": name, "lengths": how, "batch": B, "repeats": repeats,
            "sample_ms": 1e3 * statistics.median(sample_s), "engine_ms": 1e3 * statistics.median(engine_s),
            "min_sample_ms": 1e3 * min(sample_s), "mean_machine_steps": statistics.mean(steps),
            "first_call_s": cold, "T_in": int(batch.inputs.shape[1]), "T_out": int(batch.targets.shape[1])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 1024])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "tasks.json"))
    p.add_argument("--serial-steps", type=int, default=None,
                   help="turing.engine.SERIAL_STEPS for this run (0: every batch on numba's threads, as before "
                        "the sixth pass; default: the engine's)")
    args = p.parse_args(argv)
    if args.serial_steps is not None:
        engine.SERIAL_STEPS = args.serial_steps
    rows = [bench(name, how, B, args.repeats) for name, how in CASES for B in args.batches]
    print(f"{'task':<12} {'lengths':>8} {'B':>5} {'sample ms':>10} {'engine ms':>10} {'steps/seq':>10} "
          f"{'first call s':>12}")
    for r in rows:
        print(f"{r['task']:<12} {str(r['lengths']):>8} {r['batch']:>5} {r['sample_ms']:>10.2f} "
              f"{r['engine_ms']:>10.2f} {r['mean_machine_steps']:>10.0f} {r['first_call_s']:>12.2f}")
    env = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
           "numba": numba.__version__, "numba_threads": numba.get_num_threads(),
           "cpu_count": os.cpu_count(), "machine": platform.machine(),
           "engine_serial_steps": engine.SERIAL_STEPS}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"environment": env, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
