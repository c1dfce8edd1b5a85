"""Stable sort over an ordered alphabet, with ties (the NTM paper's priority sort, §4.5).

Two tapes, as the other transducers (`transducers.py`): tape 0 holds the input and is the work
tape, tape 1 the output. The machine repeats two passes over the input:

1. ``scan`` (left to right) finds the largest rank r among the symbols not yet used; its state
   remembers the largest rank seen so far (``scan{r}``), so there is one scan state per rank.
2. ``emit{r}`` (right to left) writes each unused symbol of rank r onto the output tape, moving
   that tape's head LEFT, and marks it used ('.' on tape 0).

Because the output is written right to left, largest rank first, and each rank's symbols
right to left, the output read left to right is ascending by rank and keeps the input order
within a rank: a stable sort. A scan that meets only used cells halts.

Size: with R ranks and |Σ| symbols, 2R + 2 states and (2R + 1)(|Σ| + 2) transitions.
Steps: (2d + 1)(n + 1) for n symbols holding d distinct ranks (measured with `turing.run` for
n = 0..12 and d = 0..n, checked in `tests/test_library.py`), so at most (2n + 1)(n + 1).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ..machine import Machine
from .alphabets import BLANK, CONSUMED, bit_symbols, check_data_alphabet, priority_of, priority_symbols, ranks
from .transducers import HALT, transducer

_ = BLANK
DEFAULT_ALPHABET = tuple("0123456789")


def sort_machine(alphabet: Sequence[str] | None = None, key: Callable | Mapping | None = None, *,
                 width: int | None = None, priorities: int | None = None,
                 descending: bool = False) -> Machine:
    """Sort: w -> w stably sorted by rank (ascending unless `descending`).

    Example: ``3120 -> 0123`` (default alphabet '0'..'9'); with
    ``key=lambda a: a[0]`` over ``('a1', 'b1', 'a2')``, ``b1 a2 a1 -> a2 a1 b1`` (ties keep input order).

    The order, one of:
      - `alphabet` alone: the order as listed (symbol i has rank i, no ties);
      - `alphabet` and `key` (a callable or a mapping symbol -> sort key): equal keys tie;
      - ``width=W`` alone: ``bit_symbols(W)`` in numeric order;
      - ``width=W, priorities=P``: the items ``priority_symbols(W, P)`` ("p:bits"), ranked by their
        priority p alone, so items of one priority keep their input order (the NTM paper's
        priority sort quantised to P levels; pass ``descending=True`` for highest first).
      - nothing: the digits '0'..'9'.

    Size: 2R + 2 states and (2R + 1)(|Σ| + 2) transitions for R distinct ranks: 6 states and
    2,570 transitions for ``width=8, priorities=2``; 514 states and 132,354 transitions for the
    full order of ``width=8`` (build times: ``bench/library_build.py``).
    Steps: (2d + 1)(n + 1) for n symbols with d distinct ranks among them.

    Raises:
        AlphabetError: the alphabet is empty, repeats a symbol, holds a marker, or a key mapping
            lacks a symbol.
        ValueError: both `alphabet` and `width` are given, or width/priorities < 1.
    """
    if alphabet is not None and width is not None:
        raise ValueError("give either alphabet (and key) or width (and priorities), not both")
    if width is not None:
        alphabet = priority_symbols(width, priorities) if priorities is not None else bit_symbols(width)
        if priorities is not None and key is None:
            key = priority_of
    elif priorities is not None:
        raise ValueError("priorities needs width")
    data = check_data_alphabet(DEFAULT_ALPHABET if alphabet is None else alphabet, "sort")
    rank = ranks(data, key)
    R = max(rank.values()) + 1
    if descending:
        rank = {a: R - 1 - r for a, r in rank.items()}

    scan = [f"scan{r}" for r in range(R)]
    emit = [f"emit{r}" for r in range(R)]
    rows = [("scan", (CONSUMED, _), "scan", (CONSUMED, _), ("R", "S")),
            ("scan", (_, _), HALT, (_, _), ("S", "S"))]
    rows += [("scan", (a, _), scan[rank[a]], (a, _), ("R", "S")) for a in data]
    for r in range(R):
        rows += [(scan[r], (a, _), scan[max(r, rank[a])], (a, _), ("R", "S")) for a in data]
        rows += [(scan[r], (CONSUMED, _), scan[r], (CONSUMED, _), ("R", "S")),
                 (scan[r], (_, _), emit[r], (_, _), ("L", "S"))]
        rows += [(emit[r], (a, _), emit[r], (CONSUMED, a), ("L", "L")) if rank[a] == r
                 else (emit[r], (a, _), emit[r], (a, _), ("L", "S")) for a in data]
        rows += [(emit[r], (CONSUMED, _), emit[r], (CONSUMED, _), ("L", "S")),
                 (emit[r], (_, _), "scan", (_, _), ("R", "S"))]
    return transducer(f"sort({len(data)} symbols, {R} ranks)", data=data, rows=rows,
                      states=["scan"] + scan + emit, work_markers=(CONSUMED,))
