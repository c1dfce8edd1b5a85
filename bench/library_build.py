"""How long the library's builders take, and how big their machines are.

    python bench/library_build.py          # prints a table, writes bench/results/library_build.json

Each machine is built fresh (the builders, not the cached `get`), best of 3 wall-clock builds.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from turing import library as lib

CASES = [
    ("copy (width 8)", lambda: lib.copy_machine()),
    ("repeat_copy (width 8)", lambda: lib.repeat_copy_machine()),
    ("reverse", lambda: lib.reverse_machine()),
    ("duplicate", lambda: lib.duplicate_machine()),
    ("binary_increment", lambda: lib.binary_increment_machine()),
    ("binary_add", lambda: lib.binary_add_machine()),
    ("palindrome", lambda: lib.palindrome_machine()),
    ("bb5", lambda: lib.bb5_machine()),
    ("sort (digits)", lambda: lib.sort_machine()),
    ("sort (width 8, priorities 2)", lambda: lib.sort_machine(width=8, priorities=2)),
    ("sort (width 8, priorities 16)", lambda: lib.sort_machine(width=8, priorities=16, descending=True)),
    ("sort (width 6, full order: 64 ranks)", lambda: lib.sort_machine(width=6)),
    ("sort (width 7, full order: 128 ranks)", lambda: lib.sort_machine(width=7)),
    ("sort (width 8, full order: 256 ranks)", lambda: lib.sort_machine(width=8)),
]


def best_of(build, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        m = build()
        times.append(time.perf_counter() - t)
    return m, min(times)


def main():
    rows = []
    print(f"{'machine':<40} {'states':>7} {'symbols':>8} {'transitions':>12} {'build s':>8}")
    for label, build in CASES:
        m, seconds = best_of(build)
        rows.append({"machine": label, "states": len(m.states), "symbols": len(m.tape_alphabet),
                     "transitions": len(m.delta), "build_seconds": round(seconds, 4)})
        print(f"{label:<40} {len(m.states):>7} {len(m.tape_alphabet):>8} {len(m.delta):>12} {seconds:>8.3f}")
    out = Path(__file__).parent / "results" / "library_build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": platform.python_version(), "machine": platform.machine(),
                               "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
