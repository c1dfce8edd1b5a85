"""A sweep cell's overhead: what a cell costs beyond its training loop and its final comparison.

    python bench/bench_sweep_overhead.py [--models ntm,lstm] [--repeats 3]

Each repeat runs, in a fresh Python process (as a spawned sweep worker is), a one-cell sweep
(`ntm.sweep.run_sweep`, task copy, one optimizer step, ``workers=1`` so the cell runs in that
process) and times its phases: the imports, the whole sweep call, the trainer's loop (the last
``seconds`` in the cell's metrics.jsonl: one step and one evaluation) and the final comparison
(`ntm.training.run.comparison`). Overhead = process start and imports + the sweep call − loop −
comparison: task and model build, the numba kernels' cache load, the run directory, results.jsonl,
table.md and the plot. Reported as seconds and as a share of a 2-minute cell (the issue's target:
under 5 %), median over repeats, with the load average before each repeat (a shared 2-core box:
other jobs change these numbers a lot). Writes bench/results/sweep_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CELL_SECONDS = 120.0

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import ntm.sweep, ntm.training.run as R
imports = time.perf_counter() - t0
spent = {}
orig = R.comparison
def comparison(*a, **k):
    s = time.perf_counter(); r = orig(*a, **k); spent["comparison"] = time.perf_counter() - s; return r
R.comparison = comparison
s = time.perf_counter()
ntm.sweep.run_sweep("copy", sys.argv[1], "0", steps=1, out=sys.argv[2], workers=1, progress=False, log=lambda *a: None)
sweep = time.perf_counter() - s
rows = [json.loads(line) for line in open(f"{sys.argv[2]}/cells/copy-{sys.argv[1]}-seed0/metrics.jsonl")]
print(json.dumps({"imports": imports, "sweep": sweep, "loop": rows[-1]["seconds"], **spent}))
"""


def one(model: str) -> dict:
    """One repeat in a fresh process: the phases (seconds) and the overhead."""
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", CHILD, model, f"{tmp}/s"], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
    row = json.loads(p.stdout.strip().splitlines()[-1])
    row.update(wall=wall, load_before=load)
    row["overhead"] = wall - row["loop"] - row["comparison"]
    return {k: round(v, 3) for k, v in row.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="ntm,lstm")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
              "cell_seconds": CELL_SECONDS, "models": {}}
    for model in args.models.split(","):
        runs = [one(model) for _ in range(args.repeats)]
        med = statistics.median(r["overhead"] for r in runs)
        report["models"][model] = {"runs": runs, "overhead_median": round(med, 2),
                                   "share_of_cell": round(med / CELL_SECONDS, 4)}
        print(f"{model}: overhead {med:.2f} s median ({100 * med / CELL_SECONDS:.1f} % of a {CELL_SECONDS:.0f} s cell); "
              + "; ".join(f"wall {r['wall']:.1f} s = imports {r['imports']:.1f} + loop {r['loop']:.1f} + comparison "
                          f"{r['comparison']:.1f} + rest (load {r['load_before']:.1f})" for r in runs), flush=True)
    (RESULTS / "sweep_overhead.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
