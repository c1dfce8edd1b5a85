"""Where a trained copy model fails: wrong sequences per length on fresh random sequences, split by
whether the input holds an all-zero vector.

Why that split: in the copy task (Graves et al. 2014, section 4.1) the input during the output
phase is all-zero, so an all-zero vector in the input phase looks exactly like the output phase to
the controller; only its memory of the delimiter tells them apart. Such vectors are 1 in 256 of
the 8-bit inputs, so a length-120 sequence holds one with probability 1 - (255/256)^120 = 37 %.

    python bench/copy_failures.py RUN_DIR [--samples 4096] [--lengths 20,30,50,80,120]

Prints one line per length and writes bench/results/copy_failures.json (or $OUT/...). A "total
failure" is a sequence with more wrong bits than its length (the output lost its alignment, not a
few bits).
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np

from ntm.analysis.compare import fresh_errors
from ntm.training.run_dir import load_run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a copy run directory (from `ntm train --task copy`)")
    ap.add_argument("--samples", type=int, default=4096, help="fresh sequences per length (default 4096)")
    ap.add_argument("--lengths", default="20,30,50,80,120", help="comma-separated lengths (default 20,30,50,80,120)")
    ap.add_argument("--seed", type=int, default=12345, help="seed of the fresh sequences")
    a = ap.parse_args()
    model, task = load_run(a.run)[:2]
    if task.name != "copy":
        raise SystemExit(f"copy_failures: {a.run} is a {task.name} run; this analysis is for copy")
    rng = np.random.default_rng(a.seed)
    rows = []
    for n in (int(v) for v in a.lengths.split(",")):
        wrong_bits, inputs = fresh_errors(model, task, n, a.samples, rng)         # (S,), (S, n + 1, 9)
        has_zero = (inputs[:, :n, :-1].sum(-1) == 0).any(1)                      # (S,): input phase, data channels
        counts = {}
        for key, sel in (("with_zero_vector", has_zero), ("without", ~has_zero)):
            counts[key] = {"sequences": int(sel.sum()), "wrong": int((wrong_bits[sel] > 0).sum()),
                           "total_failures": int((wrong_bits[sel] > n).sum())}
        rows.append({"length": n, **counts})
        w, o = counts["with_zero_vector"], counts["without"]
        print(f"length {n:>4}: with an all-zero input vector {w['wrong']:>3} of {w['sequences']:>4} wrong "
              f"({w['total_failures']} total failures); without {o['wrong']:>3} of {o['sequences']:>4} "
              f"({o['total_failures']})", flush=True)
    out = Path(os.environ.get("OUT") or Path(__file__).parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "copy_failures.json").write_text(json.dumps(
        {"run": str(a.run), "samples": a.samples, "seed": a.seed, "lengths": rows}, indent=1))


if __name__ == "__main__":
    main()
