"""Learned against compiled: a trace-trained NTM and the `ntm compile` NTM of the same machine, in float32.

    python bench/bench_trace_vs_compiled.py [--machines binary_increment,reverse,binary_add]
                                            [--lengths 8,32,128,512] [--inputs 16] [--budget 60]

For each machine: train the trace NTM (``trace:MACHINE``, supervision "trace", feed-forward
controller, lengths 1–8, seed 0, at most --budget seconds), then on --inputs fixed inputs per length
run it free in float32 and run the compiled NTM (`ntm.compiler.harness.lockstep`, float32, memory =
the rows the run needs) on the first 4 of them. Reported per length: the fraction of runs that stay
exact to the machine's halt and the steps they ran, and the drift, as the maxima over every step
of every run of (1) 1 - max w, the weight off the head's focus, and (2) the memory's distance from
its ideal codes (min(|M|, |1 - M|) over the entries).

Prints a table and writes bench/results/trace_vs_compiled.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ntm.analysis.trace_compare import free_run  # noqa: E402
from ntm.compiler.harness import lockstep, needed_rows  # noqa: E402
from ntm.training import TrainConfig, train  # noqa: E402
from ntm.training.run_dir import load_run  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@torch.no_grad()
def learned_drift(model, batch) -> tuple[float, float]:
    """Max over steps and runs of 1 - max w and of the memory's distance from 0/1, the model free."""
    t_ = lambda x: torch.as_tensor(np.ascontiguousarray(x))  # noqa: E731
    s = model.initial_state(t_(batch.tape), t_(batch.heads[:, 0]), int(batch.state[0, 0]))
    running = torch.ones(batch.batch_size, dtype=torch.bool)
    off, mem = 0.0, 0.0
    for _ in range(batch.write.shape[1] + 1):
        d, core = model.decide(s)
        running = running & ~(d.halt > 0)
        if not running.any():
            break
        live = running
        off = max(off, float((1 - s.w[live].amax(-1)).max()))
        mem = max(mem, float(torch.minimum(s.M[live].abs(), (1 - s.M[live]).abs()).max()))
        q = F.one_hot(d.state.argmax(-1), model.Q).to(s.M.dtype)
        s = model.act(s, d, core, q, running)
    return off, mem


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machines", default="binary_increment,reverse,binary_add")
    p.add_argument("--lengths", default="8,32,128,512")
    p.add_argument("--inputs", type=int, default=16)
    p.add_argument("--budget", type=float, default=60.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    lengths = [int(x) for x in a.lengths.split(",")]
    out, rows = Path(tempfile.mkdtemp(prefix="trace_vs_compiled_")), []
    for m in a.machines.split(","):
        cfg = TrainConfig(task=f"trace:{m}", model="trace_ntm", steps=100_000, polish_steps=0, lr=3e-3,
                          seed=0, max_seconds=a.budget, threads=1, compare_lengths=[8])
        r = train(cfg, out / m, progress=False, log=lambda *_: None)
        model, task, _ = load_run(out / m)
        for n in lengths:
            batch = task.eval_batch(n, a.inputs)
            fr = free_run(model, batch)
            off, mem = learned_drift(model, batch)
            t0, compiled = time.perf_counter(), []
            for word in batch.input_symbols[:4]:
                steps = int(batch.steps[batch.input_symbols.index(word)])
                ls = lockstep(task.machine, word, max_steps=steps + 1, dtype=torch.float32,
                              memory_rows=needed_rows(task.machine, word, steps + 1))
                compiled.append(ls)
            row = {"machine": m, "length": n, "converged_step": r.steps if r.converged else None,
                   "machine_steps_median": float(np.median(batch.steps)),
                   "learned_exact": float((fr.step_exact & fr.tape_exact).mean()), "learned_runs": batch.batch_size,
                   "learned_off_focus_max": off, "learned_memory_max": mem,
                   "compiled_exact": float(np.mean([c.identical for c in compiled])), "compiled_runs": len(compiled),
                   "compiled_off_focus_max": max(float(c.leakage[:, 0].max()) for c in compiled),
                   "compiled_memory_max": max(float(c.leakage[:, 1].max()) for c in compiled),
                   "compiled_seconds": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            print(f"{m:17s} n={n:4d} steps~{row['machine_steps_median']:7.0f}  learned exact {row['learned_exact']:.2f} "
                  f"(1-max w {off:.1e}, memory {mem:.1e})   compiled exact {row['compiled_exact']:.2f} "
                  f"(1-max w {row['compiled_off_focus_max']:.1e}, memory {row['compiled_memory_max']:.1e})", flush=True)
    meta = {"command": "python bench/bench_trace_vs_compiled.py " + " ".join(sys.argv[1:]),
            "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "dtype": "float32"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trace_vs_compiled.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {RESULTS / 'trace_vs_compiled.json'}")


if __name__ == "__main__":
    main()
