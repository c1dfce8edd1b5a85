"""The training-time evaluation: the fixed set that picks the best weights and decides convergence,
and the polishing set used after converging. Both are scored against the machine's output with
`ntm.analysis.compare.compare`."""

from __future__ import annotations

import numpy as np

from ntm.analysis.compare import compare
from ntm.errors import ConfigError


def eval_lengths(task, samples: int, lengths: list | None = None) -> list[tuple[int, int]]:
    """The fixed evaluation set as (length, sequences) pairs: `lengths`, or up to 10 lengths spread
    over the training range (every length of a range of 10 or fewer), `samples` sequences in all.

    Raises:
        ConfigError: a length the task cannot encode.
    """
    lo, hi = task.train_lengths
    if lengths is None:
        lengths = sorted({int(round(x)) for x in np.linspace(lo, hi, min(10, hi - lo + 1))})
    else:
        ok = lambda n: not isinstance(n, bool) and isinstance(n, int) and task.min_length <= n <= task.max_length  # noqa: E731
        if not isinstance(lengths, (list, tuple)) or not lengths or not all(ok(n) for n in lengths):
            raise ConfigError(f"eval_lengths must be a non-empty list of integers in [{task.min_length}, {task.max_length}] "
                              f"(task {task.name}), got {lengths!r}")
        lengths = sorted(set(lengths))
    per = max(1, samples // len(lengths))
    return [(n, per) for n in lengths]


def error_unit(task) -> str:
    """What the training-time error counts, per sequence, for messages: "bits/seq" (bit-vector
    tasks), "symbols/seq" (one-hot symbol tasks), "excess bits/seq" (the cross-entropy above an
    optimal predictor: dynamic N-grams) or "errors/seq" (trace tasks: wrong final cells, plus 1
    for a diverged trace). The config's names (`target_bits`, ...) keep "bits" for all of them."""
    if hasattr(task, "optimal_cost"):
        return "excess bits/seq"
    return {"bce": "bits/seq", "ce": "symbols/seq"}.get(task.loss_kind, "errors/seq")


def evaluate_bits(model, task, eval_set, device) -> tuple[float, float]:
    """Bits (or symbols) wrong per sequence and sequence accuracy on an evaluation set
    (`compare` at each of its lengths, averaged over all its sequences). Leaves the model in
    training mode. For a task scored against an optimal predictor (dynamic N-grams) the error is the
    cross-entropy above it, ``excess_bits_per_seq``: thresholded bits mean little there."""
    per = eval_set[0][1]                                   # every length has the same count
    rows = compare(model, task, [n for n, _ in eval_set], samples=per, device=device)
    model.train()
    key = "excess_bits_per_seq" if "excess_bits_per_seq" in rows[0] else "bit_errors_per_seq"
    return (sum(r[key] for r in rows) / len(rows),
            sum(r["seq_accuracy"] for r in rows) / len(rows))


class Evaluator:
    """``evaluator(model, polishing) -> (bits per sequence, sequence accuracy)``: on the fixed set
    while searching, on `polish_samples` sequences of the longest training length while polishing
    (where the fixed set, spread over the range, has few; errors there went with errors beyond it:
    bench/README.md "Polishing")."""

    def __init__(self, task, cfg, device):
        self.task, self.device = task, device
        self.fixed_set = eval_lengths(task, cfg.eval_samples, cfg.eval_lengths)
        self.polish_set = [(task.train_lengths[1], cfg.polish_samples)]

    def __call__(self, model, polishing: bool) -> tuple[float, float]:
        return evaluate_bits(model, self.task, self.polish_set if polishing else self.fixed_set, self.device)


class TraceEvaluator(Evaluator):
    """The `Evaluator` of a trace task: the model runs free (`ntm.analysis.trace_compare.free_run`) and
    a sequence's error is its wrong final cells plus one if its supervised decisions diverge from the
    machine's (`trace_errors`); sequence accuracy is the fraction with none."""

    def __call__(self, model, polishing: bool) -> tuple[float, float]:
        from ntm.analysis.trace_compare import trace_errors
        chosen = self.polish_set if polishing else self.fixed_set
        return trace_errors(model, [self.task.eval_batch(n, per) for n, per in chosen], self.device)


def evaluator_for(task, cfg, device) -> Evaluator:
    """`TraceEvaluator` for a trace task, else `Evaluator`."""
    return (TraceEvaluator if task.loss_kind == "trace" else Evaluator)(task, cfg, device)
