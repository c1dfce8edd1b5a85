"""Deciders: machines that accept or reject their input (Sipser §3.1). One tape.

The step count was measured with `turing.run` for every palindrome of length 0..12 and is
checked in `tests/test_library.py`.
"""

from __future__ import annotations

from typing import Sequence

from ..machine import Machine, build_delta
from .alphabets import BLANK, check_data_alphabet

_ = BLANK


def palindrome_machine(alphabet: Sequence[str] = ("0", "1")) -> Machine:
    """Palindrome: accept w if w reads the same backwards, else reject.

    Examples: ``0110`` accepted, ``011`` rejected, empty accepted.

    Algorithm (the textbook zig-zag, cf. Sipser Example 3.7): ``start`` erases the first symbol
    a_i and goes to ``carry{i}``, which walks to the end; ``check{i}`` compares the last symbol
    with a_i (reject on a mismatch), erases it, and ``back`` returns to the first symbol left.
    An empty remainder (or a single middle symbol) accepts.

    2|Σ| + 4 states (start, carry{i} and check{i} for each symbol i, back, accept, reject);
    2(|Σ| + 1)² transitions.
    Steps on a palindrome of length n: (n + 1)(n + 2)/2; a non-palindrome is rejected sooner.

    Raises:
        AlphabetError: the alphabet is empty, repeats a symbol or holds a marker.
    """
    data = check_data_alphabet(alphabet, "palindrome")
    carry = [f"carry{i}" for i in range(len(data))]
    check = [f"check{i}" for i in range(len(data))]
    rows = [("start", _, "accept", _, "S"), ("back", _, "start", _, "R")]
    for i, a in enumerate(data):
        rows += [("start", a, carry[i], _, "R"), ("back", a, "back", a, "L"),
                 (carry[i], _, check[i], _, "L"), (check[i], _, "accept", _, "S")]
        for b in data:
            rows += [(carry[i], b, carry[i], b, "R"),
                     (check[i], b, "back", _, "L") if b == a else (check[i], b, "reject", b, "S")]
    return Machine(states=("start", *carry, *check, "back", "accept", "reject"), input_alphabet=data,
                   tape_alphabet=data + (_,), blank=_, start="start", delta=build_delta(rows),
                   accept={"accept"}, reject={"reject"}, name=f"palindrome({len(data)} symbols)")
