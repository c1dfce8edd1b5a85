"""The reference simulator: exact, readable, and bounded by a step limit and a cell limit.

`trace(machine, input)` yields every configuration (Sipser §3.1) from the start configuration
on; `run(machine, input)` runs to the end and returns a `RunResult`. Both share one stepping
loop, `_steps`, so they cannot disagree. The fast engine (`turing.engine`) must give the same
`RunResult` for every machine and input; this module is its oracle.

Conventions:
- Tapes are bi-infinite. The input is written on tape 0 from position 0; every head starts at 0;
  other tapes start blank. Positions may go negative.
- One *step* is one transition taken. ``steps`` counts them (the busy-beaver convention: the
  transition into the halting state counts).
- The run ends in a halting state (status accepted / rejected / halted), when δ is undefined
  (status "no transition", the run stops without moving), after ``max_steps`` steps
  (status "step limit"), or before a step that would use more than ``max_cells`` cells
  (status "cell limit"; the step is not taken). Checked in that order, before each step: so a
  machine that halts on step ``max_steps`` is reported as halted.
- *Cells used* (space): the cells the heads have visited plus the input's cells, summed over
  the tapes. A tape's used cells are always one interval around position 0, so with the input
  of length n on tape 0 and heads that have reached positions ``lo..hi`` it uses
  ``max(hi, n - 1) - min(lo, 0) + 1`` cells; the run starts using ``max(n, 1) + k - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterator, Sequence

from . import errors
from .machine import DELTA_HEAD, Machine

#: default bound on steps: large enough for BB(5) (47,176,870 steps).
DEFAULT_MAX_STEPS = 100_000_000
#: default bound on cells used (see the module docstring): BB(5) uses 12,289; a tape of 10^7
#: cells costs 80 MB here (a list) and 10-40 MB in the fast engine.
DEFAULT_MAX_CELLS = 10_000_000


class Status(str, Enum):
    """How a run ended."""
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    HALTED = "halted"
    NO_TRANSITION = "no transition"
    STEP_LIMIT = "step limit"
    CELL_LIMIT = "cell limit"

    def __str__(self):
        return self.value


def as_word(machine: Machine, word: Sequence[str] | str) -> tuple[str, ...]:
    """An input word as a tuple of symbols, checked against Σ.

    A plain string is split into one-character symbols; pass a list for longer symbols.

    Raises:
        InputError: a symbol (the blank included) is not in the input alphabet.
    """
    symbols = tuple(word)
    allowed = set(machine.input_alphabet)
    for i, a in enumerate(symbols):
        if a not in allowed:
            what = "the blank" if a == machine.blank else f"symbol {a!r}"
            raise errors.InputError(
                f"input position {i}: {what} is not in the input alphabet "
                f"{{{', '.join(map(repr, machine.input_alphabet[:8]))}{', …' if len(allowed) > 8 else ''}}}")
    return symbols


# ---------------------------------------------------------------- results
def trim(cells: Sequence[str], origin: int, blank: str) -> tuple[tuple[str, ...], int]:
    """A tape's cells (the first at position `origin`) without the blanks at both ends, and the
    position of the first cell kept (0 for an all-blank tape)."""
    lo, hi = 0, len(cells)
    while lo < hi and cells[lo] == blank:
        lo += 1
    while hi > lo and cells[hi - 1] == blank:
        hi -= 1
    return tuple(cells[lo:hi]), (origin + lo if hi > lo else 0)


def _render(cells, origin, head, blank) -> str:
    """Cells with the head's cell in brackets; blanks around the head are shown."""
    lo, hi = min(origin, head), max(origin + len(cells), head + 1)
    sep = "" if all(len(a) == 1 for a in cells) else " "
    out = []
    for p in range(lo, hi):
        a = cells[p - origin] if origin <= p < origin + len(cells) else blank
        out.append(f"[{a}]" if p == head else a)
    return sep.join(out)


@dataclass(frozen=True)
class Configuration:
    """One configuration: state, each tape's visited cells (from ``origins[i]``) and each head.

    ``str(config)`` prints ``state: tape`` with the head's cell in brackets, e.g. ``B: 1[1]0``.
    """
    step: int
    state: str
    tapes: tuple[tuple[str, ...], ...]
    origins: tuple[int, ...]
    heads: tuple[int, ...]
    blank: str

    @property
    def tape(self) -> tuple[str, ...]:
        return self.tapes[0]

    @property
    def head(self) -> int:
        return self.heads[0]

    def __str__(self):
        return f"{self.state}: " + " | ".join(
            _render(c, o, h, self.blank) for c, o, h in zip(self.tapes, self.origins, self.heads))


@dataclass(frozen=True)
class RunResult:
    """The end of a run.

    Attributes:
        status: how it ended (`Status`).
        steps: transitions taken.
        state: the final state.
        tapes: each tape's content with the outer blanks trimmed (inner blanks kept).
        origins: the position of each trimmed tape's first cell (0 when the tape is blank).
        heads: each head's final position (input starts at position 0).
        blank: the machine's blank, to render tapes.
    """
    status: Status
    steps: int
    state: str
    tapes: tuple[tuple[str, ...], ...]
    origins: tuple[int, ...]
    heads: tuple[int, ...]
    blank: str

    @property
    def halted(self) -> bool:
        """True unless a limit (steps or cells) ended the run."""
        return self.status not in (Status.STEP_LIMIT, Status.CELL_LIMIT)

    @property
    def tape(self) -> tuple[str, ...]:
        """Tape 0, outer blanks trimmed."""
        return self.tapes[0]

    @property
    def head(self) -> int:
        return self.heads[0]

    @property
    def output(self) -> tuple[str, ...]:
        """The machine's output: the last tape, outer blanks trimmed (the library's convention)."""
        return self.tapes[-1]

    @property
    def nonblank(self) -> int:
        """Non-blank cells on all tapes (a busy beaver's "ones")."""
        return sum(a != self.blank for t in self.tapes for a in t)

    def tape_string(self, i: int = 0) -> str:
        """Tape i's trimmed content as text: symbols joined directly if all are one character,
        else separated by spaces."""
        cells = self.tapes[i]
        return ("" if all(len(a) == 1 for a in cells) else " ").join(cells)

    def to_dict(self, seconds: float | None = None) -> dict:
        """The JSON object printed by ``ntm machine run --json``."""
        d = {"status": str(self.status), "halted": self.halted, "steps": self.steps,
             "state": self.state, "tape": self.tape_string(0), "head": self.head,
             "nonblank": self.nonblank}
        if len(self.tapes) > 1:
            d["tapes"] = [self.tape_string(i) for i in range(len(self.tapes))]
            d["heads"] = list(self.heads)
        if seconds is not None:
            d["seconds"] = seconds
        return d


# ---------------------------------------------------------------- the stepping loop
class _Tape:
    """A bi-infinite tape: a list grown on demand and the position of its first cell, and the
    interval ``lo..hi`` of positions used (visited by the head, or holding input)."""
    __slots__ = ("cells", "origin", "blank", "lo", "hi")

    def __init__(self, word, blank):
        self.cells, self.origin, self.blank = list(word) or [blank], 0, blank
        self.lo, self.hi = 0, max(len(word) - 1, 0)

    def read(self, p):
        i = p - self.origin
        return self.cells[i] if 0 <= i < len(self.cells) else self.blank

    def write(self, p, a):
        i = p - self.origin
        if i < 0:  # grow to the left, doubling so that a long leftward walk stays linear
            grow = max(-i, len(self.cells))
            self.cells[:0] = [self.blank] * grow
            self.origin -= grow
            i += grow
        elif i >= len(self.cells):
            self.cells.extend([self.blank] * max(i + 1 - len(self.cells), len(self.cells)))
        self.cells[i] = a


def _steps(machine: Machine, word, max_steps: int, max_cells: int = DEFAULT_MAX_CELLS):
    """Run the machine, yielding ``(step, state, tapes, heads)`` before each step and at the end,
    then returning the final status. The yielded tapes are live objects, not copies."""
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    if max_cells < 0:
        raise ValueError(f"max_cells must be >= 0, got {max_cells}")
    k, multi = machine.tapes, machine.tapes > 1
    tapes = [_Tape(as_word(machine, word), machine.blank)] + [_Tape((), machine.blank) for _ in range(k - 1)]
    heads = [0] * k
    used = sum(t.hi - t.lo + 1 for t in tapes)
    state, step, delta = machine.start, 0, machine.delta
    while True:
        yield step, state, tapes, heads
        if state in machine.accept:
            return Status.ACCEPTED
        if state in machine.reject:
            return Status.REJECTED
        if state in machine.halt:
            return Status.HALTED
        if step >= max_steps:
            return Status.STEP_LIMIT
        read = tuple(t.read(h) for t, h in zip(tapes, heads)) if multi else tapes[0].read(heads[0])
        action = delta.get((state, read))
        if action is None:
            return Status.NO_TRANSITION
        writes, moves = (action.write, action.move) if multi else ((action.write,), (action.move,))
        to = [h + DELTA_HEAD[m] for h, m in zip(heads, moves)]
        new = sum(not t.lo <= p <= t.hi for t, p in zip(tapes, to))
        if new:
            if used + new > max_cells:
                return Status.CELL_LIMIT
            used += new
            for t, p in zip(tapes, to):
                t.lo, t.hi = min(t.lo, p), max(t.hi, p)
        for i in range(k):
            tapes[i].write(heads[i], writes[i])
            heads[i] = to[i]
        state, step = action.next_state, step + 1


def _snapshot(machine, step, state, tapes, heads) -> Configuration:
    return Configuration(step, state, tuple(tuple(t.cells) for t in tapes), tuple(t.origin for t in tapes),
                         tuple(heads), machine.blank)


def trace(machine: Machine, input: Sequence[str] | str = (), max_steps: int = DEFAULT_MAX_STEPS,
          max_cells: int = DEFAULT_MAX_CELLS) -> Iterator[Configuration]:
    """Yield every configuration of the run, the start configuration first (at most
    ``max_steps + 1`` of them). Each is a snapshot (its tapes are copied), so keep the
    step limit small for long runs.

    Raises:
        InputError: the input holds a symbol outside the input alphabet.
        ValueError: max_steps < 0 or max_cells < 0.
    """
    for step, state, tapes, heads in _steps(machine, input, max_steps, max_cells):
        yield _snapshot(machine, step, state, tapes, heads)


#: steps between two calls of `run`'s progress callback
PROGRESS_EVERY = 1 << 20


def run(machine: Machine, input: Sequence[str] | str = (), max_steps: int = DEFAULT_MAX_STEPS,
        max_cells: int = DEFAULT_MAX_CELLS, *, progress: Callable[[int], None] | None = None) -> RunResult:
    """Run `machine` on `input` until it halts, has no transition, takes `max_steps` steps, or
    would use more than `max_cells` cells.

    Args:
        machine: the machine.
        input: the input word, a sequence of symbols (a str is split into characters).
        max_steps: the step bound (steps = transitions taken).
        max_cells: the space bound: tape cells used, summed over tapes (see the module
            docstring); the step that would exceed it is not taken (status "cell limit").
        progress: called with the steps taken so far every `PROGRESS_EVERY` steps.

    Returns:
        A `RunResult` (status, steps, state, trimmed tapes, heads).

    Raises:
        InputError: the input holds a symbol outside the input alphabet.
        ValueError: max_steps < 0 or max_cells < 0.
    """
    gen = _steps(machine, input, max_steps, max_cells)
    mask = PROGRESS_EVERY - 1
    try:
        while True:
            step, state, tapes, heads = next(gen)
            if progress is not None and step & mask == 0 and step:
                progress(step)
    except StopIteration as stop:
        status = stop.value
    trimmed = [trim(t.cells, t.origin, machine.blank) for t in tapes]
    return RunResult(status, step, state, tuple(c for c, _ in trimmed), tuple(o for _, o in trimmed),
                     tuple(heads), machine.blank)
