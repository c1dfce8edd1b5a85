"""Training to convergence: several runs side by side, one process and one torch thread each.

    python bench/bench_train.py --preset seeds  [--jobs 5] [--max-seconds 600]   # the default config, seeds 0-4
    python bench/bench_train.py --preset seeds20 [--only default-s7 ...]        # the same, seeds 0-19
    python bench/bench_train.py --preset nopolish [--jobs 1]                      # the same, stopped at convergence
    python bench/bench_train.py --preset polish2000 [--jobs 1]                    # the same, 2,000 polishing steps
    python bench/bench_train.py --preset sweep  [--jobs 2] [--only NAME ...]     # the variants below, seeds 0-4
    python bench/bench_train.py --preset noise  [--jobs 2]                       # ema_decay and beta2, seeds 0-9
    python bench/bench_train.py --preset strict [--jobs 2]                       # 1,024 evaluation sequences, seeds 0-9
    python bench/bench_train.py --preset eval20 [--jobs 2]                       # evaluation at length 20 only, seeds 0-9
    python bench/bench_train.py --preset short [--jobs 2]                        # training lengths 1-5, 3,000 steps, seeds 0-9

For every run: sequences and seconds until the fixed evaluation set first drops below 1 and below
0.01 bits per sequence, the best error, rollbacks, and the comparison with the machine at longer
lengths, and the wrong sequences among 1,024 fresh ones at each comparison length beyond the
training range. Prints a table and writes bench/results/train_<preset>.json (or $OUT/ when set).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = {"task": "copy", "device": "cpu", "threads": 1, "compare_lengths": [20, 30, 50, 80, 120]}

# The variants measured on 2026-12-01 (bench/README.md, "Training"), as overrides of today's defaults
# (lr 2e-3 halved once below 1 bit/seq, one length per batch, restarts after 1,200 stalled steps,
# Adam's beta2 0.99 and the weights' moving average scored: those two did not exist then).
_OLD = {"lr": 1e-3, "lr_drop_bits": None, "max_restarts": 0, "betas": [0.9, 0.999], "ema_decay": 0}
VARIANTS = {
    "perseq-lr1e-3": {**_OLD, "same_length": False},                     # the first defaults
    "adaptive-perseq-lr1e-3": {**_OLD, "same_length": False, "curriculum": "adaptive"},
    "perseq-lr1e-3-drop5": {**_OLD, "same_length": False, "lr_drop_bits": 5.0, "lr_drop_factor": 0.3},
    "lr1e-3-drop5": {**_OLD, "lr_drop_bits": 5.0, "lr_drop_factor": 0.3},
    "clip20-lr1e-3-drop5": {**_OLD, "lr_drop_bits": 5.0, "lr_drop_factor": 0.3, "model_params": {"clip_value": 20.0}},
    "b16-lr1e-3-drop5": {**_OLD, "lr_drop_bits": 5.0, "lr_drop_factor": 0.3, "batch_size": 16},
    "lr1e-3": _OLD,
    "lr1e-3-restart": {**_OLD, "max_restarts": 2, "restart_steps": 1600},
}

# What the weights' moving average and Adam's beta2 0.99 (today's defaults) each add, seeds 0-9
# (bench/README.md, "Training": "Noise").
NOISE = {"default": {}, "b0.999": {"betas": [0.9, 0.999]}, "no-ema": {"ema_decay": 0},
         "no-ema-b0.999": {"ema_decay": 0, "betas": [0.9, 0.999]}}

REPEAT_COPY = {"task": "repeat_copy", "compare_lengths": [10, 15, 20], "max_restarts": 0}  # restarts: tuned on copy

PRESETS = {
    "seeds": {f"default-s{s}": {"seed": s} for s in range(5)},
    "seeds20": {f"default-s{s}": {"seed": s} for s in range(20)},      # the same, to tell two trees apart
    "nopolish": {f"nopolish-s{s}": {"seed": s, "polish_steps": 0} for s in range(5)},   # stop at convergence
    "polish2000": {f"polish2000-s{s}": {"seed": s, "polish_steps": 2000} for s in range(5)},  # half the polishing
    "lstm": {f"lstm-s{s}": {"seed": s, "model": "lstm"} for s in range(3)},
    "repeat_copy": {f"repeat_copy-s{s}": {**REPEAT_COPY, "seed": s} for s in range(3)},
    "baselines": {"repeat_copy-s0": {**REPEAT_COPY, "seed": 0}, "lstm-s0": {"seed": 0, "model": "lstm"}},
    "sweep": {f"{v}-s{s}": {**o, "seed": s} for v, o in VARIANTS.items() for s in range(5)},
    "noise": {f"{v}-s{s}": {**o, "seed": s} for v, o in NOISE.items() for s in range(10)},
    # a stricter test of convergence: the same target on 1,024 evaluation sequences instead of 256
    "strict": {f"eval1024-s{s}": {"eval_samples": 1024, "seed": s} for s in range(10)},
    # evaluation set at the longest training length only (512 sequences of length 20)
    "eval20": {f"eval20-s{s}": {"eval_lengths": [20], "eval_samples": 512, "seed": s} for s in range(10)},
    # short training sequences (lengths 1-5, as pytorch-ntm users have tried), 3,000 steps with the
    # other defaults: what a user who shortens the range gets (bench/README.md, "Short training lengths")
    "short": {f"short-s{s}": {"task_params": {"train_lengths": [1, 5]}, "steps": 3000,
                              "compare_lengths": [1, 3, 5, 8, 10, 20, 40], "seed": s} for s in range(10)},
}


def one_run(args):
    name, overrides, max_seconds, root, kernel_threads = args
    import torch
    torch.set_num_threads(1)
    from ntm.models import kernels
    from ntm.training import TrainConfig, train
    kernels.set_threads(kernel_threads)                          # the NTM's numba kernels: the cores / jobs
    cfg = TrainConfig(**{**BASE, "steps": 100_000, "max_seconds": max_seconds, **overrides})
    t0 = time.time()
    res = train(cfg, Path(root) / name, progress=False, log=lambda *a: None)
    rows = [json.loads(x) for x in (Path(root) / name / "metrics.jsonl").read_text().splitlines()]
    fresh = fresh_counts(res.run_dir, cfg.compare_lengths) if FRESH else None
    first = lambda thr: next(((r["sequences"], r["seconds"]) for r in rows if r["bits_per_seq"] < thr), (None, None))  # noqa: E731
    s1, t1 = first(1.0)
    s001, t001 = first(0.01)
    return {"name": name, "overrides": overrides, "converged": res.converged, "best_bits": res.best_bits,
            "sequences": res.sequences, "seconds": round(time.time() - t0, 1),
            "seq_per_s": round(res.sequences / max(res.seconds, 1e-9), 1),
            "sequences_to_1bit": s1, "seconds_to_1bit": t1, "sequences_to_0.01bit": s001,
            "seconds_to_0.01bit": t001, "rollbacks": res.rollbacks, "skipped": res.skipped,
            "comparison": [{k: r[k] for k in ("length", "bit_errors_per_seq", "seq_accuracy")} for r in res.comparison],
            "fresh": fresh,
            "curve": [(r["sequences"], round(r["bits_per_seq"], 4), r.get("max_length"), r["lr"]) for r in rows]}


FRESH = 1024          # fresh sequences per comparison length beyond the training range (0: skip)


def fresh_counts(run_dir, lengths, samples=FRESH, seed=12345):
    """Wrong sequences (any wrong bit) and bits per sequence on `samples` fresh random sequences at
    each length beyond the training range: four times the fixed comparison set, and new draws, so a
    rare failure (the kind target 3 is about) shows as a rate rather than as luck."""
    import numpy as np
    from ntm.analysis.compare import fresh_errors
    from ntm.training.run_dir import load_run
    model, task = load_run(run_dir)[:2]
    rng, out = np.random.default_rng(seed), []
    for n in (n for n in lengths if n > task.train_lengths[1]):
        e = fresh_errors(model, task, n, samples, rng)[0]             # (samples,) wrong bits per sequence
        wrong, bits = int((e > 0).sum()), int(e.sum())
        out.append({"length": n, "samples": samples, "wrong_sequences": wrong, "bits_per_seq": bits / samples})
    return out


def revision() -> str | None:
    """The checkout's git revision (with "+changes" if its files differ from it), None outside git."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    try:
        rev = git("rev-parse", "--short", "HEAD")
        return rev + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "") if rev else None
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=PRESETS, default="seeds")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--only", nargs="*", help="run only these names of the preset")
    ap.add_argument("--kernel-threads", type=int, help="the NTM kernels' threads per run (default: cores / jobs)")
    a = ap.parse_args()
    runs = {n: o for n, o in PRESETS[a.preset].items() if not a.only or n in a.only}
    with tempfile.TemporaryDirectory() as root, mp.get_context("spawn").Pool(a.jobs) as pool:
        results = []
        kernel_threads = a.kernel_threads or max(1, (os.cpu_count() or 1) // a.jobs)
        for r in pool.imap_unordered(one_run, [(n, o, a.max_seconds, root, kernel_threads) for n, o in runs.items()]):
            results.append(r)
            cmp = " ".join(f"{c['length']}:{c['bit_errors_per_seq']:.2f}" for c in r["comparison"])
            print(f"{r['name']:<18} conv={r['converged']!s:<5} best={r['best_bits']:.4f} seq={r['sequences']:>7} "
                  f"t={r['seconds']:>6}s {r['seq_per_s']:>6}/s  to<1bit={r['sequences_to_1bit']} "
                  f"to<0.01={r['sequences_to_0.01bit']} ({r['seconds_to_0.01bit']} s) rb={r['rollbacks']}  {cmp}"
                  + ("" if not r["fresh"] else "  | fresh, wrong of " + str(FRESH) + ": "
                     + " ".join(f"{f['length']}:{f['wrong_sequences']}" for f in r["fresh"])),
                  flush=True)
    out = Path(os.environ.get("OUT") or Path(__file__).parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    from bench_kernels import openblas                          # the BLAS kernels change the rounding, so the path
    info = {"preset": a.preset, "jobs": a.jobs, "cpus": os.cpu_count(),
            "kernel_threads": a.kernel_threads or max(1, (os.cpu_count() or 1) // a.jobs), "base": BASE,
            "openblas": openblas(), "revision": revision(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "runs": sorted(results, key=lambda r: r["name"])}
    (out / f"train_{a.preset}.json").write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
