"""Binary arithmetic: increment (one tape) and addition (two tapes), most significant bit first, and
addition least significant bit first (the Chomsky-hierarchy benchmark's form).

Numbers are written over the symbols '0' and '1' (MSB first unless a name ends in ``_le``); the
empty word stands for 0 on input.
The output is the last tape's non-blank content (`RunResult.output`), as for every transducer of
the library. Step counts were measured with `turing.run` (n = 0..12 for increment; all pairs of
|a|, |b| <= 6 for addition) and are checked in `tests/test_library.py`.
"""

from __future__ import annotations

from ..machine import Machine
from .alphabets import BLANK, END, PLUS
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
    rows += _adder_rows(PLUS, "L", lambda carry: (                 # both used up: write the carry, then strip
        ("add1", (PLUS, _), "strip", (PLUS, "1"), ("S", "S")) if carry else
        ("add0", (PLUS, _), "strip", (PLUS, _), ("S", "R"))))
    rows += [("strip", (PLUS, "0"), "strip", (PLUS, _), ("S", "R")),
             ("strip", (PLUS, "1"), HALT, (PLUS, "1"), ("S", "S")),
             ("strip", (PLUS, _), HALT, (PLUS, "0"), ("S", "S"))]
    return transducer("binary_add", data=BITS, rows=rows, input_markers=(PLUS,),
                      states=("copy_a", "skip_b", "add0", "add1", "strip"))


def binary_add_le_machine() -> Machine:
    """Binary addition, LSB first: a + b -> the sum LSB first without high zeros, then '$'.

    The sum has no high-order zeros ("0" for zero); the end mark '$' follows it.

    The Chomsky-hierarchy benchmark's binary addition (Delétang et al. 2023, its
    ``tasks/cs/binary_addition.py``): operands and sum little-endian, the sum's end marked by a
    termination token. Input: a, '+', b (each LSB first; zeros at the high end and empty operands
    allowed, empty = 0). Examples: ``001+01101 -> 01011$`` (4 + 22 = 26), ``0+0 -> 0$``,
    ``+1 -> 1$``.

    Algorithm (two tapes): ``copy_a`` copies a onto tape 1; ``rewind`` walks tape 1's head back to
    a's first bit; ``add0``/``add1`` (the carry) walk both heads right adding bit by bit, writing the
    sum over a on tape 1 (once b is used up it reads as 0, once a is used up the blank reads as 0);
    at the end a carry is written as a final 1, else ``strip`` walks left erasing the high-order
    zeros (``zero`` writes "0" if nothing is left); ``end`` writes '$'.

    8 states (copy_a, rewind, add0, add1, strip, zero, end, halt); 38 transitions.
    Steps: 2|a| + m + 4 + s, where m = max(|a|, |b|) and s counts strip's and zero's steps: 0 with
    a final carry, else m + 1 - bitlength(a + b), or m + 2 for a zero sum; at most 2|a| + 2m + 6.
    Inputs without exactly one '+' end in "no transition".
    """
    rows = [("copy_a", (x, _), "copy_a", (x, x), ("R", "R")) for x in BITS]
    rows += [("copy_a", (PLUS, _), "rewind", (PLUS, _), ("R", "L"))]
    for z in BITS + (PLUS, _):            # tape 0: b's first bit, a second '+', or b empty
        rows += [("rewind", (z, y), "rewind", (z, y), ("S", "L")) for y in BITS]
        rows += [("rewind", (z, _), "add0", (z, _), ("S", "R"))]
    rows += _adder_rows(_, "R", lambda carry: (                    # both used up: a final carry, or strip
        ("add1", (_, _), "end", (_, "1"), ("S", "R")) if carry else
        ("add0", (_, _), "strip", (_, _), ("S", "L"))))
    rows += [("strip", (_, "0"), "strip", (_, _), ("S", "L")),
             ("strip", (_, "1"), "end", (_, "1"), ("S", "R")),
             ("strip", (_, _), "zero", (_, _), ("S", "R")),
             ("zero", (_, _), "end", (_, "0"), ("S", "R")),
             ("end", (_, _), HALT, (_, END), ("S", "S"))]
    return transducer("binary_add_le", data=BITS, rows=rows, input_markers=(PLUS,), work_markers=(END,),
                      states=("copy_a", "rewind", "add0", "add1", "strip", "zero", "end"))


def _adder_rows(b_done: str, move: str, finish) -> list:
    """The rows of the adder states ``add0``/``add1`` (the carry) of both addition machines: tape 0
    reads b's bit (`b_done` once b is used up, and then stays), tape 1 a's bit or the running sum
    (the blank once a is used up); the sum bit is written on tape 1 and both heads move `move`.
    finish(carry) is the row for both used up."""
    rows = []
    for carry in (0, 1):
        for x in BITS + (b_done,):
            for y in BITS + (_,):
                if x == b_done and y == _:
                    rows.append(finish(carry))
                    continue
                s = carry + (x == "1") + (y == "1")
                moves = ("S" if x == b_done else move, move)
                rows.append((f"add{carry}", (x, y), f"add{s // 2}", (x, str(s % 2)), moves))
    return rows
