"""OUT/results.jsonl: one row per finished cell, read from its run directory.

A row is built from the run directory alone (config.json, checkpoint/state.json, metrics.jsonl,
comparison.json), so a cell found finished on a restart gets the same row as when it ran. Rows are
appended one line at a time (flush, fsync); a restart keeps the last row of each cell, drops torn
lines and rows of cells that will run again, and rewrites the file atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ntm.errors import CheckpointError


def config_hash(train_section: dict) -> str:
    """sha256 (hex) of a run's config.json "train" section, keys sorted."""
    return hashlib.sha256(json.dumps(train_section, sort_keys=True).encode()).hexdigest()


def finished(run_dir) -> bool:
    """Whether the run directory holds its final comparison (the run is done)."""
    return (Path(run_dir) / "comparison.json").is_file()


def config_changes(run_dir, cfg) -> list[str]:
    """The TrainConfig fields on which the run in `run_dir` differs from `cfg`, leaving out those a
    sweep may change without making it another run (steps, max_seconds, kernel_threads).

    Raises:
        CheckpointError: config.json missing or damaged.
    """
    import dataclasses

    from ntm.training.checkpoint import read_json
    saved = read_json(Path(run_dir) / "config.json")["train"]
    want = json.loads(json.dumps(dataclasses.asdict(cfg)))       # tuples as lists, as config.json has them
    return sorted(k for k in want if k not in _FREE and saved.get(k) != want[k])


_FREE = ("steps", "max_seconds", "kernel_threads")


def _to_target(run_dir: Path, converged_step: int | None) -> tuple[int | None, float | None]:
    """(sequences, seconds) seen when the evaluation first met the target, from metrics.jsonl."""
    if converged_step is None or not (run_dir / "metrics.jsonl").exists():
        return None, None
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step") == converged_step:
            return row.get("sequences"), row.get("seconds")
    return None, None


def row_from_run(run_dir, cell, protocol: str | None) -> dict:
    """The results row of a finished cell.

    Returns:
        task, model, seed, cell, protocol, config_hash, lr (the run's learning rate), lr_axis (the
        cell's learning rate in a sweep over them, else None), steps (taken), budget_steps, batch_size,
        max_seconds, converged, sequences_to_target and seconds_to_target (None when not reached),
        best_bits (bits per sequence), train_lengths [lo, hi] and comparison (the rows of
        comparison.json: accuracy per length).

    Raises:
        CheckpointError: a file of the run directory missing or damaged (names it).
    """
    from ntm.training.checkpoint import read_json
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    train = config["train"]
    state = read_json(run_dir / "checkpoint" / "state.json") if (run_dir / "checkpoint").exists() else {}
    comparison = read_json(run_dir / "comparison.json")
    if not isinstance(comparison, dict) or not isinstance(comparison.get("lengths"), list):
        raise CheckpointError(f"{run_dir / 'comparison.json'}: no 'lengths' rows")
    seqs, secs = _to_target(run_dir, state.get("converged_step"))
    from tasks.registry import get_task
    task = get_task(train["task"], **train["task_params"])
    return {"task": cell.task, "model": cell.model, "seed": cell.seed, "cell": cell.name, "protocol": protocol,
            "config_hash": config_hash(train), "lr": train["lr"], "lr_axis": cell.lr, "steps": state.get("step"), "budget_steps": train["steps"],
            "batch_size": train["batch_size"], "max_seconds": train["max_seconds"],
            "converged": state.get("converged_step") is not None,
            "sequences_to_target": seqs, "seconds_to_target": secs, "best_bits": state.get("best_bits"),
            "train_lengths": list(task.train_lengths), "comparison": comparison["lengths"]}


def read_rows(path) -> list[dict]:
    """The rows of a results file, the last per cell kept (in first-seen order); torn lines skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue                      # a line torn by a kill
        if isinstance(row, dict) and isinstance(row.get("cell"), str):
            rows[row["cell"]] = row
    return list(rows.values())


def rewrite(path, rows: list[dict]) -> None:
    """Replace the results file with `rows`, atomically (a temporary file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def append(path, row: dict) -> None:
    """Append one row as one line, flushed and fsynced before returning."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
