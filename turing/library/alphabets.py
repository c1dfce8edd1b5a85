"""Symbols shared by the library's machines: bit vectors, prioritised items, and the markers.

Conventions (shared with the `tasks` package, which encodes these symbols: tasks/encoding.py):

- Data symbols of width W are the W-character strings of '0'/'1' (`bit_symbols`), so one tape cell
  holds one W-bit vector of the NTM paper's tasks.
- Marker symbols are single punctuation characters, so they never collide with data symbols.
- The blank is '_' for every machine except the busy beavers (whose blank is '0', as published).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ..errors import AlphabetError

BLANK = "_"
SEPARATOR = "#"   # ends the word in repeat copy's input
STAR = "*"        # one repetition to do (repeat copy's input)
CONSUMED = "."    # a cell whose symbol the machine has used up (repeat copy, sort)
END = "$"         # end-of-output mark (repeat copy's output)
PLUS = "+"        # between the operands of binary addition

#: every marker; a data alphabet may hold none of them
MARKERS = (BLANK, SEPARATOR, STAR, CONSUMED, END, PLUS)


def bit_symbols(width: int) -> tuple[str, ...]:
    """The 2**width bit vectors of `width` bits as symbols, in numeric order.

    ``bit_symbols(2) == ('00', '01', '10', '11')``; ``bit_symbols(8)`` gives the 256 symbols of the
    NTM paper's 8-bit copy task.

    Raises:
        ValueError: width < 1.
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    return tuple(format(i, f"0{width}b") for i in range(2 ** width))


def priority_symbols(width: int, priorities: int) -> tuple[str, ...]:
    """Items of the NTM paper's priority sort as symbols: ``"p:bits"`` for each priority level
    p in 0..priorities-1 and each W-bit vector, ordered by (p, bits).

    ``priority_symbols(1, 2) == ('0:0', '0:1', '1:0', '1:1')``. `priority_of` reads p back.
    The paper draws priorities uniformly from [-1, 1]; a task quantises them to `priorities` levels.

    Raises:
        ValueError: width < 1 or priorities < 1.
    """
    if not isinstance(priorities, int) or priorities < 1:
        raise ValueError(f"priorities must be an integer >= 1, got {priorities!r}")
    return tuple(f"{p}:{bits}" for p in range(priorities) for bits in bit_symbols(width))


def priority_of(symbol: str) -> int:
    """The priority level p of a ``"p:bits"`` item symbol (the sort key of priority sort)."""
    return int(symbol.split(":", 1)[0])


def check_data_alphabet(alphabet: Sequence[str], what: str) -> tuple[str, ...]:
    """`alphabet` as a tuple, checked: non-empty strings, no duplicates, no marker symbol.

    Raises:
        AlphabetError: naming the offending symbol (`what` names the machine, for the message).
    """
    alphabet = tuple(alphabet)
    if not alphabet:
        raise AlphabetError(f"{what}: the alphabet is empty")
    seen = set()
    for a in alphabet:
        if not isinstance(a, str) or not a:
            raise AlphabetError(f"{what}: symbol {a!r} is not a non-empty string")
        if a in MARKERS:
            raise AlphabetError(f"{what}: symbol {a!r} is a marker; markers are {' '.join(MARKERS)}")
        if a in seen:
            raise AlphabetError(f"{what}: symbol {a!r} is listed twice")
        seen.add(a)
    return alphabet


def ranks(alphabet: Sequence[str], key: Callable | Mapping | None) -> dict[str, int]:
    """Each symbol's rank 0..R-1 under `key` (equal keys share a rank; ranks follow key order).

    key None means the alphabet's own order (symbol i has rank i); a mapping is read as
    symbol -> sort key; a callable is called on each symbol.

    Raises:
        AlphabetError: a key mapping lacks a symbol.
    """
    if key is None:
        return {a: i for i, a in enumerate(alphabet)}
    f = key.__getitem__ if isinstance(key, Mapping) else key
    try:
        keys = {a: f(a) for a in alphabet}
    except KeyError as e:
        raise AlphabetError(f"the sort key gives no rank for symbol {e.args[0]!r}") from None
    order = {k: r for r, k in enumerate(sorted(set(keys.values())))}
    return {a: order[keys[a]] for a in alphabet}
