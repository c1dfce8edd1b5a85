"""`ntm compare|verify|plot RUN` and `ntm machine plot`: a trained model against its machine.

RUN is a run directory made by `ntm train` (it may have moved to another machine: pass
``--device``), or ``shipped:NAME`` for a run shipped with the package.

- ``compare``: score the model against the machine at each length (table, JSON, plot);
- ``verify``: search for an input where the model disagrees with the machine, and print the
  shrunk counterexample (exit 1) or "no counterexample in N examples" (exit 0);
- ``plot``: the run's figures, into RUN/plots/;
- ``machine plot``: a machine's space-time diagram.
"""

from __future__ import annotations

import argparse
import json

DEFAULT_SAMPLES = 512


def parse_lengths(text: str | None) -> list[int] | None:
    """``--lengths 1,10,20`` -> [1, 10, 20]. Raises ConfigError on anything but positive ints."""
    from ntm.errors import ConfigError
    if text is None:
        return None
    try:
        lengths = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(f"--lengths must be integers separated by commas, e.g. 1,10,20; got {text!r}") from None
    if not lengths or min(lengths) < 1:
        raise ConfigError(f"--lengths must be integers >= 1, got {text!r}")
    return lengths


def _check_lengths(task, lengths) -> None:
    from ntm.errors import ConfigError
    lo, hi = getattr(task, "min_length", 1), task.max_length
    bad = [n for n in lengths if not lo <= n <= hi]
    if bad:
        raise ConfigError(f"task {task.name!r} takes lengths {lo}..{hi}; got {', '.join(map(str, bad))}")


# ---------------------------------------------------------------- compare
def cmd_compare(args) -> int:
    from ntm.evaluate import compare, format_table, memory_rows
    from ntm.run_dir import load_run
    from ntm.train import default_compare_lengths
    from ntm.verify import model_device

    if args.samples < 1:
        from ntm.errors import ConfigError
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    model, task, config = load_run(args.run, args.device)
    lengths = (parse_lengths(args.lengths) or config.get("train", {}).get("compare_lengths")
               or default_compare_lengths(task))
    _check_lengths(task, lengths)
    device = model_device(model)
    rows = compare(model, task, lengths, samples=args.samples, device=device,
                   batch_size=min(args.samples, args.batch_size))
    N = memory_rows(model)
    if args.plot:
        from ntm import plots
        plots.accuracy_by_length(rows, args.plot, train_range=tuple(task.train_lengths), memory_rows=N,
                                 title=f"{task.name} · {config['model']['name']}: accuracy against length")
    if args.json:
        print(json.dumps({"run": config["run_dir"], "task": task.name, "model": config["model"]["name"],
                          "machine": task.machine_label, "memory_rows": N,
                          "train_lengths": list(task.train_lengths), "samples": args.samples,
                          "device": str(device), "lengths": rows}))
        return 0
    memory = f", memory N = {N}" if N is not None else ""
    print(f"{config['run_dir']}: task {task.name} (machine {task.machine_label}), "
          f"model {config['model']['name']}{memory}, trained on lengths "
          f"{task.train_lengths[0]}–{task.train_lengths[1]}; {args.samples} fixed sequences per length, "
          f"device {device}")
    print(format_table(rows))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


# ---------------------------------------------------------------- verify
def cmd_verify(args) -> int:
    from ntm.run_dir import load_run
    from ntm.verify import run_database, search

    model, task, config = load_run(args.run, args.device)
    db = run_database(config["run_dir"])
    r = search(model, task, min_length=args.min_length, max_length=args.max_length,
               max_examples=args.max_examples, seed=args.seed, database=db)
    lo, hi = r.lengths
    if r.counterexample is None:
        print(f"no counterexample in {r.examples} examples (task {task.name}, lengths {lo}–{hi}, seed {args.seed})")
        return 0
    print(r.counterexample)
    where = f"{config['run_dir']}/hypothesis"
    if r.replayed:
        print(f"(replayed from {where}: found by an earlier search)")
    else:
        print(f"(searched lengths {lo}–{hi}: {r.examples} inputs tried, shrinking included; "
              f"kept in {where} and replayed first next time)")
    return 1


# ---------------------------------------------------------------- plot
def cmd_plot(args) -> int:
    from ntm.plots import plot_run
    for path in plot_run(args.run, args.device, out=args.out, length=args.length, seed=args.seed):
        print(f"wrote {path}")
    return 0


def cmd_machine_plot(args) -> int:
    from ntm.cli_machine import load_spec, parse_word
    from ntm.plots import spacetime
    m, default_word = load_spec(args.spec)
    word = parse_word(args.input) if args.input is not None else (default_word or ())
    spacetime(m, word, args.output, max_steps=args.max_steps)
    print(f"wrote {args.output}")
    return 0


# ---------------------------------------------------------------- registration
def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory (from `ntm train`), or shipped:NAME")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="score a trained model against its machine, length by length",
                       description="For each input length: bit errors per sequence, per-symbol accuracy, "
                                   "sequence accuracy and the median first wrong position, on fixed "
                                   "machine-generated sequences. Lengths beyond the memory size N are flagged.")
    _run_arguments(c)
    c.add_argument("--lengths", help="comma-separated input lengths (default: the run's compare_lengths, "
                                     "else the training range and 1.5x-6x its maximum, e.g. 1,10,20,30,50,80,120)")
    c.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                   help=f"sequences per length (default {DEFAULT_SAMPLES})")
    c.add_argument("--batch-size", type=int, default=256, help="sequences per forward pass (default 256)")
    c.add_argument("--json", action="store_true", help="print one JSON object (a 'lengths' list)")
    c.add_argument("--plot", metavar="FILE.png", help="also draw accuracy against length")
    c.set_defaults(func=cmd_compare)

    v = sub.add_parser("verify", help="search for an input where the model disagrees with the machine",
                       description="Hypothesis draws inputs, runs machine and model, and shrinks the first "
                                   "disagreement to a minimal counterexample. Exit 1 when one is found.")
    _run_arguments(v)
    v.add_argument("--max-examples", type=int, default=100, help="inputs to try (default 100)")
    v.add_argument("--min-length", type=int, help="shortest input length (default: the training minimum)")
    v.add_argument("--max-length", type=int, help="longest input length (default: the training maximum)")
    v.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    v.set_defaults(func=cmd_verify)

    p = sub.add_parser("plot", help="a run's figures: learning curve, accuracy against length, memory use",
                       description="Writes learning_curve.png, accuracy_by_length.png and example.png "
                                   "(the NTM paper's Figure 6 layout) into RUN/plots/.")
    _run_arguments(p)
    p.add_argument("--out", help="output folder (default RUN/plots)")
    p.add_argument("--length", type=int, help="input length of the example (default: the longest training length)")
    p.add_argument("--seed", type=int, default=0, help="which example (default 0)")
    p.set_defaults(func=cmd_plot)


def register_machine_plot(machine_sub: argparse._SubParsersAction) -> None:
    """`ntm machine plot`: added to `ntm machine`'s subcommands by ntm/cli_machine.py."""
    p = machine_sub.add_parser("plot", help="draw a machine's space-time diagram (tape over steps)")
    p.add_argument("spec", help="library:NAME, a machine file, or a standard-format string")
    p.add_argument("--input", help="input word: one symbol per character, or symbols separated by spaces/commas")
    p.add_argument("-o", "--output", required=True, help="FILE.png (or .svg, .pdf)")
    p.add_argument("--max-steps", type=int, default=200, help="steps to draw at most (default 200)")
    p.set_defaults(func=cmd_machine_plot)
