"""`ntm plot RUN`: a run's figures (learning curve, accuracy against length, the NTM paper's
Figure 6 layout), into RUN/plots/."""

from __future__ import annotations

import argparse

from ntm.cli.compare import run_arguments


def cmd_plot(args) -> int:
    from ntm.analysis.figures import plot_run
    from ntm.analysis.trace_figures import plot_trace_run, plot_universal_run
    from ntm.training.run_dir import read_config, resolve_run
    name = str(read_config(resolve_run(args.run))["task"]["name"])
    plot = plot_universal_run if name == "universal" else plot_trace_run if name.startswith("trace:") else plot_run
    for path in plot(args.run, args.device, out=args.out, length=args.length, seed=args.seed):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="a run's figures: learning curve, accuracy against length, memory use",
                       description="Writes learning_curve.png, accuracy_by_length.png and example.png "
                                   "(the NTM paper's Figure 6 layout) into RUN/plots/; for a trace run "
                                   "learning_curve.png, exact_by_length.png and spacetime.png (its run "
                                   "beside the machine's); for a universal run learning_curve.png, "
                                   "spacetime_bb4.png and spacetime_random.png.")
    run_arguments(p)
    p.add_argument("--out", help="output folder (default RUN/plots)")
    p.add_argument("--length", type=int, help="input length of the example (default: the longest training length; for a trace "
                                       "run the shortest compared length where the model leaves the machine, else 4x it)")
    p.add_argument("--seed", type=int, default=0, help="which example (default 0)")
    p.set_defaults(func=cmd_plot)
