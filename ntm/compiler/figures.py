"""The compiled NTM's leakage chart (`ntm compile --plot`)."""

from __future__ import annotations

from typing import Sequence

import torch

from ntm.analysis.figures import new_figure
from ntm.compiler.harness import Lockstep


def plot_leakage(runs: Sequence[Lockstep], path, title: str | None = None):
    """Chart each lockstep run's leakage statistics against steps (log scale; values below 1e-18,
    exact zeros included, are drawn at 1e-18; long runs are binned to their maxima), marking the
    first divergence and the memory bound. Writes `path` (PNG, or any suffix matplotlib knows)."""
    floor, bins = 1e-18, 2000
    fig = new_figure(9, 4.5)
    ax = fig.add_subplot()
    styles = {"weighting": "-", "memory": "--", "controller": ":"}
    for c in runs:
        L = c.leakage
        steps = torch.arange(len(L), dtype=torch.float64)
        if len(L) > 2 * bins:                                    # max per bin keeps the peaks
            size = -(-len(L) // bins)
            pad = size * bins - len(L)                           # repeat the last step to fill the last bin
            L = torch.cat([L, L[-1:].expand(pad, 3)]).view(bins, size, 3).amax(1)
            steps = torch.cat([steps, steps[-1:].expand(pad)]).view(bins, size)[:, -1]
        for j, (name, ls) in enumerate(styles.items()):
            ax.plot(steps.numpy(), L[:, j].clamp_min(floor).numpy(), ls, lw=1,
                    label=f"{c.dtype} G={c.gain:g} γ={c.sharpening:g}: {name}")
        for step, what in ((c.first_divergence, "differs"), (c.memory_exhausted, "memory full")):
            if step is not None:
                ax.axvline(step, color="k", lw=0.8)
                ax.annotate(f" {what} at step {step}", (step, 1e-9), rotation=90, fontsize=8, va="center")
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 3)
    ax.set_xlabel("machine step")
    ax.set_ylabel("leakage: 1 - max w, |M - code|, |h - 0/1|")
    ax.set_title(title or f"compiled {runs[0].machine}: leakage per step")
    ax.legend(fontsize=7, ncols=2, loc="lower right")
    fig.savefig(path)
    return path
