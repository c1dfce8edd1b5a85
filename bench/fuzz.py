"""Fuzzing the machine loaders: mutated machine files in the four formats, loaded in-process.

    python bench/fuzz.py [--inputs 10000] [--seed 0] [--time-limit 5] [--memory-limit 500]
    python bench/fuzz.py --only 1234          # regenerate and load input 1234 alone, print it

Each input is a seed file (`turing.fuzzing.seed_files`: library dumps, machines drawn by
`turing.strategies`, hand-written files) after 1 to 4 mutations (`turing.fuzzing.mutate`),
loaded with its format given (half the inputs) or detected, by `turing.fuzzing.check`. Input i
is drawn from ``random.Random(f"{seed}:{i}")``, so any one can be made again with ``--only``.
Each load runs under a wall-clock limit (SIGALRM; a load stuck in C code is stopped when it
returns to Python, and its time still counts) and tracemalloc measures its peak Python memory
(tracemalloc slows loading 2-7x, so the times are upper bounds). Prints a table and writes
bench/results/fuzz.json (or --out).

Targets (docs/formats.md, issue 16): 0 crashes, 0 inputs over the time or memory limit,
0 multi-line messages, every message with a line.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import random
import signal
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from turing import fuzzing  # noqa: E402

KINDS = ("loaded", "typed", "crash", "crash after loading", "timeout", "over memory")


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException, so that `check`'s `except Exception` lets it through."""


def _alarm(signum, frame):
    raise _Timeout


def make_input(i: int, seed: int, seeds: list, pool: list) -> tuple[str, str | None, str]:
    """(seed format, format given to the loader or None, text) of input i."""
    rnd = random.Random(f"{seed}:{i}")
    fmt, text = rnd.choice(seeds)
    text = fuzzing.mutate(text, rnd, pool)
    return fmt, (fmt if rnd.random() < 0.5 else None), text


def load_one(text: str, given: str | None, time_limit: float) -> dict:
    """Load one input under the time limit; its outcome, seconds and peak MB."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    t0 = time.perf_counter()
    try:
        outcome = fuzzing.check(text, given)
    except _Timeout:
        outcome = fuzzing.Outcome("timeout")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - t0
    peak_mb = (tracemalloc.get_traced_memory()[1] - base) / 2 ** 20
    return dict(kind=outcome.kind, error=outcome.error, message=outcome.message, multiline=outcome.multiline,
                no_line=outcome.no_line, seconds=seconds, peak_mb=peak_mb)


def _untraced_seconds(given: str | None, text: str) -> float:
    """One more load of an input, without tracemalloc (which slows loading 2-7x): its own time."""
    t0 = time.perf_counter()
    fuzzing.check(text, given)
    return time.perf_counter() - t0


def campaign(inputs: int, seed: int, time_limit: float, memory_limit: float, log=print) -> dict:
    """Run `inputs` inputs; the summary (counts, worst cases, examples of each failure)."""
    seeds = fuzzing.seed_files(seed=seed)
    pool = [t for _, t in seeds]
    counts, by_format = collections.Counter(), collections.defaultdict(collections.Counter)
    flags, examples, worst = collections.Counter(), collections.defaultdict(list), []
    previous = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for i in range(inputs):
            fmt, given, text = make_input(i, seed, seeds, pool)
            r = load_one(text, given, time_limit)
            kind = ("timeout" if r["kind"] == "timeout" or r["seconds"] > time_limit else
                    "over memory" if r["peak_mb"] > memory_limit else r["kind"])
            counts[kind] += 1
            by_format[fmt][kind] += 1
            for flag in ("multiline", "no_line"):
                if r[flag]:
                    flags[flag] += 1
                    kind = kind if kind != "typed" else flag
            if kind not in ("loaded", "typed") and len(examples[kind]) < 5:
                examples[kind].append(dict(input=i, format=fmt, given=given, chars=len(text), head=text[:160],
                                           error=r["error"], message=r["message"][:300]))
            worst.append((r["seconds"], r["peak_mb"], i, len(text), kind))
            if log and (i + 1) % 1000 == 0:
                log(f"{i + 1:>7,} inputs, {time.perf_counter() - t0:6.1f} s: {dict(counts)}")
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, previous)
    slowest = sorted(worst, reverse=True)[:5]
    largest = sorted(worst, key=lambda w: -w[1])[:5]
    seconds = sorted(w[0] for w in worst)
    untraced = [_untraced_seconds(*make_input(i, seed, seeds, pool)[1:]) for _, _, i, _, _ in slowest]
    return dict(inputs=inputs, seed=seed, seeds=len(seeds), time_limit_s=time_limit, memory_limit_mb=memory_limit,
                counts={k: counts[k] for k in KINDS}, multiline_messages=flags["multiline"],
                messages_without_line=flags["no_line"],
                by_format={f: {k: c[k] for k in KINDS} for f, c in sorted(by_format.items())},
                max_seconds=seconds[-1] if seconds else 0.0,
                p99_seconds=seconds[int(0.99 * (len(seconds) - 1))] if seconds else 0.0,
                max_peak_mb=max((w[1] for w in worst), default=0.0),
                slowest=[dict(seconds=s, untraced_seconds=u, peak_mb=m, input=i, chars=n, kind=k)
                         for (s, m, i, n, k), u in zip(slowest, untraced)],
                largest=[dict(seconds=s, peak_mb=m, input=i, chars=n, kind=k) for s, m, i, n, k in largest],
                examples=dict(examples), wall_s=time.perf_counter() - t0,
                python=platform.python_version(), machine=platform.machine())


def table(summary: dict) -> str:
    """The summary as a Markdown table, one row per seed format and a total."""
    head = "| format | " + " | ".join(KINDS) + " |\n|---|" + "---:|" * len(KINDS)
    rows = [f"| {f} | " + " | ".join(f"{c[k]:,}" for k in KINDS) + " |" for f, c in summary["by_format"].items()]
    rows.append("| **all** | " + " | ".join(f"**{summary['counts'][k]:,}**" for k in KINDS) + " |")
    tail = (f"\nmulti-line messages: {summary['multiline_messages']}, messages without a line: "
            f"{summary['messages_without_line']}; slowest input {summary['max_seconds']:.2f} s under tracemalloc, "
            f"{summary['slowest'][0]['untraced_seconds'] if summary['slowest'] else 0:.2f} s without (p99 "
            f"{summary['p99_seconds'] * 1000:.0f} ms), largest peak {summary['max_peak_mb']:.1f} MB; "
            f"{summary['inputs']:,} inputs in {summary['wall_s']:.0f} s")
    return "\n".join([head] + rows) + tail


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds per input")
    p.add_argument("--memory-limit", type=float, default=500.0, help="MB of peak Python memory per input")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fuzz.json")
    p.add_argument("--only", type=int, help="make input ONLY, load it, print it and its outcome")
    args = p.parse_args(argv)
    if args.only is not None:
        seeds = fuzzing.seed_files(seed=args.seed)
        fmt, given, text = make_input(args.only, args.seed, seeds, [t for _, t in seeds])
        print(f"seed format {fmt}, loaded as {given or 'detected'}, {len(text):,} characters:\n{text[:2000]!r}")
        print(fuzzing.check(text, given))
        return 0
    summary = campaign(args.inputs, args.seed, args.time_limit, args.memory_limit)
    summary["command"] = "python bench/fuzz.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(table(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    bad = sum(summary["counts"][k] for k in ("crash", "crash after loading", "timeout", "over memory"))
    return 1 if bad or summary["multiline_messages"] or summary["messages_without_line"] else 0


if __name__ == "__main__":
    sys.exit(main())
