"""Step-by-step comparison of a trace-trained model with the machine (trace tasks, `tasks.trace`).

`free_run` runs the model from the input tape with nothing from the machine but the start (no
teacher forcing: the state it feeds back is its own argmax, it stops when its stop output says so)
and compares every step with the machine's trace as it goes, keeping no per-step logits, so a
100,000-step run of 256 samples fits in memory. At each configuration t <= steps[b]:

- stop: the model's stop output (> 0) against the machine's (not at the "output" level, where the
  model is told the step count);
- for t < steps[b]: each head's written symbol and move (argmax) against the machine's, and at the
  "trace" level the next state too.

A run is **step-exact** when all of these agree at every step (the first disagreement is its *first
diverging step*), and **tape-exact** when the memory, decoded cell by cell (argmax, blank = 1 - sum),
equals every tape of the machine where it stopped. `compare_trace` reports both per input length
with the memory rows used (the memory is sized to the machine's space at each length: the cells
its run touches and one blank row on each side).

The *supervised* decisions of a level (trace: all; writes: stop, writes, moves; moves: stop and
moves; output: none) decide the training-time score (`trace_errors`): wrong final cells plus one
per run whose supervised decisions diverge.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ntm.models.trace_ntm import TraceState

#: which decisions each level of the ladder supervises
SUPERVISED = {"trace": ("halt", "state", "write", "move"), "writes": ("halt", "write", "move"),
              "moves": ("halt", "move"), "output": ()}


@dataclass
class FreeRun:
    """What `free_run` found, per sample (numpy arrays of B)."""
    first_divergence: np.ndarray     # first step where any compared decision differs (-1: none)
    first_supervised: np.ndarray     # the same over the level's supervised decisions only
    model_steps: np.ndarray          # steps the model took before it stopped (or was cut)
    cells_wrong: np.ndarray          # final memory cells whose class differs from the machine's tapes
    first_wrong: dict                # decision -> (B,) first step that decision was wrong (-1: never)
    tape: np.ndarray                 # (B, k, N) the model's final tapes, cell classes
    history: list | None = None      # with record=True: per configuration t, the model's decoded
                                     # decisions and its memory ("halt" (B,), "state" (B,), "write",
                                     # "move", "heads" (B, k), "tape" (B, k, N) before the step)

    @property
    def step_exact(self) -> np.ndarray:
        return self.first_divergence < 0

    @property
    def tape_exact(self) -> np.ndarray:
        return self.cells_wrong == 0


@torch.no_grad()
def free_run(model, batch, device=None, extra_steps: int | None = None, record: bool = False,
             limits=None) -> FreeRun:
    """Run `model` (a `TraceNTM`) on `batch` (a `TraceBatch`) free and compare it step by step.

    Samples that have stopped leave the batch every 64 steps once a quarter of it has (their
    results are kept): a palindrome batch at length 512 runs 70,000 steps at the median and
    130,000 at most.

    Args:
        extra_steps: steps allowed past the machine's longest run for a model that stops late
            (default S // 4 + 8).
        record: keep every step's decoded decisions and memory (`FreeRun.history`; for a few
            samples of short runs: verify's counterexamples and plot's space-time diagrams).
        limits: (B,) per sample, the last configuration it may reach, in place of the one bound
            (the batch's longest run + extra_steps) for all: a sample moved into another batch keeps
            the bound its own batch gave it (`ntm.analysis.universal_compare.compare_family`).
    """
    was_training = model.training
    model.eval()
    dev = device or model.out.weight.device
    level, B, S = batch.supervision, batch.batch_size, batch.write.shape[1]
    t_ = lambda x: torch.as_tensor(np.ascontiguousarray(x), device=dev)  # noqa: E731
    told = level == "output"                              # told the step count: runs exactly steps[b]
    hard = level == "trace" and model.feeds_state
    names = ("halt", "state", "write", "move")
    result = {k: np.full(B, -1, np.int64) for k in names} | {"steps": np.zeros(B, np.int64)}
    tapes = np.zeros_like(batch.final_tape)
    live = np.arange(B)                                   # the batch rows still in the run
    s = model.start_state(batch, dev)
    first = {k: torch.full((B,), -1, dtype=torch.long, device=dev) for k in names}
    running = torch.ones(B, dtype=torch.bool, device=dev)
    model_steps = torch.zeros(B, dtype=torch.long, device=dev)
    steps, stopped = t_(batch.steps), t_(batch.stopped)
    limit = S + (S // 4 + 8 if extra_steps is None else extra_steps)
    lim = None if limits is None else t_(np.asarray(limits, np.int64))
    limit = limit if lim is None else int(lim.max())
    history = [] if record else None
    for t in range(limit + 1):
        d, core = model.decide(s)
        if record:
            history.append(_decoded(model, s, d, running))
        if not told:
            known = t <= steps                            # the machine's trace covers this configuration
            _mark(first["halt"], (d.halt > 0) != (stopped & (steps == t)), known & running, t)
            # a run the machine did not stop was cut at the step bound: the model is cut there too,
            # so its tape is compared with the machine's at the same step
            running = running & ~(d.halt > 0) & ~(~stopped & (steps == t))
        else:
            running = t < steps
        if t < S:
            _mark_decisions(first, d, batch, live, t, (t < steps) & running, t_)
        if lim is not None:
            running = running & (t < lim)                 # its bound: decided at t, does not act
        if t == limit or not bool(running.any()):
            break
        q = F.one_hot(d.state.argmax(-1), model.Q).to(s.M.dtype) if hard else None
        s = model.act(s, d, core, q, running)
        model_steps += running.long()
        if not record and t % 64 == 63 and int(running.sum()) < 0.75 * len(live):   # let the stopped ones go
            _save(model, s, live, ~running, first, model_steps, result, tapes)
            keep, live = running, live[running.cpu().numpy()]
            s = TraceState(*(x[keep] for x in s[:3]), tuple(x[keep] for x in s.core))
            first = {k: v[keep] for k, v in first.items()}
            model_steps, running, steps, stopped = model_steps[keep], running[keep], steps[keep], stopped[keep]
            lim = None if lim is None else lim[keep]
    _save(model, s, live, torch.ones_like(running), first, model_steps, result, tapes)
    model.train(was_training)
    return FreeRun(_earliest([result[k] for k in names], B), _earliest([result[k] for k in SUPERVISED[level]], B),
                   result["steps"], (tapes != batch.final_tape).sum((1, 2)), {k: result[k] for k in names}, tapes,
                   history)


def _mark_decisions(first, d, batch, live, t: int, real, t_) -> None:
    """Step t's written symbols, moves and (trace level) next state against the machine's, for the
    live rows whose machine and model are both still running (`real`)."""
    _mark(first["write"], (d.write.argmax(-1) != t_(batch.write[live, t])).any(1), real, t)
    _mark(first["move"], (d.move.argmax(-1) != t_(batch.move[live, t])).any(1), real, t)
    if batch.supervision == "trace":       # below it, a state the model invents has no names to compare
        _mark(first["state"], d.state.argmax(-1) != t_(batch.state[live, t + 1]), real, t)


def _decoded(model, s, d, running) -> dict:
    """The model's configuration and decisions at one step, decoded (argmax), as numpy."""
    return {"running": running.cpu().numpy(), "halt": (d.halt > 0).cpu().numpy(),
            "state": d.state.argmax(-1).cpu().numpy(), "write": d.write.argmax(-1).cpu().numpy(),
            "move": d.move.argmax(-1).cpu().numpy(), "heads": s.w.argmax(-1).cpu().numpy(),
            "tape": model.tape_log_probs(s.M).argmax(-1).cpu().numpy()}


def _save(model, s, live, which, first, model_steps, result, tapes) -> None:
    """Write the results of the live rows selected by `which` (B_live,) bool into the full arrays."""
    sel = which.cpu().numpy()
    rows = live[sel]
    tapes[rows] = model.tape_log_probs(s.M[which]).argmax(-1).cpu().numpy()
    result["steps"][rows] = model_steps[which].cpu().numpy()
    for k, v in first.items():
        result[k][rows] = v[which].cpu().numpy()


def _mark(first: torch.Tensor, wrong: torch.Tensor, where: torch.Tensor, t: int) -> None:
    """first[b] = t where the decision is wrong for the first time (in place: a running record)."""
    first.masked_fill_(wrong & where & (first < 0), t)


def _earliest(columns: list, B: int) -> np.ndarray:
    """Element-wise the first step among the columns' (-1 = never); (B,) of -1 for no column."""
    if not columns:
        return np.full(B, -1, np.int64)
    stacked = np.stack(columns)
    big = np.where(stacked < 0, np.iinfo(np.int64).max, stacked).min(0)
    return np.where(big == np.iinfo(np.int64).max, -1, big)


def trace_errors(model, batches, device=None) -> tuple[float, float]:
    """The training-time score on evaluation batches: (errors per sequence, sequence accuracy), where
    a sequence's errors are its wrong final cells plus 1 if its supervised decisions diverge, and it
    is right when it has none."""
    errs, right, n = 0.0, 0.0, 0
    for batch in batches:
        r = free_run(model, batch, device)
        e = r.cells_wrong + (r.first_supervised >= 0)
        errs, right, n = errs + float(e.sum()), right + float((e == 0).sum()), n + len(e)
    return errs / n, right / n


def default_trace_lengths(task) -> list[int]:
    """1x, 4x, 16x and 64x the longest training length (within the task's maximum)."""
    top = task.train_lengths[1]
    return sorted({min(task.max_length, top * f) for f in (1, 4, 16, 64)})


#: model steps (summed over a batch's samples) one length of `compare_trace` may take by default:
#: ~1 minute on one CPU core; beyond it a length is compared on fewer inputs (the row says how many)
STEP_BUDGET = 4_000_000


def samples_within(task, n: int, samples: int, budget: int | None) -> int:
    """`samples`, or fewer when the machine's runs at length n are so long that `samples` of them
    would take more than `budget` model steps (at least 8): the steps are measured on 4 inputs."""
    if budget is None or task.machine is None:        # no one machine (universal): runs bounded by the task
        return samples
    from turing import engine
    from tasks.trace import draw_words
    words = draw_words(task.spec, task.machine, np.random.default_rng(n), np.full(4, n, np.int64))
    steps = float(np.median(engine.run_batch(task.machine, words, max_steps=task.bound(n)).steps)) + 1
    return int(min(samples, max(8, budget // steps)))


def compare_trace(model, task, lengths=None, samples: int = 256, device=None,
                  budget: int | None = STEP_BUDGET) -> list[dict]:
    """The step-by-step comparison at each length, on the task's fixed evaluation batches
    (`samples` inputs a length, fewer where that would exceed `budget` model steps: `samples_within`).

    Returns one row per length: length, samples, memory_rows, machine_steps (median and max),
    step_exact (fraction), median_first_divergence (over diverging runs; None when none),
    seq_accuracy (tape-exact fraction), cells_wrong_per_seq, supervised_exact (fraction whose
    supervised decisions never diverge).
    """
    rows = []
    for n in (lengths or default_trace_lengths(task)):
        batch = task.eval_batch(int(n), samples_within(task, int(n), samples, budget))
        r = free_run(model, batch, device)
        diverged = r.first_divergence[r.first_divergence >= 0]
        rows.append({"length": int(n), "samples": batch.batch_size, "memory_rows": batch.rows,
                     "machine_steps_median": float(np.median(batch.steps)), "machine_steps_max": int(batch.steps.max()),
                     "step_exact": float(r.step_exact.mean()),
                     "median_first_divergence": statistics.median(diverged.tolist()) if len(diverged) else None,
                     "seq_accuracy": float(r.tape_exact.mean()),
                     "cells_wrong_per_seq": float(r.cells_wrong.mean()),
                     "supervised_exact": float((r.first_supervised < 0).mean())})
    return rows


def format_trace_table(rows: list[dict]) -> str:
    """The comparison rows as an aligned text table."""
    head = ("length", "memory rows", "machine steps (median/max)", "step-exact", "first divergence (median)",
            "tape-exact", "wrong cells/seq")
    lines = [head]
    for r in rows:
        div = "-" if r["median_first_divergence"] is None else f"{r['median_first_divergence']:g}"
        lines.append((str(r["length"]), str(r["memory_rows"]),
                      f"{r['machine_steps_median']:g}/{r['machine_steps_max']}", f"{r['step_exact']:.4f}",
                      div, f"{r['seq_accuracy']:.4f}", f"{r['cells_wrong_per_seq']:.3f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)
