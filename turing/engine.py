"""The fast engine: a `Machine` compiled to integer tables and run by a numba loop.

`run_fast(machine, input)` returns exactly the `RunResult` of the reference `turing.run`;
`run_batch(machine, inputs)` runs many inputs at once, one thread per input (numba ``prange``),
for dataset generation. The reference is the oracle: tests/test_engine.py checks that the two
agree on random machines and inputs.

Numbering. State q is its index in ``machine.states``; symbol a is its index in
``machine.tape_alphabet`` (`CompiledMachine.symbols` maps codes back). One more code,
``EDGE = |Γ|``, marks the sentinel cells at both ends of every tape buffer.

Tapes. A run's tapes are one array ``tapes[b, j, i]`` (input b, tape j, buffer index i) of
symbol codes, uint8 when |Γ| < 255 (the tape then stays in cache), else int32. Tape position p
is buffer index ``p + offset``. Indices 0 and L-1 hold EDGE: reading one stops the loop, Python
doubles the buffer on that side and resumes. The tape is thus bi-infinite with no bounds check
in the loop, and growth costs amortised O(1) per cell.

1-tape table (dense; the fast path). One row of ``W = |Γ| + 1`` entries per state (every symbol,
then EDGE); entry ``i = q*W + a`` describes δ(q, a):

    next_row[i]   q'*W, the row of the next state (stored premultiplied: one multiply less per
                  step), or STOP (halting state q, or δ(q, a) undefined) or EDGE (a is the
                  sentinel and δ(q, blank) is defined: grow the tape, then read a blank)
    write[i]      the code written
    move[i]       -1, 0 or +1

so a step is ``i = row + tape[head]; r = next_row[i]; if r < 0: stop; tape[head] = write[i];
head += move[i]; row = r``.

k-tape table (sparse). A dense table would have |Q|·(|Γ|+1)^k entries, so the transitions are
listed instead, as rows of ``reads`` (T, k), ``next_state`` (T,), ``writes`` (T, k) and
``moves`` (T, k), sorted by (state, reads). Those of state q reading a on tape 0 are rows
``row_ptr[q*|Γ| + a] : row_ptr[q*|Γ| + a + 1]`` (compressed sparse rows), usually one or a few,
and a binary search among them finds the one matching the other tapes.

Space. Each run keeps, per tape, the interval ``lo..hi`` (buffer indices) of cells used (visited
or holding input; see `turing.run`). A step that moves a head outside it first checks that the
cells used stay within ``max_cells``, else the loop stops with CELL before taking the step. The
check sits on the rare branch (a head entering a new cell), so the common step pays two compares.

Status. The loop reports only why it stopped (STOP, EDGE, CELL or the step limit). Python then
names the status in the reference's order: a halting state first, then the step limit, then
"no transition", then "cell limit" (see `turing.run`).

Progress. With a ``progress`` callback the runs go in chunks of `PROGRESS_CHUNK` steps (the loop
resumes where it stopped), and the callback hears the steps taken after each chunk.

Traces. ``run_batch(..., trace=True)`` runs copies of the loops (`_trace_loop_1`, `_trace_loop_k`)
that also write every step into integer arrays, returned as ``BatchResult.trace`` (`BatchTrace`:
state, heads, read, write, move, mask). Their buffers start at `_TRACE_START` steps and double
like the tapes: a loop stops when it reaches the buffer's end, Python doubles it and resumes. The
buffers stay within ``max_trace_bytes`` (`trace_step_bytes` bytes a step a run, 12 for one tape
with |Γ| < 255), else `TraceLimitError`. The plain loops are untouched, so untraced runs pay nothing.

Threads: the runs of a batch are shared among numba's threads (``numba.set_num_threads``), after a
first pass on the calling thread of up to `SERIAL_STEPS` steps in all (a training batch's runs
usually end there: starting the threads costs more than they do). The
engine asks numba for a fork-safe threading layer (see `_PARALLEL`), so it works in forked workers, and
takes a lock around parallel code, so Python threads may call it at once (one runs at a time; the
first passes, each on its own thread without the GIL, run together).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numba
import numpy as np
from numba import njit, prange

from .errors import InputError, TraceLimitError
from .machine import DELTA_HEAD, Machine
from .run import DEFAULT_MAX_CELLS, DEFAULT_MAX_STEPS, RunResult, Status, as_word

#: Status codes of `BatchResult.status`: the index into this tuple.
STATUSES: tuple[Status, ...] = (Status.ACCEPTED, Status.REJECTED, Status.HALTED,
                                Status.NO_TRANSITION, Status.STEP_LIMIT, Status.CELL_LIMIT)
_NO_TRANSITION, _STEP_LIMIT, _CELL_LIMIT = 3, 4, 5

STOP, EDGE = -1, -2  # negative next_row entries, and the loop's stop reasons (0: step limit)
CELL = -3  # the loop's stop reason when the next step would use more than max_cells cells
#: steps per chunk when a progress callback is given (about 0.05-0.2 s of the 1-tape loop)
PROGRESS_CHUNK = 1 << 24

# Datasets are made in forked worker processes (torch DataLoader), and GNU OpenMP, numba's usual
# threading layer on Linux, kills a child forked after it ran. Unless the user chose a layer,
# ask numba for a fork-safe one (TBB when installed, else its own "workqueue").
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "forksafe"
# "workqueue" aborts when two threads enter parallel code at once: one run at a time.
_PARALLEL = threading.Lock()

#: blank cells first put on each side of the input (more come by doubling when a head gets there)
_MARGIN = 32

#: steps, summed over a batch's runs, that `run_batch` first takes on the calling thread. Starting
#: numba's threads costs ~0.15-0.25 ms here, 3,000-50,000 steps at 5-75 ns a step (one tape to
#: sorting's three): a first pass of about that cost is at most about as slow again as the better
#: choice, and a training batch's runs usually end in it (copy at batch 32, ~700 steps: 0.22 ->
#: 0.08 ms a `run_batch` alone; inside the README's training run the loops' median 0.23 -> 0.06 ms
#: a batch, bench/README.md "The sixth pass"). Runs still going after it go on in parallel from
#: where they stopped: the same results. A machine whose last batch took more steps a run than this
#: batch's share goes straight to the threads (sort's runs at batch 32, 509 steps each: 0.86 ms
#: a batch in parallel, 1.19 with the first pass).
SERIAL_STEPS = 1 << 13
_SERIAL_MIN = 16  # fewer steps a run than this (batches over 512 runs): straight to the threads
_STEPS_A_RUN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # machine -> its last batch's mean


# ---------------------------------------------------------------- compiled machine
@dataclass(frozen=True, eq=False)
class CompiledMachine:
    """A machine as integer tables (layout in the module docstring).

    Attributes:
        machine: the source `Machine`.
        states, symbols: code -> state name, code -> symbol (the machine's own orders).
        blank, start: their codes.  edge: the sentinel code, ``len(symbols)``.
        tapes: k.
        input_codes: input symbol -> code (only Σ: anything else in an input is an error).
        is_input: (|Γ|,) bool, code -> is it an input symbol's.
        tape_dtype: the dtype of tape cells (uint8, or int32 when |Γ| >= 255).
        halting: (|Q|,) int8: 0 accept, 1 reject, 2 halt (an index into `STATUSES`), -1 otherwise.
        next_row, write, move: the dense 1-tape table, (|Q|·W,) each (None when k > 1).
        row_ptr, reads, next_state, writes, moves: the sparse k-tape table (None when k = 1);
            row_ptr is (|Q|·|Γ| + 1,).
    """
    machine: Machine
    states: tuple[str, ...]
    symbols: tuple[str, ...]
    blank: int
    start: int
    edge: int
    tapes: int
    halting: np.ndarray
    input_codes: dict
    is_input: np.ndarray
    tape_dtype: type
    next_row: np.ndarray | None = None
    write: np.ndarray | None = None
    move: np.ndarray | None = None
    row_ptr: np.ndarray | None = None
    reads: np.ndarray | None = None
    next_state: np.ndarray | None = None
    writes: np.ndarray | None = None
    moves: np.ndarray | None = None

    @property
    def width(self) -> int:
        """W, the entries per state in the dense 1-tape table."""
        return len(self.symbols) + 1


@functools.lru_cache(maxsize=128)
def compile(machine: Machine) -> CompiledMachine:  # noqa: A001 (the field's word for it)
    """Integer tables for `machine` (cached: the same machine is compiled once)."""
    states, symbols = machine.states, machine.tape_alphabet
    q_code = {q: i for i, q in enumerate(states)}
    a_code = {a: i for i, a in enumerate(symbols)}
    halting = np.full(len(states), -1, np.int8)
    for kind, group in enumerate((machine.accept, machine.reject, machine.halt)):
        for q in group:
            halting[q_code[q]] = kind
    edge = len(symbols)
    dtype = np.uint8 if edge < 255 else np.int32
    common = dict(machine=machine, states=states, symbols=symbols, blank=a_code[machine.blank],
                  start=q_code[machine.start], edge=edge, tapes=machine.tapes, halting=halting,
                  input_codes={a: a_code[a] for a in machine.input_alphabet},
                  is_input=np.isin(np.arange(edge), [a_code[a] for a in machine.input_alphabet]),
                  tape_dtype=dtype)
    if machine.tapes == 1:
        return CompiledMachine(**common, **_dense_table(machine, q_code, a_code, dtype))
    return CompiledMachine(**common, **_sparse_table(machine, q_code, a_code, dtype))


def _dense_table(machine, q_code, a_code, dtype) -> dict:
    W = len(a_code) + 1
    next_row = np.full(len(q_code) * W, STOP, np.int32)
    write = np.zeros(len(q_code) * W, dtype)
    move = np.zeros(len(q_code) * W, np.int32)
    for (q, a), (q2, b, d) in machine.delta.items():
        i = q_code[q] * W + a_code[a]
        next_row[i], write[i], move[i] = q_code[q2] * W, a_code[b], DELTA_HEAD[d]
    for q in machine.states:
        if (q, machine.blank) in machine.delta:  # a sentinel stands for a blank not yet allocated
            next_row[q_code[q] * W + W - 1] = EDGE
    return dict(next_row=next_row, write=write, move=move)


def _sparse_table(machine, q_code, a_code, dtype) -> dict:
    k, S = machine.tapes, len(a_code)
    rows = sorted((q_code[q], tuple(a_code[a] for a in read), q_code[q2],
                   tuple(a_code[b] for b in write), tuple(DELTA_HEAD[d] for d in move))
                  for (q, read), (q2, write, move) in machine.delta.items())
    T = len(rows)
    counts = np.zeros(len(q_code) * S + 1, np.int64)  # counts[q*S + a + 1]: rows of (q, a on tape 0)
    np.add.at(counts, np.array([r[0] * S + r[1][0] + 1 for r in rows], np.int64), 1)
    return dict(row_ptr=np.cumsum(counts),
                reads=np.array([r[1] for r in rows], dtype).reshape(T, k),
                next_state=np.array([r[2] for r in rows], np.int32).reshape(T),
                writes=np.array([r[3] for r in rows], dtype).reshape(T, k),
                moves=np.array([r[4] for r in rows], np.int32).reshape(T, k))


# ---------------------------------------------------------------- the loops
@njit(cache=True)
def _loop_1(tape, head, row, step, max_steps, lo, hi, max_cells, next_row, write, move):
    """Run one tape from (head, row, step) with cells lo..hi used; return head, row, step, lo, hi
    and why it stopped (STOP, EDGE, CELL, 0 = step limit). Indices are cast to unsigned so numba
    emits no negative-index wraparound check."""
    while step < max_steps:
        i = np.uintp(row + tape[np.uintp(head)])
        r = next_row[i]
        if r < 0:
            return head, row, step, lo, hi, r
        to = head + move[i]
        if to < lo or to > hi:  # a new cell
            if hi - lo + 1 >= max_cells:
                return head, row, step, lo, hi, CELL
            lo, hi = min(lo, to), max(hi, to)
        tape[np.uintp(head)] = write[i]
        head = to
        row = r
        step += 1
    return head, row, step, lo, hi, 0


@njit(cache=True, parallel=True)
def _run_1(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, next_row, write, move):
    """`_loop_1` for each input b in `active`, in parallel; updates heads/states/steps/stops/los/his[b].
    Here states[b] holds the state's row start q*W, not q."""
    for j in prange(active.size):
        b = active[j]
        head, row, step, lo, hi, stop = _loop_1(tapes[b, 0], heads[b, 0], states[b], steps[b], max_steps,
                                                los[b, 0], his[b, 0], max_cells, next_row, write, move)
        heads[b, 0], states[b], steps[b], stops[b], los[b, 0], his[b, 0] = head, row, step, stop, lo, hi


@njit(cache=True, nogil=True)
def _run_1_serial(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, next_row, write, move):
    """`_run_1` on the calling thread (`_execute`'s first pass: see `SERIAL_STEPS`), without the GIL
    (another Python thread, a trainer's, runs meanwhile)."""
    for j in range(active.size):
        b = active[j]
        head, row, step, lo, hi, stop = _loop_1(tapes[b, 0], heads[b, 0], states[b], steps[b], max_steps,
                                                los[b, 0], his[b, 0], max_cells, next_row, write, move)
        heads[b, 0], states[b], steps[b], stops[b], los[b, 0], his[b, 0] = head, row, step, stop, lo, hi


@njit(cache=True)
def _find(reads, lo, hi, read):
    """The row t in [lo, hi) with reads[t] == read (rows sorted lexicographically), or -1."""
    k = read.size
    while lo < hi:
        mid = (lo + hi) >> 1
        c = 0
        for j in range(k):
            if reads[mid, j] != read[j]:
                c = -1 if reads[mid, j] < read[j] else 1
                break
        if c == 0:
            return mid
        if c < 0:
            lo = mid + 1
        else:
            hi = mid
    return -1


@njit(cache=True)
def _claim_k(head, move, lo, hi, used, max_cells):
    """The cells k heads reach by `move` (k,) that are new to lo..hi (updated in place): the count
    of cells used after the step, or -1 when it would pass max_cells (lo, hi then unchanged)."""
    new = 0
    for j in range(head.size):
        to = head[j] + move[j]
        if to < lo[j] or to > hi[j]:
            new += 1
    if new:
        if used + new > max_cells:
            return -1
        for j in range(head.size):
            to = head[j] + move[j]
            lo[j], hi[j] = min(lo[j], to), max(hi[j], to)
    return used + new


@njit(cache=True)
def _loop_k(tape, head, state, step, max_steps, lo, hi, max_cells, edge, row_ptr, reads, next_state, writes, moves):
    """Run k tapes (tape (k, L); head, lo, hi (k,) updated in place) from (state, step); return
    (state, step, why it stopped). `edge` is also |Γ|, the row_ptr stride of a state."""
    k = tape.shape[0]
    read = np.empty(k, tape.dtype)
    used = 0
    for j in range(k):
        used += hi[j] - lo[j] + 1
    while step < max_steps:
        base = state * edge
        if row_ptr[base] == row_ptr[base + edge]:  # no transitions at all (a halting state):
            return state, step, STOP              # stop before reading, so as not to grow
        for j in range(k):
            a = tape[j, head[j]]
            if a == edge:
                return state, step, EDGE
            read[j] = a
        t = _find(reads, row_ptr[base + read[0]], row_ptr[base + read[0] + 1], read)
        if t < 0:
            return state, step, STOP
        used = _claim_k(head, moves[t], lo, hi, used, max_cells)
        if used < 0:
            return state, step, CELL
        for j in range(k):
            tape[j, head[j]] = writes[t, j]
            head[j] += moves[t, j]
        state = next_state[t]
        step += 1
    return state, step, 0


@njit(cache=True, parallel=True)
def _run_k(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, edge,
           row_ptr, reads, next_state, writes, moves):
    """`_loop_k` for each input b in `active`, in parallel."""
    for j in prange(active.size):
        b = active[j]
        state, step, stop = _loop_k(tapes[b], heads[b], states[b], steps[b], max_steps, los[b], his[b],
                                    max_cells, edge, row_ptr, reads, next_state, writes, moves)
        states[b], steps[b], stops[b] = state, step, stop


@njit(cache=True, nogil=True)
def _run_k_serial(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, edge,
                  row_ptr, reads, next_state, writes, moves):
    """`_run_k` on the calling thread."""
    for j in range(active.size):
        b = active[j]
        state, step, stop = _loop_k(tapes[b], heads[b], states[b], steps[b], max_steps, los[b], his[b],
                                    max_cells, edge, row_ptr, reads, next_state, writes, moves)
        states[b], steps[b], stops[b] = state, step, stop


# ---------------------------------------------------------------- the traced loops
# Copies of `_loop_1` and `_loop_k` that also write each step into the trace arrays of one run:
# t_state (C+1,), t_heads (C+1, k), t_read, t_write, t_move (C, k), C the trace capacity (the
# loop never runs past step C: `_execute` passes max_steps <= C). Kept apart from the plain loops
# so that those stay as fast as a C loop; tests/test_engine.py checks that both give the same
# results. Heads are recorded as tape positions (buffer index - offset), so tape growth between
# two calls changes nothing recorded.
@njit(cache=True)
def _trace_loop_1(tape, head, row, step, max_steps, lo, hi, max_cells, next_row, write, move,
                  offset, t_state, t_heads, t_read, t_write, t_move):
    """`_loop_1`, recording every step taken, and the configuration it stops in (at index
    step). t_state receives the row start q*W, as the loop keeps it (`_execute` divides)."""
    stop = 0
    while step < max_steps:
        a = tape[np.uintp(head)]
        i = np.uintp(row + a)
        r = next_row[i]
        if r < 0:
            stop = r
            break
        to = head + move[i]
        if to < lo or to > hi:  # a new cell
            if hi - lo + 1 >= max_cells:
                stop = CELL
                break
            lo, hi = min(lo, to), max(hi, to)
        t_state[step], t_heads[step, 0] = row, head - offset
        t_read[step, 0], t_write[step, 0], t_move[step, 0] = a, write[i], move[i]
        tape[np.uintp(head)] = write[i]
        head = to
        row = r
        step += 1
    t_state[step], t_heads[step, 0] = row, head - offset
    return head, row, step, lo, hi, stop


@njit(cache=True, parallel=True)
def _trace_1(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, next_row, write,
             move, offset, t_state, t_heads, t_read, t_write, t_move):
    """`_run_1` with `_trace_loop_1`: run b records into t_*[b]."""
    for j in prange(active.size):
        b = active[j]
        head, row, step, lo, hi, stop = _trace_loop_1(
            tapes[b, 0], heads[b, 0], states[b], steps[b], max_steps, los[b, 0], his[b, 0], max_cells,
            next_row, write, move, offset, t_state[b], t_heads[b], t_read[b], t_write[b], t_move[b])
        heads[b, 0], states[b], steps[b], stops[b], los[b, 0], his[b, 0] = head, row, step, stop, lo, hi


@njit(cache=True, nogil=True)
def _trace_1_serial(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, next_row, write,
                    move, offset, t_state, t_heads, t_read, t_write, t_move):
    """`_trace_1` on the calling thread."""
    for j in range(active.size):
        b = active[j]
        head, row, step, lo, hi, stop = _trace_loop_1(
            tapes[b, 0], heads[b, 0], states[b], steps[b], max_steps, los[b, 0], his[b, 0], max_cells,
            next_row, write, move, offset, t_state[b], t_heads[b], t_read[b], t_write[b], t_move[b])
        heads[b, 0], states[b], steps[b], stops[b], los[b, 0], his[b, 0] = head, row, step, stop, lo, hi


@njit(cache=True)
def _trace_loop_k(tape, head, state, step, max_steps, lo, hi, max_cells, edge, row_ptr, reads, next_state,
                  writes, moves, offset, t_state, t_heads, t_read, t_write, t_move):
    """`_loop_k`, recording every step taken and the configuration it stops in (at index step)."""
    k = tape.shape[0]
    read = np.empty(k, tape.dtype)
    used = 0
    for j in range(k):
        used += hi[j] - lo[j] + 1
    stop = 0
    while step < max_steps:
        base = state * edge
        if row_ptr[base] == row_ptr[base + edge]:  # a halting state: stop before reading
            stop = STOP
            break
        for j in range(k):
            read[j] = tape[j, head[j]]
            if read[j] == edge:
                stop = EDGE
                break
        if stop == EDGE:
            break
        t = _find(reads, row_ptr[base + read[0]], row_ptr[base + read[0] + 1], read)
        if t < 0:
            stop = STOP
            break
        used = _claim_k(head, moves[t], lo, hi, used, max_cells)
        if used < 0:
            stop = CELL
            break
        t_state[step] = state
        for j in range(k):
            t_heads[step, j], t_read[step, j] = head[j] - offset, read[j]
            t_write[step, j], t_move[step, j] = writes[t, j], moves[t, j]
            tape[j, head[j]] = writes[t, j]
            head[j] += moves[t, j]
        state = next_state[t]
        step += 1
    t_state[step] = state
    for j in range(k):
        t_heads[step, j] = head[j] - offset
    return state, step, stop


@njit(cache=True, parallel=True)
def _trace_k(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, edge, row_ptr, reads,
             next_state, writes, moves, offset, t_state, t_heads, t_read, t_write, t_move):
    """`_run_k` with `_trace_loop_k`: run b records into t_*[b]."""
    for j in prange(active.size):
        b = active[j]
        state, step, stop = _trace_loop_k(
            tapes[b], heads[b], states[b], steps[b], max_steps, los[b], his[b], max_cells, edge, row_ptr,
            reads, next_state, writes, moves, offset, t_state[b], t_heads[b], t_read[b], t_write[b], t_move[b])
        states[b], steps[b], stops[b] = state, step, stop


@njit(cache=True, nogil=True)
def _trace_k_serial(tapes, heads, states, steps, stops, los, his, active, max_steps, max_cells, edge, row_ptr,
                    reads, next_state, writes, moves, offset, t_state, t_heads, t_read, t_write, t_move):
    """`_trace_k` on the calling thread."""
    for j in range(active.size):
        b = active[j]
        state, step, stop = _trace_loop_k(
            tapes[b], heads[b], states[b], steps[b], max_steps, los[b], his[b], max_cells, edge, row_ptr,
            reads, next_state, writes, moves, offset, t_state[b], t_heads[b], t_read[b], t_write[b], t_move[b])
        states[b], steps[b], stops[b] = state, step, stop


# The serial twins are copies, not `njit(parallel=False)` of the same functions: numba's on-disk cache
# keys a function by its name, bytecode and signature, not its flags, so the two would share entries.
_SERIAL = (_run_1_serial, _run_k_serial, _trace_1_serial, _trace_k_serial)


# ---------------------------------------------------------------- traces
#: default bound on the trace arrays of one `run_batch(..., trace=True)` call, in bytes
DEFAULT_MAX_TRACE_BYTES = 512 * 2 ** 20
#: trace capacity (steps) allocated first; it doubles as runs get longer (amortised O(1) a step).
#: Small, because the buffers are paged in on first touch: a 1,024-run batch of ~80 steps took
#: 2.8 ms traced from 64, 4.9 ms from 256 and 6.4 ms from 512 (plain: 1.9 ms).
_TRACE_START = 64


class Step(NamedTuple):
    """One transition of a run, by name: the state it was taken in, each head's position
    before it, the symbols read and written and each head's move ("L", "S" or "R"); k-tuples
    for k tapes (one-tuples for one tape)."""
    step: int
    state: str
    heads: tuple[int, ...]
    read: tuple[str, ...]
    write: tuple[str, ...]
    move: tuple[str, ...]


def trace_step_bytes(cm: CompiledMachine) -> int:
    """Bytes of trace per step per run: state 4 (int32) + heads 4k (int32) + read and write
    s·k each (s = 1 for uint8 tapes, 4 for int32) + move k (int8) + mask 1 (bool). One tape,
    |Γ| < 255: 12 bytes; k tapes: 5 + 5k + 2sk."""
    s = np.dtype(cm.tape_dtype).itemsize
    return 5 + cm.tapes * (5 + 2 * s)


@dataclass(frozen=True, eq=False)
class BatchTrace:
    """Every step of B runs of one machine, as integer arrays (S = the longest run's steps,
    steps counted as in `turing.run`; run b's real steps are t < steps[b]).

    Attributes:
        compiled: the `CompiledMachine` that ran (codes -> names: ``compiled.states``,
            ``compiled.symbols``).
        steps: (B,) int64, transitions taken (= `BatchResult.steps`).
        state: (B, S+1) int32, the state code before step t; at t = steps[b] the final state.
        heads: (B, S+1, k) int32, each head's tape position before step t (input at 0..n-1);
            at t = steps[b] the final positions.
        read, write: (B, S, k) symbol codes (the tapes' dtype, uint8 or int32) read and
            written at step t.
        move: (B, S, k) int8, each head's move at step t: -1 (L), 0 (S), +1 (R).
        mask: (B, S) bool, True for real steps (t < steps[b]).
    Entries past a run's end are 0. The arrays are views of buffers of up to twice S steps
    (`trace_step_bytes` bytes a step a run, the whole buffers bounded by max_trace_bytes).
    """
    compiled: CompiledMachine
    steps: np.ndarray
    state: np.ndarray
    heads: np.ndarray
    read: np.ndarray
    write: np.ndarray
    move: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays shown (not of the buffers behind them)."""
        return sum(a.nbytes for a in (self.state, self.heads, self.read, self.write, self.move, self.mask))

    def __repr__(self) -> str:
        return (f"BatchTrace({len(self)} runs of {self.compiled.machine.name or 'machine'!r}, "
                f"{self.compiled.tapes} tape(s): {self.mask.shape[1]} steps at most, "
                f"{int(self.steps.sum())} in all; {self.nbytes / 1e6:.2f} MB)")

    def transitions(self, b: int) -> list[Step]:
        """Run b's steps by name, one `Step` per transition (steps[b] of them): what
        `turing.trace` shows between configuration t and t+1. The configuration after the
        last is ``state[b, steps[b]]``, ``heads[b, steps[b]]``."""
        n, cm = int(self.steps[b]), self.compiled
        sym, names = cm.symbols, cm.states
        rows = zip(self.state[b, :n].tolist(), self.heads[b, :n].tolist(), self.read[b, :n].tolist(),
                   self.write[b, :n].tolist(), self.move[b, :n].tolist())
        return [Step(t, names[q], tuple(h), tuple(sym[a] for a in r), tuple(sym[a] for a in w),
                     tuple("LSR"[d + 1] for d in m))
                for t, (q, h, r, w, m) in enumerate(rows)]


class _Recorder:
    """The trace buffers of a batch while it runs: C steps of capacity, doubled on demand
    within max_trace_bytes (and below 2**31 steps: heads are int32)."""

    def __init__(self, cm: CompiledMachine, B: int, max_steps: int, max_bytes: int):
        self.cm, self.B, self.max_bytes = cm, B, max_bytes
        per_step, fixed = trace_step_bytes(cm), 4 + 4 * cm.tapes  # the (S+1)-th entry of state, heads
        fits = (max_bytes // max(B, 1) - fixed) // per_step
        self.most = min(int(max_steps), fits, 2 ** 31 - 2)
        if self.most < 0:
            self._refuse(0)
        self.arrays = self._alloc(min(_TRACE_START, self.most))

    @property
    def capacity(self) -> int:
        return self.arrays[2].shape[1]  # read: (B, C, k)

    def _alloc(self, C: int) -> tuple[np.ndarray, ...]:
        B, k, dt = self.B, self.cm.tapes, self.cm.tape_dtype
        # in the traced loops' order: state, heads, read, write, move
        return (np.zeros((B, C + 1), np.int32), np.zeros((B, C + 1, k), np.int32), np.zeros((B, C, k), dt),
                np.zeros((B, C, k), dt), np.zeros((B, C, k), np.int8))

    def _refuse(self, steps: int):
        per = trace_step_bytes(self.cm)
        need = self.B * (steps + 2) * per
        raise TraceLimitError(
            f"tracing {self.B} runs past {steps:,} steps needs more than {need / 2 ** 20:,.1f} MiB "
            f"({per} bytes a step a run), over max_trace_bytes = {self.max_bytes:,}: raise it, "
            f"or lower max_steps or the batch size")

    def grow(self):
        """Double the capacity (at most to `most`); raise TraceLimitError when it cannot grow."""
        C = self.capacity
        if C >= self.most:
            self._refuse(C)
        grown = self._alloc(min(2 * C, self.most))
        for old, new in zip(self.arrays, grown):
            new[:, :old.shape[1]] = old
        self.arrays = grown

    def finish(self, steps: np.ndarray) -> BatchTrace:
        """The `BatchTrace` of runs that took `steps` (B,) steps (1-tape state rows -> codes)."""
        state, heads, read, write, move = self.arrays
        S = int(steps.max()) if steps.size else 0
        if self.cm.tapes == 1:
            state //= self.cm.width
        mask = np.arange(S)[None, :] < steps[:, None]
        return BatchTrace(self.cm, steps.copy(), state[:, :S + 1], heads[:, :S + 1], read[:, :S],
                          write[:, :S], move[:, :S], mask)

# ---------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class BatchResult:
    """The ends of B runs of one machine, as arrays.

    Attributes:
        compiled: the `CompiledMachine` that ran.
        status: (B,) int8, an index into `STATUSES` (`statuses()` gives the `Status` values).
        steps: (B,) int64, transitions taken.
        states: (B,) int64, the final state codes (names in ``compiled.states``).
        heads: (B, k) int64, head positions (input starts at position 0).
        tapes: (B, k, L) symbol codes (names in ``compiled.symbols``); position p is at index
            ``p + offset``; every cell outside the buffer is blank.
        offset: the buffer index of position 0.
        trace: with ``run_batch(..., trace=True)``, every step as a `BatchTrace`; else None.
    """
    compiled: CompiledMachine
    status: np.ndarray
    steps: np.ndarray
    states: np.ndarray
    heads: np.ndarray
    tapes: np.ndarray
    offset: int
    trace: BatchTrace | None = None

    def __len__(self) -> int:
        return len(self.status)

    def __repr__(self) -> str:
        """A one-line summary (the arrays can hold millions of cells; `results()` gives each run)."""
        counts = {}
        for s in self.statuses():
            counts[str(s)] = counts.get(str(s), 0) + 1
        steps = f", steps {int(self.steps.min())}..{int(self.steps.max())}" if len(self) else ""
        return (f"BatchResult({len(self)} runs of {self.compiled.machine.name or 'machine'!r}: "
                f"{', '.join(f'{n} {s}' for s, n in counts.items())}{steps}; tapes {tuple(self.tapes.shape)})")

    def statuses(self) -> list[Status]:
        return [STATUSES[s] for s in self.status]

    def spans(self, tape: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """Buffer indices ``lo, hi`` (B,) each: run b's tape `tape` with outer blanks trimmed is
        ``tapes[b, tape, lo[b]:hi[b]]`` (lo = hi = 0 for a blank tape)."""
        nonblank = self.tapes[:, tape] != self.compiled.blank  # (B, L)
        L, any_ = nonblank.shape[1], nonblank.any(axis=1)
        lo = np.where(any_, nonblank.argmax(axis=1), 0)
        hi = np.where(any_, L - nonblank[:, ::-1].argmax(axis=1), 0)
        return lo, hi

    def _trimmed(self, tape: int) -> list[tuple[tuple[str, ...], int]]:
        """Each run's tape `tape` as (symbols, origin), as in `RunResult`."""
        lo, hi = self.spans(tape)
        decode = _symbol_array(self.compiled.symbols)
        cells = self.tapes[:, tape]
        return [(tuple(decode[cells[b, l:h]].tolist()), l - self.offset if h > l else 0)
                for b, (l, h) in enumerate(zip(lo.tolist(), hi.tolist()))]

    def result(self, i: int) -> RunResult:
        """Run i as the `RunResult` that `turing.run` gives."""
        return self._results(np.array([i]))[0]

    def results(self) -> list[RunResult]:
        return self._results(np.arange(len(self)))

    def _results(self, which: np.ndarray) -> list[RunResult]:
        part = BatchResult(self.compiled, self.status[which], self.steps[which], self.states[which],
                           self.heads[which], self.tapes[which], self.offset)
        cm = part.compiled
        per_tape = [part._trimmed(j) for j in range(cm.tapes)]  # [tape][run]
        return [RunResult(STATUSES[status], steps, cm.states[state],
                          tuple(t[b][0] for t in per_tape), tuple(t[b][1] for t in per_tape),
                          tuple(heads), cm.machine.blank)
                for b, (status, steps, state, heads) in enumerate(zip(
                    part.status.tolist(), part.steps.tolist(), part.states.tolist(), part.heads.tolist()))]

    def outputs(self) -> list[tuple[str, ...]]:
        """Each run's last tape, outer blanks trimmed (= ``RunResult.output``)."""
        return [cells for cells, _ in self._trimmed(-1)]

    def output_codes(self, tape: int = -1) -> list[np.ndarray]:
        """Each run's tape `tape` (default the last), outer blanks trimmed, as symbol codes:
        a list of B int64 arrays of varying length (codes index ``compiled.symbols``)."""
        lo, hi = self.spans(tape)
        cells = self.tapes[:, tape].astype(np.int64)
        return [cells[b, l:h] for b, (l, h) in enumerate(zip(lo.tolist(), hi.tolist()))]


@functools.lru_cache(maxsize=128)
def _symbol_array(symbols: tuple) -> np.ndarray:
    """code -> symbol as an object array, so that ``array[codes]`` decodes a whole tape."""
    arr = np.empty(len(symbols), object)
    arr[:] = symbols
    return arr


# ---------------------------------------------------------------- running
def _as_compiled(machine: Machine | CompiledMachine) -> CompiledMachine:
    return machine if isinstance(machine, CompiledMachine) else compile(machine)


def _start(cm: CompiledMachine, inputs, lengths) -> tuple[np.ndarray, int, np.ndarray]:
    """Tape buffers (B, k, L) holding each input on tape 0 from position 0, the offset, and
    the input lengths (B,)."""
    if isinstance(inputs, np.ndarray):
        codes, lengths = _check_codes(cm, inputs, lengths)
    else:
        codes, lengths = _encode(cm, inputs)
    B, n = codes.shape
    offset = 1 + _MARGIN
    tapes = np.full((B, cm.tapes, offset + n + max(_MARGIN, n) + 1), cm.blank, cm.tape_dtype)
    tapes[:, :, 0] = tapes[:, :, -1] = cm.edge
    tapes[:, 0, offset:offset + n] = np.where(np.arange(n) < lengths[:, None], codes, cm.blank)
    return tapes, offset, lengths


def _encode(cm: CompiledMachine, words: list) -> tuple[np.ndarray, np.ndarray]:
    """Words of symbols -> codes (B, n) (padded with blanks) and lengths (B,).

    Raises:
        InputError: from `as_word`, so with the reference's message.
    """
    code = cm.input_codes
    try:
        flat = [code[a] for w in words for a in w]
    except (KeyError, TypeError):
        flat = None
    if flat is None:  # a bad symbol: let the reference name it
        for w in words:
            as_word(cm.machine, w)
    lengths = np.array([len(w) for w in words], np.int64)
    codes = np.full((len(words), int(lengths.max()) if len(words) else 0), cm.blank, cm.tape_dtype)
    # symbol i of word b goes to codes[b, i]
    rows = np.repeat(np.arange(len(words)), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    codes[rows, cols] = np.array(flat, cm.tape_dtype)
    return codes, lengths


def _check_codes(cm: CompiledMachine, codes: np.ndarray, lengths) -> tuple[np.ndarray, np.ndarray]:
    """Check words given as codes (B, n) with optional lengths (B,).

    Raises:
        ValueError: codes is not 2-D, or a length is outside [0, n] or of the wrong shape.
        InputError: a code within a word is not an input symbol's (from `as_word` when it is a
            tape symbol's, so with the reference's message).
    """
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"input codes must be a 2-D integer array (B, n), got {codes.dtype} {codes.shape}")
    B, n = codes.shape
    lengths = np.full(B, n, np.int64) if lengths is None else np.asarray(lengths, np.int64)
    if lengths.shape != (B,) or (B and (lengths.min() < 0 or lengths.max() > n)):
        raise ValueError(f"lengths must be (B,) = ({B},) integers in [0, {n}]")
    inside = np.arange(n) < lengths[:, None]
    known = (codes >= 0) & (codes < len(cm.symbols))
    ok = known & cm.is_input[np.where(known, codes, 0)]
    bad = np.argwhere(inside & ~ok)
    if bad.size:
        b, i = bad[0]
        if not known[b, i]:
            raise InputError(f"input {b}, position {i}: code {codes[b, i]} is no symbol's "
                             f"(codes are 0..{len(cm.symbols) - 1})")
        as_word(cm.machine, [cm.symbols[c] for c in codes[b, :lengths[b]]])  # raises
    return codes.astype(cm.tape_dtype), lengths


def _grow(cm: CompiledMachine, tapes, heads, offset, stopped, used) -> tuple[np.ndarray, int]:
    """Double the buffers on each side where a head of a run in `stopped` reads a sentinel.
    Shifts `heads` and the used intervals (`used`: arrays like heads) in place; returns the new
    buffers and offset."""
    B, k, L = tapes.shape
    h = heads[stopped]
    more = max(L - 2, 1)
    left = more if (h == 0).any() else 0
    right = more if (h == L - 1).any() else 0
    grown = np.full((B, k, left + L + right), cm.blank, cm.tape_dtype)
    grown[:, :, left + 1:left + L - 1] = tapes[:, :, 1:-1]
    grown[:, :, 0] = grown[:, :, -1] = cm.edge
    heads += left
    for a in used:
        a += left
    return grown, offset + left


def _execute(cm: CompiledMachine, inputs, max_steps: int, lengths=None, max_cells: int = DEFAULT_MAX_CELLS,
             progress: Callable[[int], None] | None = None, max_trace_bytes: int | None = None) -> BatchResult:
    """Run every input; with `max_trace_bytes`, record every step too (`_Recorder`)."""
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    if max_cells < 0:
        raise ValueError(f"max_cells must be >= 0, got {max_cells}")
    limit, cells = np.int64(min(int(max_steps), 2 ** 62)), np.int64(min(int(max_cells), 2 ** 62))
    tapes, offset, lengths = _start(cm, inputs, lengths)
    B, k = tapes.shape[:2]
    run = dict(heads=np.full((B, k), offset, np.int64),
               # the 1-tape loop keeps each state as its row start q*W (see the module docstring)
               states=np.full(B, cm.start * (cm.width if k == 1 else 1), np.int64),
               steps=np.zeros(B, np.int64), stops=np.zeros(B, np.int64))
    run["los"], run["his"] = run["heads"].copy(), run["heads"].copy()  # cells used: lo..hi per tape
    run["his"][:, 0] += np.maximum(lengths - 1, 0)
    rec = None if max_trace_bytes is None else _Recorder(cm, B, int(limit), max_trace_bytes)
    chunk_end = limit if progress is None else min(limit, np.int64(PROGRESS_CHUNK))
    active = np.arange(B, dtype=np.int64)
    first = SERIAL_STEPS // max(B, 1)            # steps a run of the first pass, on this thread
    serial = first >= _SERIAL_MIN and _STEPS_A_RUN.get(cm, 0) <= first
    while True:  # each pass runs the active inputs to `target`: the step limit, a chunk's end or the trace's
        target = chunk_end if rec is None else min(chunk_end, np.int64(rec.capacity))
        if serial:
            target = min(target, np.int64(first))
        tapes, offset = _run_to(cm, tapes, offset, run, active, target, cells, rec, serial)
        serial = False
        active = np.flatnonzero(run["stops"] == 0)  # the runs that reached `target`
        if target >= limit or not active.size:
            break
        if rec is not None and target == rec.capacity:
            rec.grow()
        if target == chunk_end:
            progress(int(run["steps"].max()))
            chunk_end = min(limit, chunk_end + np.int64(PROGRESS_CHUNK))
    states, steps, stops = run["states"], run["steps"], run["stops"]
    if B:
        _STEPS_A_RUN[cm] = float(steps.mean())
    if k == 1:
        states //= cm.width
    tapes[:, :, 0] = tapes[:, :, -1] = cm.blank  # sentinels are blank cells not yet allocated
    kind = cm.halting[states]
    status = np.where(kind >= 0, kind, np.where(stops == CELL, _CELL_LIMIT,
                                                np.where(steps >= limit, _STEP_LIMIT, _NO_TRANSITION)))
    return BatchResult(cm, status.astype(np.int8), steps, states, run["heads"] - offset, tapes, offset,
                       None if rec is None else rec.finish(steps))


def _run_to(cm: CompiledMachine, tapes, offset, run: dict, active, target, cells, rec,
            serial: bool = False) -> tuple[np.ndarray, int]:
    """Run the `active` inputs to `target` steps (the arrays in `run` updated in place), growing
    tapes whenever a head reaches a sentinel; return the tapes and offset. `serial`: on this
    thread (the loops' ``_serial`` twins), else on numba's threads."""
    r, k = run, tapes.shape[1]
    run_1, run_k, trace_1, trace_k = _SERIAL if serial else (_run_1, _run_k, _trace_1, _trace_k)
    while active.size:
        with contextlib.nullcontext() if serial else _PARALLEL:   # only parallel code needs the lock
            if rec is None and k == 1:
                run_1(tapes, r["heads"], r["states"], r["steps"], r["stops"], r["los"], r["his"], active,
                      target, cells, cm.next_row, cm.write, cm.move)
            elif rec is None:
                run_k(tapes, r["heads"], r["states"], r["steps"], r["stops"], r["los"], r["his"], active,
                      target, cells, cm.edge, cm.row_ptr, cm.reads, cm.next_state, cm.writes, cm.moves)
            elif k == 1:
                trace_1(tapes, r["heads"], r["states"], r["steps"], r["stops"], r["los"], r["his"], active,
                        target, cells, cm.next_row, cm.write, cm.move, offset, *rec.arrays)
            else:
                trace_k(tapes, r["heads"], r["states"], r["steps"], r["stops"], r["los"], r["his"], active,
                        target, cells, cm.edge, cm.row_ptr, cm.reads, cm.next_state, cm.writes, cm.moves,
                        offset, *rec.arrays)
        active = active[r["stops"][active] == EDGE]
        if active.size:
            tapes, offset = _grow(cm, tapes, r["heads"], offset, active, (r["los"], r["his"]))
    return tapes, offset


def run_fast(machine: Machine | CompiledMachine, input: Sequence[str] | str = (),
             max_steps: int = DEFAULT_MAX_STEPS, max_cells: int = DEFAULT_MAX_CELLS, *,
             progress: Callable[[int], None] | None = None) -> RunResult:
    """`turing.run`, fast: the same `RunResult` for every machine and input.

    Args:
        machine: a `Machine` (compiled once and cached) or a `CompiledMachine`.
        input: the input word, a sequence of symbols (a str is split into characters).
        max_steps: the step bound.
        max_cells: the space bound, in cells used summed over tapes (as `turing.run`).
        progress: called with the steps taken so far after every `PROGRESS_CHUNK` steps
            (the run then goes in chunks; the result is the same).

    Raises:
        InputError: the input holds a symbol outside the input alphabet.
        ValueError: max_steps < 0 or max_cells < 0.
    """
    return _execute(_as_compiled(machine), [tuple(input)], max_steps, max_cells=max_cells,
                    progress=progress).result(0)


def run_batch(machine: Machine | CompiledMachine, inputs: Sequence[Sequence[str] | str] | np.ndarray,
              max_steps: int = DEFAULT_MAX_STEPS, *, lengths: Sequence[int] | np.ndarray | None = None,
              max_cells: int = DEFAULT_MAX_CELLS, trace: bool = False,
              max_trace_bytes: int = DEFAULT_MAX_TRACE_BYTES) -> BatchResult:
    """Run `machine` on every word of `inputs` (any lengths), in parallel threads.

    ``run_batch(m, ws).result(i) == turing.run(m, ws[i], max_steps)`` for every i. With
    ``trace=True`` the result also holds every step of every run, ``result.trace``, a
    `BatchTrace` of integer arrays recorded inside the numba loop (run b's transitions by name:
    ``result.trace.transitions(b)``, what `turing.trace` shows); the result is the same.

    Args:
        machine: a `Machine` (compiled once and cached) or a `CompiledMachine`.
        inputs: the words, each a sequence of symbols (a str is split into characters); or, to
            skip encoding symbols, an integer array (B, n) of symbol codes (indices into
            ``machine.tape_alphabet``), word b being ``inputs[b, :lengths[b]]``.
        max_steps: the step bound, for every run.
        lengths: (B,) word lengths when `inputs` is an array (default: all n).
        max_cells: the space bound of each run, in cells used summed over its tapes.
        trace: record every step (`BatchTrace`): `trace_step_bytes` bytes a step a run, 12
            for one tape (the trace of 32 runs of 1,000 steps is ~0.4 MB).
        max_trace_bytes: the most the trace buffers may take (default 512 MiB); the buffers
            double as runs get longer, and a run that would need more raises.

    Raises:
        InputError: an input holds a symbol outside the input alphabet.
        ValueError: max_steps < 0, max_cells < 0, or malformed code array or lengths.
        TraceLimitError: with trace=True, the trace would take more than max_trace_bytes.
    """
    if not isinstance(inputs, np.ndarray):
        if lengths is not None:
            raise ValueError("lengths goes with an array of codes, not with words")
        inputs = list(inputs)
    return _execute(_as_compiled(machine), inputs, max_steps, lengths, max_cells,
                    max_trace_bytes=int(max_trace_bytes) if trace else None)
