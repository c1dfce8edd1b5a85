"""`ntm plot RUN`: a run's figures (learning curve, accuracy against length, the NTM paper's
Figure 6 layout), into RUN/plots/."""

from __future__ import annotations

import argparse

from ntm.cli.compare import run_arguments


def cmd_plot(args) -> int:
    from ntm.analysis.figures import plot_run
    from ntm.analysis.trace_figures import plot_trace_run
    from ntm.training.run_dir import read_config, resolve_run
    name = str(read_config(resolve_run(args.run))["task"]["name"])
    if name == "universal":
        from ntm.cli import UsageError
        raise UsageError("ntm plot does not draw universal runs yet (one machine per sample); use ntm compare "
                         "RUN and bench/bench_universal.py (docs/universal.md)")
    trace = name.startswith("trace:")
    for path in (plot_trace_run if trace else plot_run)(args.run, args.device, out=args.out, length=args.length, seed=args.seed):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="a run's figures: learning curve, accuracy against length, memory use",
                       description="Writes learning_curve.png, accuracy_by_length.png and example.png "
                                   "(the NTM paper's Figure 6 layout) into RUN/plots/; for a trace run "
                                   "learning_curve.png, exact_by_length.png and spacetime.png (its run "
                                   "beside the machine's).")
    run_arguments(p)
    p.add_argument("--out", help="output folder (default RUN/plots)")
    p.add_argument("--length", type=int, help="input length of the example (default: the longest training length; for a trace "
                                       "run the shortest compared length where the model leaves the machine, else 4x it)")
    p.add_argument("--seed", type=int, default=0, help="which example (default 0)")
    p.set_defaults(func=cmd_plot)
