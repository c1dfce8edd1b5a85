"""Claim: "a bidirectional RNN keeps information about early inputs that a forward RNN's last state
loses" (Schuster & Paliwal 1997; the usual reason given for BiRNN encoders).

Experiment: the forget-bias claim's task (`forget_bias`): copy of 1-bit vectors, every sequence of
length T, scored on its first output only, so the answer is the bit read first, T steps and a
delimiter before the answer. Three models of one layer of 32 units (per direction), trained by the
project's trainer with the same budget, climb the delays T = 5, 10, 20, 40 (full run: up to 160)
until one is not learned:

- `lstm`: a forward LSTM; it answers from its state after the inputs (and one zero answer step);
- `bilstm` as built (``readout="steps"``): the answer step reads both directions' states at that
  step; with the models' read-then-answer interface the backward direction has then read only the
  zero answer steps, so it has nothing of the input to add;
- `bilstm` with ``readout="summary"``: the BiRNN sequence classifier, which answers from the forward
  direction's last state and the backward direction's state after it has read back to the first
  input: the first bit is one step away.

The control, where a BiRNN cannot help: copy (width 4, lengths 1–5; the answer after the input),
LSTM against the BiLSTM as built, scored per symbol at length 5 and at 10 (`gru_vs_lstm.run_one`:
one layer of 64 units, the same budget). Chance is 1/16 per symbol.
"""

from __future__ import annotations

import statistics

from ntm.analysis.claims import forget_bias, gru_vs_lstm
from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult, torch_threads

#: label -> (model name, options)
MODELS = {"lstm": ("lstm", {}), "bilstm": ("bilstm", {}), "bilstm summary": ("bilstm", {"readout": "summary"})}
QUICK_DELAYS, DELAYS = forget_bias.QUICK_DELAYS, forget_bias.DELAYS
QUICK_STEPS, STEPS = forget_bias.QUICK_STEPS, forget_bias.STEPS
QUICK_SEEDS, SEEDS = 1, 3
CONTROL = ("lstm", "bilstm")

CLAIM = "A bidirectional RNN keeps information about early inputs that a forward RNN's last state loses."
RULE = ("L(m) = the longest delay over which model m recalls the first bit (median over seeds); holds if both "
        "BiLSTMs (as built, and with the summary readout) exceed the forward LSTM's L; holds with a caveat if only "
        "the summary readout does; otherwise does not hold. The control (copy, answer after input) is reported, "
        "not judged")


def measure(quick: bool) -> dict:
    """{"models": {label: {"climbs": [per seed `forget_bias.climb`'s dict], "longest", "median"}},
    "control": {model: gru_vs_lstm.run_one's dict}, ...}."""
    delays, steps, seeds = (QUICK_DELAYS, QUICK_STEPS, QUICK_SEEDS) if quick else (DELAYS, STEPS, SEEDS)
    models = {}
    for label, (model, options) in MODELS.items():
        climbs = [forget_bias.climb(model, options, delays, seed, steps) for seed in range(seeds)]
        lengths = [forget_bias.longest(c) for c in climbs]
        models[label] = {"climbs": [{str(k): v for k, v in c.items()} for c in climbs], "longest": lengths,
                         "median": statistics.median(lengths)}
    control_steps = gru_vs_lstm.QUICK_STEPS if quick else gru_vs_lstm.STEPS
    with torch_threads(1):
        control = {m: gru_vs_lstm.run_one(m, "copy", 0, control_steps) for m in CONTROL}
    return {"models": models, "control": control, "control_steps": control_steps, "delays": list(delays),
            "steps": steps, "seeds": seeds, "hidden": forget_bias.HIDDEN, "learned": forget_bias.LEARNED}


def verdict(figures: dict) -> tuple[str, str]:
    """By `RULE`; figures: {"models": {"lstm": {"median"}, "bilstm": {...}, "bilstm summary": {...}}}."""
    L = {label: figures["models"][label]["median"] for label in MODELS}
    said = ", ".join(f"L({label}) = {v:g}" for label, v in L.items())
    if L["bilstm"] > L["lstm"] and L["bilstm summary"] > L["lstm"]:
        return HOLDS, f"both BiLSTMs recall the first bit over longer delays than the forward LSTM: {said}"
    if L["bilstm summary"] > L["lstm"]:
        return CAVEAT, ("only when the answer is read from the backward direction's state after the first input "
                        "(the BiRNN classifier's summary); answering after the input, the backward direction has "
                        f"read only the answer steps and the BiLSTM does no better than the forward LSTM: {said}")
    return FAILS, f"no BiLSTM recalls the first bit over a longer delay than the forward LSTM: {said}"


def run(quick: bool, device, out) -> list[ClaimResult]:
    """The BiRNN row and claims-birnn.png in `out` (always on the CPU: small runs)."""
    figures = measure(quick)
    lines = {f"{label} (longest learned: {forget_bias.learned_text(m['median'], figures['delays'])})": m["climbs"][0]
             for label, m in figures["models"].items()}
    forget_bias.plot_climbs(lines, figures, f"recall the first bit after T steps: one layer of {figures['hidden']} "
                            f"units (per direction), {figures['steps']} steps per delay at most", out / "claims-birnn.png")
    seeds = figures["seeds"]
    experiment = (f"LSTM, BiLSTM as built (answer read at the answer step) and BiLSTM with the summary readout "
                  f"(forward last state + backward state at the first input), H = {figures['hidden']} per direction, "
                  f"by ntm.training.train on copy of 1-bit vectors of length T scored on the first output; delays "
                  f"{', '.join(map(str, figures['delays']))} climbed until one is not learned within {figures['steps']} "
                  "steps; " + ("seed 0" if seeds == 1 else f"seeds 0–{seeds - 1}, median")
                  + f"; control: copy (width 4, lengths 1–5), LSTM vs BiLSTM, H = {gru_vs_lstm.HIDDEN}, "
                  f"{figures['control_steps']} steps")
    acc = {m: figures["control"][m]["accuracy"] for m in CONTROL}
    measured = ("; ".join(f"{label}: longest delay learned {forget_bias.learned_text(m['median'], figures['delays'])}"
                          for label, m in figures["models"].items())
                + "; control, per-symbol accuracy at 5 / 10: "
                + ", ".join(f"{m} {acc[m]['5']:.3f} / {acc[m]['10']:.3f}" for m in CONTROL))
    verdict_, reason = verdict(figures)
    return [ClaimResult("birnn", CLAIM, experiment, measured, RULE, verdict_, reason, figures, "claims-birnn.png")]
