"""`ntm tasks list|show`: the algorithmic tasks and one example of each, from the command line.

    ntm tasks list                       name, machine, sizes, training lengths, target source
    ntm tasks show copy --length 5       one example: the machine's input and output, its steps,
                                         and the tensor shapes a model sees
    ntm tasks show sort -p priorities=4 --tensors --trace

Every command is one call in Python: `tasks.get_task(name, **params).sample(rng, 1, n)`.
"""

from __future__ import annotations

import argparse
import ast
import json


def parse_params(items: list[str] | None) -> dict:
    """``["width=4", "repeats=(1, 5)"]`` -> ``{"width": 4, "repeats": (1, 5)}`` (Python literals;
    anything else stays a string).

    Raises:
        TaskError: an item without '='.
    """
    from tasks.errors import TaskError
    params = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TaskError(f"--param needs KEY=VALUE, got {item!r}")
        try:
            params[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = value.strip()
    return params


def _symbols(word, limit: int = 64) -> str:
    """A word as text: symbols joined directly when all are one character, else by spaces."""
    sep = "" if all(len(a) == 1 for a in word) else " "
    text = sep.join(word[:limit])
    return text + (f"{sep}… ({len(word)} symbols)" if len(word) > limit else "")


def _grid(t) -> str:
    """A (T, C) tensor as one line per step: the step, then each channel (0 as '.', 1 as '1')."""
    lines = []
    for i, row in enumerate(t.tolist()):
        cells = " ".join("." if v == 0 else "1" if v == 1 else f"{v:.3g}" for v in row)
        lines.append(f"  {i:>4}  {cells}")
    return "\n".join(lines)


# ---------------------------------------------------------------- commands
def cmd_list(args) -> int:
    from tasks import registry
    rows = [registry.get_task(name).describe() for name in registry.task_names()]
    if args.json:
        print(json.dumps(rows))
        return 0
    head = f"{'name':<20} {'machine':<54} {'in':>3} {'out':>3} {'loss':<4} {'train':>7} {'max':>5}  target"
    print(head)
    print("-" * len(head))
    trace_note = ("and trace:MACHINE for any library machine or machine file: learn its step from its trace "
                  "(ntm tasks show trace:binary_add; docs/traces.md); universal: run any machine from its "
                  "transition table in memory (ntm tasks show universal; docs/universal.md)")
    for r in rows:
        lo, hi = r["train_lengths"]
        print(f"{r['name']:<20} {r['machine']:<54} {r['input_size']:>3} {r['output_size']:>3} "
              f"{r['loss']:<4} {f'{lo}–{hi}':>7} {r['max_length']:>5}  "
              f"{r.get('reference') or ('machine' if r['from_machine'] else 'python spec')}")
    print(trace_note)
    return 0


def cmd_show(args) -> int:
    import numpy as np

    from tasks import registry
    task = registry.get_task(args.task, **parse_params(args.param))
    n = args.length if args.length is not None else task.train_lengths[1]
    batch = task.sample(np.random.default_rng(args.seed), 1, n, with_trace=args.trace)
    if task.loss_kind == "trace" and task.machine is None:     # universal: a random machine per sample
        return _show_universal(task, batch, n, args.seed)
    if task.loss_kind == "trace":
        return _show_trace(task, batch, n, args.seed)
    m = task.machine
    print(f"task:            {task.name} — {registry.describe(args.task)}")
    if m is not None:
        print(f"machine:         {task.machine_label}: {m.tapes} tapes, {len(m.states)} states, "
              f"{len(m.delta):,} transitions")
    elif hasattr(task, "optimal_cost"):   # dynamic N-grams: scored against a predictor, not a machine
        print("machine:         none: the reference is the Bayes-optimal estimator (NTM paper §4.4), "
              "not a Turing machine")
    else:
        print("machine:         none: targets from the Python specification")
    print(f"length:          {n} (seed {args.seed})")
    print(f"input word:      {_symbols(batch.input_symbols[0])}")
    if m is not None:
        import turing
        raw = turing.run(m, batch.input_symbols[0]).output   # the reference simulator, for show
        print(f"machine output:  {_symbols(raw)}")
        if raw != batch.output_symbols[0]:  # sort: the vector part of each item, maybe cut to `keep`
            print(f"target:          {_symbols(batch.output_symbols[0])}")
    else:
        why = "bit t+1 after bit t" if batch.online else "python spec"
        print(f"target:          {_symbols(batch.output_symbols[0])}   ({why})")
    if hasattr(task, "optimal_cost"):
        print(f"optimal cost:    {float(task.optimal_cost(batch)[0]):.2f} bits for this sequence "
              f"(cross-entropy of the Bayes-optimal estimator, summed over its {int(batch.mask[0].sum())} predictions)")
    else:
        print(f"machine steps:   {int(batch.machine_steps[0]):,}")
    print(f"tensors:         inputs {tuple(batch.inputs.shape)}, targets {tuple(batch.targets.shape)}, "
          f"mask {tuple(batch.mask.shape)}  (B, T, C); loss {task.loss_kind}")
    print(f"input channels:  {', '.join(task.input_channels)}")
    print(f"output channels: {', '.join(task.output_channels)}")
    if args.tensors:
        print("inputs (step: channels):")
        print(_grid(batch.inputs[0]))
        print("targets (output step: channels):")
        print(_grid(batch.targets[0]))
    if args.trace and batch.traces is not None:
        print("machine trace (step  state  head  read -> write  move):")
        for s in batch.traces[0]:
            print(f"  {s.step:>5}  {s.state:<10} {s.head!s:<12} {s.read!s} -> {s.write!s}  {s.move!s}")
    return 0


def _show_trace(task, batch, n: int, seed: int) -> int:
    """`ntm tasks show trace:MACHINE`: the input, the memory rows, and the steps the model is taught."""
    m, steps = task.machine, int(batch.steps[0])
    print(f"task:            {task.name} — learn the machine's step from its trace (docs/traces.md)")
    print(f"machine:         {task.machine_label}: {m.tapes} tapes, {len(m.states)} states, {len(m.delta):,} transitions")
    print(f"supervision:     {task.supervision}")
    print(f"length:          {n} (seed {seed})")
    print(f"input word:      {_symbols(batch.input_symbols[0])}")
    print(f"machine steps:   {steps:,} ({'stopped' if batch.stopped[0] else 'cut at the step bound'})")
    print(f"memory:          {batch.rows} rows (tape cells {batch.origin}..{batch.origin + batch.rows - 1}) "
          f"x {task.input_size} columns ({m.tapes} block(s) of {task.width}: one-hot non-blank symbols)")
    print("targets (step  state  heads  read -> write  move  next):")
    names = (m.blank,) + task.symbols
    for t in range(min(steps, 40)):
        heads = tuple(int(h) + batch.origin for h in batch.heads[0, t])
        read = " ".join(names[c] for c in batch.read[0, t])
        write = " ".join(names[c] for c in batch.write[0, t])
        move = "".join("LSR"[c] for c in batch.move[0, t])
        print(f"  {t:>5}  {task.states[batch.state[0, t]]:<10} {heads!s:<12} {read} -> {write}  {move}  "
              f"{task.states[batch.state[0, t + 1]]}")
    if steps > 40:
        print(f"  ... {steps - 40:,} more steps")
    return 0


def _show_universal(task, batch, n: int, seed: int) -> int:
    """`ntm tasks show universal`: the drawn machine, its table rows in memory, the steps taught."""
    from ntm.analysis.universal_compare import table_text
    m, steps = batch.machines[0], int(batch.steps[0])
    names = {int(c): q for q, c in zip(m.states, batch.codes[0]) if c >= 0}
    print(f"task:            {task.name} — run any machine from its transition table in memory (docs/universal.md)")
    print(f"machine:         {m.name}, drawn (seed {seed}); table (state read -> write move next):")
    print(table_text(m))
    print("state codes:     " + ", ".join(f"{q}={int(c)}" for q, c in zip(m.states, batch.codes[0])) +
          f" ({task.code_bits} bits; code 0 = halt)")
    print(f"supervision:     {task.supervision}")
    print(f"length:          {n}, input word {_symbols(batch.input_symbols[0])}")
    print(f"machine steps:   {steps:,} ({'halted' if batch.stopped[0] else 'cut at the step bound'})")
    print(f"memory:          {batch.rows} rows x {task.input_size} columns: {batch.tape_rows} tape rows "
          f"(cells {batch.origin}..{batch.origin + batch.tape_rows - 1}), then {batch.table.shape[1]} table rows "
          f"[code(q), a, write, move, code(next)]:")
    for row in batch.table[0]:
        if row[0] >= 0:
            print(f"  {int(row[0]):>3} {int(row[1])} -> {int(row[2])} {'LSR'[int(row[3])]} {int(row[4]):>3}")
    print("targets (step  state  head  read -> write  move  next):")
    for t in range(min(steps, 40)):
        print(f"  {t:>5}  {names[int(batch.state[0, t])]:<6} {int(batch.heads[0, t, 0]) + batch.origin:<6} "
              f"{int(batch.read[0, t, 0])} -> {int(batch.write[0, t, 0])}  {'LSR'[int(batch.move[0, t, 0])]}  "
              f"{names[int(batch.state[0, t + 1])]}")
    if steps > 40:
        print(f"  ... {steps - 40:,} more steps")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="the algorithmic tasks whose targets the machines compute")
    tsub = p.add_subparsers(dest="tasks_command", required=True)

    lst = tsub.add_parser("list", help="every task: machine, sizes, training lengths, target source")
    lst.add_argument("--json", action="store_true", help="print one JSON list")
    lst.set_defaults(func=cmd_list)

    s = tsub.add_parser("show", help="one example of a task: machine input, output, steps, shapes")
    s.add_argument("task", help="a task name (see `ntm tasks list`)")
    s.add_argument("--length", type=int, help="the length n (default: the top of the training range)")
    s.add_argument("--seed", type=int, default=0, help="seed of the example (default 0)")
    s.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a task parameter, e.g. -p width=4 (repeatable)")
    s.add_argument("--tensors", action="store_true", help="print the input and target tensors")
    s.add_argument("--trace", action="store_true", help="print every transition of the machine's run")
    s.set_defaults(func=cmd_show)
