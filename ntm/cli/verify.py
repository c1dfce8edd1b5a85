"""`ntm verify RUN`: search for an input where the model disagrees with the machine, and print the
shrunk counterexample (exit 1) or "no counterexample in N examples" (exit 0). On a universal run the
counterexample's machine is shrunk as well and printed after it (`ntm.analysis.universal_shrink`)."""

from __future__ import annotations

import argparse

from ntm.cli.compare import run_arguments


def cmd_verify(args) -> int:
    from ntm.analysis.verify import database_path, run_database, search
    from ntm.training.run_dir import load_run

    model, task, config = load_run(args.run, args.device)
    db = run_database(config["run_dir"])
    r = search(model, task, min_length=args.min_length, max_length=args.max_length,
               max_examples=args.max_examples, seed=args.seed, database=db, shrink_calls=args.shrink_calls)
    lo, hi = r.lengths
    if r.counterexample is None:
        print(f"no counterexample in {r.examples} examples (task {task.name}, lengths {lo}–{hi}, seed {args.seed})")
        return 0
    print(r.counterexample)
    if r.shrunk is not None:
        print(r.shrunk)
    where = database_path(config["run_dir"])
    if r.replayed:
        print(f"(replayed from {where}: found by an earlier search)")
    else:
        print(f"(searched lengths {lo}–{hi}: {r.examples} inputs tried, shrinking included; "
              f"kept in {where} and replayed first next time)")
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("verify", help="search for an input where the model disagrees with the machine",
                       description="Hypothesis draws inputs, runs machine and model, and shrinks the first "
                                   "disagreement to a smaller counterexample (the shortest hypothesis reached, "
                                   "not a proven minimum); on a universal run the counterexample's machine is "
                                   "shrunk too (its unused entries, unreachable states and input). Exit 1 when "
                                   "one is found.")
    run_arguments(v)
    v.add_argument("--max-examples", type=int, default=100, help="inputs to try (default 100)")
    v.add_argument("--min-length", type=int, help="shortest input length (default: the training minimum)")
    v.add_argument("--max-length", type=int, help="longest input length (default: the training maximum)")
    v.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    v.add_argument("--shrink-calls", type=int, default=64,
                   help="universal runs: the most model runs spent shrinking the counterexample's machine "
                        "(its table, states and input; default 64, 0: not shrunk)")
    v.set_defaults(func=cmd_verify)
