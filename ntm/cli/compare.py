"""`ntm compare RUN`: score a trained model against its machine at each length (table, JSON, plot).

RUN is a run directory made by `ntm train` (it may have moved to another machine: pass
``--device``), or ``shipped:NAME`` for a run shipped with the package. `run_arguments` and
`parse_lengths` are shared with ``ntm verify`` and ``ntm plot``.
"""

from __future__ import annotations

import argparse
import json
import textwrap

DEFAULT_SAMPLES = 512


def parse_lengths(text: str | None) -> list[int] | None:
    """``--lengths 1,10,20`` -> [1, 10, 20]. Raises ConfigError on anything but positive ints."""
    from ntm.errors import ConfigError
    if text is None:
        return None
    try:
        lengths = [int(x) for x in text.replace(" ", "").split(",")]
    except ValueError:
        raise ConfigError(f"--lengths must be integers separated by commas, e.g. 1,10,20; got {text!r}") from None
    if not lengths or min(lengths) < 0:
        raise ConfigError(f"--lengths must be integers >= 0, got {text!r}")
    return lengths


def _check_lengths(task, lengths) -> None:
    from ntm.errors import ConfigError
    lo, hi = getattr(task, "min_length", 1), task.max_length
    bad = [n for n in lengths if not lo <= n <= hi]
    if bad:
        raise ConfigError(f"task {task.name!r} takes lengths {lo}..{hi}; got {', '.join(map(str, bad))}")


# ---------------------------------------------------------------- compare
def cmd_compare(args) -> int:
    from ntm.analysis.compare import compare, default_compare_lengths, format_table
    from ntm.analysis.verify import model_device
    from ntm.models import memory_rows
    from ntm.training.run_dir import load_run

    if args.samples < 1:
        from ntm.errors import ConfigError
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    rows = args.memory_rows
    if rows is None:                                     # the run's own comparison memory, if it set one
        from ntm.training.run_dir import read_config, resolve_run
        rows = read_config(resolve_run(args.run)).get("train", {}).get("compare_memory_rows")
    model, task, config = load_run(args.run, args.device, memory_rows=rows)
    if args.machines is not None:
        return _compare_machines(args, model, task, config)
    if task.loss_kind == "trace":
        return _compare_trace(args, model, task, config)
    lengths = (parse_lengths(args.lengths) or config.get("train", {}).get("compare_lengths")
               or default_compare_lengths(task))
    _check_lengths(task, lengths)
    _check_heads(args, model, task)                      # refused before the comparison's work
    device = model_device(model)
    rows = compare(model, task, lengths, samples=args.samples, device=device,
                   batch_size=min(args.samples, args.batch_size))
    N = memory_rows(model)
    heads = _heads(args, model, task, lengths)
    if args.plot:
        from ntm.analysis import figures as plots
        plots.accuracy_by_length(rows, args.plot, train_range=tuple(task.train_lengths), memory_rows=N,
                                 title=f"{task.name} · {config['model']['name']}: accuracy against length")
    if args.json:
        print(json.dumps({"run": config["run_dir"], "task": task.name, "model": config["model"]["name"],
                          "machine": task.machine_label, "memory_rows": N,
                          "train_lengths": list(task.train_lengths), "samples": args.samples,
                          "device": str(device), "lengths": rows, **({"heads": heads} if heads else {})}))
        return 0
    memory = f", memory N = {N}" if N is not None else ""
    print(f"{config['run_dir']}: task {task.name} (machine {task.machine_label}), "
          f"model {config['model']['name']}{memory}, trained on lengths "
          f"{task.train_lengths[0]}–{task.train_lengths[1]}; {args.samples} fixed sequences per length, "
          f"device {device}")
    print(format_table(rows, task.loss_kind))
    if heads:
        from ntm.analysis.heads import LEGEND, format_heads
        print(f"\nthe heads on one input per length (the first write and read head; rows of {N}):")
        print(format_heads(heads))
        print(textwrap.fill(LEGEND, 100))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _check_heads(args, model, task) -> None:
    """With --heads: UsageError for a model or task `ntm.analysis.heads` does not apply to."""
    if args.heads:
        from ntm.analysis.heads import check
        from ntm.cli import UsageError
        try:
            check(model, task)
        except ValueError as e:
            raise UsageError(f"--heads: {e}") from None


def _heads(args, model, task, lengths) -> list[dict] | None:
    """With --heads: `ntm.analysis.heads.head_alignment` at every length, else None."""
    if not args.heads:
        return None
    from ntm.analysis.heads import head_alignment
    return [head_alignment(model, task, n) for n in lengths if n > 0]


def _compare_trace(args, model, task, config) -> int:
    """A trace run: the step-by-step comparison, the model running free (ntm.analysis.trace_compare)."""
    import torch

    from ntm.analysis.trace_compare import compare_trace, default_trace_lengths, format_trace_table
    from ntm.analysis.verify import model_device
    from ntm.cli import UsageError
    if args.plot:
        raise UsageError("--plot draws accuracy against length for sequence runs; for a trace run use "
                         f"`ntm plot {args.run}` (the space-time diagrams)")
    lengths = (parse_lengths(args.lengths) or config.get("train", {}).get("compare_lengths")
               or default_trace_lengths(task))
    _check_lengths(task, lengths)
    device = model_device(model)
    if device.type == "cpu" and config.get("train", {}).get("threads") is None:
        torch.set_num_threads(1)        # many small steps: one thread is faster (ntm.training.run._threads)
    rows = compare_trace(model, task, lengths, samples=args.samples, device=device)
    if args.json:
        print(json.dumps({"run": config["run_dir"], "task": task.name, "model": config["model"]["name"],
                          "machine": task.machine_label, "supervision": task.supervision,
                          "train_lengths": list(task.train_lengths), "samples": args.samples,
                          "device": str(device), "lengths": rows}))
        return 0
    print(f"{config['run_dir']}: task {task.name} (machine {task.machine_label}, supervision {task.supervision}), "
          f"model {config['model']['name']} ({model.config.controller} controller), trained on lengths "
          f"{task.train_lengths[0]}–{task.train_lengths[1]}; {args.samples} fixed inputs per length, the model "
          f"running free, step by step against the machine, device {device}")
    print(format_trace_table(rows))
    return 0


def _compare_machines(args, model, task, config) -> int:
    """A universal run on named machines (``--machines library:bb4,path/m.yaml``), each from the blank
    tape to its halt or --max-steps: the first diverging step, or exact to the end."""
    import torch

    import turing
    from ntm.analysis.universal_compare import compare_machines
    from ntm.analysis.verify import model_device
    from ntm.cli import UsageError
    from tasks.errors import TaskError
    from turing import library
    from turing.errors import did_you_mean
    if config["task"]["name"] != "universal":
        raise UsageError("--machines runs named machines through a universal run (ntm train --task universal); "
                         f"{config['run_dir']} trained on {config['task']['name']}")
    machines = []
    for spec in (x.strip() for x in args.machines.split(",") if x.strip()):
        name = spec.removeprefix("library:")
        if spec.startswith("library:") and name not in library.names():
            raise UsageError(f"--machines: no library machine {name!r}{did_you_mean(name, library.names())}; known: {', '.join(library.names())}")
        try:
            machines.append(library.get(name) if name in library.names() else turing.load(spec))
        except (turing.TuringError, OSError) as e:
            raise UsageError(f"--machines: {spec}: {e}") from None
    if not machines:
        raise UsageError("--machines needs at least one machine, e.g. library:bb4")
    device = model_device(model)
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        rows = compare_machines(model, machines, max_steps=args.max_steps, device=device)
    except TaskError as e:
        raise UsageError(str(e)) from None
    if args.json:
        print(json.dumps({"run": config["run_dir"], "max_steps": args.max_steps, "machines": rows}))
        return 0
    print(f"{config['run_dir']}: the universal model running free on {len(rows)} machine(s) from the blank tape, "
          f"to the halt or {args.max_steps:,} steps, step by step against the machine")
    for r in rows:
        end = "halt" if r["halted"] else "step bound"
        verdict = ("exact to the end" if r["first_divergence"] is None else f"diverges at step {r['first_divergence']}")
        print(f"  {r['machine']:<12} {r['states']} states  {r['machine_steps']:>7,} steps ({end})  {verdict}, "
              f"tape {'exact' if r['tape_exact'] else 'wrong'}")
    return 0


def run_arguments(p: argparse.ArgumentParser) -> None:
    """The RUN argument and --device, as every command on a run takes them."""
    p.add_argument("run", help="run directory (from `ntm train`), or shipped:NAME")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="score a trained model against its machine, length by length",
                       description="For each input length: bit errors per sequence, per-symbol accuracy, "
                                   "sequence accuracy and the median first wrong position, on fixed "
                                   "machine-generated sequences. Lengths beyond the memory size N are flagged.")
    run_arguments(c)
    c.add_argument("--lengths", help="comma-separated input lengths (default: the run's compare_lengths, "
                                     "else the training range and 1.5x-6x its maximum, e.g. 1,10,20,30,50,80,120)")
    c.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                   help=f"sequences per length (default {DEFAULT_SAMPLES})")
    c.add_argument("--batch-size", type=int, default=256, help="sequences per forward pass (default 256)")
    c.add_argument("--json", action="store_true", help="print one JSON object (a 'lengths' list)")
    c.add_argument("--plot", metavar="FILE.png", help="also draw accuracy against length")
    c.add_argument("--memory-rows", type=int, metavar="N", help="compare a memory model (ntm, dnc, stack_rnn, "
                   "tape_rnn) with a memory of N rows or cells instead of its trained size: with the defaults "
                   "no weight depends on it, so lengths beyond the trained memory can be scored (default: the run's "
                   "compare_memory_rows if it set one, else its trained size)")
    c.add_argument("--heads", action="store_true", help="an NTM on copy, reverse or duplicate: also where its "
                   "heads go on one input per length (does the read head find the row each symbol was written "
                   "to, and how sharply; ntm.analysis.heads)")
    c.add_argument("--machines", help="a universal run: named machines to run from the blank tape, e.g. "
                                      "library:bb2,library:bb4,path/m.yaml (first diverging step per machine)")
    c.add_argument("--max-steps", type=int, default=10_000, help="with --machines: the step bound (default 10000)")
    c.set_defaults(func=cmd_compare)
