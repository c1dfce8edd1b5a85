"""Recipes chosen by a sweep: after a sweep over learning rates (``--lrs``), the best one per task
and model written into ``DIR/TASK-MODEL.toml`` (``--write-recipes DIR``), on top of the recipe the
cells trained with, so that the next sweep (``--config-dir DIR``, or configs/sweep/ itself) trains
each task and model with it.

The choice is the Chomsky-hierarchy paper's (Delétang et al. 2023, §4: a grid over learning rates
and seeds, the best learning rate kept), but by the median over seeds, not the best seed: one lucky
seed does not choose the recipe. TOML is written with tomli_w (tomllib only reads).
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from pathlib import Path

import tomli_w

from ntm.errors import ConfigError
from ntm.sweep.grid import recipe_path
from ntm.training.checkpoint import write_text
from ntm.sweep.table import _pct, best_lrs, budget


def recipe_text(base: dict, lr: float, why: str) -> str:
    """A recipe's TOML: `base` (a recipe's fields) with `lr` set, under a comment saying why."""
    fields = {**base, "lr": lr}
    head = "".join(f"# {line}\n" for line in why.splitlines())
    return head + tomli_w.dumps(fields)


def write_recipes(summaries: list[dict], out_dir, source_dir=None) -> list[Path]:
    """Write DIR/TASK-MODEL.toml for every (task, model) of a sweep over learning rates: the recipe
    the cells trained with (from `source_dir`, if it had one) and the best learning rate
    (`table.best_lrs`). A file there already is replaced (atomically). Returns the paths written.

    Raises:
        ConfigError: `out_dir` exists and is not a directory, or a source recipe cannot be read.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--write-recipes {out_dir}: exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    tried = {}
    for s in summaries:
        if s["lr"] is not None:
            tried.setdefault((s["task"], s["model"]), []).append(s)
    written = []
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    for (task, model), best in best_lrs(summaries).items():
        src = recipe_path(source_dir, task, model)
        try:
            base = tomllib.loads(src.read_text(encoding="utf-8")) if src else {}
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{src}: cannot read the recipe to build on ({e})") from None
        others = ", ".join(f"{s['lr']:g}: {_pct(s['median_score'])}" for s in tried[(task, model)])
        seeds = f"{best['seeds']} seed{'s' if best['seeds'] != 1 else ''}"
        why = (f"Chosen by `ntm sweep --lrs` on {date}: the learning rate with the highest median score over "
               f"{seeds} ({others}; %; ties to the fewer errors at the longest training length), {budget(best)}.\n"
               f"Built on {src if src else 'the defaults'}.")
        path = out_dir / f"{task}-{model}.toml"
        write_text(path, recipe_text(base, best["lr"], why))
        written.append(path)
    return written
