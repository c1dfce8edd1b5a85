"""Our own JSON format: every `Machine` can be written and read back unchanged.

One object; every name is a JSON string (symbols and states may be any non-empty strings)::

    {
      "version": 1,                         optional; 1 is the only version
      "name": "binary increment",           optional
      "tapes": 1,                           optional, default 1
      "states": ["right", "carry", "done"], Q, in order
      "start": "right",                     q0
      "accept": [], "reject": [],           optional halting states of each kind, default []
      "halt": ["done"],
      "blank": "_",
      "tape_alphabet": ["_", "0", "1"],     Γ, in order, the blank included
      "input_alphabet": ["0", "1"],         optional Σ, default Γ without the blank
      "delta": [                            δ, one row per transition:
        ["right", "0", "right", "0", "R"],    [state, read, next state, write, move]
        ["carry", "1", "carry", "0", "L"]
      ],
      "input": ["1", "0", "1", "1"]         optional example input (see `read_input`)
    }

With k tapes, read, write and move in each row are arrays of k strings, e.g.
``["q", ["0", "_"], "q", ["0", "0"], ["R", "S"]]``. Moves are "L", "R" or "S". A missing
(state, read) pair has no transition. Unknown keys are errors (they are most likely typos).
The schema is also described in docs/formats.md.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from typing import Sequence

from ..errors import FormatError
from ..machine import Machine
from ._common import (SURROGATE, Limits, Rule, check_input, check_json_depth, check_limit, check_name, check_round_trip,
                      check_text, limits_of, make_machine, name_of, position)

NAME = "json"
EXTENSIONS = (".json",)
VERSION = 1
_KEYS = ("version", "name", "tapes", "states", "start", "accept", "reject", "halt", "blank",
         "tape_alphabet", "input_alphabet", "delta", "input")
_REQUIRED = ("states", "start", "blank", "tape_alphabet", "delta")
_EXPECTED = "a JSON object with keys " + ", ".join(_REQUIRED)


# ---------------------------------------------------------------- reading
def loads(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides) -> Machine:
    """A machine from JSON text.

    Args:
        limits: size limits (default `DEFAULT_LIMITS`); keywords such as ``max_states=``
            change single ones.

    Raises:
        FormatError: not JSON, not an object, a missing or unknown key, a value of the wrong
            type, a name that is not Unicode text, or a machine definition error (chained),
            each with its line.
        LimitError: nesting, length, states, symbols, tapes or transitions over `limits`.
    """
    return _parse(text, source, limits_of(limits, limit_overrides))[0]


def read_input(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides
               ) -> tuple[str, ...]:
    """The optional example input ("input"), as a tuple of symbols; () when absent."""
    return _parse(text, source, limits_of(limits, limit_overrides))[1]


def _parse(text: str, source: str, limits: Limits) -> tuple[Machine, tuple[str, ...]]:
    text = check_text(text, source, _EXPECTED, limits)
    check_json_depth(text, source, limits.max_depth)
    doc, where = _decode(text, source)
    if not isinstance(doc, dict):
        raise FormatError(f"expected {_EXPECTED}, got a JSON {type(doc).__name__}", source=source, line=1)
    d = _Doc(doc, text, source)
    tapes = _check_shape(d, limits)
    tape_alphabet = d.strings("tape_alphabet")
    blank = d.string("blank")
    fields = dict(states=d.strings("states"), start=d.string("start"), blank=blank, tape_alphabet=tape_alphabet,
                  input_alphabet=d.strings("input_alphabet", [a for a in tape_alphabet if a != blank]),
                  accept=d.strings("accept", []), reject=d.strings("reject", []), halt=d.strings("halt", []),
                  tapes=tapes, name=d.string("name", doc.get("name") or name_of(source)))
    word = d.strings("input") if "input" in doc else ()

    rows = doc["delta"]
    if not isinstance(rows, list):
        d.fail("delta", "expected an array of rows [state, read, next state, write, move]")
    starts = [0] + [m.end() for m in re.finditer("\n", text)]  # line i + 1 starts at starts[i]
    rules = []
    for i, row in enumerate(rows):
        line = bisect.bisect_right(starts, where[id(row)]) if id(row) in where else d.line_of("delta")
        rules.append(_rule(row, i, tapes, line, source))
    return make_machine(rules, source=source, line=d.line_of("start"), **fields), word


class _Doc:
    """The decoded object and its text: typed reads of its keys whose errors name the key's line."""

    def __init__(self, doc: dict, text: str, source: str):
        self.doc, self.text, self.source = doc, text, source

    def line_of(self, key: str) -> int:
        """The line of the first ``"key":`` (keys have no recorded position; this is good enough)."""
        m = re.search(r'"%s"\s*:' % re.escape(key), self.text)
        return position(self.text, m.start())[0] if m else 1

    def fail(self, key: str, message: str):
        raise FormatError(f'"{key}": {message}', source=self.source, line=self.line_of(key))

    def strings(self, key: str, default=None) -> tuple[str, ...]:
        value = self.doc.get(key, default)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.fail(key, "expected an array of strings")
        bad = next((x for x in value if SURROGATE.search(x)), None)
        if bad is not None:
            check_name(bad, f'"{key}": name', source=self.source, line=self.line_of(key))
        return tuple(value)

    def string(self, key: str, value=None) -> str:
        value = self.doc[key] if value is None else value
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_show(value)}")
        if SURROGATE.search(value):
            check_name(value, f'"{key}":', source=self.source, line=self.line_of(key))
        return value


def _check_shape(d: _Doc, limits: Limits) -> int:
    """Keys known and present, version, and the sizes within `limits`; returns the tapes k."""
    for key in d.doc:
        if key not in _KEYS:
            d.fail(key, f"unknown key; expected one of {', '.join(_KEYS)}")
    for key in _REQUIRED:
        if key not in d.doc:
            raise FormatError(f'missing key "{key}"; expected {_EXPECTED}', source=d.source,
                              line=position(d.text, d.text.index("{"))[0])
    if d.doc.get("version", VERSION) != VERSION:
        d.fail("version", f"unknown version {_show(d.doc['version'])}; this reader knows version {VERSION}")
    tapes = d.doc.get("tapes", 1)
    if not isinstance(tapes, int) or isinstance(tapes, bool) or tapes < 1:
        d.fail("tapes", f"expected an integer >= 1, got {_show(tapes)}")
    check_limit("tapes", tapes, limits.max_tapes, "max_tapes", source=d.source, line=d.line_of("tapes"))
    for key, limit, name in (("states", limits.max_states, "max_states"),
                             ("tape_alphabet", limits.max_symbols, "max_symbols"),
                             ("input_alphabet", limits.max_symbols, "max_symbols"),
                             ("delta", limits.max_transitions, "max_transitions")):
        if isinstance(d.doc.get(key), list):
            check_limit(key, len(d.doc[key]), limit, name, source=d.source, line=d.line_of(key))
    return tapes


def _rule(row, i: int, tapes: int, line: int, source: str) -> Rule:
    """One row of "delta", checked for shape: 5 entries; read, write, move strings (1 tape) or
    arrays of `tapes` strings."""
    def bad(what):
        raise FormatError(f"delta[{i}]: {what}; expected [state, read, next state, write, move]"
                          + ("" if tapes == 1 else f" with read, write and move arrays of {tapes} strings"),
                          source=source, line=line)

    if not isinstance(row, list) or len(row) != 5:
        bad(f"got {_show(row)}")
    q, read, q2, write, move = row
    if not isinstance(q, str) or not isinstance(q2, str):
        bad("states must be strings")
    parts = []
    for x in (read, write, move):
        if tapes == 1:
            if not isinstance(x, str):
                bad(f"{_show(x)} is not a string")
            parts.append(x)
        else:
            if not isinstance(x, list) or len(x) != tapes or not all(isinstance(a, str) for a in x):
                bad(f"{_show(x)} is not an array of {tapes} strings")
            parts.append(tuple(x))
    for x in (q, q2, *(a for p in parts for a in ((p,) if tapes == 1 else p))):
        check_name(x, f"delta[{i}]: name", source=source, line=line)
    return Rule(q, parts[0], q2, parts[1], parts[2], line)


def _show(value, width: int = 60) -> str:
    """A JSON value for a message, cut to about `width` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 1] + "…"


class _DuplicateKey(ValueError):
    """Raised by the object hook; the object parser adds the object's position."""


def _decode(text: str, source: str) -> tuple[object, dict[int, int]]:
    """Parse JSON, also returning the offset of every array (by id), so that an error in a row
    of "delta" can name its line. Uses the pure-Python scanner, whose hooks can be replaced;
    duplicate keys are errors (found in linear time). The caller has bounded the nesting
    (`check_json_depth`), so the recursive scanner cannot run out of stack."""
    where: dict[int, int] = {}

    def parse_array(s_and_end, scan_once, *args):
        values, end = json.decoder.JSONArray(s_and_end, scan_once, *args)
        where[id(values)] = s_and_end[1] - 1
        return values, end

    def parse_object(s_and_end, *args):
        try:
            return json.decoder.JSONObject(s_and_end, *args)
        except _DuplicateKey as dup:  # point at the object that holds the duplicate
            raise json.JSONDecodeError(str(dup), s_and_end[0], s_and_end[1] - 1) from None

    def no_duplicates(pairs):
        out = dict(pairs)
        if len(out) != len(pairs):
            seen = set()
            dup = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise _DuplicateKey(f"duplicate key {dup!r} in the object that starts here")
        return out

    decoder = json.JSONDecoder(object_pairs_hook=no_duplicates)
    decoder.parse_array, decoder.parse_object = parse_array, parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text), where
    except json.JSONDecodeError as err:
        raise FormatError(f"not valid JSON: {err.msg}", source=source, line=err.lineno, column=err.colno) from err
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise FormatError(f"not valid JSON: {err}", source=source, line=1) from err


# ---------------------------------------------------------------- writing
def dumps(machine: Machine, input: Sequence[str] = ()) -> str:
    """The machine as JSON (one δ row per line, rows in the order of states and Γ).

    Args:
        input: an optional example input to store in "input".

    Raises:
        FormatError: only for an input symbol outside Σ; the format expresses every `Machine`.
    """
    check_input(machine, input, NAME)
    d = lambda x: json.dumps(x, ensure_ascii=False).replace("\x7f", "\\u007f")  # noqa: E731  (DEL: not text)
    order = {q: i for i, q in enumerate(machine.states)}
    code = {a: i for i, a in enumerate(machine.tape_alphabet)}
    read_order = (lambda a: code[a]) if machine.tapes == 1 else (lambda a: [code[x] for x in a])
    keys = sorted(machine.delta, key=lambda k: (order[k[0]], read_order(k[1])))
    listed = lambda x: list(x) if isinstance(x, tuple) else x  # noqa: E731
    rows = [d([q, listed(a), act.next_state, listed(act.write), listed(act.move)])
            for (q, a) in keys for act in [machine.delta[(q, a)]]]
    fields = [("version", VERSION)] + ([("name", machine.name)] if machine.name else []) + [
        ("tapes", machine.tapes), ("states", list(machine.states)), ("start", machine.start),
        ("accept", _ordered(machine, machine.accept)), ("reject", _ordered(machine, machine.reject)),
        ("halt", _ordered(machine, machine.halt)), ("blank", machine.blank),
        ("tape_alphabet", list(machine.tape_alphabet)), ("input_alphabet", list(machine.input_alphabet))]
    lines = [f"  {d(k)}: {d(v)}," for k, v in fields]
    lines.append('  "delta": [' + ",".join(f"\n    {r}" for r in rows) + ("\n  ]" if rows else "]"))
    if input:
        lines[-1] += ","
        lines.append(f'  "input": {d(list(input))}')
    text = "{\n" + "\n".join(lines) + "\n}\n"
    return check_round_trip(machine, text, loads, NAME)


def _ordered(machine: Machine, states) -> list[str]:
    return [q for q in machine.states if q in states]
