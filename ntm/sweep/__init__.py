"""Grids of runs: every task × model × seed from one call, locally, and the table of results.

Rooms: `grid` (the cells, their configs, and every check made before a cell starts), `protocol`
(evaluation presets: ``chomsky``), `local` (running cells in worker processes), `results`
(OUT/results.jsonl, one row per cell, read from its run directory), `table` (OUT/table.md:
medians and maxima over seeds), `plots` (OUT/plots/TASK.png), `sweep` (`run_sweep`).

    >>> from ntm.sweep import run_sweep
    >>> run_sweep("copy,reverse", "lstm,ntm", "0-1", steps=300, out="/tmp/s")   # doctest: +SKIP
"""

import importlib

# loaded on first use, so that `ntm sweep --help` loads no torch
_NAMES = {"run_sweep": "sweep", "SweepResult": "sweep", "Cell": "grid", "parse_seeds": "grid", "plan": "grid",
          "summarize": "table", "format_markdown": "table", "cell_score": "table"}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
