"""Claim: "exploding gradients are not serious: clipping fixes them".

Experiment: a plain RNN (tanh, one layer of H = 64 units, ``build_model("rnn", ...)``) trained by
the project's trainer, `ntm.training.train`, on copy (width 4, every sequence of length 10: the
first vector is written back 11 steps after it was read, the last output comes 20 steps after the
first input), by plain SGD with momentum 0.9 at a high learning rate (0.05 for a loss summed over
the 40 target bits of a sequence): the optimizer of the exploding-gradient studies (Pascanu et al.
2013). Adam, the trainer's default, divides each step by a running gradient scale, so a large
gradient cannot make a large step there. Seeds 0–2 (--quick, 300 steps) or 0–9 (full, 1,000
steps), each without clipping and with global-norm clipping at 1 (``clip_norm``); the trainer's
safety nets are off (no rollback, no moving average, no learning-rate drop), so clipping is the
only difference between the two arms.

Per run: the steps skipped for a NaN/Inf loss or gradient (the trainer's ``skipped``), the mean
training loss over each evaluation interval (50 steps), and the final error (bits wrong per
sequence on the task's fixed evaluation set at the last evaluation; 20 is chance: every bit guessed).
A run diverged when it raised the trainer's DivergenceError, skipped a step, or its training loss
over some interval exceeded `BLOWUP` times the loss of guessing every bit (ln 2 per bit:
27.7 nats per sequence), a loss no run that learns anything reaches.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, NOT_TESTED, ClaimResult, torch_threads, train_briefly
from ntm.analysis.figures import new_figure, save_figure

WIDTH, LENGTH, HIDDEN = 4, 10, 64
LR, MOMENTUM, CLIP = 0.05, 0.9, 1.0
BLOWUP = 1.5                       # diverged: an interval's training loss above 1.5 × the chance loss
QUICK_SEEDS, SEEDS = 3, 10
QUICK_STEPS, STEPS = 300, 1000
EVAL_EVERY = 50
ARMS = {"no clipping": None, f"clip_norm {CLIP:g}": CLIP}

CLAIM = "Exploding gradients are not serious: clipping fixes them."
RULE = ("a run diverged: NaN/Inf (a skipped step or the trainer's DivergenceError) or an interval's training loss "
        f"above {BLOWUP:g} × the chance loss; not tested here if no unclipped run diverged; holds if no clipped "
        "run diverged and the clipped runs' median final error is below the unclipped runs'; holds with a caveat "
        "if clipping removed every divergence without lowering the median error, or lowered the number of "
        "divergences without removing them; otherwise does not hold")


def chance_loss() -> float:
    """Nats per sequence of guessing every target bit with probability 1/2: ln 2 per bit."""
    return math.log(2) * WIDTH * LENGTH


def config(seed: int, clip: float | None, steps: int):
    """The run's `TrainConfig`: SGD at LR, clipping `clip` (None: none), safety nets off."""
    from ntm.training import TrainConfig
    return TrainConfig(task="copy", task_params={"width": WIDTH, "train_lengths": [LENGTH, LENGTH]}, model="rnn",
                       model_params={"hidden_size": HIDDEN, "layers": 1}, optimizer="sgd", lr=LR, momentum=MOMENTUM,
                       clip_norm=clip, steps=steps, eval_every=EVAL_EVERY, eval_samples=64, polish_steps=0,
                       ema_decay=0.0, lr_drop_bits=None, collapse_bits=1e9, compare_lengths=[LENGTH], device="cpu",
                       seed=seed)


def run_one(seed: int, clip: float | None, steps: int) -> dict:
    """One run's figures: seed, skipped, divergence (the error's message or None), losses (per
    interval), final_bits, max_loss, diverged."""
    out = train_briefly(config(seed, clip, steps))
    rows = out["rows"]
    losses = [r["loss"] for r in rows]
    finite = [x for x in losses if x is not None and math.isfinite(x)]
    skipped = rows[-1]["skipped"] if rows else 0
    final = rows[-1]["bits_per_seq"] if rows and out["divergence"] is None else WIDTH * LENGTH / 2
    max_loss = max(finite) if finite else math.inf
    diverged = bool(out["divergence"]) or skipped > 0 or max_loss > BLOWUP * chance_loss()
    return {"seed": seed, "skipped": skipped, "divergence": out["divergence"], "losses": losses,
            "final_bits": final, "max_loss": max_loss, "diverged": diverged}


def measure(quick: bool) -> dict:
    """Both arms' runs: {"arms": {arm: [run_one's dict per seed]}, "chance_loss", "chance_bits", ...}."""
    seeds, steps = (QUICK_SEEDS, QUICK_STEPS) if quick else (SEEDS, STEPS)
    arms = {}
    for arm, clip in ARMS.items():
        with torch_threads(1):
            arms[arm] = [run_one(seed, clip, steps) for seed in range(seeds)]
    return {"arms": arms, "chance_loss": chance_loss(), "chance_bits": WIDTH * LENGTH / 2, "steps": steps,
            "eval_every": EVAL_EVERY, "blowup": BLOWUP, "lr": LR, "clip_norm": CLIP}


def summary(runs: list[dict]) -> dict:
    """diverged (count), runs, skipped (total NaN/Inf steps), median final error."""
    return {"diverged": sum(r["diverged"] for r in runs), "runs": len(runs),
            "skipped": sum(r["skipped"] for r in runs),
            "median_bits": statistics.median(r["final_bits"] for r in runs)}


def verdict(figures: dict) -> tuple[str, str]:
    """By `RULE`; figures: {"arms": {"no clipping": runs, "clip_norm ...": runs}, "chance_bits"}
    with each run's "diverged", "skipped" and "final_bits" (``measure``'s dict)."""
    (_, plain), (clip_name, clipped) = figures["arms"].items()
    p, c = summary(plain), summary(clipped)
    said = (f"without clipping {p['diverged']}/{p['runs']} runs diverged ({p['skipped']} NaN/Inf steps), median "
            f"final error {p['median_bits']:.1f} bits/seq; with {clip_name} {c['diverged']}/{c['runs']} "
            f"({c['skipped']} NaN/Inf steps), {c['median_bits']:.1f} (chance {figures['chance_bits']:g})")
    if p["diverged"] == 0:
        return NOT_TESTED, f"nothing exploded at this learning rate, so clipping had nothing to fix: {said}"
    if c["diverged"] == 0 and c["median_bits"] < p["median_bits"]:
        return HOLDS, said
    if c["diverged"] == 0:
        return CAVEAT, f"clipping stopped the divergences but the error is no lower: {said}"
    if c["diverged"] < p["diverged"]:
        return CAVEAT, f"clipping made divergence rarer, not absent: {said}"
    return FAILS, f"clipped runs diverged as often: {said}"


def plot(figures: dict, path) -> None:
    """Training loss per evaluation interval against steps (log y), one line per run, both arms,
    beside the chance loss and the divergence threshold."""
    fig = new_figure(7, 4)
    ax = fig.add_subplot()
    for (arm, runs), color in zip(figures["arms"].items(), ("tab:red", "tab:blue")):
        for i, r in enumerate(runs):
            steps = figures["eval_every"] * np.arange(1, len(r["losses"]) + 1)
            ax.plot(steps, [x if x is not None else np.nan for x in r["losses"]], color=color, alpha=0.6,
                    linewidth=1, label=arm if i == 0 else None)
    ax.axhline(figures["chance_loss"], color="k", linestyle="--", linewidth=1, label="chance (every bit 1/2)")
    ax.axhline(figures["blowup"] * figures["chance_loss"], color="k", linestyle=":", linewidth=1,
               label=f"diverged above {figures['blowup']:g} × chance")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (nats per sequence)")
    ax.set_title(f"plain RNN (H = {HIDDEN}) on copy (width {WIDTH}, length {LENGTH}), SGD lr {figures['lr']:g} "
                 f"momentum {MOMENTUM:g}", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The clipping row and claims-clipping.png in `out` (always on the CPU: small runs)."""
    figures = measure(quick)
    plot(figures, out / "claims-clipping.png")
    seeds = len(next(iter(figures["arms"].values())))
    experiment = (f"plain RNN (tanh, H = {HIDDEN}) on copy (width {WIDTH}, length {LENGTH}) by ntm.training.train, "
                  f"SGD lr {LR:g} momentum {MOMENTUM:g}, {figures['steps']} steps, seeds 0–{seeds - 1}, without "
                  f"clipping and with clip_norm {CLIP:g}; rollback, moving average and lr drop off")
    measured = "; ".join(
        f"{arm}: {s['diverged']}/{s['runs']} diverged, {s['skipped']} NaN/Inf steps, median final error "
        f"{s['median_bits']:.1f} bits/seq" for arm, s in ((a, summary(r)) for a, r in figures["arms"].items()))
    verdict_, reason = verdict(figures)
    return [ClaimResult("clipping", CLAIM, experiment, measured + f" (chance {figures['chance_bits']:g})", RULE,
                        verdict_, reason, figures, "claims-clipping.png")]
