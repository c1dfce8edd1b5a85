"""OUT/table.md: per task × model, what the seeds did — medians first, not only the best seed.

A cell's score is the mean over the comparison's lengths beyond the training range of sequence
accuracy (default) or per-token accuracy (``--protocol chomsky``), each length scored on the run's
fixed comparison set. The table gives its median and maximum over seeds, the median errors per
sequence at the longest training length (bits for bit-vector tasks, symbols for symbol tasks),
and how many seeds reached the target (``target_bits``) with the median sequences they took.
"""

from __future__ import annotations

import statistics

from ntm.sweep.protocol import COMPARE_SAMPLES, score_name


def beyond_lengths(row: dict) -> list[int]:
    """The comparison lengths of a results row beyond its training range."""
    hi = row["train_lengths"][1]
    return [r["length"] for r in row["comparison"] if r["length"] > hi]


def cell_score(row: dict, key: str = "seq_accuracy") -> float | None:
    """Mean of `key` over the row's comparison lengths beyond training (None: no such length)."""
    hi = row["train_lengths"][1]
    vals = [r[key] for r in row["comparison"] if r["length"] > hi]
    return sum(vals) / len(vals) if vals else None


def errors_at_longest_training_length(row: dict) -> float | None:
    """Errors per sequence at the longest training length (None: not among the compared lengths)."""
    hi = row["train_lengths"][1]
    return next((r["bit_errors_per_seq"] for r in row["comparison"] if r["length"] == hi), None)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def label(model: str, lr: float | None) -> str:
    """A table row's and a plot line's name: the model, with its learning rate in a sweep over them."""
    return model if lr is None else f"{model} lr {lr:g}"


def summarize(rows: list[dict], protocol: str | None = None, key: str | None = None) -> list[dict]:
    """One summary per (task, model, learning rate of a sweep over them), in first-seen order. The
    score is the protocol's (`protocol.score_name`) unless `key` names another comparison column
    ("seq_accuracy", "symbol_accuracy").

    Returns:
        dicts with task, model, lr (None unless the sweep had an lr axis), label, seeds (n), median_score, max_score (fractions; None when no seed has
        a length beyond training), median_errors (per sequence, at the longest training length),
        reached (seeds that met the target), median_sequences_to_target (over those seeds),
        lengths (the lengths scored), beyond_memory (those of them longer than the model's memory,
        scored all the same: `compare`'s exceeds_memory), train_lengths, budget_steps, max_seconds (seconds) and
        batch_size (of the first row: a grid shares them unless recipes differ).
    """
    key = key or score_name(protocol)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["model"], r.get("lr_axis")), []).append(r)
    out = []
    for (task, model, lr), rs in groups.items():
        scores = [s for s in (cell_score(r, key) for r in rs) if s is not None]
        out.append({"task": task, "model": model, "lr": lr, "label": label(model, lr), "seeds": len(rs),
                    "median_score": _median(scores),
                    "max_score": max(scores) if scores else None,
                    "median_errors": _median(errors_at_longest_training_length(r) for r in rs),
                    "reached": sum(bool(r["converged"]) for r in rs),
                    "median_sequences_to_target": _median(r["sequences_to_target"] for r in rs if r["converged"]),
                    "lengths": sorted({n for r in rs for n in beyond_lengths(r)}),
                    "beyond_memory": sorted({c["length"] for r in rs for c in r["comparison"]
                                             if c.get("exceeds_memory") and c["length"] > r["train_lengths"][1]}),
                    "train_lengths": rs[0]["train_lengths"], "budget_steps": rs[0]["budget_steps"],
                    "max_seconds": rs[0]["max_seconds"], "batch_size": rs[0]["batch_size"]})
    return out


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def budget(s: dict) -> str:
    """The step budget of a summary, in words (steps × batch, and the time limit if any)."""
    limit = "" if s["max_seconds"] is None else f", at most {s['max_seconds']:g} s per cell"
    return f"at most {s['budget_steps']:,} steps of batch {s['batch_size']}{limit}"


def format_markdown(summaries: list[dict], protocol: str | None = None) -> str:
    """The table as markdown: one section per task, one row per model."""
    what = "per-token accuracy" if protocol == "chomsky" else "sequence accuracy"
    lines = ["# Sweep results", "",
             f"Score: {what} (%) averaged over the compared lengths beyond the training range, "
             f"{COMPARE_SAMPLES} fixed sequences per length"
             + (" (the Chomsky-hierarchy protocol: trained on 1–40, Adam, clipping 1; the paper scores "
                "every length 41–500 with 512 sequences)" if protocol == "chomsky" else "")
             + "; median and max over seeds. Errors/seq: median at the longest training length "
               "(bits for bit-vector tasks, symbols for symbol tasks)."]
    for task in dict.fromkeys(s["task"] for s in summaries):
        ss = [s for s in summaries if s["task"] == task]
        lo, hi = ss[0]["train_lengths"]
        lengths = sorted({n for s in ss for n in s["lengths"]})
        lines += ["", f"## {task}", "",
                  f"Trained on lengths {lo}–{hi}; scored at {', '.join(map(str, lengths)) or 'no length beyond it'}; "
                  f"budget {budget(ss[0])}.", "",
                  f"| model | median score | max score | errors/seq at {hi} | reached target | "
                  "median sequences to target |",
                  "|---|---:|---:|---:|---:|---:|"]
        for s in ss:
            err = "–" if s["median_errors"] is None else f"{s['median_errors']:.3f}"
            seqs = "–" if s["median_sequences_to_target"] is None else f"{s['median_sequences_to_target']:,.0f}"
            lines.append(f"| {s['label']} | {_pct(s['median_score'])} | {_pct(s['max_score'])} | {err} | "
                         f"{s['reached']}/{s['seeds']} | {seqs} |")
        over = [f"{s['label']} at {', '.join(map(str, s['beyond_memory']))}" for s in ss if s["beyond_memory"]]
        if over:
            lines += ["", "Scored beyond the model's memory (its N rows or cells cannot hold the input; "
                      "`ntm compare --memory-rows` scores a run with more): " + "; ".join(over) + "."]
    best = best_lrs(summaries)
    if best:
        lines += ["", "## Best learning rate per task and model", "",
                  "The learning rate with the highest median score over seeds (ties: the fewer errors per "
                  "sequence at the longest training length, then the first in `--lrs`); "
                  "`--write-recipes DIR` writes it into DIR/TASK-MODEL.toml.", "",
                  "| task | model | lr | median score |", "|---|---|---:|---:|"]
        lines += [f"| {t} | {m} | {s['lr']:g} | {_pct(s['median_score'])} |" for (t, m), s in best.items()]
    return "\n".join(lines) + "\n"


def best_lrs(summaries: list[dict]) -> dict[tuple[str, str], dict]:
    """(task, model) -> the summary of its best learning rate among the summaries of a sweep over
    learning rates: the highest median score; a tie (all at 0, say) goes to the fewer median errors
    per sequence at the longest training length, then to the first. {} when it had no lr axis."""
    def rank(s):
        errors = s["median_errors"]
        return s["median_score"], -(errors if errors is not None else float("inf"))
    best: dict[tuple[str, str], dict] = {}
    for s in summaries:
        if s["lr"] is None or s["median_score"] is None:
            continue
        k = (s["task"], s["model"])
        if k not in best or rank(s) > rank(best[k]):
            best[k] = s
    return best
