"""Training throughput of the models: sequences per second for forward + backward + Adam step.

Data: synthetic copy-task batches of random bits (the tasks package is not needed): inputs
(B, L + 1, 10) = 8 bit channels + 2 delimiter channels, the delimiter after the L bit vectors, then
L output steps with BCE loss on the 8 bits. L = 20 is the longest copy sequence of the training
curriculum (41 time steps); `--mixed` also times batches whose lengths are drawn from 1..L
(right-aligned, so the padding path with torch.where runs too), and `per_batch` batches of one length
each, every length 1..L once per timed iteration (the trainer's default, `same_length`; "20/b" in
the table): the copy curriculum's average cost per sequence.

Each case runs in its own process (torch.compile caches and thread pools do not leak between cases):
a few warm-up iterations (which include compiling), then the median of N timed iterations,
wall clock. A step is the trainer's: its optimizer (`make_optimizer`: Adam, fused where torch has
it since issue 21; on one flat tensor, `ntm.training.optimizer`, since its second pass, where the tree
has it) and gradient-norm clipping (from 2026-12-06 on; earlier rows used plain Adam
without clipping). The load average of the machine is recorded: other processes on a 2-core machine change
the numbers a lot.

    python bench/bench_model.py                # full table, writes bench/results/model.json
    python bench/bench_model.py --quick        # fewer cases and iterations
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BITS, CHANNELS = 8, 10


def batch_of_bits(gen, batch: int, length: int, mixed: bool, device: str) -> tuple:
    """A copy batch of random bits: x (B, L + 1, 10) right-aligned with its delimiter, lengths + 1,
    y (B, L, 8) left-aligned, mask (B, L); lengths all L, or drawn from 1..L when mixed."""
    import torch
    lengths = torch.randint(1, length + 1, (batch,), generator=gen) if mixed else torch.full((batch,), length)
    T_in = length + 1
    x = torch.zeros(batch, T_in, CHANNELS)
    y = torch.zeros(batch, length, BITS)
    bits = torch.randint(0, 2, (batch, length, BITS), generator=gen).float()
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for b, n in enumerate(lengths.tolist()):                # right-aligned input, left-aligned target
        x[b, T_in - 1 - n:T_in - 1, :BITS] = bits[b, :n]
        x[b, T_in - 1, BITS] = 1
        y[b, :n], mask[b, :n] = bits[b, :n], True
    return tuple(t.to(device) for t in (x, lengths + 1, y, mask))


def minor_faults() -> int:
    """This process's minor page faults so far (0 where `resource` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed(step, data: list, warmup: int, iters: int, sync) -> tuple:
    """Warm-up iterations, then timed ones (iteration i runs the batches data[i % len(data)]):
    (warm-up seconds, wall seconds per iteration, CPU seconds per iteration, minor page faults
    per timed iteration)."""
    t0 = time.perf_counter()
    for i in range(warmup):
        for d in data[i % len(data)]:
            step(d)
    sync()
    warm = time.perf_counter() - t0
    wall, cpu, faults = [], [], minor_faults()
    for i in range(iters):
        t, c = time.perf_counter(), time.process_time()
        for d in data[i % len(data)]:
            step(d)
        sync()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return warm, wall, cpu, (minor_faults() - faults) / max(iters, 1)


def trainer_parts(net) -> tuple:
    """The trainer's update in its parts, (zero, clip, step), each called without arguments (the
    backward pass goes between zero and clip): zero the gradients, clip to norm 10, Adam at 1e-4,
    with the tree's own optimizer: `FlatOptimizer` where it exists (issue 21's second pass), else
    torch's per parameter (a baseline tree in bench_kernels.py)."""
    import torch
    from ntm.training import TrainConfig
    try:
        from ntm.training.optimizer import FlatOptimizer
    except ImportError:
        from ntm.training.loop import make_optimizer
        opt = make_optimizer(TrainConfig(), net.parameters(), 1e-4)
        return (lambda: opt.zero_grad(set_to_none=True),
                lambda: torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0), opt.step)
    flat = FlatOptimizer(TrainConfig(), net.parameters(), 1e-4)
    return flat.zero_grad, lambda: flat.clip(None, 10.0), flat.step


def trainer_update(net):
    """The trainer's update from a loss: `trainer_parts` around the backward pass."""
    zero, clip, step = trainer_parts(net)

    def update(loss):
        zero()
        loss.backward()
        clip()
        step()
    return update


def keep_trainer_memory() -> None:
    """The trainer's malloc settings (`ntm.training.run.keep_freed_memory`), where the tree has them
    (issue 21's third pass)."""
    try:
        from ntm.training.run import keep_freed_memory
    except ImportError:
        return
    keep_freed_memory()


def run_case(model: str, batch: int, engine: str, threads: int, length: int, mixed: bool,
             warmup: int, iters: int, device: str = "cpu", compile_steps: int | None = None,
             per_batch: bool = False, kernel_threads: int | None = None) -> dict:
    """Time one case in this process; returns its row of the table. engine (NTM only): "numba"
    (ntm.models.kernels, the default on CPU), "torch" (eager) or "compiled" (torch.compile)."""
    import torch
    sys.path.insert(0, os.environ.get("NTM_TREE", str(ROOT)))   # bench_kernels.py: another tree's ntm
    import ntm.models.fused
    from ntm.models import kernels
    from ntm.models import build_model, count_parameters

    if compile_steps:
        ntm.models.fused.COMPILE_STEPS = compile_steps
    keep_trainer_memory()
    torch.set_num_threads(threads)
    kernels.set_threads(kernel_threads)
    torch.manual_seed(0)
    compile_ = engine == "compiled"
    options = {"torch_compile": compile_, "backend": "torch" if compile_ else engine} if model == "ntm" else {}
    if model == "lstm-100":                                      # the NTM controller's size, alone
        net = build_model("lstm", CHANNELS, BITS, hidden_size=100, layers=1)
    else:
        net = build_model(model, CHANNELS, BITS, **options)
    net = net.to(device)
    update = trainer_update(net)
    gen = torch.Generator().manual_seed(1)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step(data):
        x, lengths, y, mask = data
        logits = net(x, y.shape[1], lengths if mixed else None)
        update(torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask]))

    bits = lambda n: batch_of_bits(gen, batch, n, mixed, device)  # noqa: E731
    if per_batch:   # the copy curriculum with one length per batch: one iteration = lengths 1..L once each
        data = [[bits(n) for n in range(1, length + 1)]]
    else:
        data = [[bits(length)] for _ in range(4)]
    warm, wall, cpu, faults = timed(step, data, warmup, iters, sync)
    med = statistics.median(wall)
    seqs = batch * len(data[0])                                  # sequences per iteration
    return {"model": model, "batch": batch, "engine": engine if model == "ntm" else None, "compile": compile_,
            "threads": threads, "kernel_threads": kernels.threads() if model == "ntm" and engine == "numba" else None,
            "length": length,
            "device": device, "compile_steps": ntm.models.fused.COMPILE_STEPS if compile_ and model == "ntm" else None,
            "mixed_lengths": mixed, "per_batch_lengths": per_batch, "parameters": count_parameters(net),
            "seq_per_s": round(seqs / med, 1), "ms_per_iter": round(1e3 * med, 2),
            "ms_per_iter_min": round(1e3 * min(wall), 2), "cpu_ms_per_iter": round(1e3 * statistics.median(cpu), 2),
            "warmup_s": round(warm, 1), "iterations": iters, "page_faults_per_iter": round(faults)}


def cases(batches: list[int], threads: list[int], models: list[str], engines: list[str]) -> list[dict]:
    """The table: the NTM through each engine at each batch size; mixed lengths, one length per batch
    and other thread counts at batch 32 (numba: kernel threads 1 too); the LSTM baselines (the
    paper's 3 x 256 and one layer of 100, the NTM controller's size); the other memory models with
    their defaults (dnc, stack_rnn, tape_rnn: plain autograd, engine "torch")."""
    out = []
    if "ntm" in models:
        for engine in engines:
            for b in batches:
                out.append(dict(model="ntm", batch=b, engine=engine, threads=threads[0], mixed=False))
            if engine == "numba":
                out.append(dict(model="ntm", batch=32, engine=engine, threads=threads[0], mixed=False, kernel_threads=1))
            out.append(dict(model="ntm", batch=32, engine=engine, threads=threads[0], mixed=True))
            out.append(dict(model="ntm", batch=32, engine=engine, threads=threads[0], mixed=False, per_batch=True))
            for t in threads[1:]:
                out.append(dict(model="ntm", batch=32, engine=engine, threads=t, mixed=False))
    for model in (m for m in ("lstm", "lstm-100", "dnc", "stack_rnn", "tape_rnn") if m in models):
        for b in batches:
            out.append(dict(model=model, batch=b, engine="torch", threads=threads[0], mixed=False))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 32 only, fewer iterations")
    parser.add_argument("--length", type=int, default=20, help="copy length L (T = 2L + 1 steps)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch threads; the first for every case, the rest for NTM batch 32")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations per case")
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes (default 1 32 128)")
    parser.add_argument("--models", nargs="+", default=["ntm", "lstm", "lstm-100"])
    parser.add_argument("--engines", nargs="+", choices=["numba", "torch", "compiled"], default=["numba", "torch"],
                        help="NTM engines: numba kernels (the CPU default), torch eager, torch.compile (minutes to compile)")
    parser.add_argument("--compile-steps", type=int, default=None,
                        help="time steps per compiled call (ntm.models.fused.COMPILE_STEPS)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "model.json")
    parser.add_argument("--case", help=argparse.SUPPRESS)       # internal: run one case, print JSON
    args = parser.parse_args()
    iters = args.iters or (10 if args.quick else 30)

    if args.case:
        c = json.loads(args.case)
        print(json.dumps(run_case(c["model"], c["batch"], c["engine"], c["threads"], args.length, c["mixed"],
                                  warmup=3, iters=iters, device=args.device, compile_steps=args.compile_steps,
                                  per_batch=c.get("per_batch", False), kernel_threads=c.get("kernel_threads"))))
        return 0

    rows = []
    load_before = os.getloadavg()
    header = f"{'model':9s} {'engine':8s} {'batch':>5s} {'thr':>3s} {'k.thr':>5s} {'lengths':8s} {'seq/s':>8s} {'ms/iter':>8s} {'warm-up s':>9s}"
    print(f"device {args.device}, load average {load_before[0]:.2f}")
    print(header)
    batches = args.batches or ([32] if args.quick else [1, 32, 128])
    for c in cases(batches, args.threads, args.models, args.engines):
        cmd = [sys.executable, __file__, "--case", json.dumps(c), "--length", str(args.length), "--iters", str(iters),
               "--device", args.device] + (["--compile-steps", str(args.compile_steps)] if args.compile_steps else [])
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"case {c} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        lengths = (f"1..{row['length']}" if row["mixed_lengths"] else
                   f"{row['length']}/b" if row["per_batch_lengths"] else str(row["length"]))
        print(f"{row['model']:9s} {str(row['engine'] or '-'):8s} {row['batch']:5d} {row['threads']:3d} "
              f"{str(row['kernel_threads'] or '-'):>5s} {lengths:8s} "
              f"{row['seq_per_s']:8.1f} {row['ms_per_iter']:8.2f} {row['warmup_s']:9.1f}", flush=True)
    import torch
    result = {"benchmark": "model training throughput (forward + backward + Adam), sequences/s",
              "data": f"synthetic copy, {BITS} bits + 2 delimiter channels, length {args.length} "
                      f"({2 * args.length + 1} steps) unless mixed_lengths (1..{args.length})",
              "statistic": f"median wall-clock of {iters} iterations after warm-up",
              "torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
              "processor": platform.processor() or platform.machine(),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
