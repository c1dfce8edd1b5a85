"""Does the NTM's fused step with its hand-derived backward beat torch.compile of the reference step?

Training throughput (forward + masked BCE loss + backward + Adam step), sequences per second, of
five ways to run the same NTM (the paper's copy setup: LSTM-100 controller, one read and one write
head, 128 x 20 memory, float32, one torch thread as the trainer sets it), all in ONE process and
interleaved (A, B, C, D, E, A, B, ...) so that their ratios are measured side by side under the same
load:

  A  reference, eager:     `NTM.reference_forward` (the per-equation step `NTM._cell` per time step)
                           differentiated by autograd
  B  reference, compiled:  the same loop with `_cell` replaced by torch.compile(_cell, dynamic=False),
                           autograd through the compiled graph
  C  fused torch, eager:   NTMConfig(backend="torch"): `fused.FusedEpisode`, the hand-derived backward
  D  fused torch, compiled: NTMConfig(backend="torch", torch_compile=True) (COMPILE_STEPS steps per call)
  E  numba kernels:        NTMConfig() (backend "auto"), what CPU training runs

Data: task `copy` (tasks.registry.get_task("copy")), batch 32, drawn with the trainer's curriculum
(uniform over 1..20, one length per batch, `same_length`), loss = `ntm.training.masked_loss` (BCE). Two
workloads: "1..20/b" = the same `--batches` pre-drawn batches of random lengths 1..20 for every
variant, and "20" = `--batches-20` batches of length 20 (41 time steps). One round times every
variant once on the workload's batches; rounds are repeated `--repeats` times, and the table gives
the median seq/s over the rounds (with min..max), its ratio to A's and B's medians, and the median
(and extremes) of the per-round ratios.

Compile time is measured apart from the steady-state rate: before timing, B and D are warmed on
every length 1..20 (forward + backward, no optimizer step, so all five models keep equal weights);
"first call" is the first length's forward + backward (the compile), "warm-up" all 20 lengths. By
default the inductor cache is a fresh temporary folder (cold compile); `--warm-cache` keeps the
user's cache. E's first call compiles or loads the numba kernels (numba's on-disk cache).

Numerics: with equal weights, B's loss and every parameter gradient are compared with A's (and C's,
D's, E's, for scale) at lengths 1, 10 and 20; the largest absolute differences are printed.

    python bench/bench_fused.py                 # table, bench/results/fused_vs_compile.json (~4-5 min on 2 cores)
    python bench/bench_fused.py --repeats 3 --batches 10 --batches-20 2 --out /tmp/x.json   # quick look

Conventions follow bench/bench_model.py (median wall clock, load average recorded, JSON layout); unlike
it, the variants share a process on purpose, so only the ratios within one run are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "A": "reference, eager (reference_forward + autograd)",
    "B": "reference step compiled (torch.compile(_cell, dynamic=False) + autograd)",
    "C": "fused torch, eager (backend='torch')",
    "D": "fused torch, compiled (backend='torch', torch_compile=True)",
    "E": "numba kernels (backend='auto', the CPU default)",
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds per workload")
    parser.add_argument("--batches", type=int, default=20, help="batches of random length 1..20 per round")
    parser.add_argument("--batches-20", type=int, default=5, help="batches of length 20 per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--variants", default="ABCDE", help="subset of ABCDE (A is the ratios' base)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="keep the user's inductor cache (default: a fresh one, so compile times are cold)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fused_vs_compile.json")
    args = parser.parse_args()
    variants = [v for v in "ABCDE" if v in args.variants.upper()]
    if "A" not in variants:
        parser.error("--variants must include A (the base of the ratios)")

    cache_dir = None
    if not args.warm_cache:                                      # before torch is imported
        cache_dir = tempfile.mkdtemp(prefix="inductor-bench-fused-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT))
    from ntm.models import build_model, kernels
    from ntm.models.fused import COMPILE_STEPS
    from ntm.training import masked_loss
    from tasks.curriculum import make_curriculum
    from tasks.registry import get_task

    torch.set_num_threads(1)                                     # as the trainer does
    kernels.set_threads(None)                                    # as the trainer does: one per CPU
    load_before = os.getloadavg()
    t_start = time.perf_counter()

    # ---- models: equal weights, one Adam each
    task = get_task("copy")
    torch.manual_seed(args.seed)
    options = {"A": {"backend": "torch"}, "B": {"backend": "torch"}, "C": {"backend": "torch"},
               "D": {"backend": "torch", "torch_compile": True}, "E": {}}
    base = build_model("ntm", task.input_size, task.output_size)
    models = {}
    for v in variants:
        m = build_model("ntm", task.input_size, task.output_size, **options[v])
        m.load_state_dict(base.state_dict())
        models[v] = m
    if "B" in variants:
        mB = models["B"]
        mB._cell = torch.compile(mB._cell, dynamic=False)        # instance attribute: reference_forward calls it
    run = {v: (models[v].reference_forward if v in "AB" else models[v]) for v in variants}
    opts = {v: torch.optim.Adam(models[v].parameters(), lr=2e-3, betas=(0.9, 0.99)) for v in variants}

    # ---- data: the trainer's curriculum, one length per batch
    rng = np.random.default_rng(args.seed)
    curriculum = make_curriculum("uniform", task.train_lengths, same_length=True)

    def draw(n=None):
        lengths = curriculum.lengths(rng, args.batch) if n is None else np.full(args.batch, n, dtype=np.int64)
        return task.sample(rng, args.batch, lengths)

    mixed = [draw() for _ in range(args.batches)]
    fixed = [draw(20) for _ in range(args.batches_20)]
    per_length = {n: draw(n) for n in range(1, 21)}

    def loss_of(v, b):
        logits = run[v](b.inputs, b.targets.shape[1], b.input_lengths)
        return masked_loss(logits, b.targets, b.mask, task.loss_kind)

    def train_step(v, b):
        loss = loss_of(v, b)
        opts[v].zero_grad(set_to_none=True)
        loss.backward()
        opts[v].step()

    def grad_only(v, b):
        loss = loss_of(v, b)
        models[v].zero_grad(set_to_none=True)
        loss.backward()
        return loss.detach()

    # ---- warm-up: every variant on every length (B and D compile here; E loads its kernels)
    print(f"torch {torch.__version__}, {cpu_model()}, {os.cpu_count()} CPUs, load average {load_before[0]:.2f}; "
          f"inductor cache: {'user cache' if args.warm_cache else 'fresh (cold compile)'}", flush=True)
    from torch._dynamo.utils import counters                     # private, informative only

    def graphs() -> int:
        return int(counters["stats"].get("unique_graphs", 0))

    warm, compile_errors = {}, {}
    for v in list(variants):
        first, g0, t0 = None, graphs(), time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                for n in range(1, 21):
                    t = time.perf_counter()
                    grad_only(v, per_length[n])
                    if first is None:
                        first = time.perf_counter() - t
            except Exception as err:                             # torch.compile failing here is a finding
                compile_errors[v] = f"{type(err).__name__}: {err}"
        fallback = [str(w.message) for w in caught if "torch.compile failed" in str(w.message)]
        if fallback:                                             # D: fused._Compiled fell back to eager
            compile_errors[v] = fallback[0]
        if v in compile_errors:
            print(f"warm-up {v}: torch.compile FAILED: {compile_errors[v][:2000]}", flush=True)
            if not fallback:
                variants.remove(v)                               # B cannot run at all; D runs eagerly, flagged
                continue
        total = time.perf_counter() - t0
        warm[v] = {"first_call_s": round(first, 2), "warmup_all_lengths_s": round(total, 2),
                   "dynamo_graphs_compiled": graphs() - g0}
        print(f"warm-up {v}: first call (length 1) {first:.1f} s, lengths 1..20 {total:.1f} s"
              + (f", {graphs() - g0} graphs compiled" if v in "BD" else ""), flush=True)

    # ---- numerics: equal weights still (no optimizer step yet)
    def grads(v):
        return {k: p.grad.detach().clone() for k, p in models[v].named_parameters() if p.grad is not None}

    numerics = {}
    for n in (1, 10, 20):
        ref_loss = grad_only("A", per_length[n])
        ref = grads("A")
        for v in variants[1:]:
            loss = grad_only(v, per_length[n])
            g = grads(v)
            missing = sorted(set(ref) ^ set(g))
            d = numerics.setdefault(v, {"loss_max_abs_diff": 0.0, "grad_max_abs_diff": 0.0,
                                        "grad_max_rel_diff": 0.0, "missing_grads": []})
            d["loss_max_abs_diff"] = max(d["loss_max_abs_diff"], abs(float(loss - ref_loss)))
            for k in set(ref) & set(g):
                diff = float((g[k] - ref[k]).abs().max())
                d["grad_max_abs_diff"] = max(d["grad_max_abs_diff"], diff)
                d["grad_max_rel_diff"] = max(d["grad_max_rel_diff"], diff / max(float(ref[k].abs().max()), 1e-30))
            d["missing_grads"] = sorted(set(d["missing_grads"]) | set(missing))
        numerics.setdefault("reference_loss", {})[n] = float(ref_loss)
    for v in variants:
        models[v].zero_grad(set_to_none=True)
    print("numerics against A (lengths 1, 10, 20; float32): max |loss diff|, max |grad diff|, max relative")
    for v in variants[1:]:
        d = numerics[v]
        print(f"  {v}: {d['loss_max_abs_diff']:.2e}  {d['grad_max_abs_diff']:.2e}  {d['grad_max_rel_diff']:.2e}"
              + (f"  missing grads {d['missing_grads']}" if d["missing_grads"] else ""), flush=True)

    # ---- timing: rounds of A, B, C, D, E over the same batches
    workloads = {"1..20/b": mixed, "20": fixed}
    times = {w: {v: [] for v in variants} for w in workloads}
    for w, data in workloads.items():
        for v in variants:                                       # one untimed pass: Adam's state, allocator
            train_step(v, data[0])
        for i in range(args.repeats):
            for v in variants:
                t = time.perf_counter()
                for b in data:
                    train_step(v, b)
                times[w][v].append(time.perf_counter() - t)
            print(f"  {w} round {i + 1}/{args.repeats}: " + "  ".join(
                f"{v} {args.batch * len(data) / times[w][v][-1]:.0f}" for v in variants) + " seq/s", flush=True)

    rows = []
    print(f"\n{'lengths':8s} {'variant':7s} {'seq/s':>7s} {'min..max':>11s} {'ms/batch':>9s} {'vs A':>5s} "
          f"{'rounds: vs A':>18s} {'vs B':>5s} {'rounds':>6s}  what")

    def median_rate(w, v):
        return statistics.median(args.batch * len(workloads[w]) / t for t in times[w][v])

    for w, data in workloads.items():
        seqs = args.batch * len(data)
        for v in variants:
            rates = [seqs / t for t in times[w][v]]
            per_round = [ta / tv for ta, tv in zip(times[w]["A"], times[w][v])]
            per_round_B = [tb / tv for tb, tv in zip(times[w]["B"], times[w][v])] if "B" in variants else None
            med = median_rate(w, v)
            row = {"lengths": w, "variant": v, "what": VARIANTS[v],
                   "seq_per_s": round(med, 1), "seq_per_s_min": round(min(rates), 1),
                   "seq_per_s_max": round(max(rates), 1),
                   "ms_per_batch": round(1e3 * statistics.median(times[w][v]) / len(data), 2),
                   "ratio_vs_A": round(med / median_rate(w, "A"), 2),
                   "ratio_vs_A_per_round_median": round(statistics.median(per_round), 2),
                   "ratio_vs_A_per_round_range": [round(min(per_round), 2), round(max(per_round), 2)],
                   "ratio_vs_B": round(med / median_rate(w, "B"), 2) if per_round_B else None,
                   "ratio_vs_B_per_round_median": round(statistics.median(per_round_B), 2) if per_round_B else None,
                   "round_seconds": [round(t, 3) for t in times[w][v]]}
            rows.append(row)
            print(f"{w:8s} {v:7s} {med:7.0f} {min(rates):5.0f}..{max(rates):<5.0f} {row['ms_per_batch']:9.1f} "
                  f"{row['ratio_vs_A']:5.2f} {statistics.median(per_round):5.2f} ({min(per_round):4.2f}..{max(per_round):<4.2f}) "
                  f"{row['ratio_vs_B'] if per_round_B else '-':>5} "
                  f"{row['ratio_vs_B_per_round_median'] if per_round_B else '-':>6}  {VARIANTS[v]}")

    import numba
    result = {
        "benchmark": "NTM training step (forward + masked BCE + backward + Adam), sequences/s: "
                     "fused hand-derived backward against torch.compile of the reference step",
        "data": f"task copy, batch {args.batch}, float32; '1..20/b': {len(mixed)} batches of one length each drawn "
                f"uniformly from 1..20 (the trainer's same_length curriculum, seed {args.seed}), "
                f"'20': {len(fixed)} batches of length 20 (41 steps)",
        "lengths_1_20_drawn": [int(b.lengths[0]) for b in mixed],
        "model": "NTMConfig() defaults: LSTM-100 controller, 1 read + 1 write head, memory 128 x 20",
        "variants": VARIANTS,
        "statistic": f"median over {args.repeats} interleaved rounds (A, B, C, D, E in turn, one process) of "
                     "each round's seq/s; ratio_vs_A (_B) = median seq/s / A's (B's) median seq/s; "
                     "ratio_vs_A_per_round_median/_range: A's time / the variant's time within each round, median and "
                     "extremes (likewise _B)",
        "compile_steps_D": COMPILE_STEPS,
        "warmup": warm, "inductor_cache": "user's" if args.warm_cache else "fresh temporary folder (cold)",
        "compile_errors": compile_errors,
        "numerics_vs_A": numerics,
        "torch": torch.__version__, "numba": numba.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "cpu_model": cpu_model(), "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "numba_kernel_threads": kernels.threads(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": "shared 2-core box with other jobs running (see load averages): absolute seq/s drift, "
                "the interleaved ratios are the comparable figures",
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rows": rows}
    if cache_dir:
        shutil.rmtree(cache_dir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"{result['total_seconds']:.0f} s in all; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
