"""What every format reader and writer shares: the size limits every reader checks, checking
that a text is text, building a `Machine` from rules that remember their line (so that a
definition error names it), and the round-trip check every `dumps` ends with.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Callable, NamedTuple

from ..errors import ConflictingTransitionError, FormatError, LimitError, MachineDefinitionError
from ..machine import Machine, build_delta

#: characters a text file may hold besides printable ones
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: UTF-16 surrogates: a str holding one alone is not Unicode text (it cannot be written as UTF-8)
SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Size limits every reader checks before the work that grows with them, so that a hostile
    or careless file costs bounded time and memory (the worst we could build takes about 4 s and
    150 MB on a shared 2-core box; see docs/formats.md). Each `load`/`loads` takes
    ``limits=Limits(...)`` (or keywords: ``loads(text, max_chars=10**7)``) to raise them.

    Attributes:
        max_chars: characters of text (a file's size in bytes is checked before it is read).
            The pure-Python JSON scanner and YAML's nodes cost about 2-4 µs and 150 bytes per
            character at worst; a JSON file holds ~40 characters per transition, so a JSON
            machine over ~25,000 transitions needs this raised.
        max_depth: nesting of JSON arrays and objects (a machine needs 4; recursion in the
            parser would fail beyond a few hundred). YAML has libyaml's own limit (1,000).
        max_states: |Q|.
        max_symbols: |Γ|.
        max_tapes: k.
        max_transitions: δ's entries, counted *after* Morphett wildcards and YAML aliases are
            expanded (and before any expansion is done). Loading costs about 10 µs and 1 KB
            per transition.
    """
    max_chars: int = 1_000_000
    max_depth: int = 32
    max_states: int = 100_000
    max_symbols: int = 10_000
    max_tapes: int = 64
    max_transitions: int = 200_000

    def replace(self, **changes) -> "Limits":
        """A copy with some limits changed.

        Raises:
            TypeError: an unknown limit name.  ValueError: a limit that is not an int >= 0.
        """
        for key, value in changes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"limit {key} must be an integer >= 0, got {value!r}")
        return dataclasses.replace(self, **changes)


DEFAULT_LIMITS = Limits()


def limits_of(limits: Limits | None, overrides: dict) -> Limits:
    """The limits a reader applies: `limits` (default `DEFAULT_LIMITS`) with keyword overrides."""
    base = DEFAULT_LIMITS if limits is None else limits
    return base.replace(**overrides) if overrides else base


def check_limit(what: str, count: int, limit: int, key: str, *, source: str, line: int | None = 1,
                column: int | None = None) -> None:
    """Raise `LimitError` when ``count > limit``, naming the keyword (`key`) that raises it."""
    if count > limit:
        raise LimitError(f"{what}: {count:,} exceeds the limit of {limit:,} (raise it with {key}=…)",
                         source=source, line=line, column=column)


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


def check_text(text: str, source: str, expected: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """`text` with a leading byte-order mark dropped, after checking it is non-empty printable
    Unicode text within ``limits.max_chars``.

    Args:
        expected: what the format expects, for the message of an empty text.

    Raises:
        FormatError: the text is empty (or only whitespace), holds control characters or lone
            surrogates (it is then not Unicode text), each with its line and column.
        LimitError: longer than ``limits.max_chars``.
    """
    if not isinstance(text, str):
        raise FormatError(f"expected text (str), got {type(text).__name__}", source=source, line=1)
    check_limit("characters", len(text), limits.max_chars, "max_chars", source=source)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise FormatError(f"empty: expected {expected}", source=source, line=1)
    bad = _CONTROL.search(text) or SURROGATE.search(text)
    if bad:
        line, col = position(text, bad.start())
        what = ("not Unicode text (a lone surrogate" if SURROGATE.match(bad.group())
                else "not a text file (control character")
        raise FormatError(f"{what} U+{ord(bad.group()):04X}): expected {expected}",
                          source=source, line=line, column=col)
    return text


def check_name(value: str, what: str, *, source: str, line: int | None, column: int | None = None) -> str:
    """`value` (a state or symbol name read from an escape, e.g. JSON's ``"\\ud800"``) if it is
    Unicode text.

    Raises:
        FormatError: it holds a lone surrogate (it could not be printed or written as UTF-8).
    """
    bad = SURROGATE.search(value)
    if bad:
        raise FormatError(f"{what} {value!r} holds a lone surrogate U+{ord(bad.group()):04X}: not Unicode text",
                          source=source, line=line, column=column)
    return value


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
        # a transition's error carries it (see turing.machine); any other is the fields' fault
        key = getattr(err, "transition", None)
        culprit = None if key is None else next((r for r in rules if (r.state, r.read) == key), None)
        at = (line if line is not None else 1, None) if culprit is None else (culprit.line, culprit.column)
        raise FormatError(str(err), source=source, line=at[0], column=at[1]) from err


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


# ---------------------------------------------------------------- JSON nesting
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def check_json_depth(text: str, source: str, max_depth: int) -> None:
    """Raise `LimitError` at the first ``[`` or ``{`` (outside strings) nested deeper than
    `max_depth`, before any recursive parser sees the text. Linear time; brackets inside
    strings do not count (an unterminated string's do, which can only reject earlier)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) <= max_depth:
        return
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        depth += _DEPTH_STEP.get(m.group(), 0)
        if depth > max_depth:
            line, column = position(text, m.start())
            raise LimitError(f"JSON nested deeper than {max_depth} levels (a machine needs 4; raise the limit "
                             f"with max_depth=…)", source=source, line=line, column=column)
