"""`ntm sweep`: train every task × model × seed of a grid (each cell an ordinary run directory
under OUT/cells/), resumably, on this machine or a Ray cluster (--address), and write
OUT/results.jsonl, OUT/table.md and OUT/plots/."""

from __future__ import annotations

import argparse


def cmd_sweep(args) -> int:
    from ntm.sweep import run_sweep
    config_dir = False if args.no_recipes else args.config_dir
    res = run_sweep(args.tasks, args.models, args.seeds, out=args.out, config_dir=config_dir, steps=args.steps,
                    budget_seconds=args.budget_seconds, device=args.device, workers=args.workers,
                    protocol=args.protocol, address=args.address, lrs=args.lrs, write_recipes=args.write_recipes,
                    progress=not args.quiet)
    print(f"{len(res.ran)} cells run, {len(res.reused)} already finished, {len(res.failed)} failed; "
          f"results in {res.out / 'results.jsonl'}")
    if res.table is not None:
        print(res.table.read_text(encoding="utf-8"), end="")
    return 1 if res.failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="train a grid of task × model × seed runs and tabulate them",
                       description=__doc__)
    p.add_argument("--tasks", required=True, help="comma-separated task names (see `ntm tasks list`)")
    p.add_argument("--models", required=True, help="comma-separated model names (ntm, lstm, gru, rnn, ...)")
    p.add_argument("--seeds", required=True, help="seeds: a range 0-4 (inclusive), a list 0,2,5, or both")
    recipes = p.add_mutually_exclusive_group()
    recipes.add_argument("--config-dir", help="recipes DIR/TASK-MODEL.toml or DIR/TASK.toml (TrainConfig fields); "
                         "a cell without one trains with the defaults (default: the repository's configs/sweep/)")
    recipes.add_argument("--no-recipes", action="store_true", help="no recipes: every cell on the defaults")
    p.add_argument("--steps", type=int, help="step limit of every cell (default: the recipe's)")
    p.add_argument("--budget-seconds", type=float, help="wall-clock budget of each cell (seconds)")
    p.add_argument("--device", help="auto | cpu | cuda | mps (default: the recipe's, auto)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core, at most one per cell; "
                   "the NTM kernels' threads are split between them); not with --address")
    p.add_argument("--protocol", choices=("chomsky",), help="chomsky: train on 1-40 (Adam, clipping 1), score "
                   "per-token accuracy at 41, 60, 100, 200, 300, 500 (reverse, duplicate, binary_addition[_le])")
    p.add_argument("--address", help="run the cells on a Ray cluster: HOST:PORT, ray://HOST:PORT, auto, or "
                   "local (start Ray in this process, to try it); its nodes must share --out's filesystem; "
                   "needs the cluster extra: pip install -e '.[cluster]'")
    p.add_argument("--lrs", help="a learning-rate axis, e.g. 1e-3,3e-4,1e-4: one cell per task x model x lr x seed, "
                   "the table's best lr per task and model (the Chomsky-hierarchy paper's grid)")
    p.add_argument("--write-recipes", metavar="DIR", help="with --lrs: write the best lr per task and model (median "
                   "over seeds) into DIR/TASK-MODEL.toml, on top of the recipe the cells used")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="the sweep's directory (made; a second call resumes it)")
    p.set_defaults(func=cmd_sweep)
