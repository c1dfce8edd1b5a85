"""`ntm compile SPEC`: compile a machine into NTM weights, run both in lockstep, report.

SPEC is what ``ntm machine run`` takes (``library:NAME``, a machine file, a standard-format
string). The compiled NTM (`ntm.compiler`) and the reference simulator run together; at every step
the NTM's state, heads and tapes are decoded and compared with the machine's. The report is
"identical for S steps", the first step where they differ and how, or the step where a tape
outgrows the N memory rows. Exit status 0 when identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json

DEFAULT_MAX_STEPS = 10_000


def cmd_compile(args) -> int:
    from ntm import compiler as nc
    from ntm.cli.machine import load_spec, parse_word
    from ntm.errors import ConfigError

    m, default_word = load_spec(args.spec)
    word = parse_word(args.input) if args.input is not None else (default_word or ())
    if args.max_steps < 0:
        raise ConfigError(f"--max-steps must be >= 0, got {args.max_steps}")
    if args.memory is not None and args.memory < 3:
        raise ConfigError(f"--memory must be >= 3 rows (shifts -1 and +1 must differ), got {args.memory}")
    N = args.memory if args.memory is not None else nc.needed_rows(m, word, args.max_steps)
    model = nc.compile_machine(m, N, nc.DTYPES[args.dtype], gain=args.gain, sharpening=args.sharpening)
    result = nc.lockstep(m, word, args.max_steps, model=model, gain=args.gain, sharpening=args.sharpening)
    if args.plot:
        nc.plot_leakage([result], args.plot)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0 if result.identical else 1
    lay = nc.layout(m)
    top = result.max_leakage()
    print(f"machine:  {m.name or args.spec} ({m.tapes} tape{'s' if m.tapes > 1 else ''}, {len(m.states)} states, "
          f"{len(m.tape_alphabet)} symbols, {len(m.delta)} transitions)")
    print(f"NTM:      LSTM controller of {len(lay.units)} units, {m.tapes} read + {m.tapes} write heads, "
          f"memory {N} x {lay.M}{' (auto: the tape span of the run)' if args.memory is None else ''}, "
          f"{args.dtype}, gain {args.gain:g}, sharpening {args.sharpening:g}")
    print(f"input:    {' '.join(word) if any(len(a) > 1 for a in word) else ''.join(word) or '(empty)'}")
    print(f"result:   {result.summary()}")
    if top:
        print(f"leakage:  max over steps: 1 - max weighting {top['weighting']:.2g}, memory {top['memory']:.2g}, "
              f"controller {top['controller']:.2g}")
    print(f"time:     {result.seconds:.2f} s ({1e6 * result.seconds / max(1, result.steps_compared):.0f} µs/step)")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0 if result.identical else 1


def register(sub: argparse._SubParsersAction) -> None:
    from ntm.compiler import DEFAULT_GAIN, DEFAULT_SHARPENING
    p = sub.add_parser("compile", help="compile a machine into NTM weights and run both side by side",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("spec", help="library:NAME, a machine file, or a standard-format string")
    p.add_argument("--input", help="input word: one symbol per character, or symbols separated by spaces/commas")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS,
                   help=f"compare at most this many steps (default {DEFAULT_MAX_STEPS:,})")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--memory", type=int, metavar="N",
                   help="memory rows = tape cells (default: the span the run needs, found by a symbolic run)")
    p.add_argument("--gain", type=float, default=DEFAULT_GAIN,
                   help=f"saturation of the gates and logits (default {DEFAULT_GAIN:g}; lower it to see leakage)")
    p.add_argument("--sharpening", type=float, default=DEFAULT_SHARPENING,
                   help=f"sharpening exponent gamma >= 1 of every head (default {DEFAULT_SHARPENING:g})")
    p.add_argument("--plot", metavar="FILE.png", help="chart the leakage statistics against steps")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_compile)
