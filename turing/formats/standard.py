"""The busy-beaver "standard text format" (bbchallenge.org), e.g. BB(4)::

    1RB1LB_1LA0LC_1RZ1LD_1RD0RA

One row per state A, B, C, … joined by ``_``; row i holds one 3-character transition per
symbol read, 0, 1, …, n-1 (the columns): the symbol to write (a digit), the move (``L`` or ``R``)
and the next state (a letter), or ``---`` for an undefined transition. A next state with no row
(commonly ``Z`` or ``H``) is a halt state.

Mapping to `Machine`: states = the row letters A, B, … in order, then the halt letters in the
order the rows first name them; start A; halt = those letters; tape alphabet ("0", …, "n-1")
with blank "0"; input alphabet = the non-blank symbols; δ from every transition but ``---``
(a missing transition ends a run with status "no transition"). One tape, moves L/R only,
at most 10 symbols (one digit each) and 26 states (one letter each).

The format has no input: busy beavers start on a blank tape, so `read_input` gives ().
"""

from __future__ import annotations

import re
import string
from typing import Sequence

from ..errors import FormatError, InvalidMoveError, UndeclaredSymbolError
from ..machine import Machine
from ._common import Limits, Rule, check_limit, check_round_trip, check_text, limits_of, make_machine, name_of, position

NAME = "standard"
EXTENSIONS = ()
_EXPECTED = "busy-beaver standard text such as 1RB1LB_1LA0LC_1RZ1LD_1RD0RA"
#: what detection takes for this format: one word of digits, letters, '-' and '_'
LOOKS_LIKE = re.compile(r"\s*[0-9A-Za-z-]+(?:_[0-9A-Za-z-]+)*\s*")
LETTERS = string.ascii_uppercase


# ---------------------------------------------------------------- reading
def loads(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides) -> Machine:
    """A machine from standard text (at most 26 states and 10 symbols by its nature; of
    `limits`, only ``max_chars`` and ``max_states`` can bind).

    Raises:
        FormatError: rows of different widths, a width that is not a multiple of 3, more than
            10 symbols or 26 rows, or a transition that is neither ``---`` nor digit, L/R,
            letter (e.g. a write symbol outside 0..n-1, a direction other than L/R); the message
            gives the line and column.
        LimitError: longer than ``limits.max_chars``.
    """
    limits = limits_of(limits, limit_overrides)
    text = check_text(text, source, _EXPECTED, limits)

    def at(offset: int) -> dict:  # a FormatError's keyword arguments at a character offset
        line, column = position(text, offset)
        return dict(source=source, line=line, column=column)

    start = len(text) - len(text.lstrip())
    body = text.strip()
    space = re.search(r"\s", body)
    if space:
        raise FormatError(f"unexpected whitespace: expected {_EXPECTED}", **at(start + space.start()))
    rows, offsets, o = body.split("_"), [], start
    for row in rows:
        offsets.append(o)
        o += len(row) + 1
    width = len(rows[0])
    if width == 0 or width % 3:
        raise FormatError(f"row A has {width} characters: expected 3 per symbol (write, move, next state)",
                          **at(offsets[0]))
    for i, row in enumerate(rows[1:], 1):
        if len(row) != width:
            raise FormatError(f"row {_letter(i)} has {len(row)} characters but row A has {width}: every row "
                              f"needs one 3-character transition per symbol", **at(offsets[i]))
    n = width // 3
    if n > 10:
        raise FormatError(f"{n} symbols per row: the standard format writes symbols as one digit (at most 10)",
                          source=source, line=1)
    if len(rows) > len(LETTERS):
        raise FormatError(f"{len(rows)} rows: states are the letters A-Z (at most 26)", source=source, line=1)
    check_limit("states", len(rows), limits.max_states, "max_states", source=source)

    states = [LETTERS[i] for i in range(len(rows))]
    symbols = tuple(str(j) for j in range(n))
    halt, rules = [], []
    for q, row, offset in zip(states, rows, offsets):
        for j in range(n):
            t = row[3 * j:3 * j + 3]
            here = at(offset + 3 * j)
            if t == "---":
                continue
            write, move, q2 = t
            for part, ok, expected, cause in ((write, write in string.digits, "a digit to write", None),
                                              (move, move in "LR", "a move, L or R", InvalidMoveError),
                                              (q2, q2 in LETTERS, "a next state, a letter A-Z", None)):
                if not ok:
                    why = (f"transition {t!r} of state {q} reading {j}: {part!r} is not {expected} "
                           f"(a transition is e.g. 1RB, or --- when undefined)")
                    raise FormatError(why, **here) from (cause and cause(why))
            if write not in symbols:
                why = (f"transition {t!r} of state {q} writes {write}, outside the tape alphabet 0..{n - 1} "
                       f"(one column per symbol)")
                raise FormatError(why, **here) from UndeclaredSymbolError(why)
            if q2 not in states and q2 not in halt:
                halt.append(q2)
            rules.append(Rule(q, symbols[j], q2, write, move, here["line"], here["column"]))
    return make_machine(rules, source=source, line=1, states=tuple(states + halt), input_alphabet=symbols[1:],
                        tape_alphabet=symbols, blank="0", start="A", halt=halt,
                        name=body if source == "<text>" else name_of(source))


def read_input(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides
               ) -> tuple[str, ...]:
    """Always (): the standard format holds no input (busy beavers start on a blank tape)."""
    loads(text, source, limits, **limit_overrides)
    return ()


def _letter(i: int) -> str:
    return LETTERS[i] if i < len(LETTERS) else f"#{i + 1}"


# ---------------------------------------------------------------- writing
def dumps(machine: Machine, input: Sequence[str] = ()) -> str:
    """The machine as standard text (no trailing newline).

    Raises:
        FormatError: the machine is outside what the format can say (see the module
            docstring): k > 1 tapes, S moves, accept/reject states, tape alphabet other than
            ("0", …, "n-1") with blank "0" and Σ = the rest, states other than A, B, … then
            single-letter halt states in the order the rows name them, or an input.
    """
    m = machine

    def cannot(why):
        raise FormatError(f"the standard format cannot express this machine: {why}", source=m.name or "<machine>")

    if input:
        cannot("it has no place for an input (busy beavers start on a blank tape)")
    if m.tapes != 1:
        cannot(f"it has {m.tapes} tapes; the format has one")
    if m.accept or m.reject:
        cannot("it has accept/reject states; the format knows only halt states (use JSON)")
    n = len(m.tape_alphabet)
    symbols = tuple(str(j) for j in range(n))
    if n > 10 or m.tape_alphabet != symbols or m.blank != "0" or m.input_alphabet != symbols[1:]:
        cannot(f"its tape alphabet must be 0..n-1 (n <= 10) with blank 0 and input alphabet 1..n-1, "
               f"not {m.tape_alphabet} with blank {m.blank!r} and input alphabet {m.input_alphabet}")
    rows = [q for q in m.states if q not in m.halt]
    if tuple(rows) != tuple(LETTERS[:len(rows)]) or m.start != "A":
        cannot(f"its running states must be A, B, C, … in order with start A, not {tuple(rows)} "
               f"with start {m.start!r}")
    if any(q not in LETTERS for q in m.halt):
        cannot(f"its halt states must be single letters, not {sorted(m.halt)}")
    moves = {a.move for a in m.delta.values()}
    if not moves <= {"L", "R"}:
        cannot("it moves S (stays put); the format moves only L or R (use JSON)")
    text = "_".join("".join(_transition(m.delta.get((q, a))) for a in symbols) for q in rows)
    return check_round_trip(m, text, loads, NAME)


def _transition(action) -> str:
    return "---" if action is None else f"{action.write}{action.move}{action.next_state}"
