"""Traces at dataset speed: drawing a batch of traced machine runs against one NTM training step.

    python bench/bench_traces.py [--repeats 50] [--batch 32] [--length 8]

Prints a table and writes bench/results/traces.json. Timed, each as the median of `--repeats`
calls after a warm-up call (machine building and numba compilation excluded):

- engine, traced: ``run_batch(binary_add, words, trace=True)`` on B inputs of the
  `binary_addition` task at length n (the issue's target: under 2 % of a training step);
  the same without ``trace`` beside it, for the cost of recording;
- ``Task.sample(rng, B, n, with_trace=True)``: drawing, running, encoding tensors, with the
  trace arrays (`Batch.trace`); the same then read as B lists of `TraceStep` (`Batch.traces`,
  Python objects, one a step); and ``sample`` without traces;
- the reference path the tasks used before: `machine_trace` (`turing.trace`) word by word;
- a large batch (1,024 binary_add inputs of length 40, codes in): steps/s traced and plain;
- one NTM training step at batch B on copy: a default ``build_model("ntm", ...)`` (the NTMConfig
  defaults), Adam, ``predict`` + masked BCE + backward + gradient clipping + step, on a copy batch
  drawn from its training distribution (n ~ U{1..20}), batches drawn before timing.
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
from ntm.models import build_model, predict  # noqa: E402
from ntm.training.objective import MaskedObjective  # noqa: E402
from tasks import get_task  # noqa: E402
from tasks.task import machine_trace  # noqa: E402
from turing.engine import run_batch  # noqa: E402


def median_seconds(f, repeats: int) -> tuple[float, list[float]]:
    """Median wall-clock seconds of `repeats` calls of f (after one warm-up call)."""
    f()
    seconds = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        seconds.append(time.perf_counter() - t)
    return statistics.median(seconds), seconds


def bench_traces(B: int, n: int, repeats: int) -> dict:
    """The engine with and without traces, `sample` with and without, and the reference path."""
    task = get_task("binary_addition")
    rng = np.random.default_rng(0)
    words = task.sample(rng, B, n).input_symbols
    m, limit = task.machine, task._max_steps(np.full(B, n))
    traced = run_batch(m, words, max_steps=limit, trace=True)
    assert [len(t) for t in [traced.trace.transitions(b) for b in range(B)]] == traced.steps.tolist()
    out = {"machine": task.machine_label, "batch": B, "length": n, "max_steps": limit,
           "steps_per_run": float(traced.steps.mean()), "longest_run": int(traced.steps.max()),
           "trace_mb": traced.trace.nbytes / 1e6}
    cases = {"engine_traced": lambda: run_batch(m, words, max_steps=limit, trace=True),
             "engine_plain": lambda: run_batch(m, words, max_steps=limit),
             "sample_with_trace": lambda: task.sample(rng, B, n, with_trace=True),
             "sample_with_trace_steps": lambda: task.sample(rng, B, n, with_trace=True).traces,
             "sample_plain": lambda: task.sample(rng, B, n),
             "reference_machine_trace": lambda: [machine_trace(m, w, limit) for w in words]}
    for name, f in cases.items():
        med, seconds = median_seconds(f, repeats if name != "reference_machine_trace" else max(repeats // 5, 3))
        out[name] = {"median_seconds": med, "seconds": seconds}
    return out


def bench_large(B: int, n: int, repeats: int) -> dict:
    """The cost of recording on a large batch of long runs: steps/s traced and plain, codes in."""
    task = get_task("binary_addition")
    words = task.sample(np.random.default_rng(1), B, n).input_symbols
    m, limit = task.machine, task._max_steps(np.full(B, n))
    index = {a: i for i, a in enumerate(m.tape_alphabet)}
    codes = np.array([[index[a] for a in w] for w in words])
    traced = run_batch(m, codes, max_steps=limit, trace=True)
    steps = int(traced.steps.sum())
    out = {"batch": B, "length": n, "steps": steps, "longest_run": int(traced.steps.max()),
           "trace_mb": traced.trace.nbytes / 1e6}
    for name, trace in (("traced", True), ("plain", False)):
        med, seconds = median_seconds(lambda: run_batch(m, codes, max_steps=limit, trace=trace), repeats)
        out[name] = {"median_seconds": med, "seconds": seconds, "steps_per_second": steps / med}
    return out


def bench_train_step(B: int, repeats: int) -> dict:
    """One NTM training step on copy at batch B (forward, loss, backward, clip, Adam)."""
    task = get_task("copy")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = build_model("ntm", task.input_size, task.output_size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    objective = MaskedObjective(task.loss_kind)
    lo, hi = task.train_lengths
    batches = [task.sample(rng, B, rng.integers(lo, hi + 1, size=B)) for _ in range(repeats + 1)]
    it = iter(batches)

    def step():
        batch = next(it)
        loss = objective.loss(predict(model, batch), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()

    med, seconds = median_seconds(step, repeats)
    return {"task": "copy", "model": "ntm (NTMConfig defaults)", "batch": B, "lengths": [lo, hi],
            "median_seconds": med, "seconds": seconds, "torch_threads": torch.get_num_threads()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "traces.json"))
    args = ap.parse_args(argv)

    tr = bench_traces(args.batch, args.length, args.repeats)
    large = bench_large(1024, 40, max(args.repeats // 5, 3))
    step = bench_train_step(args.batch, args.repeats)
    base = step["median_seconds"]
    print(f"{tr['machine']}: B={args.batch}, n={args.length}, {tr['steps_per_run']:.1f} steps a run "
          f"(longest {tr['longest_run']}); numba {numba.__version__}, {numba.get_num_threads()} threads, "
          f"torch {torch.__version__}, {step['torch_threads']} threads, {os.cpu_count()} CPUs")
    print(f"{'what':<44}{'median ms':>12}{'% of a step':>14}")
    for name in ("engine_traced", "engine_plain", "sample_with_trace", "sample_with_trace_steps", "sample_plain",
                 "reference_machine_trace"):
        med = tr[name]["median_seconds"]
        print(f"{name:<44}{med * 1e3:>12.3f}{100 * med / base:>13.2f}%")
    print(f"{'NTM training step, copy, B=' + str(args.batch):<44}{base * 1e3:>12.1f}{100.0:>13.2f}%")
    print(f"binary_add B={large['batch']} n={large['length']} ({large['steps']:,} steps, trace "
          f"{large['trace_mb']:.1f} MB): traced {large['traced']['steps_per_second'] / 1e6:.1f} M steps/s, "
          f"plain {large['plain']['steps_per_second'] / 1e6:.1f} M steps/s")
    result = {"traces": tr, "large": large, "train_step": step, "platform": platform.platform(),
              "python": platform.python_version(), "numba": numba.__version__, "torch": torch.__version__,
              "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
