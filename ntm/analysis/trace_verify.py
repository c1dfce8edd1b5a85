"""Counterexamples for trace runs: the first step where a free-running trace model leaves the machine.

`ntm.analysis.verify.search` draws (length, seed) inputs with hypothesis and shrinks the first
disagreement; for a trace task (`tasks.trace`) a disagreement is a step where the model's stop,
written symbols, moves or (at the "trace" level) next state differ from the machine's, or a final
tape that differs (`ntm.analysis.trace_compare.free_run`). `check_trace_example` returns it as a
`TraceCounterexample`: the input, the step, and both configurations there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntm.analysis.trace_compare import free_run


@dataclass(frozen=True)
class TraceCounterexample:
    """An input on which the trace model leaves the machine.

    Attributes:
        length, seed: rebuild the input: ``task.sample(default_rng(seed), 1, length)``.
        input_symbols: the machine's input word.
        step: the first step where a decision differs (None: every decision agreed, the final tape
            did not).
        what: the decisions that differ there ("stop", "state", "write", "move"; or "tape").
        machine: the machine's configuration and transition at `step` (state, heads as tape
            positions, symbols read, written, moves, stop), by name.
        model: the model's at `step`, decoded the same way.
    """
    length: int
    seed: int
    input_symbols: tuple
    step: int | None
    what: tuple
    machine: dict
    model: dict

    def __str__(self) -> str:
        where = f"step {self.step}" if self.step is not None else "the final tape"
        lines = [f"counterexample (length {self.length}, seed {self.seed}): the model leaves the machine at {where} "
                 f"({', '.join(self.what)})",
                 f"  input:   {' '.join(self.input_symbols) or '(empty)'}"]
        for who, c in (("machine", self.machine), ("model", self.model)):
            lines.append(f"  {who + ':':8s} " + "  ".join(f"{k} {v}" for k, v in c.items()))
        return "\n".join(lines)


def check_trace_example(model, task, length: int, seed: int) -> TraceCounterexample | None:
    """Run machine and model (free) on the input (length, seed); the first disagreement, or None."""
    batch = task.sample(np.random.default_rng(seed), 1, int(length))
    r = free_run(model, batch, record=True)
    first, wrong_cells = int(r.first_divergence[0]), int(r.cells_wrong[0])
    if first < 0 and wrong_cells == 0:
        return None
    word = tuple(batch.input_symbols[0])
    if first < 0:
        return TraceCounterexample(int(length), int(seed), word, None, ("tape",),
                                   {"tape": _tape(task, batch.final_tape[0])}, {"tape": _tape(task, r.tape[0])})
    what = tuple(("stop" if k == "halt" else k) for k, v in r.first_wrong.items() if int(v[0]) == first)
    return TraceCounterexample(int(length), int(seed), word, first, what,
                               machine_step(task, batch, first), model_step(task, batch, r.history[first]))


def _names(task, classes) -> tuple:
    """Cell classes -> symbol names (class 0 is the blank)."""
    blank = task.machine.blank
    return tuple(blank if c == 0 else task.symbols[c - 1] for c in np.atleast_1d(classes).tolist())


def _tape(task, tape) -> str:
    """(k, N) cell classes -> one string per tape, blanks trimmed at both ends."""
    return " | ".join(" ".join(_names(task, row)).strip(f" {task.machine.blank}") or "(blank)" for row in tape)


def machine_step(task, batch, t: int) -> dict:
    """The machine's configuration and transition at step t of sample 0, by name."""
    stop = t >= int(batch.steps[0])
    out = {"state": task.states[int(batch.state[0, t])],
           "heads": tuple(int(h) + batch.origin for h in batch.heads[0, t])}
    if stop:
        return out | {"stop": bool(batch.stopped[0])}
    return out | {"read": _names(task, batch.read[0, t]), "write": _names(task, batch.write[0, t]),
                  "move": tuple("LSR"[m] for m in batch.move[0, t]), "next": task.states[int(batch.state[0, t + 1])],
                  "stop": False}


def model_step(task, batch, h: dict) -> dict:
    """The model's configuration and decisions at one step (a `free_run` history entry), by name."""
    return {"heads": tuple(int(x) + batch.origin for x in h["heads"][0]),
            "read": _names(task, [h["tape"][0, i, x] for i, x in enumerate(h["heads"][0])]),
            "write": _names(task, h["write"][0]), "move": tuple("LSR"[m] for m in h["move"][0]),
            "next": task.states[int(h["state"][0])] if task.supervision == "trace" else f"#{int(h['state'][0])}",
            "stop": bool(h["halt"][0])}
