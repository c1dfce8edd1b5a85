"""Compiled machines (`ntm.compiler`): where memory, saturation and precision bound the NTM's run.

    python bench/bench_compile.py [--prefix 100000] [--sweep-steps 100000] [--long]

Prints tables and writes bench/results/compile.json, compile_leakage.png, compile_sweep.png.
Every run is `ntm.compiler.lockstep` (the compiled NTM beside `turing.trace`, every configuration
decoded and compared, batch 1, one torch thread), the same as `ntm compile SPEC` does:

1. exact: the default compile (gain 50, sharpening 50) in float64 and float32 on BB(4) to its halt
   (107 steps) and on prefixes of BB(5) and Antihydra (`--prefix` steps; `--long` adds 10^6 steps
   of BB(5), about 10 minutes a dtype), memory = the span the prefix needs. Leakage maxima over the
   first 1,000 steps and over the whole run: equal means it does not accumulate.
2. sweep: first divergence on a BB(5) prefix against the gain G, for sharpening gamma = 1 (no
   sharpening: leakage accumulates; capped at `--sweep-steps`) and gamma = 1.5, 2 (capped at
   20,000 steps), both dtypes.
3. memory: the step at which the memory bound stops BB(4), BB(5) and `loop` for several N.
4. size: controller units and parameters of the library's machines.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from turing import library  # noqa: E402
from ntm import compiler as nc  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def run(name, steps, dtype, memory=None, **kw) -> tuple[nc.Comparison, dict]:
    m = library.get(name)
    N = memory or nc.needed_rows(m, "", steps)
    r = nc.lockstep(m, "", steps, memory_rows=N, dtype=DTYPES[dtype], **kw)
    d = {k: v for k, v in r.to_dict().items() if k not in ("input", "differences")}
    d["differences"] = r.differences[:3]
    if len(r.leakage):
        first = r.leakage[:1001].amax(0).tolist()
        d["max_leakage_first_1000"] = dict(zip(("weighting", "memory", "controller"), first))
    return r, d


def exact(args) -> list[dict]:
    rows, plots = [], []
    jobs = [("bb4", 1000), ("bb5", args.prefix), ("antihydra", args.prefix)]
    if args.long:
        jobs.append(("bb5", 1_000_000))
    print(f"\n1. default compile (gain {nc.DEFAULT_GAIN:g}, sharpening {nc.DEFAULT_SHARPENING:g})")
    print(f"{'machine':<10} {'dtype':<8} {'N':>5} {'result':<44} {'1-max w':>8} {'memory':>8} "
          f"{'ctrl':>8} {'µs/step':>8}")
    for name, steps in jobs:
        for dtype in DTYPES:
            r, d = run(name, steps, dtype)
            rows.append(d)
            top = d["max_leakage"]
            print(f"{name:<10} {dtype:<8} {d['memory_rows']:>5} {r.summary()[:44]:<44} {top['weighting']:>8.1e} "
                  f"{top['memory']:>8.1e} {top['controller']:>8.1e} {d['us_per_step']:>8.0f}", flush=True)
            if name == "bb5" and steps == args.prefix:
                plots.append(r)
    return rows, plots


def sweep(args) -> tuple[list[dict], list]:
    rows, plots = [], []
    grid = [(1.0, [10, 11, 12, 13, 14, 15, 16], args.sweep_steps),
            (1.5, [4, 6, 8, 10, 12, 16], 20_000), (2.0, [4, 6, 8, 10, 12, 16], 20_000)]
    print("\n2. BB(5) prefix: first divergence against the gain G (— = identical up to the cap)")
    print(f"{'gamma':>5} {'G':>4} {'cap':>8} {'float64':>10} {'float32':>10}  how (float64)")
    for gamma, gains, cap in grid:
        N = nc.needed_rows(library.get("bb5"), "", cap)
        for G in gains:
            out = {}
            for dtype in DTYPES:
                r, d = run("bb5", cap, dtype, memory=N, gain=G, sharpening=gamma)
                d["cap"] = cap
                rows.append(d)
                out[dtype] = r
                if gamma == 1.0 and G in (12, 14) and dtype == "float64":
                    plots.append(r)
            f = lambda r: "—" if r.first_divergence is None else f"{r.first_divergence:,}"  # noqa: E731
            how = "; ".join(out["float64"].differences)[:60]
            print(f"{gamma:>5g} {G:>4} {cap:>8,} {f(out['float64']):>10} {f(out['float32']):>10}  {how}", flush=True)
    return rows, plots


def memory(args) -> list[dict]:
    rows = []
    print("\n3. memory bound: the step at which a tape needs more than N cells")
    print(f"{'machine':<10} {'N':>5} {'result'}")
    for name, steps, Ns in (("bb4", 1000, [4, 8, 12, 13, 14]), ("bb5", 200_000, [16, 64, 256]),
                            ("loop", 10_000, [3, 100, 1000])):
        for N in Ns:
            r, d = run(name, steps, "float64", memory=N)
            rows.append(d)
            print(f"{name:<10} {N:>5} {r.summary()}", flush=True)
    return rows


def size(args) -> list[dict]:
    rows = []
    print("\n4. size: U = |Q| |Γ|^k + |Σ| + 3k controller units")
    print(f"{'machine':<18} {'k':>2} {'|Q|':>4} {'|Γ|':>4} {'units':>6} {'parameters':>11}")
    cases = [("bb2", {}), ("bb3", {}), ("bb4", {}), ("bb5", {}), ("antihydra", {}), ("hydra", {}),
             ("binary_increment", {}), ("palindrome", {}), ("copy", {"alphabet": ("0", "1")}),
             ("reverse", {}), ("duplicate", {}), ("binary_add", {}), ("copy", {"width": 8})]
    for name, params in cases:
        m = library.get(name, **params)
        units = len(m.states) * len(m.tape_alphabet) ** m.tapes + len(m.input_alphabet) + 3 * m.tapes
        try:
            params_n = sum(p.numel() for p in nc.compile_machine(m, 16).parameters())
        except Exception:                                        # over MAX_UNITS
            params_n = None
        label = name + (f"({params['width']}-bit)" if "width" in params else "")
        rows.append({"machine": label, "tapes": m.tapes, "states": len(m.states),
                     "symbols": len(m.tape_alphabet), "units": units, "parameters": params_n})
        print(f"{label:<18} {m.tapes:>2} {len(m.states):>4} {len(m.tape_alphabet):>4} {units:>6,} "
              f"{params_n if params_n is not None else 'too big':>11}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefix", type=int, default=100_000, help="steps of the BB(5) and Antihydra prefixes")
    ap.add_argument("--sweep-steps", type=int, default=100_000, help="cap of the gamma = 1 sweep")
    ap.add_argument("--long", action="store_true", help="also 10^6 steps of BB(5) per dtype (~10 min each)")
    ap.add_argument("--only", choices=("exact", "sweep", "memory", "size"), help="run one part")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    out = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
           "args": vars(args)}
    with nc.one_thread():
        if args.only in (None, "size"):
            out["size"] = size(args)
        if args.only in (None, "memory"):
            out["memory"] = memory(args)
        if args.only in (None, "exact"):
            out["exact"], plots = exact(args)
            nc.plot_leakage(plots, RESULTS / "compile_leakage.png",
                            title=f"BB(5), first {args.prefix:,} steps, default compile: leakage per step")
        if args.only in (None, "sweep"):
            out["sweep"], plots = sweep(args)
            nc.plot_leakage(plots, RESULTS / "compile_sweep.png",
                            title="BB(5), sharpening γ = 1: leakage accumulates until a decoded value flips")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    name = "compile.json" if args.only is None else f"compile_{args.only}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {RESULTS / name} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
