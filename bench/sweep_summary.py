"""One task × model matrix from the results of one or more sweeps (docs/sweeps.md's first table).

    python bench/sweep_summary.py bench/results/sweep_full_chomsky bench/results/sweep_full_algo

Each cell of the matrix: the median score over seeds (%, as in the sweep's table.md: per-token
accuracy beyond the training range under ``--protocol chomsky``, else sequence accuracy), then the
maximum and how many seeds reached the target, as ``median (max, k/n)``. Prints markdown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ntm.sweep.results import read_rows
from ntm.sweep.table import summarize


def summaries(dirs: list[Path], key: str | None = None) -> list[dict]:
    """`ntm.sweep.table.summarize` of each sweep in `dirs` (each with results.jsonl), under its
    protocol, or scored by the comparison column `key`."""
    sums = []
    for d in dirs:
        rows = read_rows(d / "results.jsonl")
        if rows:
            sums += summarize(rows, rows[0].get("protocol"), key)
    return sums


def matrix(dirs: list[Path], key: str | None = None) -> str:
    """The markdown matrix over the sweeps in `dirs` (a later sweep's cell replaces an earlier one's)."""
    sums = summaries(dirs, key)
    tasks = list(dict.fromkeys(s["task"] for s in sums))
    models = list(dict.fromkeys(s["label"] for s in sums))
    cell = {(s["task"], s["label"]): s for s in sums}
    lines = ["| task | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for t in tasks:
        out = []
        for m in models:
            s = cell.get((t, m))
            out.append("–" if s is None or s["median_score"] is None else
                       f"{100 * s['median_score']:.1f} ({100 * s['max_score']:.1f}, {s['reached']}/{s['seeds']})")
        lines.append(f"| {t} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", type=Path, help="sweep directories (each holding results.jsonl)")
    p.add_argument("--per-token", action="store_true", help="score by per-token accuracy (symbol_accuracy), "
                   "whatever the sweeps' protocol")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON instead")
    args = p.parse_args()
    missing = [str(d) for d in args.dirs if not (d / "results.jsonl").is_file()]
    if missing:
        p.error(f"no results.jsonl in {', '.join(missing)} (a sweep's --out directory holds one)")
    key = "symbol_accuracy" if args.per_token else None
    if args.json:
        print(json.dumps(summaries(args.dirs, key), indent=1))
        return 0
    print(matrix(args.dirs, key), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
