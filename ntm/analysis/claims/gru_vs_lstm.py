"""Claims: "a GRU gets about the same results as an LSTM with fewer parameters"; "a GRU overfits
less than an LSTM".

Experiment: a GRU and an LSTM of the same width (one layer of H = 64 units: the GRU has three
gate blocks to the LSTM's four, `parameters`) trained by the project's trainer,
`ntm.training.train`, with the same budget (the same steps at most: a run stops earlier once it has
converged; Adam at lr 0.01, batch 32, seed 0; seeds 0–2 in the full run) on the same tasks: copy
(width 4) and reverse (binary symbols), both on lengths 1–5. Both are then scored by
`ntm.analysis.compare.compare` (the trainer's final comparison, on the best weights) at the
longest training length (5) and at twice it (10, never trained on): the per-symbol accuracy there
(a symbol is a 4-bit vector for copy, chance 1/16; a bit for reverse, chance 1/2).

"Results" is the per-symbol error at length 5; "overfitting" is the generalisation gap, the
per-symbol accuracy at length 5 minus that at length 10 (what was fitted to the training lengths
and does not carry beyond them).
"""

from __future__ import annotations

import statistics

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult, torch_threads, train_briefly
from ntm.analysis.figures import new_figure, save_figure

MODELS = ("lstm", "gru")
HIDDEN = 64
TASKS = {"copy": {"width": 4, "train_lengths": [1, 5]}, "reverse": {"train_lengths": [1, 5]}}
TRAIN, LONGER = 5, 10
LR = 0.01
QUICK_STEPS, STEPS = 600, 3000
QUICK_SEEDS, SEEDS = 1, 3
SAME = 0.05                     # "about the same": the GRU's per-symbol error at most 0.05 above the LSTM's
LESS = 0.02                     # "overfits less": the GRU's gap more than 0.02 below the LSTM's

RESULTS_CLAIM = "A GRU gets about the same results as an LSTM with fewer parameters."
OVERFIT_CLAIM = "A GRU overfits less than an LSTM."
RESULTS_RULE = (f"error = 1 − per-symbol accuracy at the longest training length (mean over seeds); holds if the GRU "
                f"has fewer parameters and, on every task, an error at most {SAME:g} above the LSTM's; holds with a "
                "caveat if on some tasks; otherwise does not hold")
OVERFIT_RULE = (f"gap = per-symbol accuracy at length {TRAIN} (trained) − at {LONGER} (never trained on), mean over "
                f"seeds; holds if the GRU's gap is more than {LESS:g} below the LSTM's on every task; holds with a caveat "
                "if on some; otherwise does not hold")


def run_one(model: str, task: str, seed: int, steps: int) -> dict:
    """{"parameters", "accuracy": {length: per-symbol accuracy}, "steps"} of one trained model."""
    from ntm.models import build_model, count_parameters
    from ntm.training import TrainConfig
    from tasks.registry import get_task
    cfg = TrainConfig(task=task, task_params=TASKS[task], model=model,
                      model_params={"hidden_size": HIDDEN, "layers": 1}, steps=steps, lr=LR, polish_steps=0,
                      eval_every=100, eval_samples=128, compare_lengths=[TRAIN, LONGER], device="cpu", seed=seed)
    result = train_briefly(cfg)["result"]
    t = get_task(task, **TASKS[task])
    parameters = count_parameters(build_model(model, t.input_size, t.output_size, hidden_size=HIDDEN, layers=1))
    return {"parameters": parameters, "steps": result.steps,
            "accuracy": {str(r["length"]): r["symbol_accuracy"] for r in result.comparison}}


def measure(quick: bool) -> dict:
    """{"tasks": {task: {model: {"parameters", "runs": [run_one's dict per seed], "error", "gap"}}}, ...}."""
    steps, seeds = (QUICK_STEPS, QUICK_SEEDS) if quick else (STEPS, SEEDS)
    tasks = {}
    for task in TASKS:
        tasks[task] = {}
        for model in MODELS:
            with torch_threads(1):
                runs = [run_one(model, task, seed, steps) for seed in range(seeds)]
            acc = {n: statistics.mean(r["accuracy"][n] for r in runs) for n in (str(TRAIN), str(LONGER))}
            tasks[task][model] = {"parameters": runs[0]["parameters"], "runs": runs, "accuracy": acc,
                                  "error": 1 - acc[str(TRAIN)], "gap": acc[str(TRAIN)] - acc[str(LONGER)]}
    return {"tasks": tasks, "steps": steps, "seeds": seeds, "hidden": HIDDEN, "train": TRAIN, "longer": LONGER}


def verdict_results(figures: dict) -> tuple[str, str]:
    """By `RESULTS_RULE`; figures: {"tasks": {task: {"lstm": {"parameters", "error"}, "gru": {...}}}}."""
    tasks = figures["tasks"]
    fewer = all(t["gru"]["parameters"] < t["lstm"]["parameters"] for t in tasks.values())
    same = {name: t["gru"]["error"] <= t["lstm"]["error"] + SAME for name, t in tasks.items()}
    said = "; ".join(f"{name}: error GRU {t['gru']['error']:.3f} vs LSTM {t['lstm']['error']:.3f}, parameters "
                     f"{t['gru']['parameters']:,} vs {t['lstm']['parameters']:,}" for name, t in tasks.items())
    if fewer and all(same.values()):
        return HOLDS, said
    if fewer and any(same.values()):
        worse = ", ".join(n for n, ok in same.items() if not ok)
        return CAVEAT, f"about the same except on {worse}: {said}"
    return FAILS, said if fewer else f"the GRU does not have fewer parameters: {said}"


def verdict_overfit(figures: dict) -> tuple[str, str]:
    """By `OVERFIT_RULE`; figures: {"tasks": {task: {"lstm": {"gap", "accuracy"}, "gru": {...}}}}."""
    tasks = figures["tasks"]
    less = {name: t["gru"]["gap"] < t["lstm"]["gap"] - LESS for name, t in tasks.items()}
    said = "; ".join(
        f"{name}: gap GRU {t['gru']['gap']:+.3f} vs LSTM {t['lstm']['gap']:+.3f} (accuracy at {figures['train']} / "
        f"{figures['longer']}: GRU {t['gru']['accuracy'][str(figures['train'])]:.3f} / "
        f"{t['gru']['accuracy'][str(figures['longer'])]:.3f}, LSTM {t['lstm']['accuracy'][str(figures['train'])]:.3f}"
        f" / {t['lstm']['accuracy'][str(figures['longer'])]:.3f})" for name, t in tasks.items())
    if all(less.values()):
        return HOLDS, said
    if any(less.values()):
        return CAVEAT, f"on {', '.join(n for n, ok in less.items() if ok)} only: {said}"
    return FAILS, said


def plot(figures: dict, path) -> None:
    """Per-symbol accuracy at the training length and at twice it, per task and model (bars)."""
    fig = new_figure(9, 3.6)
    ax = fig.add_subplot()
    lengths = (str(figures["train"]), str(figures["longer"]))
    labels, width, x = [], 0.2, 0
    for name, t in figures["tasks"].items():
        for i, model in enumerate(MODELS):
            for j, n in enumerate(lengths):
                bar = ax.bar(x + (2 * i + j) * width, t[model]["accuracy"][n], width,
                             color=("tab:blue", "tab:orange")[i], alpha=(1.0, 0.5)[j])
                if x == 0:
                    bar.set_label(f"{model.upper()}, length {n}" + (" (trained)" if j == 0 else " (never trained on)"))
        labels.append((x + 1.5 * width, f"{name}\nparameters: LSTM {t['lstm']['parameters']:,}, "
                                        f"GRU {t['gru']['parameters']:,}"))
        x += 1
    ax.set_xticks([p for p, _ in labels], [n for _, n in labels])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("per-symbol accuracy")
    ax.set_title(f"same width (H = {figures['hidden']}), same budget ({figures['steps']} steps), "
                 f"trained on lengths 1–{figures['train']}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """Both rows (results, overfitting) and claims-gru_vs_lstm.png in `out` (on the CPU: small runs)."""
    figures = measure(quick)
    plot(figures, out / "claims-gru_vs_lstm.png")
    seeds = figures["seeds"]
    experiment = (f"GRU and LSTM, 1 layer of H = {HIDDEN}, by ntm.training.train (Adam lr {LR:g}) with the same budget "
                  f"({figures['steps']} steps at most) on copy (width 4) and reverse (binary), lengths 1–{TRAIN}; per-symbol "
                  f"accuracy by ntm.analysis.compare at lengths {TRAIN} and {LONGER}; "
                  + ("seed 0" if seeds == 1 else f"seeds 0–{seeds - 1}, mean"))
    t = figures["tasks"]
    rows = []
    for name, claim, rule, judge, shown in (
            ("gru_vs_lstm.results", RESULTS_CLAIM, RESULTS_RULE, verdict_results,
             lambda m: f"error {m['error']:.3f}, {m['parameters']:,} parameters"),
            ("gru_vs_lstm.overfitting", OVERFIT_CLAIM, OVERFIT_RULE, verdict_overfit,
             lambda m: f"gap {m['gap']:+.3f}")):
        verdict, reason = judge(figures)
        measured = "; ".join(f"{task}: " + ", ".join(f"{model.upper()} {shown(t[task][model])}" for model in MODELS)
                             for task in t)
        rows.append(ClaimResult(name, claim, experiment, measured, rule, verdict, reason, figures,
                                "claims-gru_vs_lstm.png"))
    return rows
