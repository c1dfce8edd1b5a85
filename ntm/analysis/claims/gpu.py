"""Claim: "RNNs speed up clearly on a GPU".

Experiment: training throughput, in sequences per second, of one training step (forward, the
project's masked loss `ntm.training.masked_loss`, backward, an Adam step) on copy batches of 32
sequences (and 1,024 in the full run) of length 20 drawn by the task itself
(`tasks.registry.get_task("copy")`: 21 input steps, the delimiter included, then 20 output
steps), for the LSTM baseline (the NTM paper's 3 × 256) and the NTM (the paper's copy
configuration, ``backend = "torch"`` so that both devices run the same operations; the CPU's numba
path, which training uses by default, is not this row: README, "Throughput", has its figures).
Timed on the CPU (on the threads `ntm train` uses: TrainConfig.threads, 1) and, only where
``torch.cuda.is_available()``, on the CUDA GPU (synchronised before each clock read); on a machine
without one the GPU figures are None and the verdict is "not tested here".
"""

from __future__ import annotations

import os
import time

import numpy as np

from ntm.analysis.figures import new_figure, save_figure
from ntm.analysis.claims.common import (CAVEAT, FAILS, HOLDS, NOT_TESTED, ClaimResult,
                                        torch_threads)

LENGTH, SEED = 20, 0
# batch -> (timed steps, warm-up steps); the full run adds batch 1,024, where a GPU has room to help
QUICK_BATCHES = {32: (3, 1)}
FULL_BATCHES = {32: (20, 3), 1024: (3, 1)}
CLEARLY = 2.0                       # "clearly faster": at least 2× the CPU's sequences/s
MODELS = {"lstm": {}, "ntm": {"backend": "torch"}}

CLAIM = "RNNs speed up clearly on a GPU."
RULE = (f"speedup = GPU / CPU sequences/s per model; not tested here without a CUDA GPU; holds if every "
        f"model's speedup ≥ {CLEARLY:g}; holds with a caveat if some model's is; otherwise does not hold")


def sequences_per_second(model_name: str, device, batch_size: int, iterations: int, warmup: int) -> float:
    """Training sequences/s of `model_name` on `device` at `batch_size`: `iterations` timed steps after
    `warmup` (the clock read after a CUDA synchronise)."""
    import torch

    from ntm.models import build_model
    from ntm.training import masked_loss
    from tasks.registry import get_task
    task = get_task("copy")
    torch.manual_seed(SEED)
    model = build_model(model_name, task.input_size, task.output_size, **MODELS[model_name]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = task.sample(np.random.default_rng(SEED), batch_size, LENGTH).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        optimizer.zero_grad()
        logits = model(batch.inputs, batch.targets.shape[1])
        masked_loss(logits, batch.targets, batch.mask, task.loss_kind).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    sync()
    return batch_size * iterations / (time.perf_counter() - start)


def _timed(model_name: str, device, batch_size: int, iterations: int, warmup: int) -> float:
    """`sequences_per_second` with the caller's torch RNG state left as it was, on the CPU threads
    that `ntm train` uses (TrainConfig.threads: 1, "a batch-32 recurrent step is too small to split")."""
    import torch
    devices = [torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch_threads(_train_threads()):
        return sequences_per_second(model_name, device, batch_size, iterations, warmup)


def measure(quick: bool) -> dict:
    """{"cpu": {"MODEL batch B": seq/s}, "cuda": {same keys: seq/s or None}, "steps": {B: (timed,
    warm-up)}, "cuda_name", "cpu_threads", "load_average_1min", "length"}."""
    import torch
    batches = QUICK_BATCHES if quick else FULL_BATCHES
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    has_cuda = torch.cuda.is_available()
    rows = {f"{m} batch {b}": (m, b, *steps) for m in MODELS for b, steps in batches.items()}
    return {"length": LENGTH, "steps": {str(b): list(v) for b, v in batches.items()},
            "cpu_threads": _train_threads(), "load_average_1min": _load(),
            "cuda_name": torch.cuda.get_device_name(0) if has_cuda else None,
            "cpu": {k: _timed(m, cpu, b, n, w) for k, (m, b, n, w) in rows.items()},
            "cuda": {k: _timed(m, cuda, b, n, w) if has_cuda else None
                     for k, (m, b, n, w) in rows.items()}}


def _train_threads() -> int:
    """The torch CPU threads `ntm train` uses (TrainConfig.threads; None there means torch's own)."""
    import torch

    from ntm.training import TrainConfig
    return TrainConfig().threads or torch.get_num_threads()


def _load() -> float | None:
    """The machine's 1-minute load average before timing (other jobs slow the CPU figures), or None."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def verdict(figures: dict) -> tuple[str, str]:
    """By `RULE`; figures: {"cpu": {model: seq/s}, "cuda": {model: seq/s or None}}."""
    if any(v is None for v in figures["cuda"].values()):
        return NOT_TESTED, "no CUDA GPU on this machine: the GPU was not measured"
    speedup = {m: figures["cuda"][m] / figures["cpu"][m] for m in figures["cpu"]}
    said = ", ".join(f"{m} {s:.2f}×" for m, s in speedup.items())
    if all(s >= CLEARLY for s in speedup.values()):
        return HOLDS, f"speedups {said}"
    if any(s >= CLEARLY for s in speedup.values()):
        return CAVEAT, f"not for every model: speedups {said}"
    return FAILS, f"speedups {said}, none ≥ {CLEARLY:g}×"


def plot(figures: dict, path) -> None:
    """Bars: sequences/s per model on each device measured (a missing GPU is labelled, not drawn)."""
    fig = new_figure(6, 3.6)
    ax = fig.add_subplot()
    models = list(figures["cpu"])
    x = np.arange(len(models))
    ax.bar(x - 0.2, [figures["cpu"][m] for m in models], width=0.4, label=f"CPU ({figures['cpu_threads']} threads)")
    if figures["cuda_name"]:
        ax.bar(x + 0.2, [figures["cuda"][m] for m in models], width=0.4, label=f"GPU ({figures['cuda_name']})")
    else:
        for xi in x:
            ax.text(xi + 0.2, 0.05, "GPU: not measured here", rotation=90, va="bottom", ha="center", fontsize=8,
                    transform=ax.get_xaxis_transform())
    ax.set_xticks(x, models, fontsize=8)
    values = [v for d in ("cpu", "cuda") for v in figures[d].values() if v]
    if max(values) > 20 * min(values):
        ax.set_yscale("log")
    ax.set_ylabel("training sequences / s")
    steps = "; ".join(f"batch {b}: {n} timed steps after {w}" for b, (n, w) in figures["steps"].items())
    ax.set_title(f"training on copy, length {figures['length']}; {steps}", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The row and claims-gpu.png in `out` (`device` is not used: this claim measures the CPU and CUDA)."""
    figures = measure(quick)
    plot(figures, out / "claims-gpu.png")
    v, reason = verdict(figures)
    load = figures["load_average_1min"]
    steps = ", ".join(f"batch {b}: {n} timed steps after {w}" for b, (n, w) in figures["steps"].items())
    experiment = (f"one training step (forward, masked loss, backward, Adam) on copy, length {LENGTH}, {steps}: "
                  "LSTM 3×256, NTM (torch backend); "
                  f"CPU: {figures['cpu_threads']} torch thread{'s' if figures['cpu_threads'] != 1 else ''}"
                  + (f", load average {load:.1f} before timing" if load is not None else ""))
    measured = "; ".join(f"{m}: CPU {figures['cpu'][m]:.0f} seq/s, GPU " +
                         (f"{figures['cuda'][m]:.0f} seq/s" if figures["cuda"][m] is not None else "not measured here")
                         for m in figures["cpu"])
    return [ClaimResult("gpu", CLAIM, experiment, measured, RULE, v, reason, figures, "claims-gpu.png")]
