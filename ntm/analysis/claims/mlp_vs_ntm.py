"""Claim: "a three-layer feed-forward network can learn any function" (the universal approximation
theorem: Cybenko 1989; Hornik 1991), read as "so it can learn an algorithm".

Experiment: the NTM paper's copy task (8-bit vectors, training lengths 1–20, the project's
defaults) learned by two models with the same budget of optimizer steps, by the project's trainer:

- `mlp` (`ntm.models.mlp`): one hidden layer of 512 ReLU units over a window that fits the training
  lengths (21 input steps: 20 vectors and the delimiter; 20 output steps): the theorem's network,
  for inputs of a fixed size;
- `ntm`: the NTM with its defaults (the paper's copy setup).

Both are then scored by `ntm.analysis.compare.compare` (the trainer's final comparison, on the best
weights) at the longest training length and beyond it (20, 40, 80; full run also 120): the
per-symbol accuracy (a symbol is an 8-bit vector: chance 1/256) and the sequence accuracy. Beyond
its window the MLP sees only the last 21 steps and answers 20 steps (logits 0, chance for each
bit, after that): a function of a fixed input size has no way to answer a longer input.
"""

from __future__ import annotations

import statistics

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult, torch_threads, train_briefly
from ntm.analysis.figures import new_figure, save_figure

MODELS = ("mlp", "ntm")
TRAIN = 20
QUICK_LENGTHS, LENGTHS = (20, 40, 80), (20, 40, 80, 120)
QUICK_STEPS, STEPS = 3000, 3000   # the NTM stops once converged (seed 0: ~700 steps); the MLP needs ~3000
QUICK_SEEDS, SEEDS = 1, 3
LEARNED = 0.99                  # learned: per-symbol accuracy at least 0.99

CLAIM = "A three-layer feed-forward network can learn any function (so it can learn an algorithm)."
RULE = (f"a = per-symbol accuracy (median over seeds); holds if the MLP reaches a ≥ {LEARNED:g} at the training "
        f"length {TRAIN} and at every longer length; holds with a caveat if only at the training length (it fits the "
        "function on its fixed input size, not the algorithm); otherwise does not hold. The NTM's figures with the "
        "same budget are reported beside it, not judged")


def run_one(model: str, seed: int, steps: int, lengths) -> dict:
    """{"accuracy": {length: per-symbol accuracy}, "sequences": {length: sequence accuracy},
    "steps", "best_bits"} of one model trained on copy (width 8, lengths 1–TRAIN)."""
    from ntm.training import TrainConfig
    cfg = TrainConfig(task="copy", task_params={"width": 8, "train_lengths": [1, TRAIN]}, model=model,
                      steps=steps, polish_steps=0, eval_every=100, eval_samples=128, compare_lengths=list(lengths),
                      device="cpu", seed=seed)
    result = train_briefly(cfg)["result"]
    if result is None:                                            # NaN/Inf throughout: nothing learned
        return {"accuracy": {str(n): 0.0 for n in lengths}, "sequences": {str(n): 0.0 for n in lengths},
                "steps": steps, "best_bits": None}
    rows = {str(r["length"]): r for r in result.comparison}
    return {"accuracy": {n: r["symbol_accuracy"] for n, r in rows.items()},
            "sequences": {n: r["seq_accuracy"] for n, r in rows.items()},
            "steps": result.steps, "best_bits": result.best_bits}


def measure(quick: bool) -> dict:
    """{"models": {model: {"runs": [run_one's dict per seed], "accuracy": {length: median}}}, ...}."""
    lengths, steps, seeds = (QUICK_LENGTHS, QUICK_STEPS, QUICK_SEEDS) if quick else (LENGTHS, STEPS, SEEDS)
    models = {}
    for model in MODELS:
        with torch_threads(1):
            runs = [run_one(model, seed, steps, lengths) for seed in range(seeds)]
        models[model] = {"runs": runs, "accuracy": {str(n): statistics.median(r["accuracy"][str(n)] for r in runs)
                                                    for n in lengths}}
    return {"models": models, "lengths": list(lengths), "steps": steps, "seeds": seeds, "train": TRAIN}


def verdict(figures: dict) -> tuple[str, str]:
    """By `RULE`; figures: {"models": {"mlp": {"accuracy": {length: a}}, "ntm": {...}}, "train"}."""
    mlp, ntm = (figures["models"][m]["accuracy"] for m in MODELS)
    train = str(figures["train"])
    longer = [n for n in mlp if n != train]
    said = "; ".join(f"{m.upper()}: " + ", ".join(f"{a:.3f} at {n}" for n, a in figures["models"][m]["accuracy"].items())
                     for m in MODELS)
    if mlp[train] >= LEARNED and all(mlp[n] >= LEARNED for n in longer):
        return HOLDS, f"the MLP copies at every length measured: {said}"
    if mlp[train] >= LEARNED:
        ntm_all = all(a >= LEARNED for a in ntm.values())
        return CAVEAT, ("the MLP fits copy on its window, a function of a fixed input size, and has no way to answer "
                        "longer inputs; " + ("the NTM, with the same budget, copies at every length measured: "
                                             if ntm_all else "the NTM, with the same budget: ") + said)
    return FAILS, f"the MLP does not reach {LEARNED:g} per-symbol accuracy even at the training length: {said}"


def plot(figures: dict, path) -> None:
    """Per-symbol accuracy against the length, one line per model (median over seeds), training
    range shaded."""
    fig = new_figure(6.5, 3.6)
    ax = fig.add_subplot()
    for model in MODELS:
        acc = figures["models"][model]["accuracy"]
        ax.plot([int(n) for n in acc], list(acc.values()), marker="o", label=model.upper())
    ax.axvspan(1, figures["train"], color="0.9", label="training lengths")
    ax.axhline(1 / 256, color="k", linestyle="--", linewidth=1, label="chance (1/256)")
    ax.set_xlabel("sequence length")
    ax.set_ylabel("per-symbol accuracy")
    ax.set_ylim(-0.02, 1.05)
    ax.set_title(f"copy (8-bit vectors), at most {figures['steps']} steps each", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The MLP row and claims-mlp_vs_ntm.png in `out` (always on the CPU: small runs)."""
    figures = measure(quick)
    plot(figures, out / "claims-mlp_vs_ntm.png")
    seeds = figures["seeds"]
    experiment = (f"MLP (one hidden layer of 512 ReLU units over a window of 21 input and 20 output steps) and the "
                  f"NTM (defaults) by ntm.training.train with the same budget ({figures['steps']} steps at most) on copy "
                  f"(8-bit vectors, lengths 1–{TRAIN}); per-symbol accuracy by ntm.analysis.compare at "
                  f"{', '.join(map(str, figures['lengths']))}; " + ("seed 0" if seeds == 1 else f"seeds 0–{seeds - 1}, median"))
    measured = "; ".join(f"{m.upper()}: " + ", ".join(f"{a:.3f} at {n}" for n, a in figures["models"][m]["accuracy"].items())
                         for m in MODELS)
    verdict_, reason = verdict(figures)
    return [ClaimResult("mlp_vs_ntm", CLAIM, experiment, measured, RULE, verdict_, reason, figures,
                        "claims-mlp_vs_ntm.png")]
