"""Trace tasks: learn a machine's *step* from its execution trace, ``trace:MACHINE``.

Every other task supervises the final output only. Here the model's memory starts holding the
input tape and model step t is supervised by machine step t (Neural Programmer-Interpreters learn
from program traces, CLRS from an algorithm's "hints"; this is the same idea for a Turing machine):

    memory   one row per tape cell, the cells the run touches plus one blank row on each side;
             a row holds one block per tape (k blocks for k tapes), each the cell's symbol coded
             as `ntm compile` codes it (one-hot over the non-blank symbols Γ \\ {blank}, the blank
             the zero vector), so learned and compiled machines share one memory layout
    heads    one per tape, starting on the machine's head (input cell 0)
    step t   targets: the state after the step, the symbol each head writes, each head's move
             (L, S, R), and a stop flag (1 on the configuration where the run stops: halted,
             accepted, rejected or no transition; a run cut at the step bound never stops)
    output   the tapes at the stop, read back from memory, every row

The **supervision ladder** (the task's ``supervision`` option) says which of these the loss sees:

    trace    state, writes, moves, stop
    writes   writes, moves, stop          (the state is the controller's to infer)
    moves    moves, stop, and the final tapes
    output   the final tapes only         (the model is told the machine's step count)

A batch holds the engine's trace arrays (`turing.engine.run_batch(..., trace=True)`) re-coded
for the model: numpy, compact, (B, S) / (B, S, k); no per-step Python. Cell classes: 0 is the
blank, c >= 1 is non-blank symbol c - 1 of the machine's tape alphabet (its own order).

Inputs: uniform words over Σ for any machine, except where a library machine reads a structured
input: binary_add and binary_add_le (one '+', as `tasks.chomsky.BinaryAddition`), repeat_copy
(w # *^k, k in 1..3), palindrome (half the batch palindromes, else random words are rejected after
a few steps). A word
that a machine does not handle is still a run to learn from: it stops with no transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turing import Machine, Status, library

from .errors import TaskError

SUPERVISION = ("trace", "writes", "moves", "output")
MOVES = ("L", "S", "R")  # move class m is a shift by m - 1 (ntm.models.memory.shift's order)
PREFIX = "trace:"

#: library defaults a trace task overrides (8-bit data gives 257 symbols: fine for the output
#: tasks' bit vectors, a needlessly wide memory row for a trace)
_MACHINE_DEFAULTS = {"copy": {"width": 2}, "repeat_copy": {"width": 2}}
#: training lengths where the default (1, 8) does not apply: the busy beavers start on a blank tape
_BLANK_START = {"bb2", "bb3", "bb4", "bb5", "antihydra", "hydra", "loop"}
_STOPS = (Status.HALTED, Status.ACCEPTED, Status.REJECTED, Status.NO_TRANSITION)


@dataclass
class TraceBatch:
    """One batch of a trace task (numpy arrays; S = the longest run's steps, N = memory rows).

    Attributes:
        tape: (B, k, N) int64 cell classes at the start (row r is tape position r + origin).
        final_tape: (B, k, N) int64 cell classes where the run stopped (or was cut).
        heads: (B, S+1, k) int64 each head's row before step t (at t = steps[b], the last).
        state: (B, S+1) int64 the state code before step t (`machine.states` order).
        read: (B, S, k) int64 the cell class each head reads at step t.
        write: (B, S, k) int64 the cell class each head writes at step t.
        move: (B, S, k) int64 each head's move class at step t (0 L, 1 S, 2 R).
        steps: (B,) int64 transitions the machine took (within the bound).
        stopped: (B,) bool the run stopped by itself (False: cut at the step bound).
        origin: the tape position of memory row 0 (the same for every sample of the batch).
        lengths: (B,) int64 the task lengths n; input_symbols: the B machine input words.
        supervision: the ladder's level (`SUPERVISION`).
    """
    kind = "trace"     # `ntm.models.predict` sends a trace batch to the model's `run`
    online = False

    tape: np.ndarray
    final_tape: np.ndarray
    heads: np.ndarray
    state: np.ndarray
    read: np.ndarray
    write: np.ndarray
    move: np.ndarray
    steps: np.ndarray
    stopped: np.ndarray
    origin: int
    lengths: np.ndarray
    input_symbols: list
    supervision: str

    @property
    def batch_size(self) -> int:
        return len(self.steps)

    @property
    def rows(self) -> int:
        """N, the memory rows."""
        return self.tape.shape[2]

    @property
    def machine_steps(self) -> np.ndarray:
        return self.steps

    @property
    def halt(self) -> np.ndarray:
        """(B, S+1) float32: 1 at t = steps[b] for a run that stopped, else 0."""
        S = self.state.shape[1] - 1
        return ((np.arange(S + 1)[None, :] == self.steps[:, None]) & self.stopped[:, None]).astype(np.float32)

    def step_mask(self) -> np.ndarray:
        """(B, S) bool: t < steps[b], the real transitions."""
        return np.arange(self.write.shape[1])[None, :] < self.steps[:, None]

    def halt_mask(self) -> np.ndarray:
        """(B, S+1) bool: t <= steps[b], the configurations whose stop flag is known."""
        return np.arange(self.state.shape[1])[None, :] <= self.steps[:, None]

    def to(self, device) -> "TraceBatch":
        """Itself: the arrays stay numpy; the model moves what each step needs."""
        return self


class TraceTask:
    """``trace:MACHINE``: learn MACHINE's step from its trace (module docstring).

    Args:
        machine: a library name (``binary_add``), a machine file (``path/to/m.yaml``, any
            format `turing.load` reads), or a `turing.Machine` (Python use; named by its name).
        supervision: the ladder's level, one of `SUPERVISION`.
        train_lengths: (min, max) input lengths n (default 1–8; 0–0 for machines that start on a
            blank tape, the busy beavers); at most max_length.
        max_length: the longest n accepted (evaluation goes to 64x the training lengths).
        machine_params: the library builder's parameters (e.g. ``{"width": 2}`` for copy).
        definition: the machine as JSON text, which then replaces the file (a run keeps it).
        max_steps: the step bound of every run (None: 16 (n + 2)^2 + 1,000); a run cut there is
            still a trace to learn from, with no stop.
        name: the registry name (default ``trace:MACHINE``; seeds `eval_batch`).

    Raises:
        TaskError: an unknown machine or file, a bad option.
    """
    loss_kind = "trace"
    online = False
    from_machine = True

    def __init__(self, machine: str, supervision: str = "trace", train_lengths=None, max_length: int = 4096,
                 machine_params: dict | None = None, max_steps: int | None = None, name: str | None = None,
                 definition: str | None = None):
        from .task import check_range
        given = machine if isinstance(machine, Machine) else None
        machine = given.name or "machine" if given is not None else machine
        self.name = name or PREFIX + str(machine)
        if supervision not in SUPERVISION:
            raise TaskError(f"{self.name}: supervision must be one of {', '.join(SUPERVISION)}, got {supervision!r}")
        self.supervision, self.spec = supervision, str(machine)
        self.machine_params = dict(_MACHINE_DEFAULTS.get(self.spec, {}), **(machine_params or {}))
        self._given = given
        self.definition = definition
        self.machine = given or _load_machine(self.spec, self.machine_params, self.name, definition)
        self.from_library = given is None and definition is None and self.spec in library.names()
        # the empty input: the busy beavers' (a blank tape), and any machine file's; a library
        # transducer's inputs start at one symbol (binary_add's at "+" alone: both operands empty)
        self.min_length = 0 if self.spec in _BLANK_START or not self.from_library else 1
        default = (0, 0) if self.spec in _BLANK_START else (1, 8)
        self.max_length = int(max_length)
        self.train_lengths = check_range(self.name, "train_lengths", train_lengths or default, lowest=self.min_length)
        if self.train_lengths[1] > self.max_length:
            raise TaskError(f"{self.name}: train_lengths go to {self.train_lengths[1]}, above max_length "
                            f"{self.max_length} (raise it: [task_params] max_length in a --config file)")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise TaskError(f"{self.name}: max_steps must be a positive integer or absent, got {max_steps!r}")
        self.max_steps = max_steps
        m = self.machine
        self.symbols = tuple(a for a in m.tape_alphabet if a != m.blank)      # column order (ntm compile's)
        self.width = max(1, len(self.symbols))
        self.tapes, self.states = m.tapes, m.states
        self.input_size = self.tapes * self.width       # M, the memory's row width
        self.output_size = len(m.states)                 # the state classifier's classes
        self.machine_label = self.spec if self.spec.startswith(("/", ".")) or "/" in self.spec else f"library:{self.spec}"

    # ------------------------------------------------ what the model needs
    def model_options(self) -> dict:
        """The sizes a trace model takes from the machine: cell classes |Γ|, states |Q|, tapes k."""
        return {"symbols": self.width + 1, "states": len(self.states), "tapes": self.tapes}

    def describe(self) -> dict:
        return {"name": self.name, "machine": self.machine_label, "from_machine": True,
                "input_size": self.input_size, "output_size": self.output_size, "loss": "trace",
                "supervision": self.supervision, "train_lengths": tuple(self.train_lengths),
                "max_length": self.max_length}

    def __repr__(self):
        return f"TraceTask(name={self.name!r}, supervision={self.supervision!r}, tapes={self.tapes})"

    def bound(self, n: int) -> int:
        """The step bound at input length n."""
        return self.max_steps if self.max_steps is not None else 16 * (n + 2) ** 2 + 1_000

    # ------------------------------------------------ sampling
    def check_lengths(self, batch_size: int, lengths) -> np.ndarray:
        from .task import Task
        return Task.check_lengths(self, batch_size, lengths)

    def _max_length_reason(self) -> str:
        return "pass max_length= to raise it"

    def sample(self, rng: np.random.Generator, batch_size: int, lengths, *, with_trace: bool = True) -> TraceBatch:
        """A batch of `batch_size` runs: draw inputs, run the machine with the batched engine
        recording every step, lay the tapes out as memory rows.

        Raises:
            TaskError: bad batch size or lengths, or a trace over the engine's trace limit.
        """
        from turing import engine
        from turing.errors import TuringError
        if not isinstance(rng, np.random.Generator):
            raise TaskError(f"{self.name}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        ns = self.check_lengths(batch_size, lengths)
        words = draw_words(self.spec, self.machine, rng, ns)
        try:
            result = engine.run_batch(self.machine, words, max_steps=self.bound(int(ns.max())), trace=True)
        except TuringError as e:
            raise TaskError(f"{self.name}: {e}") from None
        return self._batch(result, words, ns)

    def _batch(self, result, words, ns) -> TraceBatch:
        """The engine's result re-coded as memory rows and cell classes."""
        tr, cm = result.trace, result.compiled
        cls, in_cls = self._classes(cm.symbols)                             # engine code -> class
        steps = np.asarray(tr.steps, np.int64)
        S = tr.mask.shape[1]
        known = np.arange(S + 1)[None, :] <= steps[:, None]                 # (B, S+1)
        pos = np.where(known[..., None], tr.heads, 0)
        lo = min(0, int(pos.min())) - 1
        hi = max(int(ns.max()) - 1, int(np.where(known[..., None], tr.heads, -1).max())) + 1
        N = hi - lo + 1
        B, k = len(words), self.tapes
        tape = np.zeros((B, k, N), np.int64)
        lens = np.fromiter(map(len, words), np.int64, B)
        flat = [in_cls[a] for w in words for a in w] if self.machine.input_alphabet else []  # one comprehension
        starts = np.repeat(np.cumsum(lens) - lens, lens)
        tape[np.repeat(np.arange(B), lens), 0, np.arange(len(flat)) - starts - lo] = flat
        # the final tapes: buffer index of row r is r + lo + offset; cells outside the buffer are blank
        idx = np.arange(N) + lo + result.offset
        inside = (idx >= 0) & (idx < result.tapes.shape[2])
        final = np.zeros((B, k, N), np.int64)
        final[:, :, inside] = cls[result.tapes[:, :, idx[inside]]]
        from turing.engine import STATUSES
        stopped = np.isin(result.status, [STATUSES.index(x) for x in _STOPS])
        return TraceBatch(tape=tape, final_tape=final, heads=(pos - lo).astype(np.int64),
                          state=np.asarray(tr.state, np.int64), read=cls[tr.read].astype(np.int64),
                          write=cls[tr.write].astype(np.int64),
                          move=tr.move.astype(np.int64) + 1, steps=steps, stopped=stopped, origin=lo,
                          lengths=ns, input_symbols=words, supervision=self.supervision)

    def _classes(self, symbols: tuple) -> tuple[np.ndarray, dict]:
        """(|Γ|,) int64: engine symbol code -> cell class (0 blank, 1 + column otherwise), and input
        symbol -> class. Built once per machine."""
        cached = self.__dict__.get("_class_cache")
        if cached is None or cached[0] is not symbols:
            cls = np.array([0 if a == self.machine.blank else 1 + self.symbols.index(a) for a in symbols], np.int64)
            in_cls = {a: int(cls[symbols.index(a)]) for a in self.machine.input_alphabet}
            cached = self.__dict__["_class_cache"] = (symbols, cls, in_cls)
        return cached[1], cached[2]

    def eval_batch(self, length: int, batch_size: int = 256) -> TraceBatch:
        """The fixed evaluation batch at `length` (seeded by crc32 of the name and length; cached)."""
        from .task import fixed_batch
        return fixed_batch(self, f"{self.name}/{int(length)}", length, batch_size, keep=8)

    def with_supervision(self, supervision: str) -> "TraceTask":
        """The same task at another level of the ladder."""
        return TraceTask(self._given or self.spec, supervision, self.train_lengths, self.max_length, self.machine_params,
                         self.max_steps, definition=self.definition)

    def machine_definition(self) -> str | None:
        """The machine as JSON text when it came from a file (None for a library machine): `ntm train`
        keeps it in the run's config (task parameter ``definition``), so the run reloads this
        machine wherever it is opened, whatever became of the file."""
        if self.from_library or self._given is not None:
            return None
        from turing.formats import dumps
        return self.definition or dumps(self.machine, "json")


# ---------------------------------------------------------------- machines and inputs

def _load_machine(spec: str, params: dict, name: str, definition: str | None = None) -> Machine:
    """A library machine by name (``NAME`` or ``library:NAME``), a machine file, or, when given,
    `definition` (the machine as JSON text, kept in a run's config so that the run does not depend
    on the file any more). Raises TaskError naming the spec."""
    from turing.errors import TuringError, did_you_mean
    import turing
    try:
        if definition is not None:
            return turing.loads(definition, "json", source=f"{name} (definition)")
        spec = spec[len("library:"):] if spec.startswith("library:") else spec
        if spec in library.names():
            return library.get(spec, **params)
        if params:
            raise TaskError(f"{name}: machine_params apply to library machines only")
        path = Path(spec)
        if not path.is_file():
            raise TaskError(f"{name}: {spec!r} is neither a library machine{did_you_mean(spec, library.names())} ({', '.join(library.names())}) "
                            "nor a machine file")
        return turing.load(path)
    except TuringError as e:
        raise TaskError(f"{name}: {e}") from None
    except TypeError as e:
        raise TaskError(f"{name}: bad machine_params {params}: {e}") from None


def draw_words(spec: str, machine: Machine, rng: np.random.Generator, ns: np.ndarray) -> list[tuple[str, ...]]:
    """B input words of lengths `ns` for `machine` (module docstring: which machines get which)."""
    sigma = machine.input_alphabet
    if spec in ("binary_add", "binary_add_le"):
        from .registry import get_task                # a + b with one '+' (n counts it); n = 0: empty
        words = get_task("binary_addition")._draw(rng, np.maximum(ns, 1))[0]
        return [w if n else () for w, n in zip(words, ns.tolist())]
    if spec == "repeat_copy":
        data, ks = sigma[:-2], rng.integers(1, 4, size=len(ns))
        return [w + ("#",) + ("*",) * int(k) for w, k in zip(_uniform(rng, data, ns), ks)]
    words = _uniform(rng, sigma, ns) if sigma else [()] * len(ns)
    if spec == "palindrome":                     # half the batch: palindromes (else most reject early)
        words = [w[:(len(w) + 1) // 2] + w[:len(w) // 2][::-1] if b % 2 else w for b, w in enumerate(words)]
    return words


def _uniform(rng, alphabet, ns) -> list[tuple[str, ...]]:
    names = np.array(alphabet, dtype=object)
    codes = rng.integers(0, len(alphabet), size=(len(ns), max(1, int(ns.max()))))
    rows = names[codes].tolist()
    return [tuple(r[:n]) for r, n in zip(rows, ns.tolist())]
