"""Claim: "RNNs speed up clearly on a GPU".

Experiment: training throughput, in sequences per second, of one training step (forward, the
project's masked loss `ntm.training.masked_loss`, backward, an Adam step) on copy batches of 32
sequences of length 20 drawn by the task itself (`tasks.registry.get_task("copy")`: 41 input and
20 output steps), for the LSTM baseline (the NTM paper's 3 × 256) and the NTM (the paper's copy
configuration, ``backend = "torch"`` so that both devices run the same operations; the CPU's numba
path, which training uses by default, is faster there and is not this row). Timed on the CPU and,
only where ``torch.cuda.is_available()``, on the CUDA GPU (synchronised before each clock read);
on a machine without one the GPU figures are None and the verdict is "not tested here".
"""

from __future__ import annotations

import os
import time

import numpy as np

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, NOT_TESTED, ClaimResult, new_figure, save_figure

BATCH, LENGTH, SEED = 32, 20, 0
CLEARLY = 2.0                       # "clearly faster": at least 2× the CPU's sequences/s
MODELS = {"lstm": {}, "ntm": {"backend": "torch"}}

CLAIM = "RNNs speed up clearly on a GPU."
RULE = (f"speedup = GPU / CPU sequences/s per model; not tested here without a CUDA GPU; holds if every "
        f"model's speedup ≥ {CLEARLY:g}; holds with a caveat if some model's is; otherwise does not hold")


def sequences_per_second(model_name: str, device, iterations: int, warmup: int) -> float:
    """Training sequences/s of `model_name` on `device`: `iterations` timed steps after `warmup`."""
    import torch

    from ntm.models import build_model
    from ntm.training import masked_loss
    from tasks.registry import get_task
    task = get_task("copy")
    torch.manual_seed(SEED)
    model = build_model(model_name, task.input_size, task.output_size, **MODELS[model_name]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = task.sample(np.random.default_rng(SEED), BATCH, LENGTH).to(device)
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
    return BATCH * iterations / (time.perf_counter() - start)


def measure(quick: bool) -> dict:
    """{"cpu": {model: seq/s}, "cuda": {model: seq/s or None}, "cuda_name", "cpu_threads", ...}."""
    import torch
    iterations, warmup = (3, 1) if quick else (20, 3)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    has_cuda = torch.cuda.is_available()
    return {"batch": BATCH, "length": LENGTH, "iterations": iterations, "warmup": warmup,
            "cpu_threads": torch.get_num_threads(), "load_average_1min": _load(),
            "cuda_name": torch.cuda.get_device_name(0) if has_cuda else None,
            "cpu": {m: sequences_per_second(m, cpu, iterations, warmup) for m in MODELS},
            "cuda": {m: sequences_per_second(m, cuda, iterations, warmup) if has_cuda else None for m in MODELS}}


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
    ax.set_xticks(x, models)
    ax.set_ylabel("training sequences / s")
    ax.set_title(f"copy, batch {figures['batch']}, length {figures['length']}, {figures['iterations']} timed steps",
                 fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The row and claims-gpu.png in `out` (`device` is not used: this claim measures the CPU and CUDA)."""
    figures = measure(quick)
    plot(figures, out / "claims-gpu.png")
    v, reason = verdict(figures)
    load = figures["load_average_1min"]
    experiment = (f"one training step (forward, masked loss, backward, Adam) on copy, batch {BATCH}, length {LENGTH}, "
                  f"{figures['iterations']} timed steps after {figures['warmup']}: LSTM 3×256, NTM (torch backend); "
                  f"CPU: {figures['cpu_threads']} torch threads" + (f", load average {load:.1f} before timing" if load is not None else ""))
    measured = "; ".join(f"{m}: CPU {figures['cpu'][m]:.0f} seq/s, GPU " +
                         (f"{figures['cuda'][m]:.0f} seq/s" if figures["cuda"][m] is not None else "not measured here")
                         for m in MODELS)
    return [ClaimResult("gpu", CLAIM, experiment, measured, RULE, v, reason, figures, "claims-gpu.png")]
