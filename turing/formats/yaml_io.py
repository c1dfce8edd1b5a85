"""turingmachine.io YAML (https://turingmachine.io), e.g. its binary increment example::

    input: '1011'
    blank: ' '
    start state: right
    table:
      right:
        [1, 0]: R
        ' ': {L: carry}
      carry:
        1: {write: 0, L}
        [0, ' ']: {write: 1, L: done}
      done:

Read as turingmachine.io reads it: `blank` (one character), `start state` and `table` are
required; `table` maps each state to its transitions, symbol -> instruction, where a key may
list several symbols (``[0, 1]: R``). An instruction is ``L`` or ``R`` (move, keep state and
symbol), a mapping ``{write: s, L: q}`` / ``{R: q}`` (`write` optional: keep the symbol; an
empty target: keep the state), or the name of a `synonyms` entry. A state with no entries
(empty or ``{}``) halts; a transition to a state missing from `table` is an error. Symbols are
single characters taken as written (``0`` and ``'0'`` are the same symbol), so YAML's ints and
booleans never leak in. `input` is the example input, given by `read_input`. turingmachine.io
moves only L and R, so this format does too (no S / N); a machine that stays put needs JSON.

turingmachine.io has no notion of alphabets or of accepting, so these optional keys (which
turingmachine.io ignores) carry what `Machine` holds beyond it, and `dumps` writes them only
when the default would differ:

    tape alphabet:  [' ', '0', '1']   Γ in order (default: the blank, then every symbol in the
                                      order the table first reads or writes it, then `input`'s)
    input alphabet: ['0', '1']        Σ (default: Γ without the blank)
    accept states:  [accept]          halting states that accept (default: none; every other
    reject states:  [reject]          state with no entries is a plain halt state)

A turingmachine.io document (keys `name`, `source code`, `positions`) is read through its
`source code`. Reading uses PyYAML's safe composer only (nodes, never Python objects).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

import yaml

from ..errors import FormatError, InvalidMoveError, UndeclaredStateError
from ..machine import Machine
from ._common import (SURROGATE, Limits, Rule, check_input, check_limit, check_round_trip, check_text, limits_of,
                      make_machine, name_of, position)

NAME = "yaml"
EXTENSIONS = (".yaml", ".yml")
_EXPECTED = "a YAML mapping with keys blank, start state and table (turingmachine.io)"
_NULL = "tag:yaml.org,2002:null"
_MOVES = ("L", "R")
#: PyYAML's safe loader, in C when libyaml is there (composing large tables is 10x faster)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: characters YAML does not allow in a stream (C0/C1 controls but tab, LF, CR, NEL; U+FFFE, U+FFFF)
_NOT_YAML = yaml.reader.Reader.NON_PRINTABLE


class _Instruction(NamedTuple):
    """An instruction before it is placed: None keeps the symbol read / the current state."""
    write: str | None
    move: str
    next_state: str | None


# ---------------------------------------------------------------- reading
def loads(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides) -> Machine:
    """A machine from turingmachine.io YAML.

    Args:
        limits: size limits (default `DEFAULT_LIMITS`); keywords such as
            ``max_transitions=`` change single ones.

    Raises:
        FormatError: not YAML, not a mapping, a missing key, a start state or transition target
            that is not in the table, a symbol that is not one character, a move other than L/R,
            conflicting transitions, …; each with the line and column of the offending node.
        LimitError: more characters, states, symbols, or transitions (counted with aliases
            expanded, before expanding them) than `limits` allow.
    """
    return _parse(text, source, limits_of(limits, limit_overrides))[0]


def read_input(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides
               ) -> tuple[str, ...]:
    """The document's `input`, one symbol per character; () when absent."""
    return _parse(text, source, limits_of(limits, limit_overrides))[1]


def _count_rules(table: dict) -> int:
    """The rules `table` will expand to, counted without expanding: a mapping shared by many
    states through an alias is counted once per state but measured once."""
    sizes: dict[int, int] = {}
    total = 0
    for _, entries in table.values():
        if isinstance(entries, yaml.MappingNode):
            if id(entries) not in sizes:
                sizes[id(entries)] = sum(len(k.value) if isinstance(k, yaml.SequenceNode) else 1
                                         for k, _ in entries.value)
            total += sizes[id(entries)]
    return total


def _check_sizes(r: "_Reader", top: dict, table: dict, limits: Limits) -> None:
    """States, transitions (aliases expanded, by counting) and declared alphabets within `limits`."""
    at = dict(source=r.source, line=r.where(top["table"][1])[0])
    check_limit("states", len(table), limits.max_states, "max_states", **at)
    check_limit("transitions after expanding aliases", _count_rules(table), limits.max_transitions,
                "max_transitions", **at)
    for key in ("tape alphabet", "input alphabet"):
        if key in top and isinstance(top[key][1], yaml.SequenceNode):
            check_limit(key, len(top[key][1].value), limits.max_symbols, "max_symbols", source=r.source,
                        line=r.where(top[key][1])[0])


def _parse(text: str, source: str, limits: Limits) -> tuple[Machine, tuple[str, ...]]:
    r, name = _Reader(source), name_of(source)
    root = r.compose(check_text(text, source, _EXPECTED, limits))
    top = r.mapping(root, "the document")
    if "table" not in top and "source code" in top:  # a turingmachine.io document
        if "name" in top:
            name = r.text(top["name"][1], "name")
        code = top["source code"][1]
        r = _Reader(source, code.start_mark.line + 1, _indent(text, code.start_mark.line + 1))
        root = r.compose(r.text(code, "source code"))
        top = r.mapping(root, "the source code")
    for key in ("blank", "start state", "table"):
        if key not in top:
            raise r.error(f"missing key `{key}`: expected {_EXPECTED}", root)
    blank = r.symbol(top["blank"][1], "the blank")
    start_node = top["start state"][1]
    start = r.text(start_node, "the start state")

    table = r.mapping(top["table"][1], "table (states -> symbol -> instruction)")
    states = tuple(table)
    _check_sizes(r, top, table, limits)
    synonyms = {name: r.instruction(v, table, {}) for name, (_, v) in
                r.mapping(top["synonyms"][1], "synonyms").items()} if "synonyms" in top else {}
    rules, empty = [], []
    for q, (_, entries) in table.items():
        if entries.tag == _NULL or isinstance(entries, yaml.MappingNode) and not entries.value:
            empty.append(q)  # no entries: a halting state
            continue
        if not isinstance(entries, yaml.MappingNode):
            raise r.error(f"state {q!r}: expected a mapping of symbols to instructions, or nothing for a "
                          f"halting state", entries)
        for keys, value in entries.value:
            reads = [r.symbol(k, "a symbol read") for k in
                     (keys.value if isinstance(keys, yaml.SequenceNode) else [keys])]
            act = r.instruction(value, table, synonyms)
            line, column = r.where(keys)
            for a in reads:
                rules.append(Rule(q, a, act.next_state or q, a if act.write is None else act.write, act.move,
                                  line, column))
    if start not in table:
        why = f"start state {start!r} is not a state of the table (states: {', '.join(states)})"
        raise r.error(why, start_node) from UndeclaredStateError(why)

    word = ()
    if "input" in top and top["input"][1].tag != _NULL:
        word = tuple(r.text(top["input"][1], "input"))
    seen = dict.fromkeys([blank] + [a for rule in rules for a in (rule.read, rule.write)] + list(word))
    tape_alphabet = r.symbols(top["tape alphabet"][1], "tape alphabet") if "tape alphabet" in top else tuple(seen)
    input_alphabet = (r.symbols(top["input alphabet"][1], "input alphabet") if "input alphabet" in top
                      else tuple(a for a in tape_alphabet if a != blank))
    kinds = {}
    for kind in ("accept", "reject"):
        key = f"{kind} states"
        kinds[kind] = r.states(top[key][1], key, states) if key in top else ()
    halt = [q for q in empty if q not in kinds["accept"] and q not in kinds["reject"]]
    machine = make_machine(rules, source=source, line=r.where(start_node)[0], states=states, start=start,
                           blank=blank, tape_alphabet=tape_alphabet, input_alphabet=input_alphabet,
                           accept=kinds["accept"], reject=kinds["reject"], halt=halt, name=name)
    return machine, word


def _indent(text: str, line: int) -> int:
    """The indentation of 0-based `line` of `text` (the body of a block scalar)."""
    lines = text.splitlines()
    return len(lines[line]) - len(lines[line].lstrip(" ")) if line < len(lines) else 0


class _Reader:
    """Reads YAML nodes, raising FormatErrors that point at them. `line_offset` and `indent`
    place a document's embedded `source code` within the file."""

    def __init__(self, source: str, line_offset: int = 0, indent: int = 0):
        self.source, self.line_offset, self.indent = source, line_offset, indent

    def where(self, node) -> tuple[int, int]:
        mark = node.start_mark
        return mark.line + 1 + self.line_offset, mark.column + 1 + self.indent

    def error(self, message: str, node=None) -> FormatError:
        line, column = self.where(node) if node is not None else (1 + self.line_offset, None)
        return FormatError(message, source=self.source, line=line, column=column)

    def compose(self, text: str):
        """The document's root node, which must be a mapping."""
        bad = _NOT_YAML.search(text)
        if bad:
            line, column = position(text, bad.start())
            raise FormatError(f"not valid YAML: character U+{ord(bad.group()):04X} is not allowed in YAML",
                              source=self.source, line=line + self.line_offset, column=column + self.indent)
        try:
            node = yaml.compose(text, Loader=SAFE_LOADER)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, None)
            raise FormatError(f"not valid YAML: {err.problem or err.context}", source=self.source,
                              line=line + self.line_offset, column=column and column + self.indent) from err
        except yaml.YAMLError as err:
            raise FormatError(f"not valid YAML: {err}", source=self.source, line=1 + self.line_offset) from err
        except RecursionError as err:  # PyYAML's pure-Python composer (libyaml stops at 1,000 levels)
            raise FormatError("not valid YAML: nested too deeply", source=self.source,
                              line=1 + self.line_offset) from err
        if not isinstance(node, yaml.MappingNode):
            got = "nothing" if node is None else {"ScalarNode": "a single value",
                                                  "SequenceNode": "a list"}[type(node).__name__]
            raise self.error(f"expected {_EXPECTED}, got {got}", node)
        return node

    def mapping(self, node, what: str) -> dict:
        """A mapping node with scalar keys as ``{key: (key_node, value_node)}``; no duplicates."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(f"{what}: expected a mapping", node)
        out = {}
        for k, v in node.value:
            key = self.text(k, f"a key of {what}")
            if key in out:
                raise self.error(f"{what}: duplicate key {key!r} (first on line {self.where(out[key][0])[0]})", k)
            out[key] = (k, v)
        return out

    def text(self, node, what: str) -> str:
        """A scalar's text as written (so ``1`` is "1", ``yes`` is "yes")."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            raise self.error(f"{what}: expected a single value", node)
        if SURROGATE.search(node.value):
            raise self.error(f"{what}: {node.value!r} holds a lone surrogate: not Unicode text", node)
        return node.value

    def symbol(self, node, what: str) -> str:
        a = self.text(node, what)
        if len(a) != 1:
            raise self.error(f"{what}: {a!r} is not a single character (turingmachine.io reads the tape "
                             f"one character at a time)", node)
        return a

    def symbols(self, node, what: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(f"{what}: expected a list of symbols", node)
        return tuple(self.symbol(n, f"a symbol of {what}") for n in node.value)

    def states(self, node, what: str, states) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(f"{what}: expected a list of states", node)
        out = tuple(self.text(n, f"a state of {what}") for n in node.value)
        for n, q in zip(node.value, out):
            if q not in states:
                why = f"{what}: {q!r} is not a state of the table"
                raise self.error(why, n) from UndeclaredStateError(why)
        return out

    def instruction(self, node, states: dict, synonyms: dict) -> _Instruction:
        """``L``, ``R``, a synonym, or ``{write: s, L|R: q}``; a target must be a key of `states`."""
        if isinstance(node, yaml.ScalarNode) and node.tag != _NULL:
            if node.value in _MOVES:
                return _Instruction(None, node.value, None)
            if node.value in synonyms:
                return synonyms[node.value]
            hint = " (turingmachine.io has no stay move: use JSON for S)" if node.value in ("S", "N") else ""
            names = "".join(f", {s}" for s in synonyms)
            why = f"instruction {node.value!r}: expected L, R{names} or a mapping such as {{write: 1, L: next}}{hint}"
            raise self.error(why, node) from InvalidMoveError(why)
        if not isinstance(node, yaml.MappingNode):
            raise self.error("missing instruction: expected L, R or a mapping such as {write: 1, L: next}", node)
        fields = self.mapping(node, "an instruction")
        for key, (k, _) in fields.items():
            if key not in ("L", "R", "write"):
                hint = " (turingmachine.io has no stay move: use JSON for S)" if key in ("S", "N") else ""
                why = f"instruction key {key!r}: expected a move, L or R, and optionally write{hint}"
                raise self.error(why, k) from InvalidMoveError(why)
        moves = [m for m in _MOVES if m in fields]
        if len(moves) != 1:
            raise self.error("an instruction needs exactly one move, L or R", node)
        target = fields[moves[0]][1]
        next_state = None if target.tag == _NULL else self.text(target, "the next state")
        if next_state is not None and next_state not in states:
            why = (f"transition to undeclared state {next_state!r}: every state must be a key of the table "
                   f"(a halting one with no entries)")
            raise self.error(why, target) from UndeclaredStateError(why)
        write = self.symbol(fields["write"][1], "the symbol to write") if "write" in fields else None
        return _Instruction(write, moves[0], next_state)


# ---------------------------------------------------------------- writing
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*|[0-9]")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def dumps(machine: Machine, input: Sequence[str] = ()) -> str:
    """The machine as turingmachine.io YAML (transitions that share an instruction share a line).

    Args:
        input: the example input to write as `input`.

    Raises:
        FormatError: k > 1 tapes, an S move, a symbol that is not one character, a running state
            with no transitions (turingmachine.io would take it for a halting one), or an
            input symbol outside the input alphabet.
    """
    m = machine

    def cannot(why):
        raise FormatError(f"the turingmachine.io format cannot express this machine: {why}",
                          source=m.name or "<machine>")

    if m.tapes != 1:
        cannot(f"it has {m.tapes} tapes; turingmachine.io has one")
    if any(len(a) != 1 for a in m.tape_alphabet):
        cannot(f"its symbols must be single characters, not {[a for a in m.tape_alphabet if len(a) != 1][:5]}")
    if any(act.move not in _MOVES for act in m.delta.values()):
        cannot("it moves S (stays put); turingmachine.io moves only L or R (use JSON)")
    has_rules = {q for q, _ in m.delta}
    idle = [q for q in m.states if q not in has_rules and not m.is_halting(q)]
    if idle:
        cannot(f"state {idle[0]!r} has no transitions but does not halt; turingmachine.io takes a state "
               f"with no transitions for a halting one")
    check_input(m, input, "turingmachine.io")

    head = [f"# {' '.join(m.name.split())}"] if m.name else []
    if input:
        head.append(f"input: {_quote(''.join(input))}")
    head += [f"blank: {_quote(m.blank)}", f"start state: {_quote(m.start)}"]
    for kind in ("accept", "reject"):
        if getattr(m, kind):
            head.append(f"{kind} states: " + _flow([q for q in m.states if q in getattr(m, kind)]))
    body, seen = ["table:"], [m.blank]  # seen: symbols in the order a reader meets them
    for q in m.states:
        body += _state(m, q, seen)

    # add the alphabets only where the defaults (what a reader would infer) differ
    extra = []
    if tuple(dict.fromkeys(seen + list(input))) != m.tape_alphabet:
        extra.append(f"tape alphabet: {_flow(m.tape_alphabet)}  # Γ in order (ignored by turingmachine.io)")
    if tuple(a for a in m.tape_alphabet if a != m.blank) != m.input_alphabet:
        extra.append(f"input alphabet: {_flow(m.input_alphabet)}")
    text = "\n".join(head + extra + body) + "\n"
    return check_round_trip(m, text, loads, "turingmachine.io")


def _state(m: Machine, q: str, seen: list[str]) -> list[str]:
    """A state's lines: reads that share an instruction are listed together, in Γ order.
    Appends to `seen` each symbol read and written, in the order the lines hold them."""
    groups: dict[str, list[str]] = {}
    for a in m.tape_alphabet:
        act = m.delta.get((q, a))
        if act is not None:
            groups.setdefault(_instruction(q, a, act), []).append(a)
    lines = [f"  {_quote(q)}:"]
    for text, reads in groups.items():
        # a comma inside a list key would be split by turingmachine.io, so ',' stands alone
        while reads:
            group = [a for a in reads if a != ","] or reads[:1]
            key = _quote(group[0]) if len(group) == 1 else _flow(group)
            lines.append(f"    {key}: {text}")
            seen += [x for a in group for x in (a, m.delta[(q, a)].write)]
            reads = [a for a in reads if a not in group]
    return lines


def _instruction(q: str, a: str, act) -> str:
    if act.next_state == q and act.write == a:
        return act.move
    write = "" if act.write == a else f"write: {_quote(act.write)}, "
    return f"{{{write}{act.move}: {_quote(act.next_state)}}}"


def _flow(items) -> str:
    return "[" + ", ".join(_quote(x) for x in items) + "]"


def _quote(s: str) -> str:
    """A YAML scalar that reads back as `s` here and in turingmachine.io's js-yaml: plain when
    safe, else single-quoted, else double-quoted with escapes."""
    if _PLAIN.fullmatch(s) and s.lower() not in _RESERVED:
        return s
    if s.isprintable():
        return "'" + s.replace("'", "''") + "'"
    return yaml.safe_dump(s, default_style='"', width=1 << 30).strip().removesuffix("...").strip()
