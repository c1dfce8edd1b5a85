"""Binary arithmetic, most significant bit first: increment (one tape) and addition (two tapes).

Numbers are written MSB first over the symbols '0' and '1'; the empty word stands for 0 on input.
The output is the last tape's non-blank content (`RunResult.output`), as for every transducer of
the library. Step counts were measured with `turing.run` (n = 0..12 for increment; all pairs of
|a|, |b| <= 6 for addition) and are checked in `tests/test_library.py`.
"""

from __future__ import annotations

from ..machine import Machine
from .alphabets import BLANK, PLUS
from .transducers import HALT, transducer

_ = BLANK
BITS = ("0", "1")


def binary_increment_machine() -> Machine:
    """Binary increment: n -> n + 1, MSB first, in place on one tape.

    Examples: ``1011 -> 1100``, ``0111 -> 1000`` (the width is kept: leading zeros stay),
    ``111 -> 1000``, empty -> ``1``.

    Algorithm: ``right`` walks to the blank after the number; ``carry`` walks left turning 1s
    into 0s until it turns a 0 (or the blank before the number) into 1, then halts.

    3 states (right, carry, halt); 6 transitions. Steps: n + t + 2 for n bits ending in t ones
    (at most 2n + 2).
    """
    rows = [("right", "0", "right", "0", "R"), ("right", "1", "right", "1", "R"),
            ("right", _, "carry", _, "L"),
            ("carry", "1", "carry", "0", "L"), ("carry", "0", HALT, "1", "S"),
            ("carry", _, HALT, "1", "S")]
    return transducer("binary_increment", data=BITS, rows=rows, states=("right", "carry"), tapes=1)


def binary_add_machine() -> Machine:
    """Binary addition: a + b -> the sum, MSB first, without leading zeros ("0" for zero).

    Input: a, '+', b (each MSB first; leading zeros and empty operands allowed, empty = 0).
    Examples: ``101+11 -> 1000``, ``0+0 -> 0``, ``+1 -> 1``.

    Algorithm (two tapes): ``copy_a`` copies a onto tape 1; ``skip_b`` walks to the end of b;
    ``add0``/``add1`` (the carry) walk both heads left adding bit by bit, writing the sum over a
    on tape 1 (b's head stops on '+', which reads as 0; the blank before a reads as 0); ``strip``
    erases the leading zeros of the sum, writing "0" if nothing is left.

    6 states (copy_a, skip_b, add0, add1, strip, halt); 27 transitions.
    Steps: |a| + |b| + m + z + 4, where m = max(|a|, |b|) and z = max(0, m - bitlength(a + b)) is
    the number of leading zeros stripped (at most |a| + |b| + 2m + 4).
    Inputs without exactly one '+' end in "no transition".
    """
    rows = [("copy_a", (x, _), "copy_a", (x, x), ("R", "R")) for x in BITS]
    rows += [("copy_a", (PLUS, _), "skip_b", (PLUS, _), ("R", "S"))]
    rows += [("skip_b", (x, _), "skip_b", (x, _), ("R", "S")) for x in BITS]
    rows += [("skip_b", (_, _), "add0", (_, _), ("L", "L"))]
    for carry in (0, 1):
        for x in BITS + (PLUS,):          # b's bit; '+' once b is used up
            for y in BITS + (_,):         # a's bit (or the running sum); blank once a is used up
                q = f"add{carry}"
                if x == PLUS and y == _:  # both used up: write the carry, then strip
                    rows.append((q, (x, y), "strip", (x, "1"), ("S", "S")) if carry else
                                (q, (x, y), "strip", (x, y), ("S", "R")))
                    continue
                s = carry + (x == "1") + (y == "1")
                rows.append((q, (x, y), f"add{s // 2}", (x, str(s % 2)), ("S" if x == PLUS else "L", "L")))
    rows += [("strip", (PLUS, "0"), "strip", (PLUS, _), ("S", "R")),
             ("strip", (PLUS, "1"), HALT, (PLUS, "1"), ("S", "S")),
             ("strip", (PLUS, _), HALT, (PLUS, "0"), ("S", "S"))]
    return transducer("binary_add", data=BITS, rows=rows, input_markers=(PLUS,),
                      states=("copy_a", "skip_b", "add0", "add1", "strip"))
