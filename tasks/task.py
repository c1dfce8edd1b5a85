"""`Task` and `Batch`: algorithmic tasks whose targets are what a Turing machine wrote.

A task draws random machine inputs, runs its machine on all of them at once with the batched
engine (`turing.engine.run_batch`), and encodes the inputs and the machine's outputs as
tensors. The target is never recomputed in Python: each task also has an independent Python
`specification`, used by the tests to check the machine, not to make data.

Shapes (B = batch, T_in / T_out = padded input / output steps, C_in / C_out = channels):

    inputs        (B, T_in, C_in)  float32, RIGHT-aligned: zeros in front of a shorter input,
                                   so the output phase starts at step T_in for every sample
    input_lengths (B,)             int64, real input steps of each sample
    targets       (B, T_out, C_out) float32, LEFT-aligned: zeros after a shorter output
    mask          (B, T_out)       bool, True exactly at the real output positions

A model reads the T_in input steps, then T_out steps of zero input, emitting logits at those
T_out steps (DESIGN.md, Conventions). Subclasses (one file per task) set the tables and override the
hooks `_draw`, `specification` and, where the target is not the raw machine output,
`_project` (a map on output symbols) or `keep` (a prefix of the output).
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import zlib
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch

import turing
from turing import Machine, Status, library

from . import encoding
from .errors import TaskError

#: statuses that count as a finished run (a transducer halts; a recogniser accepts or rejects)
_FINISHED = (Status.HALTED, Status.ACCEPTED, Status.REJECTED)


# ---------------------------------------------------------------- traces
class TraceStep(NamedTuple):
    """One transition of a machine run. For a k-tape machine (k > 1) head, read, write and move
    are k-tuples; for one tape they are single values (the `Machine` convention)."""
    step: int        # 0-based index of the transition
    state: str       # the state it was taken in
    head: int | tuple  # head position(s) before the move (input starts at position 0)
    read: str | tuple
    write: str | tuple
    move: str | tuple  # "L", "R" or "S"


def machine_trace(machine: Machine, word: Sequence[str], max_steps: int) -> list[TraceStep]:
    """Every transition of the run of `machine` on `word`, from `turing.trace` (the reference
    simulator): ``len(result) == run(machine, word).steps``. Snapshots copy the tapes at every
    step, so this is for examples and plots, not for training batches."""
    def cell(config, i, p):
        t, o = config.tapes[i], config.origins[i]
        return t[p - o] if 0 <= p - o < len(t) else config.blank

    k, out = machine.tapes, []
    configs = turing.trace(machine, word, max_steps=max_steps)
    prev = next(configs)
    for c in configs:
        heads = prev.heads
        read = tuple(cell(prev, i, heads[i]) for i in range(k))
        write = tuple(cell(c, i, heads[i]) for i in range(k))
        move = tuple("LSR"[c.heads[i] - heads[i] + 1] for i in range(k))
        one = (lambda x: x[0]) if k == 1 else (lambda x: x)
        out.append(TraceStep(prev.step, prev.state, one(heads), one(read), one(write), one(move)))
        prev = c
    return out


def batch_trace_steps(trace, b: int) -> list[TraceStep]:
    """Run b of an engine trace (`turing.engine.BatchTrace`) as `TraceStep`s: the list that
    `machine_trace` gives for that run, from the integer arrays (no simulation in Python)."""
    one = (lambda x: x[0]) if trace.compiled.tapes == 1 else (lambda x: x)
    return [TraceStep(s.step, s.state, one(s.heads), one(s.read), one(s.write), one(s.move))
            for s in trace.transitions(b)]


# ---------------------------------------------------------------- batches
@dataclass
class Batch:
    """One batch of a task (shapes in the module docstring).

    Attributes:
        inputs, input_lengths, targets, mask: tensors, as above.
        lengths: (B,) int64, the task's length n of each sample (sequence length, items, ...).
        input_symbols: B tuples, each the machine's input word.
        output_symbols: B tuples, each the target word (what the machine wrote, see the task).
        machine_steps: (B,) int64, transitions the machine took (0 for a Python-spec task).
        trace: with ``sample(..., with_trace=True)``, every step of every run as the engine's
            integer arrays (`turing.engine.BatchTrace`: state (B, S+1), heads (B, S+1, k),
            read/write/move (B, S, k), mask (B, S)), for training; else None.
        traces (property): the same as B lists of `TraceStep`, built on first use (for
            examples and plots; Python objects, one a step); None without a trace.
        online: True for an online-prediction task (`tasks.ngrams`): input step t and target step
            t are aligned (both left-aligned), and the prediction at t may see inputs 0..t only;
            `ntm.models.predict` then calls `ntm.models.online_logits` instead of the model once.
    """
    inputs: torch.Tensor
    input_lengths: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    input_symbols: list
    output_symbols: list
    machine_steps: torch.Tensor
    trace: object | None = None  # a turing.engine.BatchTrace
    online: bool = False

    @functools.cached_property
    def traces(self) -> list | None:
        if self.trace is None:
            return None
        return [batch_trace_steps(self.trace, b) for b in range(len(self.trace))]

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[0]

    @property
    def output_lengths(self) -> torch.Tensor:
        """(B,) int64, real output steps of each sample (= mask.sum(1))."""
        return self.mask.sum(1)

    def to(self, device) -> "Batch":
        """A copy with every tensor on `device` (symbols and the trace are shared)."""
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)


# ---------------------------------------------------------------- running the machine
def run_machine(machine: Machine, words: list, max_steps: int, *, trace: bool = False):
    """Run `machine` on every word with the batched engine (`turing.engine.run_batch`); with
    `trace`, the result records every step (``result.trace``, a `turing.engine.BatchTrace`).

    Returns:
        (result, span): the engine's `BatchResult`, and (lo, hi) (B,) int64 each: the buffer
        indices of each run's last tape with outer blanks trimmed, found for the whole batch at
        once (``result.tapes[b, -1, lo[b]:hi[b]]`` are the codes of ``RunResult.output``).

    Raises:
        TaskError: a run did not halt within `max_steps` or stopped with no transition (the
            task drew an input its machine does not handle: a bug, reported with the input).
    """
    from turing import engine
    result = engine.run_batch(machine, words, max_steps=max_steps, trace=trace)
    for i, status in enumerate(result.statuses()):
        if status not in _FINISHED:
            word = " ".join(words[i])
            raise TaskError(f"machine {machine.name!r} ended with status {status!r} after "
                            f"{int(result.steps[i])} steps on input {word[:200]!r}")
    tape = result.tapes[:, -1, :]                                   # (B, L) symbol codes
    written = tape != result.compiled.blank
    some, L = written.any(1), tape.shape[1]
    lo = np.where(some, written.argmax(1), 0)
    hi = np.where(some, L - written[:, ::-1].argmax(1), 0)
    return result, (lo.astype(np.int64), hi.astype(np.int64))


# ---------------------------------------------------------------- tasks
class Task(abc.ABC):
    """An algorithmic task: random inputs, and the machine's outputs as targets.

    Attributes (set by each subclass):
        name: the registry name.
        machine: the `turing.Machine` that computes the targets (built on first use), or None
            when the targets come from the Python `specification` (then `from_machine` is
            False and `machine_label` is "python spec").
        machine_label: the machine as `ntm tasks list` shows it, e.g. ``library:copy(width=8)``.
        input_size, output_size: C_in, C_out.
        input_channels, output_channels: a name for each channel (for `ntm tasks show`).
        loss_kind: "bce" (bit vectors: sigmoid per channel) or "ce" (one symbol per step: softmax).
        train_lengths: (min, max) lengths n of the training distribution (the literature's).
        max_length: the longest n the task accepts (see each task: what the encoding allows,
            else a bound that keeps a 256-sample evaluation batch within seconds).
        min_length: the shortest n (1 unless the task needs more).
        online: False for read-then-answer tasks; True where every input step has its own target
            and must be predicted from the inputs so far (dynamic N-grams; see `Batch.online`).
    """
    name: str
    input_size: int
    output_size: int
    input_channels: tuple[str, ...]
    output_channels: tuple[str, ...]
    loss_kind: str
    train_lengths: tuple[int, int]
    max_length: int
    min_length: int = 1
    online: bool = False

    def _set_tables(self, in_table: np.ndarray, out_table: np.ndarray, out_names: Sequence[str]):
        """Row c of `in_table` / `out_table` is the vector of input / output code c; output code
        c stands for target symbol ``out_names[c]``. Sets input_size and output_size."""
        self._in_table = encoding.with_pad_row(in_table.astype(np.float32))    # (codes + 1, C_in)
        self._out_table = encoding.with_pad_row(out_table.astype(np.float32))  # (codes + 1, C_out)
        self._out_names = tuple(out_names)
        self._out_code = {a: i for i, a in enumerate(self._out_names)}
        self._out_name_array = np.array(self._out_names + ("",), dtype=object)
        self.input_size, self.output_size = in_table.shape[1], out_table.shape[1]
        if self.loss_kind == "bce":
            self._lookup = encoding.bit_pattern_lookup(out_table, self._out_names)

    # ------------------------------------------------ what a task describes
    @abc.abstractmethod
    def output_length(self, n: int) -> int:
        """The longest output (T_out) of an input of length n."""

    @abc.abstractmethod
    def input_length(self, n: int) -> int:
        """The longest input (T_in, in steps) of length n."""

    @abc.abstractmethod
    def specification(self, word: tuple[str, ...]) -> tuple[str, ...]:
        """The target word for machine input `word`, computed in plain Python, independently
        of the machine (the tests check the machine against it)."""

    # ------------------------------------------------ the machine, built on first use
    _machine_factory = None           # a callable returning the Machine; None: a Python-spec task
    machine_label: str = "python spec"

    def _use_machine(self, label: str, factory):
        """Targets come from ``factory()``, built on first use (the sort machine takes ~2 s),
        so that listing tasks builds nothing. `label` names it in `ntm tasks list`."""
        self._machine_factory, self.machine_label = factory, label

    def _use_library(self, name: str, **params):
        """Targets come from ``turing.library.get(name, **params)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        self._use_machine(f"library:{name}({args})", functools.partial(library.get, name, **params))

    def _use_specification(self):
        """Targets come from `specification` (no machine): labelled "python spec" everywhere."""
        self._machine_factory, self.machine_label = None, "python spec"
        self.__dict__.pop("machine", None)

    @functools.cached_property
    def machine(self) -> Machine | None:
        """The machine that computes the targets (None for a Python-spec task)."""
        return None if self._machine_factory is None else self._machine_factory()

    @property
    def from_machine(self) -> bool:
        """True when the targets are what `machine` wrote."""
        return self._machine_factory is not None

    # ------------------------------------------------ hooks
    @abc.abstractmethod
    def _draw(self, rng: np.random.Generator, ns: np.ndarray
              ) -> tuple[list[tuple[str, ...]], np.ndarray, np.ndarray]:
        """Draw B random inputs of lengths `ns` (B,).

        Returns:
            words: B machine input words (tuples of symbols).
            codes: (B, L) int array, row b the input codes of sample b, left-aligned, valid up
                to steps[b] (the rest is ignored).
            steps: (B,) input steps of each sample.
        """

    #: keep only the first `keep` symbols of each machine output (None: all)
    keep: int | None = None

    def _project(self, symbol: str) -> str:
        """The target symbol for a symbol the machine wrote (default: itself)."""
        return symbol

    def _max_steps(self, ns: np.ndarray) -> int:
        """A step limit no correct run reaches: every library machine here takes O(n²) steps
        in its input plus output length, with small constants (see each machine's docstring)."""
        L = self.input_length(int(ns.max())) + self.output_length(int(ns.max())) + 2
        return 16 * L * L + 10_000

    # ------------------------------------------------ sampling
    def check_lengths(self, batch_size: int, lengths) -> np.ndarray:
        """`lengths` (an int, or one int per sample) as a (B,) int64 array, checked.

        Raises:
            TaskError: batch_size < 1, a lengths sequence whose size is not batch_size, or a
                length outside [min_length, max_length].
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise TaskError(f"{self.name}: batch size must be an integer >= 1, got {batch_size!r}")
        ns = np.asarray(lengths)
        if ns.dtype == bool or not np.issubdtype(ns.dtype, np.integer) or ns.ndim > 1:
            raise TaskError(f"{self.name}: lengths must be an int or a sequence of ints, got {lengths!r}")
        ns = np.broadcast_to(ns.astype(np.int64), (batch_size,)).copy() if ns.ndim == 0 else ns.astype(np.int64)
        if ns.shape != (batch_size,):
            raise TaskError(f"{self.name}: got {ns.size} lengths for a batch of {batch_size}")
        lo, hi = int(ns.min()), int(ns.max())
        if lo < self.min_length:
            raise TaskError(f"{self.name}: length {lo} is below the minimum {self.min_length}")
        if hi > self.max_length:
            raise TaskError(f"{self.name}: length {hi} is above the maximum {self.max_length} "
                            f"this task allows ({self._max_length_reason()})")
        return ns

    def _max_length_reason(self) -> str:
        return "a bound that keeps an evaluation batch within seconds; pass max_length= to raise it"

    def sample(self, rng: np.random.Generator, batch_size: int, lengths, *,
               with_trace: bool = False) -> Batch:
        """A batch of `batch_size` random samples.

        Args:
            rng: the only source of randomness: the same generator state gives the same batch.
            batch_size: B >= 1.
            lengths: one length n for all samples, or a sequence of B lengths (mixed lengths:
                inputs are right-aligned and targets masked, see the module docstring).
            with_trace: also record each run's transitions (`Batch.traces`), recorded by the
                batched engine with the outputs (`turing.engine.run_batch(..., trace=True)`).

        Raises:
            TaskError: bad batch size or length (`check_lengths`), or a machine run that failed.
        """
        if not isinstance(rng, np.random.Generator):
            raise TaskError(f"{self.name}: rng must be a numpy.random.Generator "
                            f"(numpy.random.default_rng(seed)), got {type(rng).__name__}")
        ns = self.check_lengths(batch_size, lengths)
        words, in_codes, in_steps = self._draw(rng, ns)
        trace = None
        if self.from_machine:
            padded, steps, trace = self._machine_targets(words, ns, with_trace)
        else:
            padded, steps = self._specified_targets(words)
        mask = padded != encoding.PAD                                       # (B, T_out)
        out_steps = mask.sum(1)

        T_in = int(in_steps.max())
        inputs = encoding.gather(self._in_table, encoding.pad_codes(in_codes, in_steps, T_in, right=True))
        targets = encoding.gather(self._out_table, padded)
        names = self._out_name_array[padded[mask]].tolist()    # row-major: sample by sample
        ends = np.cumsum(out_steps).tolist()
        output_symbols = [tuple(names[e - n:e]) for e, n in zip(ends, out_steps.tolist())]
        return Batch(inputs=inputs, input_lengths=torch.from_numpy(in_steps.astype(np.int64)),
                     targets=targets, mask=torch.from_numpy(mask), lengths=torch.from_numpy(ns),
                     input_symbols=words, output_symbols=output_symbols,
                     machine_steps=torch.from_numpy(steps), trace=trace)

    def _machine_targets(self, words, ns, with_trace: bool = False) -> tuple[np.ndarray, np.ndarray, object]:
        """Run the machine on every word; return its outputs as (B, T_out) output codes,
        left-aligned and padded with PAD (projected by `_project`, cut to `keep`), the
        steps (B,), and with `with_trace` the engine's `BatchTrace` (else None). Works on the
        engine's code arrays: no symbol strings on the way."""
        result, (lo, hi) = run_machine(self.machine, words, self._max_steps(ns), trace=with_trace)
        out_steps = hi - lo if self.keep is None else np.minimum(hi - lo, self.keep)
        T_out = int(out_steps.max())
        mask = np.arange(T_out)[None, :] < out_steps[:, None]                # (B, T_out)
        cells = np.minimum(lo[:, None] + np.arange(T_out)[None, :], result.tapes.shape[2] - 1)
        written = np.take_along_axis(result.tapes[:, -1, :], cells, 1)       # (B, T_out) engine codes
        padded = np.where(mask, self._target_map(result.compiled.symbols)[written], encoding.PAD)
        if (padded[mask] < 0).any():
            b = int(np.nonzero((padded < 0) & mask)[0][0])
            raise TaskError(f"{self.name}: the machine wrote a symbol that is no output of the "
                            f"task, on input {' '.join(words[b])[:200]!r}")
        return padded, np.asarray(result.steps, np.int64), result.trace

    def _specified_targets(self, words) -> tuple[np.ndarray, np.ndarray]:
        """For a Python-spec task: `_machine_targets` from `specification`, with 0 steps."""
        code = self._out_code
        targets = [[code[a] for a in self.specification(w)] for w in words]
        out_steps = np.array([len(t) for t in targets], np.int64)
        padded = encoding.pad_codes(targets, out_steps, int(out_steps.max()), right=False)
        return padded, np.zeros(len(words), np.int64)

    def _target_map(self, symbols: tuple[str, ...]) -> np.ndarray:
        """(|Γ|,) int64: engine symbol code -> output code of its projection, -1 where the
        machine's symbol has no target (then writing it raises). Built once per machine."""
        cached = self.__dict__.get("_target_map_cache")
        if cached is None or cached[0] is not symbols:
            m = np.array([self._out_code.get(self._project(a), -1) for a in symbols], np.int64)
            cached = self.__dict__["_target_map_cache"] = (symbols, m)
        return cached[1]

    def eval_batch(self, length: int, batch_size: int = 256) -> Batch:
        """The fixed evaluation batch at `length`: seeded by crc32 of (task name, length), so it
        is the same in every process and run (Python's `hash` is salted per process). Cached:
        repeated calls return the same `Batch` object; do not modify it in place."""
        return fixed_batch(self, f"{self.name}/{int(length)}", length, batch_size, keep=32)

    # ------------------------------------------------ decoding
    def decode(self, outputs: torch.Tensor, mask: torch.Tensor | None = None, *,
               probabilities: bool = False) -> list[tuple[str, ...]]:
        """Model outputs (B, T_out, C_out) -> B target words, to compare with `Batch.output_symbols`.

        Args:
            outputs: logits (default) or, with ``probabilities=True``, sigmoid/softmax outputs;
                a batch's own `targets` decode to its `output_symbols` either way.
            mask: (B, T_out) the positions to read (a batch's `mask`); None reads all T_out.

        A bit pattern that is no symbol of the task decodes to ``'!'`` + its bits (never equal
        to a target symbol); one-hot outputs decode by argmax.
        """
        if outputs.ndim != 3 or outputs.shape[-1] != self.output_size:
            raise TaskError(f"{self.name}: outputs must be (B, T_out, {self.output_size}), "
                            f"got {tuple(outputs.shape)}")
        if self.loss_kind == "bce":
            return encoding.decode_bits(outputs, self._lookup, mask, probabilities)
        return encoding.decode_one_hot(outputs, self._out_names, mask)

    # ------------------------------------------------ description
    def describe(self) -> dict:
        """What `ntm tasks list` prints, as a dict."""
        return {"name": self.name, "machine": self.machine_label, "from_machine": self.from_machine,
                "input_size": self.input_size, "output_size": self.output_size,
                "loss": self.loss_kind, "train_lengths": tuple(self.train_lengths),
                "max_length": self.max_length}

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, machine={self.machine_label!r}, "
                f"input_size={self.input_size}, output_size={self.output_size})")


def fixed_batch(task, seed_text: str, length: int, batch_size: int, keep: int):
    """``task.sample`` seeded by crc32 of `seed_text` (the same in every process: Python's `hash` is
    salted), cached on the task under (length, batch_size), at most `keep` batches (a long run
    evaluates a few lengths; memory stays bounded). Every task's `eval_batch` is this."""
    cache = task.__dict__.setdefault("_eval_cache", {})
    key = (int(length), int(batch_size))
    if key not in cache:
        cache[key] = task.sample(np.random.default_rng(zlib.crc32(seed_text.encode())), batch_size, int(length))
        while len(cache) > keep:
            cache.pop(next(iter(cache)))
    return cache[key]


MAX_WIDTH = 16   # bits per vector: the machines have 2**width data symbols (65,536 at 16)


def check_width(name: str, width) -> int:
    """Bits per vector, an int in 1..MAX_WIDTH (the machine's alphabet grows as 2**width).

    Raises:
        TaskError: naming the task.
    """
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
        raise TaskError(f"{name}: width must be an integer in 1..{MAX_WIDTH} (2**width symbols), got {width!r}")
    return width


def check_range(name: str, what: str, lo_hi, lowest: int = 1) -> tuple[int, int]:
    """A (lo, hi) pair of ints with lowest <= lo <= hi.

    Raises:
        TaskError: naming the task and the parameter.
    """
    try:
        lo, hi = (int(x) for x in lo_hi)
    except (TypeError, ValueError):
        raise TaskError(f"{name}: {what} must be a pair (min, max) of ints, got {lo_hi!r}") from None
    if not lowest <= lo <= hi:
        raise TaskError(f"{name}: {what} must satisfy {lowest} <= min <= max, got ({lo}, {hi})")
    return lo, hi
