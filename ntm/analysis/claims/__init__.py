"""The textbook claims about recurrent networks, each run as a measured experiment with a verdict.

``run_claims(only="parameters,gradients", quick=True, device="auto", out="runs/claims")`` runs one
experiment per claim module and writes OUT/claims.md, OUT/claims.json and one PNG per module
(OUT/claims-NAME.png, so that `--out docs` sits beside the other documents);
``ntm claims`` is the same call. Modules, in reading order (each states its claim, its experiment
and its verdict rule, and judges by a small pure function of the measured figures):

- `common`: the verdicts and the result row;
- `parameters`: LSTM = 4× RNN, GRU = a third fewer than LSTM (exact counts and closed forms);
- `gradients`: vanishing and exploding gradients (‖∂h_T/∂h_t‖ against T − t at initialisation, and
  after a short training by `ntm.training.train`);
- `gpu`: sequences/s on the CPU and, where one is present, on a CUDA GPU;
- `clipping`: a plain RNN by SGD at a high learning rate, with and without gradient clipping
  (divergences, NaN/Inf steps, final error);
- `forget_bias`: the longest delay an LSTM learns to recall a bit over, with forget-gate bias 0, 1, 2;
- `gru_vs_lstm`: a GRU and an LSTM of the same width with the same budget on the same tasks: error,
  parameters, and the gap between the training length's accuracy and twice its;
- `birnn`: the longest delay over which a forward LSTM and a BiLSTM (as built, and with the BiRNN
  classifier's summary readout) recall the first input; copy as the control;
- `mlp_vs_ntm`: a feed-forward network over a fixed window and the NTM on copy, at the training
  lengths and beyond (universal approximation against an algorithm);
- `turing_completeness`: busy beavers compiled into NTM weights (`ntm.compiler`), run in lockstep
  with the machine at several memory sizes: exact until the memory runs out.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from ntm.analysis.claims.common import VERDICTS, ClaimResult, torch_threads
from ntm.errors import ConfigError

#: claim module name -> what it tests (run in this order)
CLAIMS = {
    "parameters": "LSTM has 4x the parameters of an RNN; GRU a third fewer than LSTM",
    "gradients": "0.99^1000 vs 1.01^1000: vanishing and exploding gradients; the LSTM fixes vanishing",
    "gpu": "RNNs speed up clearly on a GPU",
    "clipping": "exploding gradients are not serious: clipping fixes them",
    "forget_bias": "keep the forget gate mostly open (forget-gate bias 0 vs 1 vs 2)",
    "gru_vs_lstm": "a GRU gets about the same results with fewer parameters, and overfits less",
    "birnn": "a bidirectional RNN keeps information about early inputs that a forward RNN's last state loses",
    "mlp_vs_ntm": "a three-layer feed-forward network can learn any function",
    "turing_completeness": "an RNN is Turing complete and can approximate any algorithm",
}


def parse_only(only) -> list[str]:
    """Claim names from ``"a,b"`` or a list (None: all, in registry order).

    Raises:
        ConfigError: an unknown or empty name (the message lists the known ones).
    """
    if only is None:
        return list(CLAIMS)
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only)]
    bad = [n for n in names if n not in CLAIMS]
    if bad or not names:
        raise ConfigError(f"no claim named {', '.join(map(repr, bad)) or '(empty)'}; "
                          f"known claims: {', '.join(CLAIMS)}")
    return [n for n in CLAIMS if n in names]


def run_claims(only=None, quick: bool = False, device: str = "auto", out="runs/claims",
               command: str | None = None, progress=None) -> list[ClaimResult]:
    """Run the chosen claims' experiments; write OUT/claims.md, OUT/claims.json and the figures.

    Args:
        only: claim names (``"parameters,gpu"`` or a list); None runs all.
        quick: the small version of every experiment (seconds, not minutes).
        device: where the gradient experiment runs (auto | cpu | cuda | mps); the gpu claim always
            measures the CPU, and CUDA where torch sees it; the other claims run on the CPU.
        out: the output directory (made; files in it with the same names are replaced).
        command: the command line to record in claims.md (default: the equivalent Python call).
        progress: called with each claim's name before it runs (e.g. print), or None.

    Raises:
        ConfigError: an unknown claim or device; nothing is written then.
    """
    import torch

    from ntm.device import DEVICES, pick_device
    names = parse_only(only)
    if device not in DEVICES and not str(device).startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")
    dev = pick_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, seconds = [], {}
    for name in names:
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        # models are initialised from torch's global RNG, and training sets torch's threads: restore both
        with torch.random.fork_rng(devices=[]), torch_threads(torch.get_num_threads()):
            results += importlib.import_module(f"{__name__}.{name}").run(quick, dev, out)
        seconds[name] = round(time.perf_counter() - start, 2)
    command = command or f"run_claims(only={names!r}, quick={quick}, device={device!r}, out={str(out)!r})"
    meta = {"command": command, "quick": quick, "device": str(dev), "seconds": seconds,
            "torch": _torch_version()}
    (out / "claims.json").write_text(json.dumps({"meta": meta, "claims": [r.to_dict() for r in results]},
                                                indent=1) + "\n", encoding="utf-8")
    (out / "claims.md").write_text(markdown(results, meta), encoding="utf-8")
    return results


def _torch_version() -> str:
    import torch
    return torch.__version__


def table(results: list[ClaimResult]) -> str:
    """The plain-text table the command prints: claim, experiment, measured figures, verdict."""
    lines = []
    for r in results:
        lines += [f"[{r.verdict}] {r.name}: {r.claim}", f"    experiment: {r.experiment}",
                  f"    measured:   {r.measured}", f"    why:        {r.reason}"]
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return "\n".join(lines) + "\n"


def markdown(results: list[ClaimResult], meta: dict) -> str:
    """claims.md: the command, the table, then each claim's rule, reason and figure."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")
    lines = ["# The textbook claims, measured", "",
             f"Generated by `{meta['command']}` ({'--quick run' if meta['quick'] else 'full run'}; device "
             f"{meta['device']}, torch {meta['torch']}; seconds per claim: "
             f"{', '.join(f'{k} {v}' for k, v in meta['seconds'].items())}). Do not edit by hand.", "",
             "| claim | experiment | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {cell(r.claim)} | {cell(r.experiment)} | {cell(r.measured)} | **{r.verdict}** |" for r in results]
    for r in results:
        lines += ["", f"## {r.name}: {r.verdict}", "", f"*{r.claim}*", "", f"- Experiment: {r.experiment}",
                  f"- Measured: {r.measured}", f"- Rule: {r.rule}", f"- Verdict: **{r.verdict}**: {r.reason}"]
        if r.figure:
            lines += ["", f"![{r.name}]({r.figure})"]
    return "\n".join(lines) + "\n"
