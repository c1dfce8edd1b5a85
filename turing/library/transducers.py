"""Transducers over any data alphabet: copy, repeat copy, reverse, duplicate.

Every machine here has two tapes (Sipser §3.2): tape 0 holds the input and is the work tape,
tape 1 is the output tape, written left to right and never read back (its head always sits on a
blank). The output is tape 1's non-blank content, ``run(m, w).output``. Two tapes keep δ linear
in the alphabet: a one-tape copy must carry each symbol in its state across the tape, which needs
|Σ|² transitions (65,536 for the 256 symbols of 8-bit vectors).

Step counts are exact and were measured with `turing.run` for n = 0..12 (and k = 0..6 for repeat
copy), then checked by `tests/test_library.py`; a step is one transition, the last one included.
"""

from __future__ import annotations

from typing import Sequence

from ..machine import Machine, build_delta
from .alphabets import BLANK, CONSUMED, END, SEPARATOR, STAR, bit_symbols, check_data_alphabet

_ = BLANK
HALT = "halt"


def transducer(name: str, *, data: Sequence[str], rows: list, states: Sequence[str],
               input_markers: Sequence[str] = (), work_markers: Sequence[str] = (),
               tapes: int = 2) -> Machine:
    """A library machine: blank '_', start = states[0], one halt state 'halt' (appended).

    Tape alphabet Γ = data + input markers + work markers + blank, in that order.
    """
    data, input_markers = tuple(data), tuple(input_markers)
    return Machine(states=tuple(states) + (HALT,), input_alphabet=data + input_markers,
                   tape_alphabet=data + input_markers + tuple(work_markers) + (BLANK,), blank=BLANK,
                   start=states[0], delta=build_delta(rows), halt={HALT}, tapes=tapes, name=name)


def _data(alphabet, width, what) -> tuple[str, ...]:
    return check_data_alphabet(bit_symbols(width) if alphabet is None else alphabet, what)


# ---------------------------------------------------------------- copy
def copy_machine(alphabet: Sequence[str] | None = None, width: int = 8) -> Machine:
    """Copy: w -> w, symbol by symbol from the input tape to the output tape.

    Example: ``101 -> 101`` (each symbol of `alphabet`, or of ``bit_symbols(width)`` when alphabet
    is None: 256 symbols for width 8).

    Algorithm: in state ``copy``, read a on tape 0, write a on tape 1, move both heads right;
    on the blank after the input, halt.

    2 states (copy, halt); |Σ| + 1 transitions. Steps: n + 1 for an input of n symbols.

    Raises:
        AlphabetError: the alphabet is empty, repeats a symbol or holds a marker (`MARKERS`).
        ValueError: width < 1 (alphabet None).
    """
    data = _data(alphabet, width, "copy")
    rows = [("copy", (a, _), "copy", (a, a), ("R", "R")) for a in data]
    rows.append(("copy", (_, _), HALT, (_, _), ("S", "S")))
    return transducer(f"copy({len(data)} symbols)", data=data, rows=rows, states=("copy",))


# ---------------------------------------------------------------- repeat copy
def repeat_copy_machine(alphabet: Sequence[str] | None = None, width: int = 8) -> Machine:
    """Repeat copy (NTM paper §4.2): w # *^k -> w repeated k times, then '$'.

    Example: ``10#** -> 1010$``; ``10# -> $``. The k stars give the repetition count in unary
    (the NTM paper gives it as one scalar channel; a task can encode it either way).

    Algorithm: ``find`` walks right to the first unused '*' and marks it used ('.'); ``rewind``
    walks left to the blank before w; ``copy`` copies w onto the output tape and, at '#', hands
    back to ``find``. When ``find`` meets the blank after the stars, it writes '$' and halts.

    4 states (find, rewind, copy, halt); 3|Σ| + 8 transitions.
    Steps: k² + 2nk + 4k + n + 2 for |w| = n and k stars.

    Input alphabet: Σ + '#', '*'. Inputs not of the form w # *^k end in "no transition" or give
    an output of no meaning.

    Raises:
        AlphabetError: the alphabet is empty, repeats a symbol or holds a marker.
        ValueError: width < 1 (alphabet None).
    """
    data = _data(alphabet, width, "repeat copy")
    R, L, S = "R", "L", "S"
    rows = []
    for a in data:
        rows += [("find", (a, _), "find", (a, _), (R, S)),
                 ("rewind", (a, _), "rewind", (a, _), (L, S)),
                 ("copy", (a, _), "copy", (a, a), (R, R))]
    rows += [("find", (SEPARATOR, _), "find", (SEPARATOR, _), (R, S)),
             ("find", (CONSUMED, _), "find", (CONSUMED, _), (R, S)),
             ("find", (STAR, _), "rewind", (CONSUMED, _), (L, S)),
             ("find", (_, _), HALT, (_, END), (S, R)),
             ("rewind", (SEPARATOR, _), "rewind", (SEPARATOR, _), (L, S)),
             ("rewind", (CONSUMED, _), "rewind", (CONSUMED, _), (L, S)),
             ("rewind", (_, _), "copy", (_, _), (R, S)),
             ("copy", (SEPARATOR, _), "find", (SEPARATOR, _), (R, S))]
    return transducer(f"repeat_copy({len(data)} symbols)", data=data, rows=rows,
                      states=("find", "rewind", "copy"), input_markers=(SEPARATOR, STAR),
                      work_markers=(CONSUMED, END))


# ---------------------------------------------------------------- reverse
def reverse_machine(alphabet: Sequence[str] = ("0", "1")) -> Machine:
    """Reverse: w -> w reversed.

    Example: ``110 -> 011``.

    Algorithm: ``right`` walks to the end of the input; ``back`` walks left, writing each symbol
    onto the output tape; at the blank before w it halts.

    3 states (right, back, halt); 2|Σ| + 2 transitions. Steps: 2n + 2.

    Raises:
        AlphabetError: the alphabet is empty, repeats a symbol or holds a marker.
    """
    data = check_data_alphabet(alphabet, "reverse")
    rows = []
    for a in data:
        rows += [("right", (a, _), "right", (a, _), ("R", "S")),
                 ("back", (a, _), "back", (a, a), ("L", "R"))]
    rows += [("right", (_, _), "back", (_, _), ("L", "S")),
             ("back", (_, _), HALT, (_, _), ("S", "S"))]
    return transducer(f"reverse({len(data)} symbols)", data=data, rows=rows, states=("right", "back"))


# ---------------------------------------------------------------- duplicate
def duplicate_machine(alphabet: Sequence[str] = ("0", "1")) -> Machine:
    """Duplicate: w -> ww.

    Example: ``101 -> 101101``.

    Algorithm: ``first`` copies w onto the output tape; ``rewind`` walks back to the blank before
    w; ``second`` copies w again after the first copy.

    4 states (first, rewind, second, halt); 3|Σ| + 3 transitions. Steps: 3n + 3.

    Raises:
        AlphabetError: the alphabet is empty, repeats a symbol or holds a marker.
    """
    data = check_data_alphabet(alphabet, "duplicate")
    rows = []
    for a in data:
        rows += [("first", (a, _), "first", (a, a), ("R", "R")),
                 ("rewind", (a, _), "rewind", (a, _), ("L", "S")),
                 ("second", (a, _), "second", (a, a), ("R", "R"))]
    rows += [("first", (_, _), "rewind", (_, _), ("L", "S")),
             ("rewind", (_, _), "second", (_, _), ("R", "S")),
             ("second", (_, _), HALT, (_, _), ("S", "S"))]
    return transducer(f"duplicate({len(data)} symbols)", data=data, rows=rows,
                      states=("first", "rewind", "second"))
