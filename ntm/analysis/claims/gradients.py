"""Claims: "RNN training is unstable: 0.99^1000 and 1.01^1000 are essentially different, so
gradients vanish or explode"; "the LSTM was made to fix vanishing gradients".

Experiment, at initialisation (torch's default initialisation through ``build_model``, one layer,
H = 64 units, C = 8 inputs drawn N(0, 1) at every step; float64 so nothing underflows):
the norm of the Jacobian ‖∂h_T/∂s_t‖ against the distance k = T − t, for

- a plain RNN (tanh) with its recurrent matrix W_hh rescaled so its spectral radius is 0.99 and 1.01;
- the same two networks without the tanh (linear: h_{t+1} = W_ih x + b + W_hh h_t), where the
  textbook argument (‖W^k‖ ~ ρ^k) is exact;
- an LSTM (forget-gate bias 1, as the project builds it, and 7: the gate held open, σ(7) ≈ 0.999)
  and a GRU, unscaled;
- after training: the RNN (tanh), LSTM and GRU trained briefly on copy (width 4, lengths 1–10; 200
  steps with --quick, 2,000 in full) by the project's trainer, `ntm.training.train`, in a temporary
  run directory; measured with the same N(0, 1) inputs (5 channels: copy's 4 bits and delimiter).

s_t is the recurrent state: h_t for the RNN and GRU, the cell c_t for the LSTM (h_t = o_t ⊙ tanh c_t
is computed from it). The Frobenius norm ‖J‖_F is estimated from P random unit probes u, one per
input sequence: one backward pass from Σ_p u_p · h_T^(p) gives every u_pᵀ ∂h_T/∂s_t, and
‖J‖_F² = H · E_u ‖uᵀJ‖² (the norm is averaged over the P input sequences as well). The per-step
factor g is exp of the least-squares slope of ln ‖J‖ against k over k ≥ 10 (where ‖J‖ > 0), and
g^1000 is the factor over 1000 steps.
"""

from __future__ import annotations

import copy
import math
import tempfile

import numpy as np
import torch

from ntm.analysis.figures import new_figure, save_figure
from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult, torch_threads

HIDDEN, INPUTS, PROBES, SEED = 64, 8, 8, 0
FIT_FROM = 10                       # the slope skips the first steps, where the transient dominates
VANISH, EXPLODE = 1e-3, 1e3         # g^1000 below / above these: vanished / exploded over 1000 steps
OPEN_BIAS = 7.0                     # a forget gate held open: σ(7) ≈ 0.9991
CURVES = ("rnn tanh ρ=0.99", "rnn tanh ρ=1.01", "rnn linear ρ=0.99", "rnn linear ρ=1.01", "lstm",
          f"lstm b_f={OPEN_BIAS:g}", "gru")
OPEN_LSTM = CURVES[5]
# "after training": each cell trained briefly on copy by the project's trainer (ntm.training.train)
TRAIN_RECIPE = {"task": "copy", "task_params": {"width": 4, "train_lengths": [1, 10]}, "eval_every": 100,
                "eval_samples": 64, "compare_lengths": [10]}
TRAIN_STEPS_QUICK, TRAIN_STEPS = 200, 2000

UNSTABLE_CLAIM = ("RNN training is unstable: 0.99^1000 and 1.01^1000 are essentially different, so gradients "
                  "vanish or explode.")
LSTM_CLAIM = "The LSTM was made to fix vanishing gradients."
UNSTABLE_RULE = (f"g = per-step factor of ‖∂h_T/∂h_t‖; holds if the tanh RNN at ρ = 0.99 vanishes (g^1000 < "
                 f"{VANISH:g}) and at ρ = 1.01 explodes (g^1000 > {EXPLODE:g}); holds with a caveat if only the "
                 "linear RNN does both; otherwise does not hold")
LSTM_RULE = (f"holds if the LSTM as built (forget bias 1), at initialisation or after training, keeps g^1000 ≥ "
             f"{VANISH:g} with g above the tanh RNN's (ρ = 0.99 at initialisation; the trained RNN after training); "
             f"holds with a caveat if only the LSTM with its forget gate held open (bias {OPEN_BIAS:g}) does, or "
             "the trained LSTM's g is above the trained RNN's; otherwise does not hold")


def scale_radius(weight: torch.Tensor, radius: float) -> torch.Tensor:
    """weight (H, H) rescaled so that its spectral radius (largest |eigenvalue|) is `radius`."""
    current = torch.linalg.eigvals(weight).abs().max().real
    return weight * (radius / current)


def _stepper(name: str, value: float | None, device, rnn=None):
    """step(x_t, state) -> (h_{t+1}, state_{t+1}) for curve `name`, float64 on `device`. value: the
    RNN's spectral radius ρ, or the LSTM's forget-gate bias b_f (b_ih's f block; b_hh's set to 0);
    None leaves the weights as they are. rnn: a trained one-layer torch.nn.RNN/LSTM/GRU (default: a
    fresh one from ``build_model``)."""
    from ntm.models import build_model
    kind = name.split()[0]
    if rnn is None:
        rnn = build_model(kind, INPUTS, INPUTS, hidden_size=HIDDEN, layers=1).rnn
    rnn = copy.deepcopy(rnn).double().to(device)
    w = {k.replace("_l0", ""): v.detach() for k, v in rnn.named_parameters()}
    if kind == "rnn":
        w_hh = w["weight_hh"] if value is None else scale_radius(w["weight_hh"], value)
        act = torch.tanh if "tanh" in name else (lambda a: a)
        return lambda x, s: (act(x @ w["weight_ih"].T + w["bias_ih"] + s @ w_hh.T + w["bias_hh"]),) * 2
    cell = (torch.nn.LSTMCell if kind == "lstm" else torch.nn.GRUCell)(rnn.input_size, rnn.hidden_size)
    cell = cell.double().to(device)
    if kind == "lstm" and value is not None:                   # gates (i, f, g, o)
        w["bias_ih"][HIDDEN:2 * HIDDEN], w["bias_hh"][HIDDEN:2 * HIDDEN] = value, 0.0
    cell.load_state_dict(w)
    if kind == "gru":
        return lambda x, s: (cell(x, s),) * 2
    return lambda x, s: _lstm_step(cell, x, s)


def _lstm_step(cell, x, state):
    """One LSTMCell step on state (h, c) -> (h, (h, c))."""
    h, c = cell(x, state)
    return h, (h, c)


def jacobian_norms(name: str, distance: int, device, rnn=None) -> np.ndarray:
    """‖∂h_T/∂s_{T-k}‖_F estimates for k = 1..distance (shape (distance,)), T = distance, on `device`
    in float64. name: one of CURVES (its ρ or b_f after '='), or "KIND tanh trained" / "KIND trained"
    with the trained one-layer `rnn`."""
    value = float(name.split("=")[1]) if "=" in name else None
    torch.manual_seed(SEED)
    step = _stepper(name, value, device, rnn)
    C, H = (INPUTS, HIDDEN) if rnn is None else (rnn.input_size, rnn.hidden_size)
    gen = torch.Generator().manual_seed(SEED + 1)
    xs = torch.randn(distance, PROBES, C, generator=gen, dtype=torch.float64).to(device)
    u = torch.randn(PROBES, H, generator=gen, dtype=torch.float64).to(device)
    u = u / u.norm(dim=1, keepdim=True)                                  # (P, H) unit probes
    h = torch.zeros(PROBES, H, dtype=torch.float64, device=device)
    lstm = name.startswith("lstm")
    state = (h, h.clone()) if lstm else h
    kept = []                                    # s_t, t = 0..T-1: the state entering step t
    for t in range(distance):
        tracked = state[1] if lstm else state
        if tracked.grad_fn is None:
            tracked.requires_grad_(True)
        else:
            tracked.retain_grad()
        kept.append(tracked)
        h, state = step(xs[t], state)
    (h * u).sum().backward()
    norms = [math.sqrt(H * float((s.grad ** 2).sum(1).mean())) if s.grad is not None else 0.0
             for s in reversed(kept)]                  # k = T - t = 1..T
    return np.array(norms)


def step_factor(norms: np.ndarray) -> float:
    """g = exp(slope) of the least-squares line through ln ‖J‖ against k, over k ≥ FIT_FROM where the
    norm is positive (k = index + 1). 0.0 when fewer than two points are left (it vanished at once)."""
    k = np.arange(1, len(norms) + 1)
    keep = (k >= FIT_FROM) & (norms > 0) & np.isfinite(norms)
    if keep.sum() < 2:
        return 0.0
    slope = np.polyfit(k[keep], np.log(norms[keep]), 1)[0]
    return float(math.exp(slope))


def measure(quick: bool, device) -> dict:
    """Norms and per-step factors of every curve: {"distance", "curves": {name: {"norms", "g", "g1000"}}}."""
    from ntm.device import pick_device
    dev = device if device.type in ("cpu", "cuda") else pick_device("cpu")      # MPS has no float64
    distance = 200 if quick else 1000
    steps = TRAIN_STEPS_QUICK if quick else TRAIN_STEPS
    trained, best_bits = trained_cells(steps)
    curves = {}
    for name, rnn in [(n, None) for n in CURVES] + list(trained.items()):
        with torch_threads(1), torch.random.fork_rng(devices=[]):    # the caller's RNG is left as it was
            norms = jacobian_norms(name, distance, dev, rnn)
        g = step_factor(norms)
        curves[name] = {"norms": [float(f"{v:.4g}") for v in norms], "g": g, "g1000": g ** 1000 if g > 0 else 0.0}
    return {"distance": distance, "device": str(dev), "hidden": HIDDEN, "inputs": INPUTS, "probes": PROBES,
            "seed": SEED, "curves": curves, "trained": {"steps": steps, "best_bits_per_seq": best_bits,
                                                       **TRAIN_RECIPE}}


def trained_cells(steps: int) -> tuple[dict, dict]:
    """RNN, LSTM and GRU (one layer of HIDDEN units) trained `steps` steps on TRAIN_RECIPE's copy by
    `ntm.training.train` (defaults otherwise: Adam 2e-3, clipping 10, batch 32, seed 0; no
    polishing), in a temporary run directory. Returns ({"rnn tanh trained" | "lstm trained" |
    "gru trained": the trained torch recurrent module}, {same keys: best bits per sequence})."""
    from ntm.training import TrainConfig, train
    from ntm.training.run_dir import load_run
    cells, bits = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("rnn", "lstm", "gru"):
            name = f"{kind} tanh trained" if kind == "rnn" else f"{kind} trained"
            cfg = TrainConfig(**TRAIN_RECIPE, model=kind, model_params={"hidden_size": HIDDEN, "layers": 1},
                              steps=steps, polish_steps=0, device="cpu", seed=SEED)
            result = train(cfg, f"{tmp}/{kind}", progress=False, log=lambda *a, **k: None)
            cells[name], bits[name] = load_run(f"{tmp}/{kind}")[0].rnn, result.best_bits
    return cells, bits


def _fate(g1000: float) -> str:
    return "vanishes" if g1000 < VANISH else "explodes" if g1000 > EXPLODE else "neither"


def verdict_unstable(figures: dict) -> tuple[str, str]:
    """By `UNSTABLE_RULE`; figures: {"curves": {name: {"g1000": ...}}} (``measure``'s dict)."""
    c = figures["curves"]
    fates = {n: _fate(c[n]["g1000"]) for n in CURVES[:4]}
    said = "; ".join(f"{n}: g^1000 = {c[n]['g1000']:.3g} ({f})" for n, f in fates.items())
    if fates["rnn tanh ρ=0.99"] == "vanishes" and fates["rnn tanh ρ=1.01"] == "explodes":
        return HOLDS, said
    if fates["rnn linear ρ=0.99"] == "vanishes" and fates["rnn linear ρ=1.01"] == "explodes":
        return CAVEAT, f"only without the tanh, which shrinks every step's Jacobian: {said}"
    return FAILS, said


def verdict_lstm(figures: dict) -> tuple[str, str]:
    """By `LSTM_RULE`; figures: {"curves": {name: {"g", "g1000"}}} with "lstm", OPEN_LSTM,
    "rnn tanh ρ=0.99" and, when trained, "lstm trained" and "rnn tanh trained"."""
    c = figures["curves"]

    def keeps(name: str, rnn: str) -> bool:           # no vanishing, and slower decay than the RNN
        return name in c and c[name]["g"] > c[rnn]["g"] and c[name]["g1000"] >= VANISH

    def said(name: str) -> str:
        return f"{name}: g = {c[name]['g']:.4f} (g^1000 = {c[name]['g1000']:.3g}: {_fate(c[name]['g1000'])})"
    names = ["lstm", OPEN_LSTM, "rnn tanh ρ=0.99", "lstm trained", "rnn tanh trained"]
    figures_said = "; ".join(said(n) for n in names if n in c)
    trained_slower = "lstm trained" in c and c["lstm trained"]["g"] > c["rnn tanh trained"]["g"]
    if keeps("lstm", "rnn tanh ρ=0.99") or keeps("lstm trained", "rnn tanh trained"):
        return HOLDS, figures_said
    if keeps(OPEN_LSTM, "rnn tanh ρ=0.99") or trained_slower:
        return CAVEAT, (f"the LSTM carries gradients further than the RNN only with its forget gate open "
                        f"(bias {OPEN_BIAS:g}, or as training leaves it), and as built it vanishes: {figures_said}")
    return FAILS, f"the LSTM's gradient vanishes no slower than the RNN's: {figures_said}"


def plot(figures: dict, path) -> None:
    """‖∂h_T/∂s_t‖ against k = T − t (log y) for every curve, beside √H·0.99^k and √H·1.01^k."""
    fig = new_figure(7, 4.2)
    ax = fig.add_subplot()
    k = np.arange(1, figures["distance"] + 1)
    for name, c in figures["curves"].items():
        norms = np.array(c["norms"])
        ax.plot(k[norms > 0], norms[norms > 0], label=f"{name} (g = {c['g']:.4f})",
                linestyle="--" if "linear" in name else "-." if "trained" in name else "-")
    for rho in (0.99, 1.01):
        ax.plot(k, math.sqrt(figures["hidden"]) * rho ** k, color="k", linestyle=":", linewidth=1)
        ax.annotate(f"√H·{rho}^k", (k[-1], math.sqrt(figures["hidden"]) * rho ** k[-1]), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("distance k = T − t (steps)")
    ax.set_ylabel("‖∂h_T/∂s_t‖_F (estimate)")
    ax.set_title(f"at initialisation, and after {figures['trained']['steps']} training steps on copy (dash-dot); "
                 f"H = {figures['hidden']}, inputs N(0, 1), {figures['probes']} probes", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """Both rows (0.99 vs 1.01; the LSTM fixes vanishing) and claims-gradients.png in `out`."""
    figures = measure(quick, device)
    plot(figures, out / "claims-gradients.png")
    c = figures["curves"]
    experiment = (f"‖∂h_T/∂s_t‖_F (Frobenius, {PROBES} random unit probes) against k = T − t ≤ "
                  f"{figures['distance']} at initialisation, H = {HIDDEN}, inputs N(0, 1) in {INPUTS} channels, "
                  "float64; RNN W_hh scaled to spectral radius 0.99 / 1.01, with and without tanh; LSTM "
                  f"(s = c_t) with forget bias 1 (as built) and {OPEN_BIAS:g}; GRU as built; "
                  f"the same RNN (tanh), LSTM and GRU after {figures['trained']['steps']} steps of ntm.training.train "
                  "on copy (width 4, lengths 1–10); g = per-step factor fitted for k ≥ "
                  f"{FIT_FROM}, g^1000 extrapolated")
    rows = []
    for name, claim, rule, judge, shown in (
            ("gradients.unstable", UNSTABLE_CLAIM, UNSTABLE_RULE, verdict_unstable, CURVES[:4]),
            ("gradients.lstm_fixes", LSTM_CLAIM, LSTM_RULE, verdict_lstm,
             ("lstm", OPEN_LSTM, "gru", "rnn tanh ρ=0.99", "lstm trained", "gru trained", "rnn tanh trained"))):
        verdict, reason = judge(figures)
        measured = "; ".join(f"{n}: g = {c[n]['g']:.4f}, g^1000 = {c[n]['g1000']:.2g}" for n in shown)
        rows.append(ClaimResult(name, claim, experiment, measured, rule, verdict, reason, figures,
                                "claims-gradients.png"))
    return rows
