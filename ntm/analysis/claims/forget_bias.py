"""Claim: "keep the forget gate mostly open" (start the LSTM's forget-gate bias at 1 or more, so that
σ(b_f) is near 1 and the cell keeps what it holds: Gers et al. 2000; Jozefowicz et al. 2015).

Experiment: recall a bit after a delay of T steps. The task is the project's copy with one bit per
vector, every sequence of length T (``get_task("copy", width=1, train_lengths=(T, T))``), scored on
its first output only: the bit read at input step 0 must come out at step T + 1, after T − 1 random
distractor bits and the delimiter (the noisy long-time-lag setting of Hochreiter & Schmidhuber
1997). The loss and the evaluation look at that first output (`FirstOutput`, `FirstOutputEvaluator`,
handed to `ntm.training.train`: the project's trainer, Adam at lr 0.01 throughout (no learning-rate
drop), batch 32, its other defaults). An LSTM (one layer
of 32 units, ``build_model("lstm", ..., forget_bias=b)``) with forget-gate bias b = 0, 1 (the
project's default) and 2 climbs the ladder of delays T = 5, 10, 20, 40 (full run: up to 160) with
a budget of `QUICK_STEPS` (full: `STEPS`) steps per delay; T is learned when the first bit's best
error rate on 256 fixed sequences is at most `LEARNED` (chance: 0.5). The climb stops at the first
delay not learned; the longest delay learned is the last one before it (0: none). The full run
repeats it for seeds 0–2 and reports the median.
"""

from __future__ import annotations

import statistics

import torch

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult, torch_threads, train_briefly
from ntm.analysis.figures import new_figure, save_figure
from ntm.training.objective import MaskedObjective, masked_loss

BIASES = (0.0, 1.0, 2.0)
QUICK_DELAYS, DELAYS = (5, 10, 20, 40), (5, 10, 20, 40, 80, 160)
QUICK_STEPS, STEPS = 400, 2000
QUICK_SEEDS, SEEDS = 1, 3
HIDDEN, LR, EVAL_SAMPLES = 32, 0.01, 256
LEARNED = 0.02                     # learned: the first bit's error rate at most 2 % (5 of 256)

CLAIM = "Keep the forget gate mostly open: an LSTM's forget-gate bias of 1 or more lets it learn long delays."
RULE = ("L(b) = the longest delay learned with forget bias b (median over seeds); holds if L(1) > L(0) and "
        "L(2) ≥ L(1); holds with a caveat if L(1) or L(2) exceeds L(0) otherwise; does not hold if neither does")


def first_errors(logits: torch.Tensor, batch) -> torch.Tensor:
    """Wrong bits at the first output step, per sequence (B,)."""
    from ntm.analysis.compare import sequence_errors
    return sequence_errors(logits[:, :1], batch.targets[:, :1], batch.mask[:, :1], "bce")[0]


class FirstOutput(MaskedObjective):
    """The masked loss and errors on the first output step only (the bit read first)."""

    def loss(self, logits, batch):
        return masked_loss(logits[:, :1], batch.targets[:, :1], batch.mask[:, :1], self.loss_kind)

    def errors(self, logits, batch):
        return first_errors(logits, batch)


class FirstOutputEvaluator:
    """``(model, polishing) -> (error rate of the first bit, its accuracy)`` on the task's fixed
    evaluation set of `samples` sequences of `length` (the trainer's evaluator interface)."""

    def __init__(self, task, length: int, samples: int):
        self.task, self.length, self.samples = task, length, samples
        self.polish_set = [(length, samples)]

    @torch.no_grad()
    def __call__(self, model, polishing: bool) -> tuple[float, float]:
        from ntm.models import predict
        model.eval()
        batch = self.task.eval_batch(self.length, self.samples)
        wrong = first_errors(predict(model, batch), batch).float()
        model.train()
        return wrong.mean().item(), (wrong == 0).float().mean().item()


def run_one(model: str, options: dict, delay: int, seed: int, steps: int) -> dict:
    """{"error": the best first-bit error rate, "steps": the steps taken} of one model (`model` with
    one layer of HIDDEN units and `options`, e.g. {"forget_bias": 1.0}) trained at `delay` (it stops
    early once the error is at most LEARNED). Also `birnn`'s."""
    from ntm.training import TrainConfig
    from tasks.registry import get_task
    params = {"width": 1, "train_lengths": [delay, delay]}
    cfg = TrainConfig(task="copy", task_params=params, model=model,
                      model_params={"hidden_size": HIDDEN, "layers": 1, **options}, steps=steps, lr=LR,
                      eval_every=50, target_bits=LEARNED + 1e-9, polish_steps=0, lr_drop_bits=None,
                      compare_lengths=[delay], device="cpu", seed=seed)
    task = get_task("copy", **params)
    out = train_briefly(cfg, objective=FirstOutput("bce"), evaluator=FirstOutputEvaluator(task, delay, EVAL_SAMPLES))
    if out["result"] is None:                                     # NaN/Inf throughout: nothing learned
        return {"error": 0.5, "steps": steps}
    return {"error": out["result"].best_bits, "steps": out["result"].steps}


def climb(model: str, options: dict, delays, seed: int, steps: int) -> dict:
    """{delay: run_one's dict} for the delays in order, up to the first one not learned (included)."""
    runs = {}
    for delay in delays:
        with torch_threads(1):
            runs[delay] = run_one(model, options, delay, seed, steps)
        if runs[delay]["error"] > LEARNED:
            break
    return runs


def longest(runs: dict) -> int:
    """The longest delay of a climb learned with every shorter one learned (0: none);
    runs: {delay: {"error": best error rate, ...}}, the climb's delays in order."""
    best = 0
    for delay, one in runs.items():
        if one["error"] > LEARNED:
            break
        best = delay
    return best


def learned_text(longest_learned: float, delays) -> str:
    """A longest learned delay as shown: "≥ D (the longest tried)" when the climb never failed."""
    return (f"≥ {longest_learned:g} (the longest tried)" if longest_learned >= max(delays)
            else f"{longest_learned:g}")


def measure(quick: bool) -> dict:
    """{"biases": {b: {"climbs": [per seed `climb`'s dict], "longest": [per seed], "median"}}, ...}."""
    delays, steps, seeds = (QUICK_DELAYS, QUICK_STEPS, QUICK_SEEDS) if quick else (DELAYS, STEPS, SEEDS)
    biases = {}
    for bias in BIASES:
        climbs = [climb("lstm", {"forget_bias": bias}, delays, seed, steps) for seed in range(seeds)]
        lengths = [longest(c) for c in climbs]
        biases[f"{bias:g}"] = {"climbs": [{str(k): v for k, v in c.items()} for c in climbs], "longest": lengths,
                               "median": statistics.median(lengths)}
    return {"biases": biases, "delays": list(delays), "steps": steps, "seeds": seeds, "hidden": HIDDEN,
            "learned": LEARNED}


def verdict(figures: dict) -> tuple[str, str]:
    """By `RULE`; figures: {"biases": {"0": {"median"}, "1": {...}, "2": {...}}}."""
    L = {b: figures["biases"][b]["median"] for b in ("0", "1", "2")}
    said = ", ".join(f"L({b}) = {v:g}" for b, v in L.items())
    if L["1"] > L["0"] and L["2"] >= L["1"]:
        return HOLDS, f"bias 0 learns the shortest delay, and bias 2 none shorter than bias 1: {said}"
    if max(L["1"], L["2"]) > L["0"]:
        return CAVEAT, f"a positive bias helps, but not in order: {said}"
    return FAILS, f"no positive bias learned a longer delay than bias 0: {said}"


def plot(figures: dict, path) -> None:
    """`plot_climbs` of each bias's first seed."""
    lines = {f"forget bias {bias} (longest learned: {learned_text(b['median'], figures['delays'])})": b["climbs"][0]
             for bias, b in figures["biases"].items()}
    plot_climbs(lines, figures, f"LSTM (H = {figures['hidden']}), {figures['steps']} steps per delay at most; "
                "the climb stops at the first delay not learned", path)


def plot_climbs(lines: dict, figures: dict, title: str, path) -> None:
    """The first bit's best error rate, and the steps taken, against the delay (log x), one line per
    climb; lines: {label: `climb`'s dict}; figures: {"delays", "steps", "learned"}. Also `birnn`'s."""
    fig = new_figure(9, 3.6)
    panels = fig.subplots(1, 2)
    for label, runs in lines.items():
        delays = [int(d) for d in runs]
        panels[0].plot(delays, [c["error"] for c in runs.values()], marker="o", label=label)
        panels[1].plot(delays, [c["steps"] for c in runs.values()], marker="o", label=label.split(" (")[0])
    panels[0].axhline(0.5, color="k", linestyle="--", linewidth=1, label="chance")
    panels[0].axhline(figures["learned"], color="k", linestyle=":", linewidth=1, label="learned at or below")
    panels[0].set_ylabel("first bit's best error rate")
    panels[1].set_ylabel(f"steps taken (budget {figures['steps']})")
    for ax in panels:
        ax.set_xscale("log", base=2)
        ax.set_xticks(figures["delays"], [str(d) for d in figures["delays"]])
        ax.set_xlabel("delay T (the bit read first, recalled at step T + 1)")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The forget-bias row and claims-forget_bias.png in `out` (always on the CPU: small runs)."""
    figures = measure(quick)
    plot(figures, out / "claims-forget_bias.png")
    seeds = figures["seeds"]
    experiment = (f"LSTM (H = {HIDDEN}, forget bias 0 / 1 / 2) by ntm.training.train (Adam lr {LR:g}) on copy of "
                  f"1-bit vectors, length T, scored on the first output (the bit read T + 1 steps before); delays "
                  f"{', '.join(map(str, figures['delays']))} climbed until one is not learned within "
                  f"{figures['steps']} steps (learned: error rate ≤ {LEARNED:g}); "
                  + ("seed 0" if seeds == 1 else f"seeds 0–{seeds - 1}, median"))
    measured = "; ".join(
        f"bias {bias}: longest delay learned {learned_text(b['median'], figures['delays'])} ("
        + ", ".join(f"T={d}: error {c['error']:.2f} in {c['steps']} steps" for d, c in b["climbs"][0].items()) + ")"
        for bias, b in figures["biases"].items())
    verdict_, reason = verdict(figures)
    return [ClaimResult("forget_bias", CLAIM, experiment, measured, RULE, verdict_, reason, figures,
                        "claims-forget_bias.png")]

