"""`compare_family` before and after regrouping (issue 22's 10^4-step families), side by side.

    git worktree add /tmp/base ec6b300          # the code before (any checkout of it)
    python bench/bench_universal_regroup.py --base /tmp/base [--states 5 --samples 64 --max-steps 2000]

One family (held-out machines of `--states` states, seed 12345, drawn 32 at a time as
`bench_universal.py --families` draws them) run with the shipped weights (`ntm/checkpoints/universal-s0`)
three ways, one after another, each in a fresh process with one torch thread:

1. the code at `--base` (before: the batches as drawn, every step over the whole memory);
2. this checkout with ``regroup=False`` (the batches as drawn; the free run writes the symbol column
   alone and sums the key norms once);
3. this checkout as `compare_family` runs by default (batches of like span, `run_groups`).

The results (step-exact, tape-exact, ...) must be equal; the seconds and load averages are written
to bench/results/universal_regroup_timing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, sys, time, torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1])
from ntm.analysis.universal_compare import compare_family
from ntm.training.run_dir import load_run
from tasks.universal import UniversalTask
case, kw = json.loads(sys.argv[2]), json.loads(sys.argv[3])
model = load_run(case["run"])[0]
task = UniversalTask(states=(case["states"], case["states"]), max_steps=case["max_steps"])
t0 = time.perf_counter()
r = compare_family(model, task, samples=case["samples"], chunk=32, **kw)
print(json.dumps({"seconds": time.perf_counter() - t0, "result": r}))
'''


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="a checkout of the code before (e.g. commit ec6b300)")
    p.add_argument("--states", type=int, default=5)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=2000)
    args = p.parse_args()
    case = {"states": args.states, "samples": args.samples, "max_steps": args.max_steps,
            "run": str(ROOT / "ntm/checkpoints/universal-s0")}
    rows = []
    for label, root, kw in (("before (--base)", args.base, {}), ("as drawn (regroup=False)", str(ROOT), {"regroup": False}),
                            ("regrouped (default)", str(ROOT), {})):
        load = os.getloadavg()
        out = subprocess.run([sys.executable, "-c", CHILD, str(Path(root).resolve()), json.dumps(case), json.dumps(kw)],
                             capture_output=True, text=True, cwd="/", env={**os.environ, "OMP_NUM_THREADS": "1"})
        if out.returncode:
            sys.stderr.write(out.stderr)
            return 1
        d = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"label": label, "seconds": round(d["seconds"], 1), "load_before": [round(x, 2) for x in load],
                     "load_after": [round(x, 2) for x in os.getloadavg()], "result": d["result"]})
        print(rows[-1], flush=True)
    same = all(r["result"] == rows[0]["result"] for r in rows)
    print("results identical:", same)
    report = {"host": platform.node(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "case": case,
              "rows": rows, "identical": same}
    (ROOT / "bench/results/universal_regroup_timing.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
