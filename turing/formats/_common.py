"""What every format reader and writer shares: checking that a text is text, building a
`Machine` from rules that remember their line (so that a definition error names it), and the
round-trip check every `dumps` ends with.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, NamedTuple

from ..errors import ConflictingTransitionError, FormatError, MachineDefinitionError
from ..machine import Machine, build_delta

#: characters a text file may hold besides printable ones
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class Rule(NamedTuple):
    """One row of δ as read from a file, with where it was written (1-based; column may be None)."""
    state: str
    read: object
    next_state: str
    write: object
    move: object
    line: int | None = None
    column: int | None = None


def decode(data: bytes, source: str) -> str:
    """UTF-8 bytes as text (a leading byte-order mark dropped).

    Raises:
        FormatError: the bytes hold a NUL (a binary file) or are not valid UTF-8; the message
            gives the line and column of the first bad byte.
    """
    def where(i):
        line = data.count(b"\n", 0, i) + 1
        return line, i - (data.rfind(b"\n", 0, i) + 1) + 1

    if b"\x00" in data:
        line, col = where(data.index(b"\x00"))
        raise FormatError("not a text file (it holds NUL bytes): expected a UTF-8 machine description",
                          source=source, line=line, column=col)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line, col = where(err.start)
        raise FormatError(f"not UTF-8 text (byte 0x{data[err.start]:02x}): expected a UTF-8 machine description",
                          source=source, line=line, column=col) from err


def check_text(text: str, source: str, expected: str) -> str:
    """`text` with a leading byte-order mark dropped, after checking it is non-empty printable text.

    Args:
        expected: what the format expects, for the message of an empty text.

    Raises:
        FormatError: the text is empty (or only whitespace), or holds control characters.
    """
    if not isinstance(text, str):
        raise FormatError(f"expected text (str), got {type(text).__name__}", source=source)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise FormatError(f"empty: expected {expected}", source=source)
    bad = _CONTROL.search(text)
    if bad:
        line, col = position(text, bad.start())
        raise FormatError(f"not a text file (control character U+{ord(bad.group()):04X}): expected {expected}",
                          source=source, line=line, column=col)
    return text


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def name_of(source: str) -> str:
    """A machine name from its source: the file's stem, or "" for "<text>"."""
    return "" if source.startswith("<") else Path(source).stem


def make_machine(rules: list[Rule], *, source: str, line: int | None = None, **fields) -> Machine:
    """A `Machine` from `rules` and the other fields, each definition error turned into a
    `FormatError` that names the line of the rule at fault.

    Args:
        rules: δ's rows with their lines.
        source: the file name for messages.
        line: the line to blame when the fault is in the other fields (e.g. the start state).
        fields: every `Machine` field but `delta`.

    Raises:
        FormatError: chained (``from``) to the `MachineDefinitionError` that says which rule
            broke: `ConflictingTransitionError` for two different rules for one (state, symbol)
            (the message names both lines), `UndeclaredStateError`, `UndeclaredSymbolError`, ….
    """
    try:
        delta = build_delta([r[:5] for r in rules])
    except ConflictingTransitionError as err:
        first, second = _conflict(rules)
        raise FormatError(f"{err} (lines {first.line} and {second.line})", source=source,
                          line=second.line, column=second.column) from err
    try:
        return Machine(delta=delta, **fields)
    except MachineDefinitionError as err:
        culprit = _first_failing(rules, fields)
        at = (line, None) if culprit is None else (culprit.line, culprit.column)
        try:  # the culprit's own error: it names that rule
            Machine(delta={} if culprit is None else build_delta([culprit[:5]]), **fields)
        except MachineDefinitionError as one:
            err = one
        raise FormatError(str(err), source=source, line=at[0], column=at[1]) from err


def _first_failing(rules: list[Rule], fields: dict) -> Rule | None:
    """The first rule whose addition breaks the machine (None: the fields alone do), by
    bisection over prefixes, so a file with 10^5 rules needs only ~17 more validations."""
    def fails(k):
        try:
            Machine(delta=build_delta([r[:5] for r in rules[:k]]), **fields)
        except MachineDefinitionError:
            return True
        return False

    lo, hi = 0, len(rules)  # invariant: rules[:lo] pass, rules[:hi] fail
    if fails(0):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fails(mid) else (mid, hi)
    return rules[hi - 1]


def _conflict(rules: list[Rule]) -> tuple[Rule, Rule]:
    seen: dict = {}
    for r in rules:
        old = seen.setdefault((r.state, r.read), r)
        if old[2:5] != r[2:5]:
            return old, r
    raise AssertionError("build_delta found a conflict that _conflict does not")  # pragma: no cover


def check_input(machine: Machine, word, format: str) -> None:
    """Raise FormatError unless every symbol of the example input `word` is in Σ."""
    bad = [a for a in word if a not in machine.input_alphabet]
    if bad:
        raise FormatError(f"cannot write the {format} input {tuple(word)!r}: {bad[0]!r} is not in the input "
                          f"alphabet {machine.input_alphabet}", source=machine.name or "<machine>")


_FIELDS = ("tapes", "states", "start", "blank", "tape_alphabet", "input_alphabet", "accept", "reject",
           "halt", "delta")


def check_round_trip(machine: Machine, text: str, loads: Callable[[str], Machine], format: str) -> str:
    """`text` if ``loads(text) == machine``, else a FormatError naming the first field that the
    format cannot carry. Every `dumps` ends here, so that its promise holds by construction:
    either it raises, or the text reads back as the same machine."""
    back = loads(text)
    if back == machine:
        return text
    for f in _FIELDS:
        want, got = getattr(machine, f), getattr(back, f)
        if want != got:
            if f == "delta":
                key = next(k for k in set(want) | set(got) if want.get(k) != got.get(k))
                want, got = f"δ{key} = {want.get(key)}", f"δ{key} = {got.get(key)}"
            raise FormatError(f"the {format} format cannot express this machine: its {f} would read "
                              f"back as {_show(got)} instead of {_show(want)}", source=machine.name or "<machine>")
    raise AssertionError("machines differ in no field")  # pragma: no cover


def _show(x) -> str:
    if isinstance(x, frozenset):
        x = sorted(x)
    s = repr(x)
    return s if len(s) < 120 else s[:117] + "…"
