"""Turing engine speed: BB(5) to halt, and batched copy and sort, against the reference.

    python bench/bench_engine.py [--repeats 5] [--batch 1024] [--length 20]

Prints a table and writes bench/results/engine.json. Compile time (tables and numba JIT, or
numba's on-disk cache) is excluded: every timed call comes after a warm-up call on the same
machine. Figures are medians of `--repeats` runs. The reference simulator is timed on the
first 2,000,000 steps of BB(5) (all 47M would take about a minute) and on one pass over the batch;
a plain C loop (when gcc or cc is there) runs BB(5) under the same load, as a ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from turing import Machine, Status, build_delta, run  # noqa: E402
from turing.engine import compile, run_batch, run_fast  # noqa: E402

BB5_TEXT = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"
BB5_STEPS, BB5_ONES = 47_176_870, 4_098
REFERENCE_STEPS = 2_000_000


# ---------------------------------------------------------------- machines
def busy_beaver(text: str) -> Machine:
    """A 2-symbol machine from the busy-beaver standard text (used only when turing.library is absent)."""
    rows = [(chr(65 + i), str(a), part[3 * a + 2], part[3 * a], part[3 * a + 1])
            for i, part in enumerate(text.split("_")) for a in range(2)]
    states = tuple(chr(65 + i) for i in range(text.count("_") + 1)) + ("Z",)
    return Machine(states=states, input_alphabet=("1",), tape_alphabet=("0", "1"), blank="0",
                   start="A", delta=build_delta(rows), halt={"Z"}, name="bb5")


def machines() -> tuple[Machine, Machine, str]:
    """BB(5) and the copy machine, from turing.library when it is there."""
    try:
        from turing import library
        return library.get("bb5"), library.get("copy"), "turing.library"
    except ImportError:
        # a 2-tape copy of 8-bit symbols, the same algorithm as the library's `copy`
        data = tuple(format(i, "08b") for i in range(256))
        rows = [("copy", (a, "_"), "copy", (a, a), ("R", "R")) for a in data]
        rows.append(("copy", ("_", "_"), "halt", ("_", "_"), ("S", "S")))
        copy = Machine(states=("copy", "halt"), input_alphabet=data, tape_alphabet=data + ("_",),
                       blank="_", start="copy", delta=build_delta(rows), halt={"halt"}, tapes=2,
                       name="copy (local)")
        return busy_beaver(BB5_TEXT), copy, "local builders (turing.library absent)"


# ---------------------------------------------------------------- timing
def timed(f, repeats: int) -> tuple[list[float], object]:
    seconds, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        seconds.append(time.perf_counter() - t)
    return seconds, out


def bench_bb5(bb5: Machine, repeats: int) -> dict:
    run_fast(compile(bb5), max_steps=1_000)  # warm-up: tables and JIT
    seconds, r = timed(lambda: run_fast(bb5), repeats)
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, BB5_STEPS, BB5_ONES), r
    ref_seconds, ref = timed(lambda: run(bb5, max_steps=REFERENCE_STEPS), 1)
    assert ref == run_fast(bb5, max_steps=REFERENCE_STEPS)
    return {"steps": r.steps, "ones": r.nonblank, "seconds": seconds,
            "median_seconds": statistics.median(seconds),
            "steps_per_second": r.steps / statistics.median(seconds),
            "best_steps_per_second": r.steps / min(seconds),
            "reference_steps": REFERENCE_STEPS,
            "reference_steps_per_second": REFERENCE_STEPS / ref_seconds[0]}


def bench_copy(copy: Machine, batch: int, length: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    sigma = copy.input_alphabet
    words = [[sigma[i] for i in rng.integers(0, len(sigma), length)] for _ in range(batch)]
    run_batch(copy, words[:2])  # warm-up
    seconds, result = timed(lambda: run_batch(copy, words), repeats)
    decode_seconds, outputs = timed(lambda: run_batch(copy, words).outputs(), repeats)
    assert outputs == [tuple(w) for w in words]
    # the tasks' way: words drawn as codes, outputs read as codes; no symbol strings at all
    index = {a: i for i, a in enumerate(copy.tape_alphabet)}
    codes = np.array([[index[a] for a in w] for w in words])
    codes_seconds, out_codes = timed(lambda: run_batch(copy, codes).output_codes(), repeats)
    assert all((c == o).all() for c, o in zip(codes, out_codes))
    ref_seconds, ref = timed(lambda: [run(copy, w) for w in words], 1)
    assert ref == result.results()
    steps = int(result.steps.sum())
    return {"machine": copy.name, "tapes": copy.tapes, "batch": batch, "length": length,
            "steps_per_tape": steps / batch, "seconds": seconds,
            "tapes_per_second": batch / statistics.median(seconds),
            "steps_per_second": steps / statistics.median(seconds),
            "tapes_per_second_with_outputs": batch / statistics.median(decode_seconds),
            "tapes_per_second_codes_in_and_out": batch / statistics.median(codes_seconds),
            "reference_tapes_per_second": batch / ref_seconds[0]}


def bench_sort(batch: int, length: int, repeats: int) -> dict | None:
    """The priority-sort machine (4,098 symbols, 2 tapes, 135,234 transitions): the sparse k-tape
    path at its largest. None without turing.library."""
    try:
        from turing import library
    except ImportError:
        return None
    m = library.get("sort", width=8, priorities=16)
    rng = np.random.default_rng(0)
    codes = rng.choice([m.tape_alphabet.index(a) for a in m.input_alphabet], size=(batch, length))
    run_batch(m, codes[:2])  # warm-up
    seconds, result = timed(lambda: run_batch(m, codes), repeats)
    assert set(result.statuses()) == {Status.HALTED}
    steps = int(result.steps.sum())
    return {"machine": m.name, "transitions": len(m.delta), "batch": batch, "length": length,
            "steps_per_tape": steps / batch, "seconds": seconds,
            "tapes_per_second": batch / statistics.median(seconds),
            "steps_per_second": steps / statistics.median(seconds)}


def bench_c_loop(repeats: int) -> dict | None:
    """BB(5) in a plain C loop (gcc -O2; no step limit, no tape growth): the ceiling a numba
    loop can hope for on this machine, timed under the same load. None without a C compiler."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    parts = BB5_TEXT.split("_")
    rows = [part[3 * a:3 * a + 3] for part in parts for a in range(2)]  # index q*2 + a
    table = lambda f: ",".join(f(r) for r in rows)  # noqa: E731
    source = f"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static unsigned char tape[1 << 16];
static const unsigned char W[] = {{{table(lambda r: r[0])}}};
static const int M[] = {{{table(lambda r: "1" if r[1] == "R" else "-1")}}};
static const int N[] = {{{table(lambda r: str(min(ord(r[2]) - 65, len(parts))))}}};
int main(int argc, char **argv) {{
    for (int rep = 0; rep < atoi(argv[1]); rep++) {{
        struct timespec t0, t1;
        memset(tape, 0, sizeof tape);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long head = 1 << 15, steps = 0;
        int q = 0;
        while (q != {len(parts)}) {{  /* Z, the halt state */
            int i = q * 2 + tape[head];
            tape[head] = W[i]; head += M[i]; q = N[i]; steps++;
        }}
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%ld %.9f\\n", steps, (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    }}
    return 0;
}}
"""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bb5.c").write_text(source)
        subprocess.run([cc, "-O2", "-o", str(Path(tmp, "bb5")), str(Path(tmp, "bb5.c"))], check=True)
        out = subprocess.run([str(Path(tmp, "bb5")), str(repeats)], check=True, capture_output=True,
                             text=True).stdout.split()
    steps, seconds = int(out[0]), [float(x) for x in out[1::2]]
    assert steps == BB5_STEPS, steps
    return {"compiler": f"{Path(cc).name} -O2", "seconds": seconds,
            "steps_per_second": steps / statistics.median(seconds)}


# ---------------------------------------------------------------- report
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    args = ap.parse_args(argv)

    bb5, copy, source = machines()
    bb = bench_bb5(bb5, args.repeats)
    c_loop = bench_c_loop(args.repeats)
    cp = bench_copy(copy, args.batch, args.length, args.repeats)
    sort = bench_sort(args.batch, args.length, args.repeats)

    print(f"machines from {source}; numba {numba.__version__}, {numba.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    print(f"{'benchmark':<36}{'engine':>16}{'reference':>16}{'speed-up':>10}")
    print(f"{'BB(5) to halt, M steps/s':<36}{bb['steps_per_second'] / 1e6:>16.1f}"
          f"{bb['reference_steps_per_second'] / 1e6:>16.2f}"
          f"{bb['steps_per_second'] / bb['reference_steps_per_second']:>9.0f}x")
    if c_loop:
        print(f"{'  plain C loop (gcc -O2), M steps/s':<36}{c_loop['steps_per_second'] / 1e6:>16.1f}"
              f"{'':>16}{bb['steps_per_second'] / c_loop['steps_per_second']:>9.2f}x (engine/C)")
    print(f"{f'copy n={args.length} B={args.batch}, tapes/s':<36}{cp['tapes_per_second']:>16,.0f}"
          f"{cp['reference_tapes_per_second']:>16,.0f}"
          f"{cp['tapes_per_second'] / cp['reference_tapes_per_second']:>9.0f}x")
    print(f"{'  same, with outputs() decoded':<36}{cp['tapes_per_second_with_outputs']:>16,.0f}")
    print(f"{'  same, codes in, output_codes()':<36}{cp['tapes_per_second_codes_in_and_out']:>16,.0f}")
    if sort:
        print(f"{f'sort n={args.length} B={args.batch}, tapes/s':<36}{sort['tapes_per_second']:>16,.0f}"
              f"{'':>16}   ({sort['steps_per_second'] / 1e6:.1f} M steps/s, codes in)")
    print(f"BB(5): {bb['steps']:,} steps, {bb['ones']:,} ones, median {bb['median_seconds']:.3f} s "
          f"over {args.repeats} runs (best {bb['best_steps_per_second'] / 1e6:.1f} M steps/s); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    command = " ".join(["python bench/bench_engine.py", *(argv if argv is not None else sys.argv[1:])])
    report = {"command": command,
              "machines_from": source, "numba": numba.__version__, "numpy": np.__version__,
              "python": platform.python_version(), "cpus": os.cpu_count(),
              "threads": numba.get_num_threads(), "threading_layer": _threading_layer(),
              "load_average": os.getloadavg(), "bb5": bb, "bb5_c_loop": c_loop, "copy_batch": cp,
              "sort_batch": sort}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def _threading_layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run
        return "unknown"


if __name__ == "__main__":
    main()
