"""Learned interpreters from traces: the headline table and the supervision ladder.

    python bench/bench_trace_ladder.py headline [--machines binary_increment,...] [--seeds 0,1,2]
    python bench/bench_trace_ladder.py ladder [--machines binary_increment,reverse] [--seeds 0]
    python bench/bench_trace_ladder.py copy [--seeds 0]      # 8-bit copy through its trace, 4,096 inputs
    python bench/bench_trace_ladder.py cost                  # trace sampling against a training step

Each cell is one `ntm.training.train` run of ``trace:MACHINE`` (the trace NTM, trained on input
lengths 1–8 with the task's defaults: batch 32, lr 3e-3, Adam, evaluation every 100 steps, no
polishing), within a wall-clock budget (--budget seconds of training), then
`ntm.analysis.trace_compare.compare_trace` at 8, 32, 128 and 512 (256 fresh fixed inputs a length,
fewer where the machine's runs are long: the row says how many; the model runs free).

- headline: supervision "trace", the feed-forward controller; seeds 0–2.
- ladder: every supervision level (trace, writes, moves, output) x controller (ff, lstm).
- copy: the main job's copy machine (8-bit symbols: ``machine_params={"width": 8}``) through its
  trace, then wrong runs among 4,096 fresh inputs at 30, 50, 80 and 120 (the output-only copy NTM's
  figures: bench/results/copy_failures*.json).
- cost: the median time of drawing a batch of 32 traced binary_add inputs of length 8
  (``TraceTask.sample``: engine, trace arrays, memory layout) against one trace-NTM training step on
  it (loss, backward, Adam), 50 repeats each.

Prints a table and writes bench/results/trace_headline.json or trace_ladder.json (+ a PNG per
machine for the ladder: the longest length with 100 % step-exact and tape-exact runs, by level).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ntm.training import TrainConfig, train  # noqa: E402

LEVELS = ("trace", "writes", "moves", "output")
RESULTS = Path(__file__).resolve().parent / "results"


def one_run(machine: str, level: str, controller: str, seed: int, budget: float, out: Path,
            compare_lengths=(8, 32, 128, 512), task_params=None) -> dict:
    cfg = TrainConfig(task=f"trace:{machine}", model="trace_ntm", task_params={"supervision": level, **(task_params or {})},
                      model_params={"controller": controller}, steps=100_000, batch_size=32, lr=3e-3,
                      eval_every=100, polish_steps=0, seed=seed, max_seconds=budget, threads=1,
                      compare_lengths=list(compare_lengths))
    t0 = time.perf_counter()
    r = train(cfg, out / f"{machine}-{level}-{controller}-seed{seed}", progress=False, log=lambda *_: None)
    rows = r.comparison
    exact = lambda key: max([row["length"] for row in rows if row[key] == 1.0], default=0)  # noqa: E731
    return {"machine": machine, "supervision": level, "controller": controller, "seed": seed,
            "converged": r.converged, "steps": r.steps, "train_seconds": round(r.seconds, 1),
            "wall_seconds": round(time.perf_counter() - t0, 1), "comparison": rows,
            "longest_step_exact": exact("step_exact"), "longest_tape_exact": exact("seq_accuracy")}


def show(row: dict) -> str:
    per = "  ".join(f"{c['length']}:{c['step_exact']:.2f}/{c['seq_accuracy']:.2f}({c['samples']})" for c in row["comparison"])
    return (f"{row['machine']:17s} {row['supervision']:7s} {row['controller']:4s} seed {row['seed']}  "
            f"{'conv' if row['converged'] else 'NOT '} step {row['steps']:5d} {row['train_seconds']:6.1f}s   {per}")


def plot_ladder(rows: list[dict], machine: str, path: Path) -> None:
    """Longest length with 100 % exact runs (of 8, 32, 128, 512; "none") against the level, one
    line per controller and kind of exactness."""
    from ntm.analysis.figures import new_figure, save_figure
    fig = new_figure(5.5, 3.4)
    ax = fig.add_subplot()
    ticks = [0, 8, 32, 128, 512]
    for j, (controller, color) in enumerate((("ff", "tab:blue"), ("lstm", "tab:red"))):
        for key, what, style in (("longest_tape_exact", "tape-exact", "o-"), ("longest_step_exact", "step-exact", "s:")):
            ys = [max([r[key] for r in rows if r["machine"] == machine and r["supervision"] == lv
                       and r["controller"] == controller], default=0) for lv in LEVELS]
            xs = [i + (j - 0.5) * 0.12 + (0.03 if what == "step-exact" else 0) for i in range(len(LEVELS))]
            ax.plot(xs, [ticks.index(y) if y in ticks else 0 for y in ys], style, color=color,
                    label=f"{controller}, {what}", alpha=0.9)
    ax.set_xticks(range(len(LEVELS)), LEVELS)
    ax.set_yticks(range(len(ticks)), ["none", "8", "32", "128", "512"])
    ax.set_ylabel("longest length, 100 % exact")
    ax.set_xlabel("supervision (trained on lengths 1–8)")
    ax.set_title(f"trace:{machine}: the supervision ladder", fontsize=10)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def copy_mode(seeds, budget: float, out: Path) -> list[dict]:
    """8-bit copy through its trace: trained like the others, then 4,096 fresh inputs per length."""
    from ntm.analysis.trace_compare import free_run
    from ntm.training.run_dir import load_run
    rows = []
    for seed in seeds:
        row = one_run("copy", "trace", "ff", seed, budget, out, compare_lengths=[8],
                      task_params={"machine_params": {"width": 8}})
        model, task, _ = load_run(out / f"copy-trace-ff-seed{seed}")
        row["fresh"] = []
        for n in (30, 50, 80, 120):
            wrong = 0
            for part in range(16):                                   # 16 x 256 = 4,096 fresh inputs
                batch = task.sample(np.random.default_rng(10_000 * n + part), 256, n)
                r = free_run(model, batch)
                wrong += int((~(r.step_exact & r.tape_exact)).sum())
            row["fresh"].append({"length": n, "inputs": 4096, "wrong": wrong})
        rows.append(row)
        print(show(row), " fresh:", ", ".join(f"{f['length']}: {f['wrong']}/4096" for f in row["fresh"]), flush=True)
    return rows


def cost_mode() -> dict:
    """Median seconds of sampling a traced batch and of one training step (binary_add, 32, n = 8)."""
    import statistics
    from ntm.models import build_model, predict
    from ntm.training.objective import TraceObjective
    from tasks.registry import get_task
    task = get_task("trace:binary_add")
    torch.manual_seed(0)
    model = build_model("trace_ntm", task.input_size, task.output_size, **task.model_options())
    opt, objective, rng = torch.optim.Adam(model.parameters(), 3e-3), TraceObjective(), np.random.default_rng(0)
    task.sample(rng, 32, 8)                                          # warm-up: numba, the machine
    sample_s, step_s = [], []
    for _ in range(50):
        t0 = time.perf_counter()
        batch = task.sample(rng, 32, 8)
        t1 = time.perf_counter()
        loss = objective.loss(predict(model, batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sample_s.append(t1 - t0)
        step_s.append(time.perf_counter() - t1)
    a, b = statistics.median(sample_s), statistics.median(step_s)
    print(f"sampling 32 traced binary_add inputs of length 8: {a * 1e3:.2f} ms; one training step on them: "
          f"{b * 1e3:.1f} ms; sampling = {100 * a / b:.2f} % of a step")
    return {"sample_ms": a * 1e3, "train_step_ms": b * 1e3, "ratio_percent": 100 * a / b}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("headline", "ladder", "copy", "cost"))
    p.add_argument("--machines")
    p.add_argument("--seeds", default=None)
    p.add_argument("--budget", type=float, default=None, help="training seconds per run")
    p.add_argument("--out", default=None, help="where the run directories go (default: a temporary one)")
    p.add_argument("--results", default=None, help="the JSON's name in bench/results (default trace_MODE)")
    a = p.parse_args()
    torch.set_num_threads(1)
    meta = {"command": "python bench/bench_trace_ladder.py " + " ".join(sys.argv[1:]),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    RESULTS.mkdir(exist_ok=True)
    if a.mode in ("copy", "cost"):
        out = Path(a.out or tempfile.mkdtemp(prefix="trace_bench_"))
        result = (copy_mode([int(x) for x in (a.seeds or "0").split(",")], a.budget or 300.0, out)
                  if a.mode == "copy" else cost_mode())
        (RESULTS / f"trace_{a.mode}.json").write_text(json.dumps({"meta": meta, "result": result}, indent=1))
        print(f"wrote {RESULTS / f'trace_{a.mode}.json'}")
        return
    headline = a.mode == "headline"
    machines = (a.machines or ("binary_increment,binary_add,copy,reverse,duplicate,palindrome,sort" if headline
                               else "binary_increment,reverse")).split(",")
    seeds = [int(s) for s in (a.seeds or ("0,1,2" if headline else "0")).split(",")]
    budget = a.budget or (300.0 if headline else 90.0)
    cells = [(m, lv, c) for m in machines for lv, c in ([("trace", "ff")] if headline else
                                                       [(lv, c) for lv in LEVELS for c in ("ff", "lstm")])]
    out = Path(a.out or tempfile.mkdtemp(prefix="trace_bench_"))
    rows = []
    for m, lv, c in cells:
        for seed in seeds:
            rows.append(one_run(m, lv, c, seed, budget, out))
            print(show(rows[-1]), flush=True)
    name = a.results or ("trace_headline" if headline else "trace_ladder")
    meta |= {"budget_seconds": budget,
             "note": "step-exact/tape-exact fractions on the fixed inputs per length; the model runs free"}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1))
    if not headline:
        for m in machines:
            plot_ladder(rows, m, RESULTS / f"trace_ladder_{m}.png")
    print(f"wrote {RESULTS / name}.json")


if __name__ == "__main__":
    main()
