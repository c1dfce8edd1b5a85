"""The grid: which cells a sweep runs (task × model × seed) and the config of each.

Everything here is checked before any cell starts: names, seed ranges, config files, the
protocol, and that every (task, model, options) builds. A problem is one `ConfigError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ntm.errors import ConfigError
from ntm.sweep.protocol import PROTOCOLS, apply_protocol, check_protocol
from turing.errors import did_you_mean


@dataclass(frozen=True)
class Cell:
    """One run of the grid; its run directory is ``OUT/cells/{name}``. `lr`: the learning rate of
    a sweep over learning rates (``--lrs``), None for the recipe's."""
    task: str
    model: str
    seed: int
    lr: float | None = None

    @property
    def name(self) -> str:
        lr = "" if self.lr is None else f"-lr{self.lr:g}"
        return f"{self.task}-{self.model}{lr}-seed{self.seed}"


def parse_names(text: str, known, what: str) -> list[str]:
    """``"copy,reverse"`` -> ``["copy", "reverse"]`` (order kept, duplicates dropped).

    Raises:
        ConfigError: empty, or a name not in `known` (the message lists the known ones).
    """
    names = list(dict.fromkeys(n.strip() for n in str(text).split(",") if n.strip()))
    if not names:
        raise ConfigError(f"--{what}s: no {what} named; known: {', '.join(known)}")
    for n in names:
        if n not in known:
            raise ConfigError(f"--{what}s: no {what} named {n!r}{did_you_mean(n, known)}; known: {', '.join(known)}")
    return names


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-4"`` (inclusive), ``"0,2,5"`` or a mix (``"0-2,7"``), sorted, duplicates dropped.

    Raises:
        ConfigError: a part that is not a non-negative integer or range, or a range whose end is
            below its start (``"3-1"``).
    """
    seeds: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ConfigError(f"--seeds: {part!r} is not a seed or a range like 0-4 (non-negative integers)")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise ConfigError(f"--seeds: the range {part!r} ends below its start; write {b}-{a}")
        seeds.update(range(a, b + 1))
    return sorted(seeds)


def parse_lrs(text) -> list[float] | None:
    """Learning rates from ``"1e-3,3e-4"`` (order kept, duplicates dropped); None or "" -> None.

    Raises:
        ConfigError: a part that is not a finite positive number.
    """
    if text is None or not str(text).strip():
        return None
    lrs: list[float] = []
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        try:
            lr = float(part)
        except ValueError:
            lr = float("nan")
        if not 0 < lr < float("inf"):
            raise ConfigError(f"--lrs: {part!r} is not a positive learning rate (write e.g. 1e-3,3e-4)")
        lrs.append(lr)
    return list(dict.fromkeys(lrs))


def cores() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def split_workers(workers: int | None, n_cells: int) -> tuple[int, int]:
    """(worker processes, numba kernel threads per worker): by default one worker per core (at
    most one per cell), the cores split evenly between them.

    Raises:
        ConfigError: workers below 1.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers must be an integer >= 1, got {workers!r}")
    n = cores()
    w = workers if workers is not None else max(1, min(n, n_cells))
    return w, max(1, n // w)


#: the recipes a sweep uses unless it is given a config dir (or none, `config_dir=False`): the
#: repository's configs/sweep/ (an editable install, as the README's, finds it; elsewhere no recipes)
RECIPES = Path(__file__).resolve().parents[2] / "configs" / "sweep"


def recipe_dir(config_dir) -> Path | None:
    """The recipe directory a sweep reads: `config_dir` if given, `RECIPES` when None (and present),
    none when False."""
    if config_dir is False:
        return None
    if config_dir is None:
        return RECIPES if RECIPES.is_dir() else None
    return Path(config_dir)


def recipe_path(config_dir, task: str, model: str) -> Path | None:
    """``DIR/TASK-MODEL.toml`` if present, else ``DIR/TASK.toml`` if present, else None (defaults)."""
    if config_dir is None:
        return None
    for name in (f"{task}-{model}.toml", f"{task}.toml"):
        if (Path(config_dir) / name).is_file():
            return Path(config_dir) / name
    return None


def cell_config(cell: Cell, *, config_dir=None, steps=None, max_seconds=None, device=None,
                kernel_threads: int | None = None, protocol: str | None = None):
    """The `TrainConfig` of one cell: the recipe file (or defaults), then the cell's task, model
    and seed, the protocol's fields, and the overrides (steps, max_seconds in seconds, device).

    Raises:
        ConfigError: an unreadable or invalid recipe, or an override out of range (names the file).
    """
    from ntm.training.config import TrainConfig
    path = recipe_path(config_dir, cell.task, cell.model)
    cfg = TrainConfig.from_toml(path) if path else TrainConfig()
    cfg.task, cfg.model, cfg.seed = cell.task, cell.model, cell.seed
    if cell.lr is not None:
        cfg.lr = cell.lr
    if protocol:
        apply_protocol(cfg, protocol)
    for name, value in (("steps", steps), ("max_seconds", max_seconds), ("device", device)):
        if value is not None:
            setattr(cfg, name, value)
    if cfg.kernel_threads is None:
        cfg.kernel_threads = kernel_threads
    cfg.validate(f"{path} (with the sweep's options)" if path else "sweep options")
    return cfg


def plan(tasks: str, models: str, seeds: str, *, config_dir=None, steps=None, max_seconds=None,
         device=None, workers=None, protocol=None, lrs=None,
         kernel_threads: int | None = None) -> tuple[list[tuple[Cell, object]], int]:
    """Every cell of the grid with its config, and the worker count, all checked. `lrs` (``"1e-3,3e-4"``
    or a list) adds a learning-rate axis: one cell per task × model × lr × seed. `kernel_threads`
    (a cell's NTM kernel threads, where the recipe sets none) defaults to this machine's cores
    split among the workers; a Ray sweep gives 1, its cells running on other machines.

    Returns:
        ([(cell, TrainConfig), ...] in task, model, lr, seed order, workers).

    Raises:
        ConfigError: an unknown task or model, a bad seed range, a missing config dir, an unknown
            protocol or one the task does not take, a recipe or option that does not build.
    """
    from ntm.models import MODEL_NAMES
    from tasks.registry import task_names
    task_list = parse_names(tasks, task_names(), "task")
    model_list = parse_names(models, MODEL_NAMES, "model")
    seed_list = parse_seeds(seeds)
    lr_list = parse_lrs(lrs if lrs is None or isinstance(lrs, str) else ",".join(map(str, lrs))) or [None]
    config_dir = recipe_dir(config_dir)
    if config_dir is not None and not config_dir.is_dir():
        raise ConfigError(f"--config-dir {config_dir}: not a directory")
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"--protocol {protocol!r}: known protocols: {', '.join(PROTOCOLS)}")
        for t in task_list:
            check_protocol(protocol, t)
    cells = [Cell(t, m, s, lr) for t in task_list for m in model_list for lr in lr_list for s in seed_list]
    n_workers, kthreads = split_workers(workers, len(cells))
    kthreads = kernel_threads or kthreads
    out = [(c, cell_config(c, config_dir=config_dir, steps=steps, max_seconds=max_seconds, device=device,
                           kernel_threads=kthreads, protocol=protocol)) for c in cells]
    _check_builds([cfg for _, cfg in out])
    return out, n_workers


def _check_builds(cfgs) -> None:
    """Build each distinct (task, options, model, options) once, so a bad option fails here.

    Raises:
        ConfigError: the task or model refuses its options (the registry's message).
    """
    import json

    from ntm.models import build_model
    from tasks.errors import TaskError
    from tasks.registry import get_task
    seen = set()
    for cfg in cfgs:
        key = json.dumps([cfg.task, cfg.task_params, cfg.model, cfg.model_params], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            task = get_task(cfg.task, **cfg.task_params)
            build_model(cfg.model, task.input_size, task.output_size, **cfg.model_params)
            lengths = cfg.compare_lengths or []
            if any(n > task.max_length for n in lengths):
                raise ConfigError(f"compare_lengths {lengths} go beyond the task's max_length {task.max_length}")
        except (TaskError, TypeError, ValueError) as e:
            raise ConfigError(f"task {cfg.task!r}, model {cfg.model!r}: {e}") from None
