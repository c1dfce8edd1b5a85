"""Algorithmic tasks whose targets come from running the library's Turing machines.

    >>> import numpy as np, tasks
    >>> task = tasks.get_task("copy")
    >>> batch = task.sample(np.random.default_rng(0), 32, 20)   # the machine computes the targets
    >>> batch.inputs.shape, batch.targets.shape
    (torch.Size([32, 21, 9]), torch.Size([32, 20, 8]))
    >>> task.decode(batch.targets, batch.mask) == batch.output_symbols
    True

`Task` and `Batch` are in `tasks.task`, one module per task beside it, the names in
`tasks.registry`, length curricula in `tasks.curriculum`; the trace tasks (``trace:MACHINE``: learn a
machine's step from its execution trace) in `tasks.trace`, and ``universal`` (random machines whose
tables sit in the model's memory: one interpreter for every machine) in `tasks.universal`.
The names below load on first use, so
``import tasks.errors`` (the command line's error handling) does not load torch.
"""

import importlib

_NAMES = {"Curriculum": "curriculum", "make_curriculum": "curriculum", "TaskError": "errors",
          "get_task": "registry", "task_names": "registry", "Batch": "task", "Task": "task", "TraceStep": "task",
          "TraceTask": "trace", "TraceBatch": "trace"}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
