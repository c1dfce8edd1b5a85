"""The universal task: one model runs *any* machine whose transition table it is given, ``universal``.

A trace task (`tasks.trace`) teaches one model one machine. Here every sample is a different
machine: a random transition table over 2 symbols ('0' the blank, '1') with 2–4 states (the
``states`` option) plus an input (a blank tape, or 1^n), and the model's memory starts with the
table as well as the tape. Model step t is supervised by machine step t, as in the trace tasks.

Machines (`random_tables`, BB-style, numpy, seeded by the batch's rng): each entry δ(q, a) of the
S x 2 table writes a uniform symbol, moves L or R (uniform; no S move, as in the busy-beaver
literature) and goes to the halt state with probability 1/(2S) (so one halting entry is expected per
machine), else to a uniform state. Nothing forces a machine to halt: a run cut at the step
bound (``max_steps``, default 64) is a trace without a stop, exactly as in the trace tasks. Held
out: there are 12^4 = 20,736 tables of 2 states, 16^6 = 1.7e7 of 3 and 20^8 = 2.6e10 of 4, so a
training run of ~20,000 machines sees a good part of the 2-state ones and almost none of the 3- and
4-state machines an evaluation seed draws (and the codes are drawn afresh for every sample); 5- and
6-state machines are new by size.

State codes. A state is named by a code index c in 0..2^bits - 1 (``code_bits``, default 6: 64
codes); code c is the ±1 vector of c's bits (`state_codes`). Code 0 is the halt state (every
halting state of a machine); each sample's other states get distinct codes drawn at random from
1..2^bits - 1, so every bit of a code is exercised in training and a 5- or 6-state machine is
written in the same codes as a 2-state one (no one-hot of the training size).

Memory (`UniversalBatch`; the model lays it out, `ntm.models.universal_ntm`): N tape rows, then T =
2 x (the batch's most states) table rows. The tape rows are the trace tasks' (cell classes: 0 blank,
1 the symbol '1'); a table row holds the entry δ(q, a) as

    key    the code of q (bits columns) and the one-hot of a
    value  the one-hot of the written class, the one-hot of the move (L, S, R), the code of the
           next state (code 0 = halt)

and a machine with fewer states leaves its last rows zero. `UniversalBatch.tape` covers all N + T
rows (the table rows as blanks: the tape head never writes there in an exact run), so the trace
tasks' comparison and objective apply unchanged; ``state`` holds code indices.

Partial tables. A machine given with undefined transitions (bbchallenge's ``---``, as in the
Cryptid Antihydra) runs as its completion (`complete`): an undefined δ(q, a) writes a, stays and goes
to a halt state, the step the bbchallenge convention counts as the halting step. The run, its trace
and the table the model reads are the completion's, so a run that ends on an undefined transition is
one step longer than the partial machine's run in `turing.engine`, which stops before it.

Supervision: the trace tasks' ladder (`tasks.trace.SUPERVISION`); the "trace" level is the one
measured (bench/README.md, "Universal interpreter").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from turing import Machine

from .errors import TaskError
from .trace import _STOPS, SUPERVISION, TraceBatch

SYMBOLS = ("0", "1")          # the tape alphabet: '0' is the blank, '1' the one input symbol
HALT = "Z"                    # the halt state's name in the random machines
HALT_CODE = 0                 # the code of every halting state


def state_codes(bits: int) -> np.ndarray:
    """(2^bits, bits) float32: code c is the ±1 vector of c's bits (least significant first)."""
    c = np.arange(2 ** bits)[:, None] >> np.arange(bits)[None, :]
    return np.where(c & 1, 1.0, -1.0).astype(np.float32)


def state_name(i: int) -> str:
    """A, B, ..., Y, then S25, S26, ..."""
    return chr(65 + i) if i < 25 else f"S{i}"


# ---------------------------------------------------------------- random machines

@dataclass
class Tables:
    """B transition tables over the symbols '0', '1' (numpy; Q = the most states of the batch).

    Attributes:
        states: (B,) int64 each table's states S (rows q >= S are unused).
        write: (B, Q, 2) int64 the class written by δ(q, a).
        move: (B, Q, 2) int64 the move class (0 L, 1 S, 2 R).
        next: (B, Q, 2) int64 the next state, -1 for the halt state.
    """
    states: np.ndarray
    write: np.ndarray
    move: np.ndarray
    next: np.ndarray

    def machine(self, b: int, name: str | None = None) -> Machine:
        """Table b as a `turing.Machine` (states A, B, ... and the halt state Z; start A)."""
        S = int(self.states[b])
        names = [state_name(i) for i in range(S)]
        delta = {(names[q], SYMBOLS[a]): (HALT if self.next[b, q, a] < 0 else names[self.next[b, q, a]],
                                          SYMBOLS[self.write[b, q, a]], "LSR"[self.move[b, q, a]])
                 for q in range(S) for a in range(2)}
        return Machine(states=tuple(names) + (HALT,), input_alphabet=("1",), tape_alphabet=SYMBOLS, blank="0",
                       start="A", delta=delta, halt={HALT}, name=name or f"random{S}")


def random_tables(rng: np.random.Generator, states: np.ndarray) -> Tables:
    """BB-style random tables (module docstring), one per entry of `states` (B,)."""
    states = np.asarray(states, np.int64)
    B, Q = len(states), int(states.max())
    write = rng.integers(0, 2, size=(B, Q, 2))
    move = 2 * rng.integers(0, 2, size=(B, Q, 2))                    # L (0) or R (2)
    nxt = (rng.random((B, Q, 2)) * states[:, None, None]).astype(np.int64)
    halts = rng.random((B, Q, 2)) < 1 / (2 * states[:, None, None])
    return Tables(states, write, move, np.where(halts, -1, nxt))


#: the most tables `all_tables` makes ((4(S+1))^(2S) for S states: 20,736 at S = 2, 1.7e7 at S = 3)
MAX_ENUMERATED = 1_000_000


def check_enumerable(states: int) -> int:
    """The choices per table entry (4 (S + 1)) when `all_tables(states)` can be made, else TaskError:
    `states` below 1, or more than `MAX_ENUMERATED` tables."""
    if isinstance(states, bool) or not isinstance(states, int) or states < 1:
        raise TaskError(f"all_tables: states must be an integer >= 1, got {states!r}")
    per = 4 * (states + 1)
    if per ** (2 * states) > MAX_ENUMERATED:
        raise TaskError(f"all_tables: {states} states make {per ** (2 * states):,} tables, over "
                        f"{MAX_ENUMERATED:,}; draw random ones instead (random_tables)")
    return per


def all_tables(states: int) -> Tables:
    """Every table `random_tables` can draw with `states` states: each of the 2 x S entries writes
    '0' or '1', moves L or R and goes to one of the S states or halts ((4(S+1))^(2S) tables, in
    lexicographic order of (write, move, next) per entry, state A's '0' entry most significant).
    No symmetry is factored out (a mirrored table is another table to the model).

    Raises:
        TaskError: `states` below 1, or more than `MAX_ENUMERATED` tables.
    """
    per, n = check_enumerable(states), 2 * states          # choices per entry, entries
    idx = np.arange(per ** n)[:, None] // per ** np.arange(n - 1, -1, -1)[None, :] % per    # (B, 2S) digits
    write, move, nxt = idx // (2 * (states + 1)), idx // (states + 1) % 2, idx % (states + 1)
    shape = (len(idx), states, 2)
    return Tables(np.full(len(idx), states, np.int64), write.reshape(shape), 2 * move.reshape(shape),
                  np.where(nxt == states, -1, nxt).reshape(shape))


# ---------------------------------------------------------------- the batch

@dataclass
class UniversalBatch(TraceBatch):
    """A `tasks.trace.TraceBatch` of B different machines, with their tables (module docstring).

    Attributes (beyond the trace batch's, whose ``tape``, ``final_tape`` cover the N tape rows and
    the T table rows, and whose ``state`` holds code indices):
        table: (B, T, 5) int64 rows [code of q, class of a, class written, move class, next code];
            unused rows are -1.
        codes: (B, Q+1) int64 the code of each machine state (`Machine.states` order; -1 past the end).
        tape_rows: N, the rows before the table.
        code_bits: the codes' width.
        machines: the B `turing.Machine`s.
    """
    table: np.ndarray = None
    codes: np.ndarray = None
    tape_rows: int = 0
    code_bits: int = 6
    machines: list = None


def _classes(m: Machine) -> dict:
    """Symbol -> cell class (0 the blank, 1 the other symbol)."""
    return {a: 0 if a == m.blank else 1 for a in m.tape_alphabet}


def complete(m: Machine) -> Machine:
    """`m` with every undefined δ(q, a) of a non-halting q set to (halt, a, "S"): write what was read,
    stay, halt (module docstring, "Partial tables"); the halt state is one of m's halting states, or
    a new one named "Z" (primes added until the name is free). `m` itself when δ is total."""
    live = [q for q in m.states if not m.is_halting(q)]
    missing = [(q, a) for q in live for a in m.tape_alphabet if m.transition(q, a) is None]
    if not missing:
        return m
    halts = sorted(m.halt | m.accept | m.reject)
    stop = halts[0] if halts else HALT
    while stop in m.states and not halts:
        stop += "'"
    delta = {**m.delta, **{(q, a): (stop, a, "S") for q, a in missing}}
    return Machine(states=m.states + (() if halts else (stop,)), input_alphabet=m.input_alphabet,
                   tape_alphabet=m.tape_alphabet, blank=m.blank, start=m.start, delta=delta, accept=m.accept,
                   reject=m.reject, halt=m.halt | ({stop} if not halts else set()), name=m.name)


def check_machine(m: Machine, bits: int) -> None:
    """A machine the universal model can be given: one tape, 2 symbols, fewer states than codes
    (undefined transitions are completed: `complete`). Raises TaskError naming what is wrong."""
    if m.tapes != 1 or len(m.tape_alphabet) != 2:
        raise TaskError(f"universal: machine {m.name or '?'} must have one tape and 2 symbols "
                        f"(has {m.tapes} tapes, symbols {m.tape_alphabet})")
    live = [q for q in m.states if not m.is_halting(q)]
    if len(live) >= 2 ** bits:
        raise TaskError(f"universal: machine {m.name or '?'} has {len(live)} states; code_bits={bits} names at most "
                        f"{2 ** bits - 1}")


def machine_batch(machines: list, words: list, rng: np.random.Generator, max_steps: int,
                  supervision: str = "trace", code_bits: int = 6, codes: list | None = None) -> UniversalBatch:
    """Run machine b on word b (the engine, with its trace: one `run_batch` call a machine) and lay
    the B runs out as one `UniversalBatch`; each machine's non-halting states get random distinct
    codes from `rng` (or `codes[b]`: one code per state of ``machine.states``, given). Raises
    TaskError for a machine `check_machine` refuses or a failed run."""
    from turing.engine import STATUSES
    B = len(machines)
    machines = [complete(m) for m in machines]                  # undefined entries: halt (module docstring)
    stop_codes = [STATUSES.index(x) for x in _STOPS]
    codes, runs = _codes_and_runs(machines, words, rng, max_steps, code_bits, codes)
    steps = np.array([int(r.steps[0]) for r in runs], np.int64)
    S = int(steps.max())
    heads = [r.trace.heads[0, :int(r.steps[0]) + 1, 0].astype(np.int64) for r in runs]
    lens = np.array([len(w) for w in words], np.int64)
    lo = min(0, min(int(h.min()) for h in heads)) - 1
    hi = max(int(lens.max()) - 1, max(int(h.max()) for h in heads)) + 1
    N = hi - lo + 1
    rows = [[(q, a) for q in m.states if not m.is_halting(q) for a in m.tape_alphabet] for m in machines]
    T = max(len(r) for r in rows)
    table = np.full((B, T, 5), -1, np.int64)
    tape = np.zeros((B, 1, N + T), np.int64)
    final = np.zeros((B, 1, N + T), np.int64)
    head = np.zeros((B, S + 1, 1), np.int64)
    state = np.zeros((B, S + 1), np.int64)
    read, write, move = (np.zeros((B, S, 1), np.int64) for _ in range(3))
    stopped = np.zeros(B, bool)
    for b, (m, w, r) in enumerate(zip(machines, words, runs)):
        cls, s = _classes(m), int(steps[b])
        sym = np.array([cls[a] for a in r.compiled.symbols], np.int64)
        qi = {q: i for i, q in enumerate(m.states)}
        for j, (q, a) in enumerate(rows[b]):
            act = m.transition(q, a)
            table[b, j] = (codes[b, qi[q]], cls[a], cls[act.write], "LSR".index(act.move), codes[b, qi[act.next_state]])
        tape[b, 0, np.arange(len(w)) - lo] = [cls[a] for a in w]
        idx = np.arange(N) + lo + r.offset
        inside = (idx >= 0) & (idx < r.tapes.shape[2])
        final[b, 0, :N][inside] = sym[r.tapes[0, 0, idx[inside]]]
        head[b, :s + 1, 0] = heads[b] - lo
        head[b, s + 1:, 0] = head[b, s, 0]
        state[b, :s + 1] = codes[b, r.trace.state[0, :s + 1].astype(np.int64)]
        read[b, :s, 0] = sym[r.trace.read[0, :s, 0]]
        write[b, :s, 0] = sym[r.trace.write[0, :s, 0]]
        move[b, :s, 0] = r.trace.move[0, :s, 0].astype(np.int64) + 1
        stopped[b] = int(r.status[0]) in stop_codes
    return UniversalBatch(tape=tape, final_tape=final, heads=head, state=state, read=read, write=write, move=move,
                          steps=steps, stopped=stopped, origin=lo, lengths=lens, input_symbols=list(words),
                          supervision=supervision, table=table, codes=codes, tape_rows=N, code_bits=code_bits,
                          machines=list(machines))


def _codes_and_runs(machines: list, words: list, rng: np.random.Generator, max_steps: int, code_bits: int,
                    given: list | None) -> tuple[np.ndarray, list]:
    """(codes (B, Q_max): each machine's state codes, random distinct ones for its non-halting states
    or `given[b]`, HALT_CODE for its halting ones, -1 past its states; the engine's traced run of
    machine b on word b). Raises TaskError as `machine_batch` says."""
    from turing import engine
    from turing.errors import TuringError
    codes = np.full((len(machines), max(len(m.states) for m in machines)), -1, np.int64)
    runs = []
    for b, (m, w) in enumerate(zip(machines, words)):
        check_machine(m, code_bits)
        live = [i for i, q in enumerate(m.states) if not m.is_halting(q)]
        codes[b, :len(m.states)] = HALT_CODE
        codes[b, live] = 1 + rng.choice(2 ** code_bits - 1, size=len(live), replace=False)
        if given is not None:
            codes[b, :len(given[b])] = given[b]             # a completion's new halt state keeps HALT_CODE
        try:
            runs.append(engine.run_batch(m, [w], max_steps=max_steps, trace=True))
        except TuringError as e:
            raise TaskError(f"universal: machine {m.name or b}: {e}") from None
    return codes, runs


# ---------------------------------------------------------------- the task

class UniversalTask:
    """``universal``: run any machine from its transition table in memory (module docstring).

    Args:
        states: (min, max) states of the random machines (default 2–4).
        supervision: the ladder's level (`tasks.trace.SUPERVISION`).
        train_lengths: (min, max) input lengths n, the input being 1^n (default 0–3; 0 is the blank tape).
        max_length: the longest n accepted.
        max_steps: the step bound of every run (default 64).
        code_bits: the width of the state codes (default 6: 63 states and the halt code).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "trace"
    online = False
    from_machine = True
    machine = None          # no single machine: `ntm.analysis.trace_compare.samples_within` asks

    def __init__(self, states=(2, 4), supervision: str = "trace", train_lengths=(0, 3), max_length: int = 64,
                 max_steps: int = 64, code_bits: int = 6, name: str | None = None):
        from .task import check_range
        self.name = name or "universal"
        if supervision not in SUPERVISION:
            raise TaskError(f"{self.name}: supervision must be one of {', '.join(SUPERVISION)}, got {supervision!r}")
        self.supervision = supervision
        self.states = check_range(self.name, "states", states, lowest=1)
        self.train_lengths = check_range(self.name, "train_lengths", train_lengths, lowest=0)
        self.min_length, self.max_length = 0, int(max_length)
        for what, v, lo in (("max_steps", max_steps, 1), ("code_bits", code_bits, 2)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise TaskError(f"{self.name}: {what} must be an integer >= {lo}, got {v!r}")
        self.max_steps, self.code_bits = max_steps, code_bits
        if self.states[1] >= 2 ** code_bits:
            raise TaskError(f"{self.name}: {self.states[1]} states need code_bits > {code_bits}")
        self.machine_label = f"random tables, {self.states[0]}-{self.states[1]} states, 2 symbols"
        self.input_size = 1 + 2 * code_bits + 7      # the memory row: tape, key (code, a), value (b, move, code)
        self.output_size = 2 ** code_bits            # the state output's classes: the codes

    def model_options(self) -> dict:
        return {"code_bits": self.code_bits}

    def describe(self) -> dict:
        return {"name": self.name, "machine": self.machine_label, "from_machine": True, "input_size": self.input_size,
                "output_size": self.output_size, "loss": "trace", "supervision": self.supervision,
                "states": tuple(self.states), "train_lengths": tuple(self.train_lengths),
                "max_length": self.max_length, "max_steps": self.max_steps}

    def __repr__(self):
        return (f"UniversalTask(name={self.name!r}, states={tuple(self.states)}, supervision={self.supervision!r}, "
                f"max_steps={self.max_steps})")

    def bound(self, n: int) -> int:
        return self.max_steps

    def check_lengths(self, batch_size: int, lengths) -> np.ndarray:
        from .task import Task
        return Task.check_lengths(self, batch_size, lengths)

    def _max_length_reason(self) -> str:
        return "pass max_length= to raise it"

    def sample(self, rng: np.random.Generator, batch_size: int, lengths, *, with_trace: bool = True) -> UniversalBatch:
        """B random machines (sizes uniform in `states`), inputs 1^n, their runs as one batch."""
        if not isinstance(rng, np.random.Generator):
            raise TaskError(f"{self.name}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        ns = self.check_lengths(batch_size, lengths)
        tables = random_tables(rng, rng.integers(self.states[0], self.states[1] + 1, size=batch_size))
        machines = [tables.machine(b) for b in range(batch_size)]
        words = [("1",) * int(n) for n in ns]
        return machine_batch(machines, words, rng, self.max_steps, self.supervision, self.code_bits)

    def eval_batch(self, length: int, batch_size: int = 256) -> UniversalBatch:
        """The fixed evaluation batch at `length` (seeded by crc32 of the name, sizes and length; cached)."""
        from .task import fixed_batch
        return fixed_batch(self, f"{self.name}/{self.states}/{int(length)}", length, batch_size, keep=8)

    def with_supervision(self, supervision: str) -> "UniversalTask":
        return UniversalTask(self.states, supervision, self.train_lengths, self.max_length, self.max_steps,
                             self.code_bits, self.name)
