"""Claims: "an LSTM has four times the parameters of a plain RNN"; "a GRU has a third fewer
parameters than an LSTM".

Experiment: exact counts, ``count_parameters(build_model(name, C, C, hidden_size=H, layers=1))``,
at widths H in 16–1024 and input sizes C in 8–256 (output size = input size, as in copy), beside
the closed forms for one layer in torch's layout (weight_ih (G·H, C), weight_hh (G·H, H), two bias
vectors b_ih and b_hh of G·H each, G gate blocks: RNN 1, GRU 3, LSTM 4; torch.nn.RNN docs):

    cell(G, H, C) = G · H · (C + H + 2),     output layer = H · C_out + C_out,

so the LSTM's cell is exactly 4× the RNN's and the GRU's exactly 3/4 of the LSTM's (a quarter
fewer, not a third), at every size; only the shared output layer pulls the whole model's ratio
away from 4 and 3/4, most at small widths.
"""

from __future__ import annotations

from ntm.analysis.figures import new_figure, save_figure
from ntm.analysis.claims.common import CAVEAT, FAILS, HOLDS, ClaimResult

WIDTHS = (16, 32, 64, 128, 256, 512, 1024)
INPUTS = (8, 32, 256)
QUICK_WIDTHS = (16, 64, 256, 1024)
QUICK_INPUTS = (8, 256)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
TOLERANCE = 0.01          # "four times" / "a third": the whole model within 1 % of the stated ratio

LSTM_CLAIM = "An LSTM has four times the parameters of a plain RNN."
GRU_CLAIM = "A GRU has a third fewer parameters than an LSTM."
LSTM_RULE = (f"holds if the LSTM/RNN ratio is 4 for the cell and within {TOLERANCE:.0%} of 4 for the whole "
             "model at every size; holds with a caveat if only the cell's is 4; otherwise does not hold")
GRU_RULE = (f"saving s = 1 - GRU/LSTM; holds if s is within {TOLERANCE:.0%} of 1/3 for the cell and the whole "
            "model at every size; holds with a caveat if only the cell's is; otherwise does not hold")


def cell_formula(gates: int, hidden: int, inputs: int) -> int:
    """Parameters of one recurrent layer in torch's layout: G·H·(C + H) weights + 2·G·H biases."""
    return gates * hidden * (inputs + hidden + 2)


def output_formula(hidden: int, outputs: int) -> int:
    """Parameters of the linear readout H -> C_out (weight and bias)."""
    return hidden * outputs + outputs


def measure(quick: bool) -> dict:
    """Counts per (H, C): ``rows`` of {hidden, inputs, and per model: cell, total, formula}."""
    from ntm.models import build_model, count_parameters
    rows = []
    for C in (QUICK_INPUTS if quick else INPUTS):
        for H in (QUICK_WIDTHS if quick else WIDTHS):
            row = {"hidden": H, "inputs": C}
            for name, G in GATES.items():
                model = build_model(name, C, C, hidden_size=H, layers=1)
                row[name] = {"cell": count_parameters(model.rnn), "total": count_parameters(model),
                             "formula": cell_formula(G, H, C) + output_formula(H, C)}
            rows.append(row)
    return {"rows": rows, "output_size": "= input size"}


def ratios(rows: list[dict], top: str, bottom: str) -> tuple[list[float], list[float]]:
    """(cell ratios, whole-model ratios) top/bottom, one per row."""
    cell = [r[top]["cell"] / r[bottom]["cell"] for r in rows]
    whole = [r[top]["total"] / r[bottom]["total"] for r in rows]
    return cell, whole


def span(values: list[float]) -> str:
    """"a–b" for a range of ratios, or "a at every size" when they are all equal."""
    lo, hi = min(values), max(values)
    return f"{lo:.4g} at every size" if lo == hi else f"{lo:.4g}–{hi:.4g}"


def verdict_lstm(figures: dict) -> tuple[str, str]:
    """LSTM/RNN against 4, by `LSTM_RULE`. figures: ``measure``'s dict."""
    rows = figures["rows"]
    cell, whole = ratios(rows, "lstm", "rnn")
    worst = min(range(len(rows)), key=lambda i: whole[i])
    where = f"H = {rows[worst]['hidden']}, C = {rows[worst]['inputs']}"
    if any(abs(c - 4) > 1e-12 for c in cell):
        return FAILS, f"the cell's ratio is {min(cell):.3f}–{max(cell):.3f}, not 4"
    if all(abs(w / 4 - 1) <= TOLERANCE for w in whole):
        return HOLDS, f"exactly 4× for the cell; the whole model {min(whole):.3f}–{max(whole):.3f}×"
    return CAVEAT, (f"exactly 4× for the recurrent cell in torch's layout; the whole model's ratio is below 4 "
                    f"when the output layer matters, by up to {4 - whole[worst]:.3f} ({where}: "
                    f"{whole[worst]:.3f}×); within {TOLERANCE:.0%} of 4: {within_from(rows, whole)}")


def within_from(rows: list[dict], whole: list[float]) -> str:
    """Per input size, the smallest measured width from which every whole-model ratio is within
    TOLERANCE of 4 ("never" where none is), as one phrase."""
    parts = []
    for C in sorted({r["inputs"] for r in rows}):
        sel = [(r["hidden"], w) for r, w in zip(rows, whole) if r["inputs"] == C]
        ok = [H for i, (H, _) in enumerate(sel) if all(abs(w / 4 - 1) <= TOLERANCE for _, w in sel[i:])]
        parts.append(f"C = {C} " + (f"from H = {ok[0]}" if ok else f"at no measured H (up to {sel[-1][0]})"))
    return "; ".join(parts)


def verdict_gru(figures: dict) -> tuple[str, str]:
    """GRU against "a third fewer than the LSTM", by `GRU_RULE`. figures: ``measure``'s dict."""
    cell, whole = ratios(figures["rows"], "gru", "lstm")
    cell_saving = [1 - c for c in cell]
    whole_saving = [1 - w for w in whole]
    near = [abs(s - 1 / 3) <= TOLERANCE for s in cell_saving]
    def pct(values: list[float]) -> str:
        lo, hi = min(values), max(values)
        return f"{lo:.1%}" if f"{lo:.1%}" == f"{hi:.1%}" else f"{lo:.1%}–{hi:.1%}"
    span = f"cell {pct(cell_saving)}, whole model {pct(whole_saving)}"
    if all(near) and all(abs(s - 1 / 3) <= TOLERANCE for s in whole_saving):
        return HOLDS, f"the GRU saves a third: {span}"
    if all(near):
        return CAVEAT, f"a third for the cell only: {span}"
    return FAILS, f"the GRU saves {span} of the LSTM's parameters, not a third"


def plot(figures: dict, path) -> None:
    """Whole-model LSTM/RNN and GRU/LSTM ratios against width (log x), one line per input size."""
    rows = figures["rows"]
    fig = new_figure(9, 3.6)
    panels = fig.subplots(1, 2)
    for ax, (top, bottom, target) in zip(panels, (("lstm", "rnn", 4.0), ("gru", "lstm", 0.75))):
        for C in sorted({r["inputs"] for r in rows}):
            sel = [r for r in rows if r["inputs"] == C]
            _, whole = ratios(sel, top, bottom)
            ax.plot([r["hidden"] for r in sel], whole, marker="o", label=f"whole model, C = {C}")
        ax.axhline(target, color="k", linestyle="--", label=f"cell: exactly {target:g}")
        if top == "gru":
            ax.axhline(2 / 3, color="tab:red", linestyle=":", label="claim: 2/3 (a third fewer)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width H")
        ax.set_ylabel(f"{top.upper()} / {bottom.upper()} parameters")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def run(quick: bool, device, out) -> list[ClaimResult]:
    """Both rows (LSTM 4×, GRU a third fewer) and claims-parameters.png in `out`."""
    figures = measure(quick)
    plot(figures, out / "claims-parameters.png")
    mismatch = [r for r in figures["rows"] for m in GATES if r[m]["total"] != r[m]["formula"]]
    figures["formula_matches_count"] = not mismatch
    rows = figures["rows"]
    experiment = (f"count_parameters(build_model(...)) for rnn, lstm, gru, 1 layer, H in {rows[0]['hidden']}–"
                  f"{rows[-1]['hidden']}, C in {rows[0]['inputs']}–{rows[-1]['inputs']}, output size C; "
                  f"closed form G·H·(C+H+2) + H·C + C {'matches every count' if not mismatch else 'DIFFERS'}")
    out_rows = []
    for name, claim, rule, judge, (top, bottom) in (
            ("parameters.lstm_4x", LSTM_CLAIM, LSTM_RULE, verdict_lstm, ("lstm", "rnn")),
            ("parameters.gru_third", GRU_CLAIM, GRU_RULE, verdict_gru, ("gru", "lstm"))):
        cell, whole = ratios(rows, top, bottom)
        verdict, reason = judge(figures)
        measured = f"{top.upper()}/{bottom.upper()}: cell {span(cell)}, whole model {span(whole)}"
        out_rows.append(ClaimResult(name, claim, experiment, measured, rule, verdict, reason, figures,
                                    "claims-parameters.png"))
    return out_rows
