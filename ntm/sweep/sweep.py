"""`run_sweep`: the whole grid as one call, on this machine or a Ray cluster (``ntm sweep`` is a
thin layer over it)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ntm.errors import CheckpointError, ConfigError
from ntm.sweep import cluster, results
from ntm.sweep.grid import plan
from ntm.sweep.local import run_cells
from ntm.sweep.plots import write_plots
from ntm.sweep.table import format_markdown, summarize


@dataclass
class SweepResult:
    out: Path
    ran: list[str] = field(default_factory=list)       # cells trained (or resumed) by this call
    reused: list[str] = field(default_factory=list)    # cells already finished: not run again
    failed: dict[str, str] = field(default_factory=dict)  # cell -> one-line error (run again to retry)
    stale: dict[str, list] = field(default_factory=dict)  # reused cell -> config fields unlike this call's
    rows: list[dict] = field(default_factory=list)     # results rows of the grid's finished cells
    table: Path | None = None
    plots: list[Path] = field(default_factory=list)
    recipes: list[Path] = field(default_factory=list)  # recipes written (write_recipes)


def _text(x) -> str:
    return x if isinstance(x, str) else ",".join(map(str, x))


def run_sweep(tasks, models, seeds, *, out, config_dir=None, steps: int | None = None,
              budget_seconds: float | None = None, device: str | None = None, workers: int | None = None,
              protocol: str | None = None, address: str | None = None, lrs=None, write_recipes=None,
              progress: bool = True, log=print) -> SweepResult:
    """Train every task × model × seed cell into ``OUT/cells/TASK-MODEL-seedS/`` (an ordinary run
    directory), then write OUT/results.jsonl, OUT/table.md and OUT/plots/TASK.png.

    Resumable: a cell whose directory holds comparison.json is not run again; one with a started
    run resumes from its checkpoint. Everything is checked before anything is written.

    Args:
        tasks, models: names, as ``"copy,reverse"`` or a list.
        seeds: ``"0-4"``, ``"0,2,5"`` or a list of integers.
        config_dir: recipes ``DIR/TASK-MODEL.toml`` or ``DIR/TASK.toml`` (TrainConfig fields); a cell
            without one trains with the defaults. None: the repository's recipes, configs/sweep/
            (`grid.RECIPES`); False: none (every cell on the defaults).
        steps: the step limit of every cell; budget_seconds: each cell's wall-clock budget (seconds);
            device: auto | cpu | cuda | mps.
        workers: worker processes (default one per core, at most one per cell; 1 runs the cells in
            this process); the NTM kernels' threads are split between them. Local sweeps only.
        protocol: None, or "chomsky" (see `ntm.sweep.protocol`).
        address: run the cells as Ray tasks on the cluster there (``HOST:PORT``, ``ray://HOST:PORT``,
            ``auto``, or ``local`` to start Ray in this process), whose nodes share OUT's
            filesystem; None runs them on this machine (see `ntm.sweep.cluster`).
        lrs: a learning-rate axis (``"1e-3,3e-4"`` or a list): one cell per task × model × lr × seed;
            the table gives each lr its own row and the best lr per task and model.
        write_recipes: with `lrs`, write the best lr per task and model into
            ``DIR/TASK-MODEL.toml`` on top of the recipe the cells trained with (`ntm.sweep.recipes`).
        progress: a progress bar over cells.

    Returns:
        A `SweepResult` (cells run, reused and failed; a failed cell leaves no row and runs again
        on the next call).

    Raises:
        ConfigError: a bad name, seed range, learning rate, recipe, option or protocol, OUT is a
            file, workers given with an address, or write_recipes without lrs (nothing is written then).
        ClusterError: an address, and Ray is not installed or the address is malformed or
            unreachable (nothing is written then).
    """
    out = Path(out)
    _check_options(out, address, workers, lrs, write_recipes)
    grid, n_workers = plan(_text(tasks), _text(models), _text(seeds) if not isinstance(seeds, int) else str(seeds),
                           config_dir=config_dir, steps=steps, max_seconds=budget_seconds, device=device,
                           workers=workers, protocol=protocol, lrs=lrs,
                           kernel_threads=1 if address is not None else None)
    with cluster.connected(address) if address is not None else nullcontext():
        (out / "cells").mkdir(parents=True, exist_ok=True)
        res = SweepResult(out)
        _run_grid(res, grid, protocol, address, n_workers, progress, log)
    _report(res, {c.name for c, _ in grid}, protocol, log)
    if write_recipes is not None and res.rows:
        _write_recipes(res, write_recipes, config_dir, protocol, log)
    return res


def _run_grid(res: SweepResult, grid, protocol: str | None, address, n_workers: int, progress: bool, log) -> None:
    """Run the grid's unfinished cells (locally, or as Ray tasks with an address), appending each
    finished cell's row to OUT/results.jsonl as it ends; `res` records what ran and what failed."""
    out, cells = res.out, {c.name: c for c, _ in grid}
    jobs = _reuse_finished(res, grid, protocol, log)

    def on_done(name: str) -> str | None:
        try:
            results.append(out / "results.jsonl", results.row_from_run(out / "cells" / name, cells[name], protocol))
        except CheckpointError as e:
            return f"CheckpointError: {e}"
        res.ran.append(name)
        return None
    if address is None:
        res.failed.update(run_cells(jobs, n_workers, on_done, progress=progress))
    else:
        res.failed.update(cluster.run_cells_ray(jobs, on_done, progress=progress))


def _write_recipes(res: SweepResult, out_dir, config_dir, protocol: str | None, log) -> None:
    """The best learning rate per task and model into OUT_DIR/TASK-MODEL.toml (`ntm.sweep.recipes`)."""
    from ntm.sweep.grid import recipe_dir
    from ntm.sweep.recipes import write_recipes
    res.recipes = write_recipes(summarize(res.rows, protocol), out_dir, recipe_dir(config_dir))
    log(f"{len(res.recipes)} recipe{'s' if len(res.recipes) != 1 else ''} written to {out_dir}")


def _check_options(out: Path, address, workers, lrs, write_recipes) -> None:
    """ConfigError for options that do not go together (before anything is written)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if address is not None and workers is not None:
        raise ConfigError("--workers is for local sweeps; with --address every cell is one Ray task, placed by Ray")
    if write_recipes is not None and not lrs:
        raise ConfigError("--write-recipes chooses a learning rate per task and model: give --lrs too")
    if write_recipes is not None and Path(write_recipes).exists() and not Path(write_recipes).is_dir():
        raise ConfigError(f"--write-recipes {write_recipes}: exists and is not a directory")


def _reuse_finished(res: SweepResult, grid, protocol: str | None, log) -> list[tuple[str, object, Path]]:
    """Take the grid's finished cells' rows (noting those trained under another config), rewrite
    OUT/results.jsonl without rows of cells that will run, and return the jobs left to run."""
    out = res.out
    path = out / "results.jsonl"
    names = {c.name for c, _ in grid}
    kept = [r for r in results.read_rows(path) if r["cell"] not in names]   # other grids' cells: kept as they are
    for cell, cfg in grid:
        if results.finished(out / "cells" / cell.name):
            try:
                kept.append(results.row_from_run(out / "cells" / cell.name, cell, protocol))
                res.reused.append(cell.name)
                if results.config_changes(out / "cells" / cell.name, cfg):
                    res.stale[cell.name] = results.config_changes(out / "cells" / cell.name, cfg)
            except CheckpointError as e:
                res.failed[cell.name] = f"CheckpointError: {e}"
    results.rewrite(path, kept)
    if res.stale:
        fields = sorted({f for fs in res.stale.values() for f in fs})
        log(f"{len(res.stale)} finished cells were trained under another config ({', '.join(fields)} differ): "
            "kept as they are (their rows carry its hash); delete a cell's comparison.json to run it again")
    if res.reused:
        log(f"{len(res.reused)} of {len(grid)} cells already finished (not run again)")
    return [(c.name, cfg, out / "cells" / c.name) for c, cfg in grid
            if c.name not in res.reused and c.name not in res.failed]


def _report(res: SweepResult, names: set[str], protocol: str | None, log) -> None:
    """The table and plots over the grid's finished cells."""
    res.rows = [r for r in results.read_rows(res.out / "results.jsonl") if r["cell"] in names]
    for name, msg in res.failed.items():
        log(f"cell {name} failed: {msg}")
    if not res.rows:
        return
    text = format_markdown(summarize(res.rows, protocol), protocol)
    from ntm.training.checkpoint import write_text
    write_text(res.out / "table.md", text)
    res.table = res.out / "table.md"
    res.plots = write_plots(res.rows, res.out / "plots", protocol)
