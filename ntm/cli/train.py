"""`ntm train`: the main job — train a model on a machine-generated task, then compare it with
the machine at the training lengths and beyond."""

from __future__ import annotations

import argparse
from pathlib import Path


def _default_out(task: str, model: str, seed: int) -> Path:
    """runs/TASK-MODEL-seedS, the task's name made one plain folder name (``trace:m.yaml`` and
    ``trace:dir/m.yaml`` both give ``trace-m``: no ':' and no '/')."""
    import re
    if task.startswith("trace:"):
        task = "trace-" + Path(task[len("trace:"):]).stem
    base = Path("runs") / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', task)}-{model}-seed{seed}"
    out, i = base, 2
    while out.exists():  # never overwrite an earlier run: number the new one
        out, i = Path(f"{base}-{i}"), i + 1
    return out


# flags that override the config file's (or the default) fields
OVERRIDES = ("task", "model", "steps", "batch_size", "lr", "seed", "device", "optimizer", "curriculum",
             "max_seconds", "polish_steps")


def _trace_flags(args, cfg) -> None:
    """--supervision, --controller and --train-lengths into the config (trace tasks: the model is
    trace_ntm unless --model says otherwise)."""
    from ntm.cli import UsageError
    trace = isinstance(cfg.task, str) and cfg.task.startswith("trace:")
    universal = cfg.task == "universal"            # tasks.universal: the model is universal_ntm
    if trace and args.model is None and cfg.model == "ntm":
        cfg.model = "trace_ntm"
    if universal and args.model is None and cfg.model == "ntm":
        cfg.model = "universal_ntm"
    if args.controller and universal:
        raise UsageError("--controller applies to trace:MACHINE tasks; the universal NTM's controller is feed-forward")
    if (args.supervision or args.controller) and not (trace or universal):
        raise UsageError("--supervision and --controller apply to trace tasks (--task trace:MACHINE or universal)")
    if args.supervision:
        cfg.task_params = {**cfg.task_params, "supervision": args.supervision}
    if args.controller:
        cfg.model_params = {**cfg.model_params, "controller": args.controller}
    if args.train_lengths:
        lo, _, hi = args.train_lengths.partition("-")
        try:
            pair = [int(lo), int(hi or lo)]
        except ValueError:
            raise UsageError(f"--train-lengths takes MIN-MAX, e.g. 1-8; got {args.train_lengths!r}") from None
        cfg.task_params = {**cfg.task_params, "train_lengths": pair}


def cmd_train(args) -> int:
    from ntm.cli import UsageError
    from ntm.training import TrainConfig, resume, train
    if args.resume:
        if not args.out:
            raise UsageError("--resume needs --out RUN (the run directory to continue)")
        if not (Path(args.out) / "config.json").exists():
            raise UsageError(f"{args.out}: no run to resume there (no config.json); drop --resume to start one")
        fixed = [f"--{n.replace('_', '-')}" for n in OVERRIDES + ("supervision", "controller", "train_lengths")
                 if n not in ("steps", "max_seconds") and getattr(args, n) is not None] + (["--config"] if args.config else [])
        if fixed:
            raise UsageError(f"{', '.join(fixed)}: a resumed run keeps its own config "
                             f"({args.out}/config.json); only --steps (higher) and --max-seconds apply")
        result = resume(args.out, steps=args.steps, max_seconds=args.max_seconds, progress=not args.quiet)
    else:
        cfg = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
        for name in OVERRIDES:
            if getattr(args, name) is not None:
                setattr(cfg, name, getattr(args, name))
        _trace_flags(args, cfg)
        source = f"{args.config} (with the command line's flags)" if args.config else "command line"
        cfg.validate(source)
        out = Path(args.out) if args.out else _default_out(cfg.task, cfg.model, cfg.seed)
        result = train(cfg, out, progress=not args.quiet, source=source)
    return 0 if result.converged or not args.require_convergence else 1


def register(sub: argparse._SubParsersAction) -> None:
    from ntm.training.config import TrainConfig
    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on a task and compare it with the machine",
                       description=__doc__)
    p.add_argument("--task", help=f"task name (see `ntm tasks list`), or trace:MACHINE to learn a machine's "
                   f"step from its trace (a library machine or a machine file; default {d.task})")
    p.add_argument("--model", help=f"ntm | dnc | stack_rnn | tape_rnn | lstm | gru | rnn | bilstm | mlp; trace_ntm for trace tasks, "
                   f"universal_ntm for universal (default {d.model}; trace_ntm for trace:MACHINE, universal_ntm for universal)")
    p.add_argument("--supervision", choices=("trace", "writes", "moves", "output"),
                   help="trace tasks: what the loss sees of the machine's run (default trace; see tasks.trace)")
    p.add_argument("--controller", choices=("ff", "lstm"),
                   help="trace tasks: the trace NTM's controller (default ff: feed-forward, state fed back)")
    p.add_argument("--train-lengths", metavar="MIN-MAX", help="the task's training lengths, e.g. 1-8")
    p.add_argument("--config", help="TOML file with TrainConfig fields ([task_params], [model_params] tables)")
    p.add_argument("--steps", type=int, help=f"optimizer steps at most (default {d.steps}); with --resume, "
                   "a higher limit than the run's own to train on (without it the run keeps its limit)")
    p.add_argument("--batch-size", type=int, help=f"sequences per step (default {d.batch_size})")
    p.add_argument("--lr", type=float, help=f"learning rate (default {d.lr:g})")
    p.add_argument("--optimizer", choices=("adam", "rmsprop", "sgd"), help=f"default {d.optimizer}")
    p.add_argument("--curriculum", choices=("fixed", "uniform", "increasing", "adaptive"), help=f"default {d.curriculum}")
    p.add_argument("--seed", type=int, help=f"random seed (default {d.seed})")
    p.add_argument("--device", help="auto | cpu | cuda | mps (default auto)")
    p.add_argument("--max-seconds", type=float, help="wall-clock budget for training")
    p.add_argument("--polish-steps", type=int, help=f"steps trained on after converging, scored at the longest "
                   f"training length (default {d.polish_steps}; 0: stop at convergence)")
    p.add_argument("--out", help="run directory (default runs/TASK-MODEL-seedS, numbered if it exists)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--require-convergence", action="store_true",
                   help="exit 1 if the target error was not reached")
    p.set_defaults(func=cmd_train)
    
