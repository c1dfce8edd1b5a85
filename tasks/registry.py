"""Task names -> builders. Variants are `functools.partial`s of one class, not copies.

    >>> from tasks.registry import get_task
    >>> task = get_task("copy")                  # the NTM paper's copy: 8 bits, lengths 1–20
    >>> small = get_task("copy", width=4)       # any builder argument can be overridden
    >>> steps = get_task("trace:binary_add")     # learn a machine's step from its trace (tasks.trace)
    >>> every = get_task("universal")            # run any machine from its table in memory (tasks.universal)
"""

from __future__ import annotations

import functools
import inspect

from turing.errors import TuringError, did_you_mean

from .associative_recall import AssociativeRecall
from .chomsky import BinaryAddition, BinaryAdditionLE, Duplicate, Reverse
from .copy_task import Copy
from .errors import TaskError
from .ngrams import Ngrams
from .priority_sort import PrioritySort
from .repeat_copy import RepeatCopy
from .task import Task
from .trace import PREFIX, TraceTask
from .universal import UniversalTask

#: name -> builder (keyword arguments are the task's parameters; `name` is filled in)
BUILDERS = {
    # the NTM paper's tasks (Graves et al. 2014, §4)
    "copy": Copy,
    "repeat_copy": RepeatCopy,
    "associative_recall": AssociativeRecall,
    "sort": PrioritySort,
    "sort_paper": functools.partial(PrioritySort, keep=16, train_lengths=(20, 20)),  # 20 in, 16 out
    "ngrams": Ngrams,  # reference: the Bayes-optimal estimator, not a machine
    # the Chomsky-hierarchy benchmark's (Delétang et al. 2023)
    "reverse": Reverse,
    "duplicate": Duplicate,
    "binary_addition": BinaryAddition,        # MSB first (this project's first form)
    "binary_addition_le": BinaryAdditionLE,  # LSB first with an end token: the benchmark's form
}
#: the trace-supervised tasks besides trace:MACHINE (not sequence tasks, so not in `task_names`)
TRACE_BUILDERS = {
    "universal": UniversalTask,      # one interpreter for every machine: the table in memory (tasks.universal)
}


def task_names() -> list[str]:
    """The names `get_task` knows, in registry order (and any ``trace:MACHINE``, see `tasks.trace`)."""
    return list(BUILDERS)


def _builder(name: str):
    if isinstance(name, str) and name.startswith(PREFIX):         # trace:MACHINE, any machine
        return functools.partial(TraceTask, name[len(PREFIX):])
    if isinstance(name, str) and name in TRACE_BUILDERS:
        return TRACE_BUILDERS[name]
    try:
        return BUILDERS[name]
    except (KeyError, TypeError):
        raise TaskError(f"no task named {name!r}{did_you_mean(name, [*BUILDERS, *TRACE_BUILDERS])}; known tasks: {', '.join(BUILDERS)}, "
                        "universal, or trace:MACHINE (a library machine or a machine file)") from None


def parameters(name: str) -> dict:
    """The builder's parameters and their defaults (variants show their own), e.g.
    ``parameters("copy") == {"width": 8, "train_lengths": (1, 20), "max_length": 1000}``."""
    b = _builder(name)
    fixed = b.keywords if isinstance(b, functools.partial) else {}
    cls = b.func if isinstance(b, functools.partial) else b
    sig = inspect.signature(cls)
    return {k: fixed.get(k, p.default) for k, p in sig.parameters.items() if k != "name" and k not in fixed_args(b)}


def fixed_args(b) -> set:
    """Parameters a builder already binds positionally (a trace task's machine)."""
    if not isinstance(b, functools.partial) or not b.args:
        return set()
    cls = b.func
    return set(list(inspect.signature(cls).parameters)[:len(b.args)])


@functools.lru_cache(maxsize=64)
def _cached(name: str, params: tuple) -> Task:
    return _build(name, dict(params))


def _build(name: str, params: dict) -> Task:
    builder = _builder(name)
    known = parameters(name)
    for k in params:
        if k not in known:
            raise TaskError(f"task {name!r} has no parameter {k!r}; its parameters: {', '.join(known)}")
    try:
        return builder(name=name, **params)
    except TaskError:
        raise
    except (TuringError, ValueError, TypeError) as e:  # e.g. width=0 refused by the library builder
        raise TaskError(f"task {name!r} with {params}: {e}") from None


def get_task(name: str, **params) -> Task:
    """The task `name` built with `params` (the builder's keyword arguments).

    Built once per (name, params) when the params are hashable (lists count as tuples), so the
    machine is compiled once and `eval_batch` caches survive across calls.

    Raises:
        TaskError: unknown name (the message lists the known ones), an unknown parameter
            (the message lists the task's parameters), or a parameter value the task refuses.
    """
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
    try:
        hash(key)
    except TypeError:
        return _build(name, params)
    return _cached(name, key)


def describe(name: str) -> str:
    """The first line of the task class's docstring."""
    b = _builder(name)
    cls = b.func if isinstance(b, functools.partial) else b
    return cls.__doc__.strip().splitlines()[0]
