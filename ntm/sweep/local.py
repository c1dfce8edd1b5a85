"""Running cells on this machine: one cell (`run_cell`, what a worker process or a Ray task runs)
and many (`run_cells`: a spawn-context process pool, or this process for one worker), with a
progress bar over cells (`Tally`, shared with `ntm.sweep.cluster`)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable


def run_cell(cfg, run_dir) -> None:
    """Train one cell in `run_dir`, or resume it when the directory holds a started run (its own
    config; `cfg.steps` raises its step limit, `cfg.max_seconds` is this session's budget in
    seconds). One-line messages go to RUN/sweep.log. Picklable arguments: runs in a spawned worker
    or a Ray task. A finished cell (comparison.json there) is left as it is.

    Raises:
        whatever `ntm.training.train` / `resume` raise (ConfigError, CheckpointError, DivergenceError).
    """
    from ntm.sweep.results import finished
    from ntm.training import resume, train
    from ntm.training.checkpoint import read_json
    run_dir = Path(run_dir)
    if finished(run_dir):       # a retried Ray task whose first attempt died after finishing: not run twice
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "sweep.log", "a", encoding="utf-8") as f:
        def log(msg: str) -> None:
            f.write(f"{msg}\n")
            f.flush()
        log(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}")
        if (run_dir / "config.json").exists():
            saved = read_json(run_dir / "config.json")["train"]["steps"]
            resume(run_dir, steps=cfg.steps if cfg.steps >= saved else None, max_seconds=cfg.max_seconds,
                   progress=False, log=log)
        else:
            train(cfg, run_dir, progress=False, log=log)


def _exit_with(parent: int) -> None:
    """Pool initializer: end this worker when the sweep process that started it is gone. A process
    pool's workers outlive a parent killed by a signal, and went on training the cells already
    queued to them (seen here: an orphan trained for 49 minutes); a restarted sweep would then train
    those cells twice, in the same run directories. Polls the parent id once a second (portable;
    Linux's PR_SET_PDEATHSIG fires when the creating *thread* ends, which in a pool need not be the
    parent's end). The cell's run directory survives the exit like any kill: the next sweep resumes it."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-sweep", daemon=True).start()


def one_line(e: BaseException) -> str:
    """A cell's error as one line: its type and message (a dead pool worker says how to resume)."""
    if type(e).__name__ == "BrokenProcessPool":
        return "a worker process died (killed?); run the sweep again to resume this cell"
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


class _Bar:
    """A rich progress bar over cells (done / running / failed, elapsed, ETA), or nothing."""

    def __init__(self, total: int, show: bool):
        self.progress = None
        if show and total:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
            self.progress = Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.description}"), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn())
            self.progress.start()
            self.task = self.progress.add_task("", total=total)

    def update(self, done: int, running: int, failed: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done + failed,
                                 description=f"{done} done, {running} running, {failed} failed")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


class Tally:
    """The cells finished and failed so far, and the progress bar over them: what every scheduler
    (this module's, `ntm.sweep.cluster`'s) reports the same way. `on_done(name)` is called when a
    cell's run ends without error and returns an error message (its row could not be read) or None."""

    def __init__(self, total: int, on_done: Callable[[str], str | None], progress: bool):
        self.failed: dict[str, str] = {}
        self.done = 0
        self.on_done = on_done
        self.bar = _Bar(total, progress)

    def finish(self, name: str, error: str | None) -> None:
        """Record a cell's end: `error` is its one-line error, None when its run ended well."""
        msg = error if error is not None else self.on_done(name)
        if msg is None:
            self.done += 1
        else:
            self.failed[name] = msg

    def show(self, running: int) -> None:
        self.bar.update(self.done, running, len(self.failed))

    def close(self) -> None:
        self.bar.close()


def run_cells(jobs: list[tuple[str, object, Path]], workers: int, on_done: Callable[[str], str | None], *,
              progress: bool = True) -> dict[str, str]:
    """Run every (name, cfg, run_dir) job; `on_done(name)` is called in this process when a cell
    finishes and returns an error message or None. Returns {cell name: one-line error} of the
    cells that failed (the others finished)."""
    tally = Tally(len(jobs), on_done, progress)
    try:
        if workers == 1:                      # one worker: this process, one cell after another
            for name, cfg, run_dir in jobs:
                tally.show(1)
                try:
                    run_cell(cfg, run_dir)
                    tally.finish(name, None)
                except Exception as e:        # noqa: BLE001 - one cell's failure must not stop the grid
                    tally.finish(name, one_line(e))
            tally.show(0)
            return tally.failed
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, max(1, len(jobs))), mp_context=ctx,
                                 initializer=_exit_with, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(run_cell, cfg, run_dir): name for name, cfg, run_dir in jobs}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for f in finished:
                    tally.finish(futures[f], one_line(f.exception()) if f.exception() is not None else None)
                tally.show(sum(f.running() for f in pending))
        return tally.failed
    finally:
        tally.close()
