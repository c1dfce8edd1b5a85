"""OUT/plots/TASK.png: accuracy against length, one line per model (and learning rate, in a sweep
over them), the median over seeds at each length, the training range shaded and the budget in the
title. Matplotlib Figure + Agg canvas (no pyplot), as in `ntm.analysis.figures`."""

from __future__ import annotations

import statistics
from pathlib import Path

from ntm.analysis.figures import new_figure, save_figure
from ntm.sweep.protocol import score_name
from ntm.sweep.table import budget, label, summarize


def median_by_length(rows: list[dict], key: str) -> list[tuple[int, float]]:
    """(length, median over the rows of `key` at that length), sorted by length."""
    by_len: dict[int, list[float]] = {}
    for r in rows:
        for c in r["comparison"]:
            by_len.setdefault(c["length"], []).append(c[key])
    return [(n, statistics.median(v)) for n, v in sorted(by_len.items())]


def task_plot(rows: list[dict], path, protocol: str | None = None) -> Path:
    """One task's figure from its results rows (all models). Returns the path written."""
    key = score_name(protocol)
    task = rows[0]["task"]
    lo, hi = rows[0]["train_lengths"]
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    ax.axvspan(lo, hi, color="tab:green", alpha=0.12, label=f"training lengths {lo}–{hi}")
    lines: dict[str, list[dict]] = {}
    for r in rows:
        lines.setdefault(label(r["model"], r.get("lr_axis")), []).append(r)
    for name, mine in lines.items():
        pts = median_by_length(mine, key)
        ax.plot([n for n, _ in pts], [v for _, v in pts], marker="o", label=f"{name} (median of {len(mine)} seeds)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("input length n")
    ax.set_ylabel("per-token accuracy" if key == "symbol_accuracy" else "sequence accuracy")
    ax.set_title(f"{task}: {budget(summarize(rows, protocol)[0])}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def write_plots(rows: list[dict], out_dir, protocol: str | None = None) -> list[Path]:
    """`task_plot` for every task among `rows`, into OUT_DIR/TASK.png."""
    tasks = dict.fromkeys(r["task"] for r in rows)
    return [task_plot([r for r in rows if r["task"] == t], Path(out_dir) / f"{t}.png", protocol) for t in tasks]
