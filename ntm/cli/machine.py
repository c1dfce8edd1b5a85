"""`ntm machine run|info|graph|list|plot`: the symbolic machines from the command line.

SPEC is ``library:NAME`` (see ``ntm machine list``), a path to a machine file (turingmachine.io
YAML, busy-beaver standard text, Morphett, JSON), or a standard-format string such as
``1RB1LB_1LA0LC_1RZ1LD_1RD0RA``. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import decimal
import json
import sys
import time

import turing


def load_spec(spec: str) -> tuple[turing.Machine, tuple[str, ...] | None]:
    """The machine a SPEC names and, for a file that carries one (turingmachine.io's ``input``),
    its default input word.

    Raises:
        UnknownMachineError: ``library:NAME`` with an unknown NAME.
        FormatError: the file or text is not a machine in any supported format.
    """
    if spec.startswith("library:"):
        from turing import library
        return library.get(spec.split(":", 1)[1]), None
    from turing import formats
    m = formats.load(spec)
    word = formats.read_input(spec)
    return m, (tuple(word) if word else None)


def parse_word(text: str) -> tuple[str, ...]:
    """``--input``: symbols separated by spaces or commas if there are any, else one per character."""
    if any(c in text for c in " ,"):
        return tuple(s for s in text.replace(",", " ").split() if s)
    return tuple(text)


def parse_count(text: str, flag: str) -> int:
    """A whole number >= 0 written as 1000000, 1_000_000, 1e6 or 2.5e6 (at most 10^18).

    Raises:
        UsageError: anything else, e.g. 1.5 or -3 (one line, naming the flag).
    """
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value.adjusted() > 18 or value != int(value):
        from ntm.cli import UsageError
        raise UsageError(f"{flag} {text!r}: expected a whole number from 0 to 1e18, such as 1000000, "
                         f"1_000_000 or 1e6")
    return int(value)


class _Progress:
    """Steps and steps/s on stderr every `every` seconds, only when stderr is a terminal."""

    def __init__(self, every: float = 2.0):
        self.t0 = self.last = time.perf_counter()
        self.every, self.on = every, sys.stderr.isatty()

    def __call__(self, steps: int) -> None:
        now = time.perf_counter()
        if self.on and now - self.last >= self.every:
            self.last = now
            print(f"ntm: {steps:,} steps, {steps / (now - self.t0):,.0f} steps/s", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- commands
def cmd_run(args) -> int:
    m, default_word = load_spec(args.spec)
    word = parse_word(args.input) if args.input is not None else (default_word or ())
    max_steps, max_cells = parse_count(args.max_steps, "--max-steps"), parse_count(args.max_cells, "--max-cells")
    if args.trace:
        for config in turing.trace(m, word, max_steps=max_steps, max_cells=max_cells):
            print(f"{config.step:>6}  {config}")
    t0 = time.perf_counter()
    if args.engine == "fast":
        from turing import engine
        engine.run_fast(m, word, max_steps=0)  # compile (or load numba's cache) outside the timed region
        t0 = time.perf_counter()
        result = engine.run_fast(m, word, max_steps=max_steps, max_cells=max_cells, progress=_Progress())
    else:
        result = turing.run(m, word, max_steps=max_steps, max_cells=max_cells, progress=_Progress())
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps(result.to_dict(seconds=round(seconds, 6))))
    else:
        limit = {turing.Status.STEP_LIMIT: " (raise it with --max-steps)",
                 turing.Status.CELL_LIMIT: " (raise it with --max-cells)"}.get(result.status, "")
        print(f"status:   {result.status}{limit}")
        print(f"steps:    {result.steps:,}")
        print(f"state:    {result.state}")
        print(f"head:     {result.head if len(result.heads) == 1 else list(result.heads)}")
        print(f"nonblank: {result.nonblank:,}")
        for i in range(len(result.tapes)):  # every tape; with k tapes the output is the last one
            tape = result.tape_string(i)
            name = "tape" if len(result.tapes) == 1 else f"tape {i}" + (" (output)" if i == len(result.tapes) - 1 else "")
            print(f"{name + ':':<10}{'' if name == 'tape' else ' '}{tape if len(tape) <= 200 else tape[:200] + f'… ({len(result.tapes[i])} cells)'}")
        print(f"seconds:  {seconds:.4f} ({args.engine} engine)")
    return 0


def cmd_info(args) -> int:
    from turing import graph
    m, _ = load_spec(args.spec)
    halting = {"accept": sorted(m.accept), "reject": sorted(m.reject), "halt": sorted(m.halt)}
    info = {
        "name": m.name or args.spec, "tapes": m.tapes, "states": len(m.states),
        "input_alphabet": len(m.input_alphabet), "tape_alphabet": len(m.tape_alphabet),
        "blank": m.blank, "start": m.start, "transitions": len(m.delta), **halting,
        "unreachable_states": sorted(graph.unreachable_states(m)),
        "states_that_cannot_halt": sorted(graph.states_that_cannot_halt(m)),
        "strongly_connected_components": len(list(graph.strongly_connected_components(m))),
    }
    if args.json:
        print(json.dumps(info))
        return 0
    if args.spec.startswith("library:"):
        from turing import library
        print(library.describe(args.spec.split(":", 1)[1]))
    for k, v in info.items():
        if isinstance(v, list):
            v = ", ".join(v[:20]) + (f", … ({len(v)})" if len(v) > 20 else "") if v else "—"
        print(f"{k.replace('_', ' '):<32}{v}")
    return 0


def cmd_graph(args) -> int:
    from turing import graph
    m, _ = load_spec(args.spec)
    graph.render(m, args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_list(args) -> int:
    from turing import library
    for name in library.names():
        print(f"library:{name:<20} {library.describe(name)}")
    return 0


def cmd_plot(args) -> int:
    from ntm.analysis.figures import spacetime
    m, default_word = load_spec(args.spec)
    word = parse_word(args.input) if args.input is not None else (default_word or ())
    spacetime(m, word, args.output, max_steps=args.max_steps)
    print(f"wrote {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("machine", help="run, inspect and draw Turing machines")
    msub = p.add_subparsers(dest="machine_command", required=True)

    r = msub.add_parser("run", help="run a machine to the end (or the step limit)")
    r.add_argument("spec", help="library:NAME, a machine file, or a standard-format string")
    r.add_argument("--input", help="input word: one symbol per character, or symbols separated by spaces/commas")
    r.add_argument("--max-steps", default=str(turing.DEFAULT_MAX_STEPS),
                   help=f"step limit, e.g. 1e9 or 1_000_000_000 (default {turing.DEFAULT_MAX_STEPS:,})")
    r.add_argument("--max-cells", default=str(turing.DEFAULT_MAX_CELLS),
                   help=f"space limit: tape cells the run may use, all tapes together (default "
                        f"{turing.DEFAULT_MAX_CELLS:,}); the run ends with status 'cell limit'")
    r.add_argument("--engine", choices=("reference", "fast"), default="fast",
                   help="reference (readable Python) or fast (numba); same results")
    r.add_argument("--trace", action="store_true", help="print every configuration (reference simulator)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=cmd_run)

    i = msub.add_parser("info", help="states, alphabets, transitions, and static analysis of the state graph")
    i.add_argument("spec")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    g = msub.add_parser("graph", help="write the state graph as DOT (or PNG/SVG when Graphviz is installed)")
    g.add_argument("spec")
    g.add_argument("-o", "--output", required=True, help="FILE.dot, FILE.png or FILE.svg")
    g.set_defaults(func=cmd_graph)

    lst = msub.add_parser("list", help="the machines in the library")
    lst.set_defaults(func=cmd_list)

    register_plot(msub)


def register_plot(machine_sub: argparse._SubParsersAction) -> None:
    """`ntm machine plot`: the space-time diagram."""
    p = machine_sub.add_parser("plot", help="draw a machine's space-time diagram (tape over steps)")
    p.add_argument("spec", help="library:NAME, a machine file, or a standard-format string")
    p.add_argument("--input", help="input word: one symbol per character, or symbols separated by spaces/commas")
    p.add_argument("-o", "--output", required=True, help="FILE.png (or .svg, .pdf)")
    p.add_argument("--max-steps", type=int, default=200, help="steps to draw at most (default 200)")
    p.set_defaults(func=cmd_plot)
