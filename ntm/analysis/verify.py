"""Search the input space for an input on which the model and the machine disagree.

`ntm.analysis.compare.compare` scores a model on fixed random sets; this module *searches*: hypothesis
draws inputs, runs the machine and the model on each, and on the first disagreement shrinks it to
a minimal counterexample (the shortest length first), which it reports with the input symbols,
both outputs and the positions where they differ.

How an input is drawn: a length n in [min_length, max_length] and a seed; the task samples a batch
of one with ``numpy.random.default_rng(seed)``, so the machine computes the target exactly as in
training. Hypothesis shrinks n towards `min_length` and the seed towards 0. A seed is not a
symbol-level input, so the symbols themselves do not shrink: the counterexample is minimal in
length, not in its symbols (that would need a task method that encodes given words).

Found counterexamples are saved in a hypothesis example database (for a run: RUN/hypothesis, see `database_path`) and
replayed first on the next search, so a model that was wrong stays tested on its known failure.
They are saved as (length, seed) under our own key, not as hypothesis's choice sequences: those
change between hypothesis versions, and hypothesis ignores its database in a seeded search.

For users' tests::

    from ntm.analysis.verify import assert_agrees
    assert_agrees(model, task, min_length=1, max_length=20, max_examples=200, seed=0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from random import Random

import numpy as np
import torch
from hypothesis import find, settings, strategies as st
from hypothesis.errors import NoSuchExample

from ntm.errors import ConfigError
from ntm.models import predict
from ntm.training.run_dir import output_dir

SEEDS = 2 ** 32  # seeds drawn in [0, SEEDS)


@dataclass(frozen=True)
class Counterexample:
    """An input on which the model's decoded output differs from the machine's.

    Attributes:
        length: the task's length n of the input.
        seed: the seed of ``task.sample(numpy.random.default_rng(seed), 1, length)``, which
            rebuilds the input exactly (`draw_batch`).
        input_symbols: the machine's input word.
        machine_output: what the machine wrote (the target word).
        model_output: the model's decoded output (``'!bits'`` marks a bit pattern that is no symbol).
        differing_positions: the output positions where the two differ (0-based).
    """
    length: int
    seed: int
    input_symbols: tuple
    machine_output: tuple
    model_output: tuple
    differing_positions: tuple

    def __str__(self) -> str:
        diff = set(self.differing_positions)
        model = " ".join(f"[{a}]" if i in diff else a for i, a in enumerate(self.model_output))
        return "\n".join([
            f"counterexample (length {self.length}, seed {self.seed}):",
            f"  input:          {_word(self.input_symbols)}",
            f"  machine output: {_word(self.machine_output)}",
            f"  model output:   {model or '(empty)'}",
            f"  differs at:     {', '.join(map(str, self.differing_positions))} "
            f"({len(self.differing_positions)} of {len(self.machine_output)} positions)",
        ])


def _word(symbols) -> str:
    return " ".join(symbols) if symbols else "(empty)"


# ---------------------------------------------------------------- one input
def draw_batch(task, length: int, seed: int):
    """The batch of one that (length, seed) stands for: ``task.sample(default_rng(seed), 1, length)``.

    Raises:
        tasks.errors.TaskError: a length the task does not allow.
    """
    return task.sample(np.random.default_rng(seed), 1, int(length))


def model_device(model) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without tensors)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def decode_model(model, task, batch) -> list[tuple]:
    """The model's outputs on `batch`, decoded by the task to symbol words (the masked positions)."""
    device = model_device(model)
    return task.decode(predict(model, batch, device).cpu(), batch.mask)


def check_example(model, task, length: int, seed: int) -> Counterexample | None:
    """Run the machine and the model on the input (length, seed); a `Counterexample` if their
    outputs differ, else None. For a trace task, a `ntm.analysis.trace_verify.TraceCounterexample`
    if the model, running free, leaves the machine at any step or ends with another tape."""
    from tasks.universal import UniversalTask
    if isinstance(task, UniversalTask):                  # one random machine per input
        from ntm.analysis.universal_compare import check_universal_example
        return check_universal_example(model, task, length, seed)
    if task.loss_kind == "trace":
        from ntm.analysis.trace_verify import check_trace_example
        return check_trace_example(model, task, length, seed)
    batch = draw_batch(task, length, seed)
    got, want = tuple(decode_model(model, task, batch)[0]), tuple(batch.output_symbols[0])
    if got == want:
        return None
    diff = tuple(i for i in range(max(len(got), len(want)))
                 if i >= len(got) or i >= len(want) or got[i] != want[i])
    return Counterexample(int(length), int(seed), tuple(batch.input_symbols[0]), want, got, diff)


# ---------------------------------------------------------------- the search
def length_range(task, min_length: int | None, max_length: int | None) -> tuple[int, int]:
    """[min_length, max_length], by default the task's training lengths, checked against what the
    task allows.

    Raises:
        ConfigError: an empty range or one outside [task.min_length, task.max_length].
    """
    lo = task.train_lengths[0] if min_length is None else int(min_length)
    hi = task.train_lengths[1] if max_length is None else int(max_length)
    lowest = getattr(task, "min_length", 1)
    if not lowest <= lo <= hi <= task.max_length:
        raise ConfigError(f"lengths must satisfy {lowest} <= min_length <= max_length <= {task.max_length} "
                          f"(task {task.name!r}), got {lo}..{hi}")
    return lo, hi


def input_strategy(min_length: int, max_length: int):
    """The hypothesis strategy of inputs: (length, seed) pairs, shrinking towards (min_length, 0)."""
    return st.tuples(st.integers(min_length, max_length), st.integers(0, SEEDS - 1))


@dataclass
class SearchResult:
    """What `search` found: the counterexample (or None), the inputs tried (shrinking
    included), the lengths searched, whether the counterexample came from the database, and for
    the universal task its machine shrunk (`ntm.analysis.universal_shrink.ShrunkCounterexample`;
    None for other tasks, without a counterexample, or with ``shrink_calls=0``)."""
    counterexample: Counterexample | None
    examples: int
    lengths: tuple[int, int]
    replayed: bool = False
    shrunk: object | None = None


def database_key(task) -> bytes:
    """The key under which a task's counterexamples are kept (the task's repr names its
    parameters' effect: machine and sizes)."""
    return f"ntm.verify/{task!r}".encode()        # the module's old name: kept, so saved databases replay


def replay(model, task, database, lo: int, hi: int) -> tuple[Counterexample | None, int]:
    """Check the counterexamples kept in `database` for this task, smallest first.

    Returns the first that still fails (and the number checked). Entries within [lo, hi] on
    which the model now agrees are deleted (hypothesis does the same with its own entries).
    """
    key, tried = database_key(task), 0
    entries = []
    for value in database.fetch(key):
        try:
            entry = json.loads(value)
            entries.append((int(entry["length"]), int(entry["seed"]), value))
        except (ValueError, KeyError, TypeError):  # not ours, or from an older format: drop it
            database.delete(key, value)
    for n, seed, value in sorted(entries):
        if not lo <= n <= hi:
            continue
        tried += 1
        c = check_example(model, task, n, seed)
        if c is not None:
            return c, tried
        database.delete(key, value)
    return None, tried


def search(model, task, *, min_length: int | None = None, max_length: int | None = None,
           max_examples: int = 100, seed: int | None = None, database=None,
           shrink_calls: int = 64) -> SearchResult:
    """Look for an input where the model's decoded output differs from the machine's.

    First the counterexamples kept in `database` are replayed; then hypothesis draws
    `max_examples` inputs and shrinks the first disagreement to a minimal one, which is saved.

    Args:
        model: any model with ``forward(inputs, T_out, input_lengths) -> logits`` (on any device).
        task: the `tasks.Task` whose machine is the reference.
        min_length, max_length: the lengths to search (default: the task's training lengths).
        max_examples: random inputs to try.
        seed: makes the search reproducible (None: hypothesis's own randomness, derandomized
            under the tests' ci profile).
        database: a hypothesis `ExampleDatabase` keeping counterexamples (None: none kept). Entries
            are ``{"length", "seed"}`` JSON under `database_key` (not hypothesis's internal
            choice sequences): they stay valid across hypothesis versions, and hypothesis's
            own use of a database would forbid a seeded search.
        shrink_calls: for the universal task, the most model runs that shrinking the
            counterexample's machine may spend (`ntm.analysis.universal_shrink.shrink_machine`;
            0: not shrunk).

    Returns:
        A `SearchResult`.

    Raises:
        ConfigError: bad lengths, max_examples or shrink_calls, or a task with no machine to disagree with
            (dynamic N-grams: its targets are random bits; compare it with `compare` instead).
        tasks.errors.TaskError: the machine failed on a drawn input.
    """
    if getattr(task, "online", False):
        raise ConfigError(f"task {task.name!r} has no machine to search for a counterexample against: its "
                          f"reference is the Bayes-optimal estimator (use `ntm compare`)")
    if max_examples < 1:
        raise ConfigError(f"max_examples must be >= 1, got {max_examples}")
    if isinstance(shrink_calls, bool) or not isinstance(shrink_calls, int) or shrink_calls < 0:
        raise ConfigError(f"shrink_calls must be an integer >= 0, got {shrink_calls!r}")
    lo, hi = length_range(task, min_length, max_length)
    was_training = model.training
    model.eval()
    tried = 0

    def disagrees(example) -> bool:
        nonlocal tried
        tried += 1
        return check_example(model, task, *example) is not None

    try:
        if database is not None:
            c, tried = replay(model, task, database, lo, hi)
            if c is not None:
                return SearchResult(c, tried, (lo, hi), replayed=True,
                                    shrunk=shrink_example(model, task, c, shrink_calls))
        options = dict(max_examples=max_examples, database=None, deadline=None)
        if seed is not None:
            options["derandomize"] = False
        try:
            example = find(input_strategy(lo, hi), disagrees, settings=settings(**options),
                           random=None if seed is None else Random(seed))
        except NoSuchExample:
            return SearchResult(None, tried, (lo, hi))
        c = check_example(model, task, *example)
        if database is not None:
            database.save(database_key(task), json.dumps({"length": c.length, "seed": c.seed}).encode())
        return SearchResult(c, tried, (lo, hi), shrunk=shrink_example(model, task, c, shrink_calls))
    finally:
        model.train(was_training)


def shrink_example(model, task, c, max_calls: int = 64):
    """For the universal task, counterexample `c`'s machine shrunk
    (`ntm.analysis.universal_shrink.shrink_counterexample`, at most `max_calls` model runs); None for
    other tasks (their inputs are shrunk by hypothesis alone) or with max_calls = 0."""
    from tasks.universal import UniversalTask
    if not isinstance(task, UniversalTask) or max_calls == 0:
        return None
    from ntm.analysis.universal_shrink import shrink_counterexample
    return shrink_counterexample(model, task, c, max_calls)


def find_counterexample(model, task, *, min_length: int | None = None, max_length: int | None = None,
                        max_examples: int = 100, seed: int | None = None, database=None
                        ) -> Counterexample | None:
    """The minimal input where the model disagrees with the machine, or None if none was found
    in `max_examples` inputs. Arguments and errors as in `search`."""
    return search(model, task, min_length=min_length, max_length=max_length, max_examples=max_examples,
                  seed=seed, database=database).counterexample


def assert_agrees(model, task, *, min_length: int | None = None, max_length: int | None = None,
                  max_examples: int = 100, seed: int | None = 0, database=None) -> None:
    """Assert that the model agrees with the machine on every input hypothesis tries.

    Raises:
        AssertionError: with the shrunk counterexample (input, both outputs, differing positions).
    """
    r = search(model, task, min_length=min_length, max_length=max_length, max_examples=max_examples,
               seed=seed, database=database)
    if r.counterexample is not None:
        raise AssertionError(f"model disagrees with the machine of task {task.name!r}\n{r.counterexample}")


def database_path(run_dir) -> Path:
    """Where a run's counterexamples are kept: RUN/hypothesis, or, for a run shipped inside the
    package or a run directory this user cannot write, the user's cache
    (``$XDG_CACHE_HOME``, default ~/.cache, ``/ntm-playground/hypothesis/NAME``): never the installed
    package's folder (`ntm.training.run_dir.output_dir`)."""
    return output_dir(run_dir, "hypothesis")


def run_database(run_dir):
    """The run's counterexample database (at `database_path`)."""
    from hypothesis.database import DirectoryBasedExampleDatabase
    return DirectoryBasedExampleDatabase(database_path(run_dir))
