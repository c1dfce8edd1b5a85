"""`ntm claims`: run the textbook claims about recurrent networks as measured experiments, print a
table with a verdict per claim (computed from the figures by a stated rule), and write
OUT/claims.md, OUT/claims.json and one figure per claim."""

from __future__ import annotations

import argparse
import sys


def cmd_claims(args) -> int:
    from ntm.analysis.claims import parse_only, run_claims, table
    parse_only(args.only)                        # a bad name: one line, exit 2, nothing written
    command = ("ntm claims" + (f" --only {args.only}" if args.only else "") + (" --quick" if args.quick else "")
               + (f" --device {args.device}" if args.device != "auto" else "") + f" --out {args.out}")
    results = run_claims(args.only, quick=args.quick, device=args.device, out=args.out, command=command,
                         progress=lambda name: print(f"running {name} ...", file=sys.stderr, flush=True))
    print(table(results), end="")
    print(f"wrote {args.out}/claims.md, {args.out}/claims.json and the figures")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ntm.analysis.claims import CLAIMS
    p = sub.add_parser("claims", help="test the textbook claims about RNNs, each with a measured verdict",
                       description=__doc__)
    p.add_argument("--only", help=f"comma-separated claims (default all): {', '.join(CLAIMS)}")
    p.add_argument("--quick", action="store_true", help="the small version of every experiment (seconds)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps for the gradient experiment "
                   "(the gpu claim measures the CPU, and CUDA where present; the small training runs of "
                   "clipping, forget_bias and gru_vs_lstm, and the compiled machines, run on the CPU)")
    p.add_argument("--out", default="runs/claims", help="output directory (default runs/claims)")
    p.set_defaults(func=cmd_claims)
