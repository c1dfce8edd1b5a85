"""Claim: "an RNN is Turing complete and can approximate any algorithm" (Siegelmann & Sontag 1995).

Experiment, constructive (nothing is trained): `ntm.compiler` compiles a Turing machine into the
weights of the project's NTM (an LSTM controller with an N-row memory, ``ntm.models.NTM``) and
`ntm.compiler.lockstep` runs it beside the reference simulator, comparing state, heads and every
tape cell at every step, until the machine halts, the first difference, or a tape that needs more
than N cells (where the circular memory would wrap). Busy beavers from `turing.library`: BB(4) (107
steps to its halt; 14 cells) at N = 4, 8, 12, 14, in float64 and float32, and BB(5) (47,176,870
steps; 12,289 cells) at N = 16 and 64 (full run: also 256, and float32). The construction, the
precision and gain limits, and the longer runs (10^6 steps of BB(5)) are in
docs/turing-completeness.md; its figures in bench/results (compile_leakage.png).

What this cannot show: a network with a fixed N has a fixed, finite memory, so it is a
linear-bounded automaton (a machine with a tape of N cells), not a Turing machine; Turing
completeness needs memory (or, in Siegelmann & Sontag's construction, precision) that grows without
bound. And "can approximate any algorithm" by training is a different claim, not measured by this
row: no learned interpreter is run here. The trained models' accuracy by length is what ``ntm compare``
reports, and a controller trained on a machine's trace (``ntm train --task trace:MACHINE``,
docs/traces.md) is compared with the machine step by step and with the compiled NTM there.
"""

from __future__ import annotations

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult
from ntm.analysis.figures import new_figure, save_figure

QUICK_RUNS = [("bb4", N, dtype) for N in (4, 8, 12, 14) for dtype in ("float64", "float32")] + \
             [("bb5", N, "float64") for N in (16, 64)]
FULL_RUNS = QUICK_RUNS + [("bb5", N, "float32") for N in (16, 64)] + [("bb5", 256, d) for d in ("float64", "float32")]
MAX_STEPS = 100_000
DOC = "docs/turing-completeness.md"

CLAIM = "An RNN is Turing complete and can approximate any algorithm."
RULE = ("each compiled run ends identical (the machine halted), at the memory bound (a tape needs more than N "
        "cells), or at a difference; does not hold if some run differs from the machine; holds with a caveat if "
        "none differs and some run stops at the memory bound (a fixed N: a linear-bounded automaton); holds if "
        "every run is identical to the machine's halt")


def measure(quick: bool) -> dict:
    """One row per (machine, N, dtype): identical, steps_compared, first_divergence,
    memory_exhausted, status (`Lockstep.to_dict`'s figures)."""
    import torch

    from ntm import compiler
    from turing import library
    rows = []
    for name, N, dtype in (QUICK_RUNS if quick else FULL_RUNS):
        r = compiler.lockstep(library.get(name), "", max_steps=MAX_STEPS, memory_rows=N,
                              dtype=getattr(torch, dtype))
        d = r.to_dict()
        rows.append({k: d[k] for k in ("machine", "memory_rows", "dtype", "identical", "steps_compared",
                                       "first_divergence", "memory_exhausted", "status", "controller_units")})
    return {"runs": rows, "max_steps": MAX_STEPS, "doc": DOC}


def verdict(figures: dict) -> tuple[str, str]:
    """By `RULE`; figures: {"runs": [{"machine", "memory_rows", "dtype", "steps_compared",
    "first_divergence", "memory_exhausted", "status"}]}."""
    runs = figures["runs"]
    differs = [r for r in runs if r["first_divergence"] is not None]
    bounded = [r for r in runs if r["memory_exhausted"] is not None]
    if differs:
        r = differs[0]
        return FAILS, (f"{len(differs)} compiled run(s) differ from the machine, first {r['machine']} at N = "
                       f"{r['memory_rows']} ({r['dtype']}) at step {r['first_divergence']}")
    exact = "; ".join(f"{r['machine']} N = {r['memory_rows']}: {r['steps_compared']:,} steps"
                      + (f", memory exhausted at step {r['memory_exhausted']:,}" if r["memory_exhausted"] else
                         f" ({r['status']})") for r in runs if r["dtype"] == "float64")
    dtypes = " and ".join(sorted({r["dtype"] for r in runs}, reverse=True))
    if bounded:
        return CAVEAT, (f"the compiled NTM follows the machine exactly, step for step, in {dtypes}, "
                        "until its memory runs out: with N rows it is a linear-bounded automaton, not a Turing "
                        "machine (completeness needs memory that grows with the run); learning an algorithm (a "
                        "trained or trace-supervised interpreter) is not tested by this row "
                        f"({figures['doc']}): {exact}")
    return HOLDS, f"every compiled run is identical to the machine's halt: {exact}"


def plot(figures: dict, path) -> None:
    """Steps run identical to the machine against the memory rows N (log-log), per machine; where
    the memory ran out, and where the machine halted."""
    fig = new_figure(6, 3.8)
    ax = fig.add_subplot()
    for name, color in (("bb4", "tab:blue"), ("bb5", "tab:orange")):
        runs = [r for r in figures["runs"] if r["machine"] == name and r["dtype"] == "float64"]
        if not runs:
            continue
        single = {(r["memory_rows"], r["steps_compared"]) for r in figures["runs"]
                  if r["machine"] == name and r["dtype"] == "float32"}
        same = single <= {(r["memory_rows"], r["steps_compared"]) for r in runs}
        ax.plot([r["memory_rows"] for r in runs], [r["steps_compared"] for r in runs], color=color, marker="o",
                label=f"{name.upper()}: steps identical (float64" + ("; float32 the same)" if single and same else ")"))
        for r in runs:
            ax.annotate("halted" if r["memory_exhausted"] is None else "memory out",
                        (r["memory_rows"], r["steps_compared"]), fontsize=7, textcoords="offset points",
                        xytext=(4, -10))
    ax.axhline(107, color="tab:blue", linestyle=":", linewidth=1, label="BB(4) halts after 107 steps")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("memory rows N")
    ax.set_ylabel("steps identical to the machine")
    ax.set_title("machines compiled into NTM weights (ntm compile): exact until the memory runs out",
                 fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The Turing-completeness row and claims-turing_completeness.png in `out` (on the CPU)."""
    figures = measure(quick)
    plot(figures, out / "claims-turing_completeness.png")
    runs = figures["runs"]
    machines = sorted({r["machine"] for r in runs})
    experiment = (f"{', '.join(m.upper() for m in machines)} compiled into NTM weights (ntm.compiler, LSTM controller, "
                  f"nothing trained) and run in lockstep with the reference simulator at N = "
                  f"{', '.join(str(n) for n in sorted({r['memory_rows'] for r in runs}))} memory rows, float64 and "
                  f"float32, up to {MAX_STEPS:,} steps; see {DOC}")
    measured = "; ".join(
        f"{r['machine']} N = {r['memory_rows']} {r['dtype']}: "
        + (f"differs at step {r['first_divergence']}" if r["first_divergence"] is not None else
           f"identical {r['steps_compared']:,} steps, " + (f"memory out at {r['memory_exhausted']:,}"
                                                          if r["memory_exhausted"] else r["status"]))
        for r in runs)
    verdict_, reason = verdict(figures)
    return [ClaimResult("turing_completeness", CLAIM, experiment, measured, RULE, verdict_, reason, figures,
                        "claims-turing_completeness.png")]

