"""Algorithmic tasks whose targets come from running the library's Turing machines.

    >>> import numpy as np, tasks
    >>> task = tasks.get_task("copy")
    >>> batch = task.sample(np.random.default_rng(0), 32, 20)   # the machine computes the targets
    >>> batch.inputs.shape, batch.targets.shape
    (torch.Size([32, 21, 9]), torch.Size([32, 20, 8]))
    >>> task.decode(batch.targets, batch.mask) == batch.output_symbols
    True

`Task` and `Batch` are in `tasks.task`, one module per task beside it, the names in
`tasks.registry`, length curricula in `tasks.curriculum`.
"""

from .curriculum import Curriculum, make_curriculum  # noqa: F401
from .errors import TaskError  # noqa: F401
from .registry import get_task, task_names  # noqa: F401
from .task import Batch, Task, TraceStep  # noqa: F401
