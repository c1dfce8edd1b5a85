"""The GPU check (issue 21) in one call: CPU and CUDA agree, copy trains on CUDA, throughput there.

On the device machine (one H100/H200, 16 CPU cores), from the repository root:

    bash bench/gpu.sh          # = python3 bench/bench_gpu.py --out "$OUT" (bench/results/gpu without $OUT)

Expected wall time about 5 minutes for the first three parts (budget for training 180 s + its
final comparison, agreement ~30 s, throughput ~1-2 min) and 2-5 more for the fourth (compiles:
not measured on a GPU yet); give it a 600 s limit. Four parts, in this order, each guarded: a part
that raises is recorded as its error and the next part still runs; OUT/gpu.json is rewritten after
every part (and every throughput case), so a run cut off at its limit keeps what finished.

  agreement   one copy batch (B = 32, lengths 1-20 per sample, so the padding path runs too), the
              NTM and the LSTM built once on the CPU with seed 0 and deep-copied to the device (same
              weights): logits and the gradients of the masked loss (ntm.training.masked_loss) on
              the device against the CPU at 1 torch thread and 1 kernel thread. The floor: CPU (all
              cores) vs CPU (1 thread), and the NTM's PyTorch backend vs its numba kernels on the
              CPU. On CUDA, twice: with torch's default TF32 settings (what training gets) and
              with TF32 off (strict float32).
  train       the trainer (`ntm train`'s) on copy, lengths 1-20, seed 0, on the device, polishing
              off, stopped at convergence or after --budget seconds.
  throughput  training seq/s (forward + masked BCE + backward + Adam: bench_model.run_case) of the
              NTM and the LSTM at batch 32, 1,024 and 8,192, length 20, on the device (median of N
              iterations after warm-up, synchronised); a CUDA out-of-memory is recorded per case.
              Then the CPU at batch 32 with the trainer's defaults, for the ratio. The NTM's rows
              also give GFLOP/s (19.9 MFLOP per sequence of length 20, bench_kernels.py's count).
  compiled    the NTM's fused step under torch.compile (`torch_compile = true`, 4 time steps per
              compiled call, no host synchronisation inside an episode), the candidate for a fast
              CUDA path: agreement with the CPU on the agreement batch (strict float32), then
              training seq/s at batch 1,024 and 8,192 (--compiled-batches); each batch size
              compiles again (warmup_s). Run it alone with --parts compiled.

Dry run on a CPU-only machine (tiny batches 2/4/8, 2 iterations, 10 s of training; ~20 s, +~25 s
the first time numba compiles the NTM kernels, + 1-2 minutes for the compiled part's inductor
compiles on the CPU):

    python bench/bench_gpu.py --dry-run --out /tmp/gpu-dry
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_model import run_case  # noqa: E402  (the throughput bench's one timed case)
from bench_kernels import flops_per_sequence  # noqa: E402

NTM_FLOP_PER_SEQUENCE = sum(flops_per_sequence(lengths=[20]).values())   # copy length 20, fwd + bwd

from ntm.models import build_model, fused, kernels, predict  # noqa: E402
from ntm.training import TrainConfig, masked_loss, train  # noqa: E402

# float32 tolerance of the agreement: |device - cpu| <= ATOL + RTOL * |cpu| elementwise
# (torch.allclose). Floor measured on the 2-core development box, B = 32 (bench/README.md "GPU
# check"): the NTM at 2 threads vs 1 (another batch split of its kernels) differs by <= 3e-7 of
# each tensor's scale (0.1 % of this tolerance), its PyTorch backend (the path CUDA runs) vs its
# numba kernels by <= 2e-6 (2 %); the LSTM not at all. So the GPU's other order of operations has
# ~50x room, while a real bug (a wrong term, a missed mask) shows as 1e-2 or more.
RTOL, ATOL = 1e-4, 1e-5
MODELS = ("ntm", "lstm")
PARTS = ("agreement", "train", "throughput", "compiled")


def environment(device: str) -> dict:
    """What ran: versions, the GPU's name (None on the CPU), CPU count, date, TF32 defaults."""
    cuda = device.startswith("cuda")
    name = torch.cuda.get_device_name(device) if cuda and torch.cuda.is_available() else None
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "device": device, "device_name": name,
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "fp32_precision_default": tf32_settings()}


def _knobs() -> dict:
    """torch's per-backend float32 precision settings (torch >= 2.9), {} on an older torch."""
    b = torch.backends
    knobs = {"cuda_matmul": b.cuda.matmul, "cudnn_conv": getattr(b.cudnn, "conv", None),
             "cudnn_rnn": getattr(b.cudnn, "rnn", None)}
    return knobs if all(hasattr(k, "fp32_precision") for k in knobs.values()) else {}


def tf32_settings() -> dict:
    """What float32 matmuls and cuDNN (the LSTM's RNN kernels too) may use: "tf32" / "ieee" ("none":
    unset, cuBLAS then does IEEE float32); the legacy allow_tf32 flags on an older torch."""
    knobs = _knobs()
    if knobs:
        return {name: k.fp32_precision for name, k in knobs.items()}
    return {"matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}


@contextlib.contextmanager
def strict_fp32():
    """TF32 off for cuBLAS and cuDNN inside the block. The per-backend API where torch has it:
    torch >= 2.9 raises when it is mixed with the legacy allow_tf32 flags, which are used only
    on an older torch."""
    knobs = _knobs()
    if knobs:
        old = {name: k.fp32_precision for name, k in knobs.items()}
        try:
            for k in knobs.values():
                k.fp32_precision = "ieee"
            yield
        finally:
            for name, k in knobs.items():
                k.fp32_precision = old[name]
    else:
        old = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        try:
            with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
                yield
        finally:
            torch.set_float32_matmul_precision(old)


# ---------------------------------------------------------------- agreement

def copy_batch(batch: int, length: int, seed: int = 0):
    """A copy batch of `batch` sequences, lengths drawn from 1..length (one of them `length`)."""
    from tasks.registry import get_task
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, length + 1, batch)
    lengths[0] = length
    return get_task("copy").sample(rng, batch, lengths.tolist())


def logits_and_grads(net, batch, device: str) -> dict[str, torch.Tensor]:
    """The logits and every parameter's gradient of the masked BCE loss (nats per sequence) on
    `device`, returned as float64 CPU tensors by name ("logits", "grad.<parameter>")."""
    net.zero_grad(set_to_none=True)
    batch = batch.to(device)
    logits = predict(net, batch)
    masked_loss(logits, batch.targets, batch.mask, "bce").backward()
    out = {"logits": logits.detach()}
    out.update({f"grad.{n}": p.grad for n, p in net.named_parameters()})
    return {k: v.detach().double().cpu() for k, v in out.items()}


def differences(ref: dict, other: dict) -> dict:
    """For the logits and over all gradients: max |other - ref|; max relative difference, as
    max |other - ref| / max |ref| of each tensor (elementwise ratios at gradients near zero say
    nothing); tolerance_used, max |other - ref| / (ATOL + RTOL |ref|) (pass: <= 1, what
    torch.allclose checks); the worst gradient's name; passed."""
    def one(a, b):
        d = (b - a).abs()
        scale = max(a.abs().max().item(), 1e-30)
        return d.max().item(), d.max().item() / scale, (d / (ATOL + RTOL * a.abs())).max().item()
    logits = one(ref["logits"], other["logits"])
    grads = {k: one(ref[k], other[k]) for k in ref if k != "logits"}
    worst = max(grads, key=lambda k: grads[k][2])
    used = max(logits[2], grads[worst][2])
    return {"logits_max_abs": logits[0], "logits_max_rel": logits[1],
            "grad_max_abs": max(g[0] for g in grads.values()), "grad_max_rel": max(g[1] for g in grads.values()),
            "worst_grad": worst, "tolerance_used": used, "passed": used <= 1.0}


def on_cpu(net, batch, threads: int) -> dict:
    """logits_and_grads on the CPU with `threads` torch threads and as many NTM kernel threads
    (afterwards: torch's count as before, the kernels' default, one per CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    kernels.set_threads(threads)
    try:
        return logits_and_grads(net, batch, "cpu")
    finally:
        torch.set_num_threads(before)
        kernels.set_threads(None)


def agree_one(name: str, batch, device: str) -> dict:
    """One model: the CPU floor (all cores vs 1 thread; the NTM also through its PyTorch backend)
    and the device against the CPU (1 thread)."""
    torch.manual_seed(0)
    net = build_model(name, batch.inputs.shape[2], batch.targets.shape[2])
    ref = on_cpu(net, batch, 1)
    row = {"model": name, "cpu_threads_vs_1": differences(ref, on_cpu(net, batch, os.cpu_count() or 1))}
    if name == "ntm":                   # the fused equations as PyTorch operations (CUDA's path) on the CPU
        twin = build_model(name, batch.inputs.shape[2], batch.targets.shape[2], backend="torch")
        twin.load_state_dict(net.state_dict())
        row["cpu_torch_backend_vs_numba"] = differences(ref, on_cpu(twin, batch, 1))
    dev = copy.deepcopy(net).to(device)
    row["device_default"] = differences(ref, logits_and_grads(dev, batch, device))
    if device.startswith("cuda"):     # TF32 off (cuDNN's RNN defaults to it): the float32 the tolerance is for
        with strict_fp32():
            row["device_strict_fp32"] = differences(ref, logits_and_grads(dev, batch, device))
    return row


def part_agreement(args) -> dict:
    """CPU vs device for each model on one copy batch; passed: every strict comparison within tolerance."""
    batch = copy_batch(args.agree_batch, 20)
    rows = [agree_one(m, batch, args.device) for m in MODELS]
    key = "device_strict_fp32" if args.device.startswith("cuda") else "device_default"
    return {"batch": args.agree_batch, "lengths": "1-20 per sample", "rtol": RTOL, "atol": ATOL,
            "reference": "CPU, 1 torch thread, 1 NTM kernel thread (NTM: numba kernels)",
            "rows": rows, "passed": all(r[key]["passed"] for r in rows)}


# ---------------------------------------------------------------- training

def part_train(args) -> dict:
    """`ntm train --task copy --seed 0 --device DEVICE`, polishing off, within args.budget seconds.
    The run directory is temporary (the device tool returns few files); its metrics.jsonl is
    copied to OUT/train_metrics.jsonl, the trainer's last log lines go into the JSON."""
    cfg = TrainConfig(task="copy", device=args.device, seed=0, polish_steps=0, max_seconds=args.budget)
    log: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "run" / "metrics.jsonl"
        try:
            res = train(cfg, metrics.parent, progress=False, log=log.append)
        finally:                                     # the curve so far, also when training raised
            if metrics.exists():
                shutil.copy(metrics, Path(args.out) / "train_metrics.jsonl")
    return {"config": {"task": "copy", "seed": 0, "polish_steps": 0, "max_seconds": args.budget,
                       "device": args.device},
            "converged": res.converged, "steps": res.steps, "sequences": res.sequences,
            "train_seconds": round(res.seconds, 1), "seq_per_s": round(res.sequences / max(res.seconds, 1e-9), 1),
            "wall_seconds_with_comparison": round(time.perf_counter() - t0, 1),
            "best_bits": res.best_bits, "restarts": res.restarts, "rollbacks": res.rollbacks,
            "comparison": [{k: r[k] for k in ("length", "bit_errors_per_seq", "seq_accuracy")}
                           for r in res.comparison],
            "log_tail": [str(line) for line in log[-15:]]}


# ---------------------------------------------------------------- throughput

def timed_case(model: str, batch: int, device: str, iters: int, warmup: int, engine: str | None = None) -> dict:
    """bench_model.run_case at length 20 (seq/s: sequences per second of training steps, median of
    `iters`), or {"error": ...} for a CUDA out-of-memory (the cache is emptied for the next case).
    engine (the NTM's): default each device's path, numba on the CPU and torch elsewhere."""
    engine = engine or ("numba" if device == "cpu" else "torch")
    try:
        return run_case(model, batch, engine, threads=1, length=20, mixed=False,
                        warmup=warmup, iters=iters, device=device)
    except torch.cuda.OutOfMemoryError as e:
        return {"model": model, "batch": batch, "device": device, "error": f"out of memory: {str(e)[:200]}"}
    finally:
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def json_row(row: dict) -> dict:
    """What gpu.json keeps of a `timed_case` row; the NTM's also in GFLOP/s (bench_kernels.py's count)."""
    out = {k: row.get(k) for k in ("model", "batch", "device", "seq_per_s", "ms_per_iter", "ms_per_iter_min",
                                   "warmup_s", "parameters", "error")}
    if row.get("model") == "ntm" and row.get("seq_per_s"):
        out["gflops"] = round(row["seq_per_s"] * NTM_FLOP_PER_SEQUENCE / 1e9, 1)
    return out


def part_throughput(args, result: dict, save) -> dict:
    """Every model at every batch on the device, then batch 32 on the CPU; rows go into
    result["throughput"] as they come, saved after each case (a run cut off keeps them)."""
    out = result["throughput"] = {"length": 20, "iterations": args.iters, "warmup": args.warmup,
           "ntm_flop_per_sequence": NTM_FLOP_PER_SEQUENCE,
           "cpu_settings": "torch threads 1, NTM kernel threads one per CPU (the trainer's defaults)",
           "rows": []}
    cases = [(m, b, args.device) for m in MODELS for b in args.batches]
    if args.device != "cpu":
        cases += [(m, args.batches[0], "cpu") for m in MODELS]
    for model, batch, device in cases:
        row = timed_case(model, batch, device, args.iters, args.warmup)
        out["rows"].append(json_row(row))
        print(f"  {model:5s} {device:5s} B={batch:5d} {row.get('seq_per_s', row.get('error'))} seq/s", flush=True)
        save()
    return out


# ---------------------------------------------------------------- the NTM compiled

def part_compiled(args, result: dict, save) -> dict:
    """The NTM's fused step under torch.compile (`torch_compile = true`: fused.COMPILE_STEPS time
    steps per compiled call, the same two graphs for every length, no host synchronisation inside an
    episode), the CUDA path's candidate for speed: agreement with the CPU on the agreement batch
    (strict float32 on CUDA; its seconds include the first compile), then training seq/s at
    args.compiled_batches (each batch size compiles again: warmup_s). Rows saved as they come."""
    out = result["compiled"] = {"compile_steps": fused.COMPILE_STEPS, "rows": []}
    batch = copy_batch(args.agree_batch, 20)
    torch.manual_seed(0)
    net = build_model("ntm", batch.inputs.shape[2], batch.targets.shape[2])
    ref = on_cpu(net, batch, 1)
    dev = build_model("ntm", batch.inputs.shape[2], batch.targets.shape[2], backend="torch", torch_compile=True)
    dev.load_state_dict(net.state_dict())
    dev = dev.to(args.device)
    t0 = time.perf_counter()
    with strict_fp32() if args.device.startswith("cuda") else contextlib.nullcontext():
        out["agreement"] = differences(ref, logits_and_grads(dev, batch, args.device))
    out["agreement"]["seconds_with_compile"] = round(time.perf_counter() - t0, 1)
    print(f"  agreement passed={out['agreement']['passed']} "
          f"(tolerance used {out['agreement']['tolerance_used']:.4f}), {out['agreement']['seconds_with_compile']} s", flush=True)
    save()
    for b in args.compiled_batches:
        row = timed_case("ntm", b, args.device, args.iters, args.warmup, engine="compiled")
        out["rows"].append(json_row(row))
        print(f"  ntm compiled {args.device} B={b:5d} {row.get('seq_per_s', row.get('error'))} seq/s", flush=True)
        save()
    return out


# ---------------------------------------------------------------- main

def parse(argv=None) -> argparse.Namespace:
    """The options; --dry-run swaps in the CPU and tiny sizes unless they are given."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="default cuda (cpu with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="the CPU, batches 2 4 8 (compiled: 2), 2 iterations, 10 s of training")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of " + ",".join(PARTS))
    p.add_argument("--out", type=Path, default=None, help="folder for gpu.json (default bench/results/gpu)")
    p.add_argument("--budget", type=float, default=None, help="training's wall-clock budget, seconds (180)")
    p.add_argument("--batches", type=int, nargs="+", default=None, help="throughput batches (32 1024 8192)")
    p.add_argument("--iters", type=int, default=None, help="timed iterations per throughput case (10)")
    p.add_argument("--compiled-batches", type=int, nargs="+", default=None,
                   help="the compiled NTM's throughput batches (1024 8192)")
    a = p.parse_args(argv)
    tiny = a.dry_run
    a.device = a.device or ("cpu" if tiny else "cuda")
    a.out = a.out or ROOT / "bench" / "results" / "gpu"
    a.budget = a.budget if a.budget is not None else (10.0 if tiny else 180.0)
    a.batches = a.batches or ([2, 4, 8] if tiny else [32, 1024, 8192])
    a.compiled_batches = a.compiled_batches or ([2] if tiny else [1024, 8192])
    a.iters = a.iters or (2 if tiny else 10)
    a.warmup = 1 if tiny else 3
    a.agree_batch = 4 if tiny else 32
    a.parts = [s.strip() for s in a.parts.split(",") if s.strip()]
    unknown = set(a.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    return a


def run_part(name: str, fn, result: dict, save) -> None:
    """Run one part into result[name]; an exception becomes {"error", "traceback"} (the rest runs on)."""
    t0 = time.perf_counter()
    print(f"[{name}] ...", flush=True)
    try:
        result[name] = fn()
    except Exception as e:                           # any failure: keep it, and the other parts' results
        result[name] = {"error": f"{type(e).__name__}: {e}"[:2000], "traceback": traceback.format_exc()[-4000:]}
    result[name]["part_seconds"] = round(time.perf_counter() - t0, 1)
    save()
    print(f"[{name}] {summary(name, result[name])}", flush=True)


def summary(name: str, r: dict) -> str:
    """One line for the log (the device tool returns only the output's tail)."""
    if "error" in r:
        return f"FAILED after {r['part_seconds']} s: {r['error'][:300]}"
    if name == "agreement":
        used = {m["model"]: {k: round(v["tolerance_used"], 4) for k, v in m.items() if k != "model"}
                for m in r["rows"]}
        return f"passed={r['passed']}, tolerance used (<= 1 passes): {used}, {r['part_seconds']} s"
    if name == "train":
        return (f"converged={r['converged']} steps={r['steps']} sequences={r['sequences']} "
                f"{r['train_seconds']} s {r['seq_per_s']} seq/s; comparison "
                + " ".join(f"{c['length']}:{c['bit_errors_per_seq']:.2f}" for c in r["comparison"]))
    if name == "compiled":
        return (f"agreement passed={r['agreement']['passed']}; "
                + " ".join(f"B={x['batch']}: {x['seq_per_s'] or x['error']} seq/s" for x in r["rows"])
                + f"; {r['part_seconds']} s")
    return f"{len(r['rows'])} cases in {r['part_seconds']} s"


def main(argv=None) -> int:
    """Run the asked parts; writes OUT/gpu.json after each. Returns 0 (failures are in the JSON)."""
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu.json"
    result = {"benchmark": "GPU check (issue 21): agreement, training, throughput, compiled",
              "dry_run": args.dry_run, "environment": environment(args.device),
              **{p: {"status": "not run"} for p in PARTS}}
    save = lambda: path.write_text(json.dumps(result, indent=1) + "\n")  # noqa: E731
    save()
    fns = {"agreement": lambda: part_agreement(args), "train": lambda: part_train(args),
           "throughput": lambda: part_throughput(args, result, save),
           "compiled": lambda: part_compiled(args, result, save)}
    t0 = time.perf_counter()
    for name in (p for p in PARTS if p in args.parts):
        run_part(name, fns[name], result, save)
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    save()
    print(f"wrote {path} ({result['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
