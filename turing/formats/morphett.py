"""Morphett's Turing machine simulator format (http://morphett.info/turing/), e.g.::

    ; adds 1 to a binary number
    ; $INITIAL_TAPE: 1011
    0 * * r 0        ; find the end of the number
    0 _ _ l 1
    1 1 0 l 1        ; carry
    1 0 1 * halt
    1 _ 1 * halt

One rule per line, ``state symbol new-symbol direction new-state``, with an optional sixth
token ``!`` (a breakpoint, ignored). ``;`` starts a comment. Symbols are single characters;
``_`` is the blank. Directions are ``l``, ``r`` and ``*`` (stay), in either case.

Wildcards, as Morphett applies them: ``*`` as the symbol or state read matches any; for each
(state, symbol) the rule used is the exact one, else (state, ``*``), else (``*``, symbol),
else (``*``, ``*``). `loads` expands them into explicit δ entries over the machine's states and
tape alphabet (a wildcard state matches no halting state: Morphett stops before reading).
``*`` as the new symbol or new state means "unchanged".

States are the names in the order the file first mentions them; the start state is ``0``, as
on morphett.info. A state whose name begins with ``halt`` (any case) halts: ``halt-accept…``
accepts, ``halt-reject…`` rejects, any other is a plain halt. Two different rules for one
(state, symbol) are an error (Morphett warns and keeps the last).

Comment directives carry the rest of a `Machine`. ``$INITIAL_TAPE:`` is Morphett's own (the
example input, `read_input`; spaces are blanks); the others are ours, written by `dumps` only
when the default differs, and set by hand on morphett.info where they matter::

    ; $INITIAL_STATE: q0          start state (morphett.info: "Initial state")
    ; $STATES: 0 1 halt           Q in order
    ; $TAPE_ALPHABET: _ 0 1       Γ in order (default: _, then symbols as first mentioned,
                                  then those of the initial tape)
    ; $INPUT_ALPHABET: 0 1        Σ (default: Γ without _)
"""

from __future__ import annotations

import re
from typing import Sequence

from ..errors import (ConflictingTransitionError, FormatError, HaltingStateTransitionError, InvalidMoveError,
                      UndeclaredStateError, UndeclaredSymbolError)
from ..machine import Machine, build_delta
from ._common import (Limits, Rule, check_input, check_limit, check_round_trip, check_text, limits_of, make_machine,
                      name_of)

NAME = "morphett"
EXTENSIONS = ()
BLANK = "_"
START = "0"
_EXPECTED = "Morphett rules, one per line: state symbol new-symbol direction new-state"
_DIRECTIONS = {"l": "L", "r": "R", "*": "S"}
#: a directive in a line's comment (matched from the line's start: linear time on any line)
_DIRECTIVE = re.compile(r"[^;]*;.*?\$(INITIAL_TAPE|INITIAL_STATE|STATES|TAPE_ALPHABET|INPUT_ALPHABET):?[ \t]*(.*)$")


def halting_kind(state: str) -> str:
    """"accept", "reject", "halt", or "" for a state that does not halt, by Morphett's names."""
    low = state.lower()
    if not low.startswith("halt"):
        return ""
    return "accept" if low.startswith("halt-accept") else "reject" if low.startswith("halt-reject") else "halt"


# ---------------------------------------------------------------- reading
def loads(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides) -> Machine:
    """A machine from Morphett rules (wildcards expanded).

    Args:
        limits: size limits (default `DEFAULT_LIMITS`); keywords such as
            ``max_transitions=`` change single ones.

    Raises:
        FormatError: a line that is not 5 tokens (6 with ``!``), a symbol that is not one
            character, a direction other than l/r/*, conflicting rules, a start state that no
            rule mentions, a rule from a halting state, a symbol read outside ``$TAPE_ALPHABET``,
            …; each with its line and column.
        LimitError: more characters, states, symbols, or transitions (counted after wildcards
            are expanded, before expanding them) than `limits` allow.
    """
    return _parse(text, source, limits_of(limits, limit_overrides))[0]


def read_input(text: str, source: str = "<text>", limits: Limits | None = None, **limit_overrides
               ) -> tuple[str, ...]:
    """The ``$INITIAL_TAPE`` directive's tape, one symbol per character (spaces as ``_``);
    () when absent.

    Raises:
        FormatError: the tape marks a head position with ``*`` (runs here start at the first
            input symbol).
    """
    machine, word, line = _parse(text, source, limits_of(limits, limit_overrides))
    if "*" in word:
        raise FormatError("$INITIAL_TAPE marks the head with '*'; runs here start on the input's first symbol",
                          source=source, line=line)
    return word


def _lines(text: str, source: str) -> tuple[dict, list[Rule], list[str], list[str]]:
    """The directives (name -> (value, line)), the rules as written (wildcards kept), and the
    states and symbols in the order the rules mention them."""
    directives: dict[str, tuple[str, int]] = {}
    patterns, mentioned_states, mentioned_symbols = [], [], []
    for n, raw in enumerate(text.split("\n"), 1):  # as Morphett counts lines (not at \f, \u2028, …)
        d = _DIRECTIVE.match(raw)
        if d:
            directives[d.group(1)] = (d.group(2).strip(), n)
        code = raw.split(";", 1)[0]
        tokens = [(t.group(), t.start() + 1) for t in re.finditer(r"\S+", code)]
        if not tokens:
            continue
        if len(tokens) == 6 and tokens[5][0] == "!":
            tokens = tokens[:5]  # a breakpoint
        if len(tokens) != 5:
            raise FormatError(f"{len(tokens)} tokens: expected 5, {_EXPECTED}", source=source, line=n, column=1)
        (q, _), (a, ca), (b, cb), (d_, cd), (q2, _) = tokens
        for sym, col, what in ((a, ca, "symbol"), (b, cb, "new symbol")):
            if len(sym) != 1:
                raise FormatError(f"{what} {sym!r} is not a single character", source=source, line=n, column=col)
        if d_.lower() not in _DIRECTIONS:
            why = f"direction {d_!r}: expected l, r or * (stay)"
            raise FormatError(why, source=source, line=n, column=cd) from InvalidMoveError(why)
        patterns.append(Rule(q, a, q2, b, _DIRECTIONS[d_.lower()], n, 1))
        mentioned_states += [x for x in (q, q2) if x != "*"]
        mentioned_symbols += [x for x in (a, b) if x != "*"]
    return directives, patterns, mentioned_states, mentioned_symbols


def _parse(text: str, source: str, limits: Limits):
    text = check_text(text, source, _EXPECTED, limits)
    directives, patterns, mentioned_states, mentioned_symbols = _lines(text, source)
    word = directives.get("INITIAL_TAPE", ("", None))[0].replace(" ", BLANK)
    start, start_line = directives.get("INITIAL_STATE", (START, None))
    start = start.split()[0] if start.split() else START
    if "STATES" in directives:
        states = tuple(directives["STATES"][0].split())
        declared = set(states)
        for rule in patterns:
            for x in (rule.state, rule.next_state):
                if x != "*" and x not in declared:
                    why = f"state {x!r} is not in $STATES"
                    raise FormatError(why, source=source, line=rule.line) from UndeclaredStateError(why)
    else:
        states = tuple(dict.fromkeys(mentioned_states))
    if start not in states:
        why = (f"start state {start!r} is not mentioned by any rule (Morphett starts in state {START!r} "
               f"unless told otherwise)")
        raise FormatError(why, source=source, line=start_line or 1) from UndeclaredStateError(why)
    tape_alphabet = (tuple(directives["TAPE_ALPHABET"][0].split()) if "TAPE_ALPHABET" in directives else
                     tuple(dict.fromkeys([BLANK] + mentioned_symbols + [a for a in word if a != "*"])))
    input_alphabet = (tuple(directives["INPUT_ALPHABET"][0].split()) if "INPUT_ALPHABET" in directives
                      else tuple(a for a in tape_alphabet if a != BLANK))
    check_limit("states", len(states), limits.max_states, "max_states", source=source,
                line=directives.get("STATES", ("", 1))[1])
    check_limit("symbols", len(tape_alphabet), limits.max_symbols, "max_symbols", source=source,
                line=directives.get("TAPE_ALPHABET", ("", 1))[1])

    rules = _expand(patterns, states, tape_alphabet, source, limits.max_transitions)
    kinds = {q: halting_kind(q) for q in states}
    machine = make_machine(rules, source=source, line=start_line, states=states, start=start, blank=BLANK,
                           tape_alphabet=tape_alphabet, input_alphabet=input_alphabet,
                           accept={q for q in states if kinds[q] == "accept"},
                           reject={q for q in states if kinds[q] == "reject"},
                           halt={q for q in states if kinds[q] == "halt"}, name=name_of(source))
    return machine, tuple(word), directives.get("INITIAL_TAPE", ("", None))[1]


def _expand(patterns: list[Rule], states, tape_alphabet, source: str, max_transitions: int) -> list[Rule]:
    """Explicit rules from rules with wildcards, by Morphett's priority: exact, (q, *), (*, a),
    (*, *). The rules it will make are counted first (against `max_transitions`); then only
    the (state, symbol) pairs some pattern covers are visited, so a file without wildcards
    costs time in its rules, not in |Q|·|Γ|."""
    by_pattern = _patterns(patterns, source)
    first_rule = {}
    for rule in patterns:
        first_rule.setdefault(rule.state, rule)
    for q in states:
        if halting_kind(q) and q in first_rule:
            bad = first_rule[q]
            why = f"a rule from halting state {q!r}: Morphett stops on entering it, so this rule could never run"
            raise FormatError(why, source=source, line=bad.line, column=bad.column) \
                from HaltingStateTransitionError(why)
    code = {a: i for i, a in enumerate(tape_alphabet)}
    exact: dict[str, set] = {}
    for (q, a), rule in by_pattern.items():
        if a != "*" and a not in code:
            why = f"symbol {a!r} is not in $TAPE_ALPHABET"
            raise FormatError(why, source=source, line=rule.line, column=rule.column) from UndeclaredSymbolError(why)
        if q != "*" and a != "*":
            exact.setdefault(q, set()).add(a)
    running = [q for q in states if not halting_kind(q)]
    full = {q for q in running if (q, "*") in by_pattern or ("*", "*") in by_pattern}
    star = {a for a in tape_alphabet if ("*", a) in by_pattern}
    count = len(full) * len(tape_alphabet) + sum(len(star) + len(exact.get(q, set()) - star)
                                                 for q in running if q not in full)
    wild = next((r for r in patterns if "*" in (r.state, r.read)), None)
    check_limit("transitions after expanding wildcards", count, max_transitions, "max_transitions",
                source=source, line=wild.line if wild else 1)
    rules = []
    for q in running:
        reads = tape_alphabet if q in full else sorted(star | exact.get(q, set()), key=code.__getitem__)
        for a in reads:
            rule = next(by_pattern[k] for k in ((q, a), (q, "*"), ("*", a), ("*", "*")) if k in by_pattern)
            rules.append(rule._replace(state=q, read=a, write=a if rule.write == "*" else rule.write,
                                       next_state=q if rule.next_state == "*" else rule.next_state))
    return rules


def _patterns(patterns: list[Rule], source: str) -> dict:
    """(state, read) -> rule, wildcards included; two different rules for one pattern are an error."""
    by_pattern: dict = {}
    for rule in patterns:
        old = by_pattern.setdefault((rule.state, rule.read), rule)
        if old[2:5] != rule[2:5]:
            try:
                build_delta([old[:5], rule[:5]])
            except ConflictingTransitionError as err:
                raise FormatError(f"{err} (lines {old.line} and {rule.line})", source=source,
                                  line=rule.line, column=rule.column) from err
    return by_pattern


# ---------------------------------------------------------------- writing
def dumps(machine: Machine, input: Sequence[str] = ()) -> str:
    """The machine as Morphett rules (explicit, no wildcards), with directives where needed.

    Args:
        input: the example input, written as ``$INITIAL_TAPE``.

    Raises:
        FormatError: k > 1 tapes, a blank other than ``_``, a symbol that is not one character
            (or is whitespace, ``;`` or ``*``), a state name with whitespace or ``;`` or that is
            ``*``, halting states not named ``halt…`` (``halt-accept…``/``halt-reject…`` for
            accept/reject) or running states that are, or an input symbol outside Σ.
    """
    m = machine

    def cannot(why):
        raise FormatError(f"the Morphett format cannot express this machine: {why}", source=m.name or "<machine>")

    if m.tapes != 1:
        cannot(f"it has {m.tapes} tapes; Morphett's simulator has one")
    if m.blank != BLANK:
        cannot(f"its blank is {m.blank!r}; Morphett's blank is '_'")
    for a in m.tape_alphabet:
        if len(a) != 1 or a.isspace() or a in ";*":
            cannot(f"symbol {a!r}: Morphett symbols are single characters other than space, ';' and '*'")
    for q in m.states:
        if not q or q == "*" or ";" in q or re.search(r"\s", q):
            cannot(f"state {q!r}: Morphett states are words without spaces or ';', and not '*'")
        kind = "accept" if q in m.accept else "reject" if q in m.reject else "halt" if q in m.halt else ""
        if halting_kind(q) != kind:
            cannot(f"state {q!r} is {'a ' + kind + ' state' if kind else 'not halting'}, but Morphett would take "
                   f"it for {'a ' + halting_kind(q) + ' state' if halting_kind(q) else 'a running one'}: halting "
                   f"states are named halt…, halt-accept…, halt-reject…")

    check_input(m, input, NAME)
    lines = [f"; {' '.join(m.name.replace('$', '').split())}"] if m.name else []  # no directive by accident
    if input:
        lines.append(f"; $INITIAL_TAPE: {''.join(input)}")
    if m.start != START:
        lines.append(f"; $INITIAL_STATE: {m.start}")
    order = {a: i for i, a in enumerate(m.tape_alphabet)}
    reads: dict[str, list[str]] = {}
    for q, a in m.delta:
        reads.setdefault(q, []).append(a)
    for q in m.states:
        for a in sorted(reads.get(q, ()), key=order.get):
            act = m.delta[(q, a)]
            lines.append(f"{q} {a} {act.write} {'l' if act.move == 'L' else 'r' if act.move == 'R' else '*'} "
                         f"{act.next_state}")
    # directives only where the defaults (what a reader would infer) differ
    inferred = _parse_lenient("\n".join(lines))
    extra = []
    if inferred[0] != m.states:
        extra.append(f"; $STATES: {' '.join(m.states)}")
    if inferred[1] != m.tape_alphabet:
        extra.append(f"; $TAPE_ALPHABET: {' '.join(m.tape_alphabet)}")
    if tuple(a for a in m.tape_alphabet if a != BLANK) != m.input_alphabet:
        extra.append(f"; $INPUT_ALPHABET: {' '.join(m.input_alphabet)}")
    head = 1 if m.name else 0
    text = "\n".join(lines[:head] + extra + lines[head:]) + "\n"
    return check_round_trip(m, text, loads, NAME)


def _parse_lenient(text: str) -> tuple[tuple, tuple]:
    """The states and tape alphabet a reader would infer from `text` (rules and
    $INITIAL_TAPE only), without building a machine (the start state may be unmentioned)."""
    states, symbols, tape = [], [BLANK], []
    for raw in text.split("\n"):
        d = _DIRECTIVE.match(raw)
        if d and d.group(1) == "INITIAL_TAPE":
            tape = list(d.group(2).strip().replace(" ", BLANK))
        tokens = raw.split(";", 1)[0].split()
        if len(tokens) == 5:
            states += [tokens[0], tokens[4]]
            symbols += [tokens[1], tokens[2]]
    return tuple(dict.fromkeys(states)), tuple(dict.fromkeys(symbols + tape))
