"""Does a trained NTM walk its memory like a tape? Where its heads go on one long input.

On copy, reverse and duplicate every output symbol is one input symbol (output j is input j, n-1-j
or j mod n), so a model that has found the tape algorithm reads, at output step j, the row its write
head wrote that symbol to, with most of the read weighting there (the NTM paper's Figure 6 shows
this for copy). `head_alignment` measures that on one input: how steadily the write head moved
while the input was read, and how often the read head's most-weighted row is the symbol's row (or
a neighbour) while the output is written. docs/sweeps.md ("Why reverse stops at about 2.5 times")
uses it to show that the NTM's reverse generalises to length 500 only in the runs whose read head
follows the write head while the input is read; the others read a blurred window that drifts.

The heads are the first write and first read head (`NTM.run_with_info`); rows are the argmax of
their weightings w_t (Graves et al. 2014, eqs. 5-9).
"""

from __future__ import annotations

import numpy as np

# output step j of an input of n symbols repeats input symbol SOURCE[task](j, n)
SOURCE = {
    "copy": lambda j, n: j,
    "reverse": lambda j, n: n - 1 - j,
    "duplicate": lambda j, n: j % n,
}


def _mode(values: np.ndarray) -> tuple[int, float]:
    """The most common value of an integer array and the share of entries that hold it."""
    vals, counts = np.unique(values, return_counts=True)
    return int(vals[counts.argmax()]), float(counts.max() / len(values))


def alignment(write_w: np.ndarray, read_w: np.ndarray, T_in: int, n: int, task: str) -> dict:
    """The measures of `head_alignment` from the weightings of one sequence.

    Args:
        write_w, read_w: (T_in + T_out, N) the first write and read head's weightings per step.
        T_in: input steps (symbol i is read at step i, i < n; copy's delimiter follows them).
        n: input symbols. task: a key of `SOURCE`.

    Returns:
        A dict of
        - ``write_shift``: the write head's most common move while the symbols are read, in rows
          on the ring of N (the first move, away from the initial weighting's row, is not counted
          here nor in the next two);
        - ``write_steady``: the share of those moves that are it;
        - ``write_first_off``: the first symbol index written elsewhere, or None;
        - ``write_focus``: the least max weight of the write head over the symbols;
        - ``read_lockstep``: the share of the read head's moves while the symbols are read that
          equal the write shift (a read head that follows the write head is at the string's end
          when the output begins, which reverse needs); None when the write shift is 0 (a write
          head that stands still gives nothing to follow: a read head standing still would score 1);
        - ``read_on_row``: the share of output steps whose read argmax is within one row of a row
          the wanted symbol was written to: where it was read in and, on duplicate, where it was
          written out before (a model may write its output again and read that copy);
        - ``read_offset``: the most common read argmax minus the nearest such row;
        - ``read_focus``: the median max weight of the read head over the output steps.

    Raises:
        ValueError: an unknown task, or weightings too short for T_in, n.
    """
    if task not in SOURCE:
        raise ValueError(f"head alignment is defined for {', '.join(SOURCE)}, not {task!r}")
    T, N = write_w.shape
    if read_w.shape != (T, N) or not 0 < n <= T_in < T:
        raise ValueError(f"weightings {write_w.shape} / {read_w.shape} do not fit T_in={T_in}, n={n}")

    def ring(d):                                                        # a move on the ring of N rows
        return (d + N // 2) % N - N // 2
    wpos, rpos = write_w.argmax(1), read_w.argmax(1)
    moves = ring(np.diff(wpos[1:n]))                  # (n - 2,): from symbol 1 on, not the first move
    shift, steady, first_off = 0, 1.0, None
    if len(moves):
        shift, steady = _mode(moves)
        off = np.nonzero(moves != shift)[0]
        first_off = int(off[0]) + 2 if len(off) else None        # the symbol the head moved to
    read_moves = ring(np.diff(rpos[1:n]))
    lockstep = None if shift == 0 else float(np.mean(read_moves == shift)) if len(read_moves) else 1.0
    T_out = T - T_in
    rows: dict = {}                                 # each symbol's rows: where it went in, then came out
    offsets = np.empty(T_out, dtype=np.int64)
    for j in range(T_out):
        i = SOURCE[task](j, n)
        seen = rows.setdefault(i, [wpos[i]])
        d = ring(rpos[T_in + j] - np.array(seen))
        offsets[j] = d[np.abs(d).argmin()]
        seen.append(wpos[T_in + j])
    return {"write_shift": shift, "write_steady": steady, "write_first_off": first_off,
            "write_focus": float(write_w[:n].max(1).min()), "read_lockstep": lockstep,
            "read_on_row": float(np.mean(np.abs(offsets) <= 1)), "read_offset": _mode(offsets)[0],
            "read_focus": float(np.median(read_w[T_in:].max(1)))}


def check(model, task) -> None:
    """Raise ValueError unless `head_alignment` applies: an NTM (`run_with_info`) on copy, reverse or
    duplicate (so a command can refuse before any other work)."""
    if not hasattr(model, "run_with_info") or task.name not in SOURCE:
        raise ValueError(f"head alignment measures an NTM on {', '.join(SOURCE)}, not "
                         f"{type(model).__name__} on {task.name}")


def head_alignment(model, task, length: int, seed: int = 0) -> dict:
    """Run a trained NTM on one input of `length` symbols (`figures.run_example`'s batch for `seed`)
    and measure its heads (`alignment`), with ``length``, ``seed`` and ``wrong`` (output symbols
    unlike the machine's) added.

    Raises:
        ValueError: a model without `run_with_info` (not an NTM), or a task other than copy, reverse
            or duplicate.
    """
    from .figures import run_example
    check(model, task)
    ex = run_example(model, task, length, seed)
    n = len(ex["input_symbols"])
    row = alignment(ex["write_weightings"], ex["read_weightings"], len(ex["inputs"]), n, task.name)
    wrong = sum(a != b for a, b in zip(ex["model_output"], ex["machine_output"]))
    wrong += abs(len(ex["model_output"]) - len(ex["machine_output"]))
    return {"length": int(length), "seed": int(seed), "wrong": int(wrong), **row}


LEGEND = ("wrong: output symbols unlike the machine's. write: shift, its usual move in rows; steady, the share "
          "of moves that were it; first off, the first symbol written elsewhere; focus, its least largest weight. "
          "read: lockstep, the share of its moves during the input equal to the write shift (- if that is 0); on row, the share of "
          "output steps with its peak within a row of the wanted symbol's row; offset, the most common peak minus "
          "that row; focus, its median largest weight.")


def format_heads(rows: list[dict]) -> str:
    """`head_alignment` rows (one per length) as a text table (`LEGEND` says what the columns are)."""
    lines = ["length  wrong  write: shift  steady  first off  focus   read: lockstep  on row  offset  focus"]
    for r in rows:
        off = "-" if r["write_first_off"] is None else str(r["write_first_off"])
        lock = "-" if r["read_lockstep"] is None else f"{r['read_lockstep']:.2f}"
        lines.append(f"{r['length']:>6}  {r['wrong']:>5}  {r['write_shift']:>12}  {r['write_steady']:>6.2f}  "
                     f"{off:>9}  {r['write_focus']:>5.2f}  {lock:>14}  {r['read_on_row']:>6.2f}  {r['read_offset']:>6}  "
                     f"{r['read_focus']:>5.2f}")
    return "\n".join(lines)
