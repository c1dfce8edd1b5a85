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

Beside it, one network for every machine: the universal NTM (`ntm.models.universal_ntm`,
docs/universal.md), whose memory holds the tape and the machine's transition table, run free (its
own state fed back, its own stop) against the engine on held-out random machines (2–4 states, the
training size, and 5–6 states, larger than any trained on; inputs 1^n, n in 0–3, to the halt or
1,000 steps; `UNIVERSAL_SAMPLES` a family) and on BB(2)–BB(4) to the halt: with `construct`'s
hand-set weights, and in the full run also trained from the trace (`ntm.training.train` of the
``universal`` task, seed 0, at most `UNIVERSAL_STEPS` steps; it converged in 600–700 steps on seeds
0–2, bench/README.md "Universal interpreter").

What this cannot show: a network with a fixed N has a fixed, finite memory, so it is a
linear-bounded automaton (a machine with a tape of N cells), not a Turing machine; Turing
completeness needs memory (or, in Siegelmann & Sontag's construction, precision) that grows without
bound. And "can approximate any algorithm" by training is a different claim: the learned universal
interpreter is reported beside the verdict, which judges the compiled runs only. The trained models'
accuracy by length is what ``ntm compare`` reports, and a controller trained on a machine's trace
(``ntm train --task trace:MACHINE``, docs/traces.md) is compared with the machine step by step there.
"""

from __future__ import annotations

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult, torch_threads
from ntm.analysis.figures import new_figure, save_figure

QUICK_RUNS = [("bb4", N, dtype) for N in (4, 8, 12, 14) for dtype in ("float64", "float32")] + \
             [("bb5", N, "float64") for N in (16, 64)]
FULL_RUNS = QUICK_RUNS + [("bb5", N, "float32") for N in (16, 64)] + [("bb5", 256, d) for d in ("float64", "float32")]
MAX_STEPS = 100_000
DOC = "docs/turing-completeness.md"
QUICK_UNIVERSAL_SAMPLES, UNIVERSAL_SAMPLES = 64, 256
UNIVERSAL_STEPS = 1500
FAMILIES = {"2-4 states": (2, 4), "5-6 states": (5, 6)}

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
    return {"runs": rows, "max_steps": MAX_STEPS, "doc": DOC, "universal": universal(quick)}


def universal(quick: bool) -> dict:
    """{label: {family: `compare_family`'s dict, "busy_beavers": `compare_machines`' rows, ...}} for
    the universal NTM with hand-set weights ("constructed") and, in the full run, trained ("learned")."""
    import torch

    from ntm.models.universal_ntm import UniversalNTM, construct
    from tasks.universal import UniversalTask
    task = UniversalTask()
    models = {"constructed": (construct(UniversalNTM(task.input_size, task.output_size)), {})}
    if not quick:
        models["learned"] = learned_interpreter()
    samples = QUICK_UNIVERSAL_SAMPLES if quick else UNIVERSAL_SAMPLES
    out = {}
    with torch.no_grad(), torch_threads(1):
        for label, (model, training) in models.items():
            out[label] = {**training, **universal_runs(model, samples)}
    return out


def universal_runs(model, samples: int) -> dict:
    """The held-out families and BB(2)–BB(4), the model running free."""
    from ntm.analysis.universal_compare import compare_family, compare_machines
    from tasks.universal import UniversalTask
    from turing import library
    out = {family: compare_family(model, UniversalTask(states=states, max_steps=1000), samples=samples)
           for family, states in FAMILIES.items()}
    out["busy_beavers"] = compare_machines(model, [library.get(n) for n in ("bb2", "bb3", "bb4")], max_steps=1000)
    return out


def learned_interpreter():
    """(the universal NTM trained on the ``universal`` task's traces, {"converged", "steps",
    "seconds"}): seed 0, at most UNIVERSAL_STEPS steps, no polishing."""
    import tempfile

    from ntm.training import TrainConfig, train
    from ntm.training.run_dir import load_run
    cfg = TrainConfig(task="universal", model="universal_ntm", steps=UNIVERSAL_STEPS, polish_steps=0, seed=0,
                      threads=1, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        r = train(cfg, f"{tmp}/run", progress=False, log=lambda *a, **k: None)
        model = load_run(f"{tmp}/run")[0]
    return model, {"converged": r.converged, "steps": r.steps, "seconds": round(r.seconds, 1)}


def universal_text(figures: dict) -> str:
    """One line on the universal NTM's runs: step-exact fractions and the busy beavers."""
    parts = []
    for label, u in figures.get("universal", {}).items():
        trained = (f" (trained {u['steps']} steps, " + ("converged" if u["converged"] else "not converged") + ")"
                   if "steps" in u else "")
        fams = ", ".join(f"{f} {100 * u[f]['step_exact']:.1f} % of {u[f]['samples']}" for f in FAMILIES)
        bbs = " / ".join("exact" if b["first_divergence"] is None else f"differs at {b['first_divergence']}"
                         for b in u["busy_beavers"])
        parts.append(f"universal NTM {label}{trained}: step-exact on {fams} held-out machines; BB(2) / BB(3) / "
                     f"BB(4) {bbs}")
    return "; ".join(parts)


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
                        "machine (completeness needs memory that grows with the run); learning an algorithm is "
                        f"reported beside it, not judged ({figures['doc']}): {exact}" + _beside(figures))
    return HOLDS, f"every compiled run is identical to the machine's halt: {exact}" + _beside(figures)


def _beside(figures: dict) -> str:
    text = universal_text(figures)
    return f". Beside it, {text}" if text else ""


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
                  f"float32, up to {MAX_STEPS:,} steps; see {DOC}. Beside it, the universal NTM (one network, the "
                  "transition table in memory) run free on held-out random machines (2–4 and 5–6 states, to the halt "
                  "or 1,000 steps) and BB(2)–BB(4): hand-set weights" + (" and trained from traces (seed 0, at most "
                  f"{UNIVERSAL_STEPS:,} steps)" if "learned" in figures["universal"] else "") + "; see docs/universal.md")
    measured = "; ".join(
        f"{r['machine']} N = {r['memory_rows']} {r['dtype']}: "
        + (f"differs at step {r['first_divergence']}" if r["first_divergence"] is not None else
           f"identical {r['steps_compared']:,} steps, " + (f"memory out at {r['memory_exhausted']:,}"
                                                          if r["memory_exhausted"] else r["status"]))
        for r in runs) + "; " + universal_text(figures)
    verdict_, reason = verdict(figures)
    return [ClaimResult("turing_completeness", CLAIM, experiment, measured, RULE, verdict_, reason, figures,
                        "claims-turing_completeness.png")]

