"""Busy beavers BB(2)..BB(5), and machines whose halting is open or that never halt.

All are one-tape machines started on a blank tape (blank '0', as published), given in the
busy-beaver "standard text format" of bbchallenge.org and read by `turing.formats.standard`:
one block per state A, B, C, … separated by '_', each block holding one transition per symbol
read (0, 1, …) as write-move-next, e.g. ``1RB``; ``---`` is an undefined transition (the run ends
with status "no transition"); a next state that has no block (``Z``) is the halt state.
Steps count every transition, the one into the halt state included; "ones" are the non-blank
cells at the end (`RunResult.nonblank`).

Sources: BB(2), BB(3) — Lin & Radó (1965); BB(4) — Brady (1983); BB(5) — Marxen & Buntrock
(1990), proved the champion by bbchallenge (2024); Antihydra and Hydra — the bbchallenge wiki's
"Cryptids" (halting open: each halts iff a Collatz-like sequence does something no one can prove
or refute).
"""

from __future__ import annotations

import dataclasses

from ..formats import standard
from ..machine import Machine

#: name -> (standard text, published steps, published ones)
BUSY_BEAVERS = {
    "bb2": ("1RB1LB_1LA1RZ", 6, 4),
    "bb3": ("1RB1RZ_1LB0RC_1LC1LA", 21, 5),  # the step champion; the ones champion makes 6 in 14
    "bb4": ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 107, 13),
    "bb5": ("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA", 47_176_870, 4_098),
}

#: name -> standard text of machines that never halt or whose halting is open
NON_HALTING = {
    "antihydra": "1RB1RA_0LC1LE_1LD1LC_1LA0LB_1LF1RE_---0RA",
    "hydra": "1RB3RB---3LA1RA_2LA3RA4LB0LB0LA",
    "loop": "0RA---",
}


def _named(text: str, name: str) -> Machine:
    """`turing.formats.standard.loads`, with the machine named `name` (loads names it by its text)."""
    return dataclasses.replace(standard.loads(text), name=name)


def busy_beaver(n: int) -> Machine:
    """The n-state busy beaver champion for steps, n = 2..5 (`BUSY_BEAVERS`).

    Raises:
        ValueError: n outside 2..5.
    """
    if f"bb{n}" not in BUSY_BEAVERS:
        raise ValueError(f"busy beavers are known here for n = 2..5, not {n!r}")
    return _named(BUSY_BEAVERS[f"bb{n}"][0], f"bb{n}")


def bb2_machine() -> Machine:
    """BB(2): 1RB1LB_1LA1RZ halts after 6 steps with 4 ones on a blank tape.

    3 states (A, B and halt Z); 4 transitions.
    """
    return busy_beaver(2)


def bb3_machine() -> Machine:
    """BB(3): 1RB1RZ_1LB0RC_1LC1LA halts after 21 steps (the most of any 3-state machine) with 5 ones.

    4 states (A, B, C and halt Z); 6 transitions.
    """
    return busy_beaver(3)


def bb4_machine() -> Machine:
    """BB(4): 1RB1LB_1LA0LC_1RZ1LD_1RD0RA halts after 107 steps with 13 ones.

    5 states (A..D and halt Z); 8 transitions.
    """
    return busy_beaver(4)


def bb5_machine() -> Machine:
    """BB(5): 1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA halts after 47,176,870 steps with 4,098 ones.

    6 states (A..E and halt Z); 10 transitions. About a minute with `turing.run`;
    use the fast engine.
    """
    return busy_beaver(5)


def antihydra_machine() -> Machine:
    """Antihydra: 1RB1RA_0LC1LE_1LD1LC_1LA0LB_1LF1RE_---0RA, a 6-state machine whose halting is open.

    It halts iff the sequence H ↦ ⌊3H/2⌋ from H = 8 ever has, counted from the start, more than
    twice as many odd terms as even ones (bbchallenge wiki, "Antihydra").
    6 states (A..F, no halt state: halting would be the undefined F0 transition); 11 transitions.
    No one has seen it halt: a run ends at the step limit.
    """
    return _named(NON_HALTING["antihydra"], "antihydra")


def hydra_machine() -> Machine:
    """Hydra: 1RB3RB---3LA1RA_2LA3RA4LB0LB0LA, a 2-state, 5-symbol machine whose halting is open.

    Antihydra's older sibling: it follows H ↦ ⌊3H/2⌋ from H = 3 with the roles of even and odd
    terms swapped (bbchallenge wiki, "Hydra"); symbols 0..4.
    2 states (A, B; halting would be the undefined A2 transition); 9 transitions.
    No one has seen it halt: a run ends at the step limit.
    """
    return _named(NON_HALTING["hydra"], "hydra")


def loop_machine() -> Machine:
    """Loop: 0RA---, one state that walks right over blanks forever (never halts, writes nothing).

    1 state (A); 1 transition. A run started on a blank tape ends at the step limit, after
    exactly max_steps steps.
    """
    return _named(NON_HALTING["loop"], "loop")
