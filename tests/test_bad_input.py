"""Bad machine files: each is a FormatError naming the source, the line (and column where one
is known), what was expected, and — for a broken machine definition — chained to the
definition error that says which rule broke."""

from __future__ import annotations

import pytest

from turing import FormatError, Machine
from turing import errors as E
from turing.formats import dumps, load, loads, read_input

# (id, format, text, line, column, words the message holds, cause or None)
CASES = [
    # ---- start state not declared
    ("yaml start", "yaml", "blank: ' '\nstart state: nope\ntable:\n  a:\n    1: R\n",
     2, 14, "start state 'nope'", E.UndeclaredStateError),
    ("json start", "json", '{"states": ["a"],\n "start": "b",\n "blank": "_", "tape_alphabet": ["_"], "delta": []}',
     2, None, "start state 'b'", E.UndeclaredStateError),
    ("morphett start 0", "morphett", "1 _ _ r 1\n", 1, None, "start state '0'", E.UndeclaredStateError),
    ("morphett start directive", "morphett", "; $INITIAL_STATE: q\n0 _ _ r 0\n", 1, None, "start state 'q'",
     E.UndeclaredStateError),
    # ---- transition to an undeclared state
    ("yaml target", "yaml", "blank: ' '\nstart state: a\ntable:\n  a:\n    1: {R: b}\n",
     5, 12, "undeclared state 'b'", E.UndeclaredStateError),
    ("json target", "json", '{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_"],\n'
     ' "delta": [\n  ["a", "_", "b", "_", "R"]\n]}', 3, None, "next state 'b'", E.UndeclaredStateError),
    ("morphett target", "morphett", "; $STATES: 0\n0 _ _ r 1\n", 2, None, "'1' is not in $STATES",
     E.UndeclaredStateError),
    # ---- write symbol outside the tape alphabet
    ("yaml write", "yaml",
     "blank: ' '\nstart state: a\ntape alphabet: [' ', '1']\ntable:\n  a:\n    1: {write: 2, R: a}\n",
     6, 5, "'2' is not in the tape alphabet", E.UndeclaredSymbolError),
    ("json write", "json", '{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_"],\n'
     ' "delta": [\n  ["a", "_", "a", "x", "R"]\n]}', 3, None, "'x' is not in the tape alphabet",
     E.UndeclaredSymbolError),
    ("morphett write", "morphett", "; $TAPE_ALPHABET: _ 1\n0 _ 2 r 0\n", 2, 1, "'2' is not in the tape alphabet",
     E.UndeclaredSymbolError),
    ("standard write", "standard", "1RB2LB_1LA1LZ", 1, 4, "outside the tape alphabet 0..1", E.UndeclaredSymbolError),
    # ---- a direction other than L/R/S, in each format's spelling
    ("yaml move key S", "yaml", "blank: ' '\nstart state: a\ntable:\n  a:\n    1: {write: 1, S: a}\n",
     5, 19, "no stay move", E.InvalidMoveError),
    ("yaml move string", "yaml", "blank: ' '\nstart state: a\ntable:\n  a:\n    1: X\n",
     5, 8, "expected L, R", E.InvalidMoveError),
    ("json move", "json", '{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_"],\n'
     ' "delta": [\n  ["a", "_", "a", "_", "X"]\n]}', 3, None, "move 'X' is not one of L, R, S", E.InvalidMoveError),
    ("morphett move", "morphett", "0 _ _ x 1\n", 1, 7, "expected l, r or *", E.InvalidMoveError),
    ("morphett move S", "morphett", "0 _ _ s 1\n", 1, 7, "expected l, r or *", E.InvalidMoveError),
    ("standard move", "standard", "1RB1SB_1LA1LZ", 1, 4, "'S' is not a move, L or R", E.InvalidMoveError),
    # ---- conflicting duplicate transitions
    ("yaml conflict", "yaml", "blank: ' '\nstart state: a\ntable:\n  a:\n    [0, 1]: R\n    1: L\n",
     6, 5, "lines 5 and 6", E.ConflictingTransitionError),
    ("json conflict", "json", '{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_"],\n'
     ' "delta": [\n  ["a", "_", "a", "_", "L"],\n  ["a", "_", "a", "_", "R"]\n]}', 4, None, "lines 3 and 4",
     E.ConflictingTransitionError),
    ("morphett conflict", "morphett", "0 _ _ r 1\n0 _ _ l 1\n", 2, 1, "lines 1 and 2", E.ConflictingTransitionError),
    ("morphett wildcard conflict", "morphett", "0 * _ r 0\n0 * 1 r 0\n", 2, 1, "lines 1 and 2",
     E.ConflictingTransitionError),
    # ---- YAML that is not a mapping, and other shapes
    ("yaml list", "yaml", "- blank\n- table\n", 1, 1, "got a list", None),
    ("yaml scalar", "yaml", "just a sentence\n", 1, 1, "got a single value", None),
    ("yaml no table", "yaml", "blank: ' '\nstart state: a\n", 1, 1, "missing key `table`", None),
    ("yaml syntax", "yaml", "blank: ' \nstart state: a\n", 3, 1, "not valid YAML", None),
    ("yaml long symbol", "yaml", "blank: ' '\nstart state: a\ntable:\n  a:\n    10: R\n", 5, 5,
     "'10' is not a single character", None),
    ("yaml duplicate state", "yaml", "blank: ' '\nstart state: a\ntable:\n  a:\n  a:\n", 5, 3,
     "duplicate key 'a' (first on line 4)", None),
    ("json not object", "json", "[1, 2]", 1, None, "got a JSON list", None),
    ("json syntax", "json", '{"states": ["a",}', 1, 17, "not valid JSON", None),
    ("json unknown key", "json", '{"states": [],\n "strat": "a"}', 2, None, '"strat": unknown key', None),
    ("json row shape", "json", '{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_"],\n'
     ' "delta": [\n  ["a", "_", "a"]\n]}', 3, None, "delta[0]", None),
    ("morphett tokens", "morphett", "0 _ _ r 0\n0 _ _ r\n", 2, 1, "4 tokens: expected 5", None),
    ("morphett long symbol", "morphett", "0 ab _ r 0\n", 1, 3, "'ab' is not a single character", None),
    ("morphett rule from halt", "morphett", "0 _ _ r halt\nhalt _ 1 r 0\n", 2, 1, "halting state 'halt'",
     E.HaltingStateTransitionError),
    # ---- standard rows of different widths, and other shapes
    ("standard widths", "standard", "1RB1LB_1LA", 1, 8, "row B has 3 characters but row A has 6", None),
    ("standard width", "standard", "1RB1L", 1, 1, "expected 3 per symbol", None),
    ("standard next state", "standard", "1RB1L?_1LA1LZ", 1, 4, "'?' is not a next state", None),
    ("standard whitespace", "standard", "1RB1LB\n1LA1LZ", 1, 7, "unexpected whitespace", None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_machine_text(case):
    _, format, text, line, column, words, cause = case
    with pytest.raises(FormatError) as info:
        loads(text, format, source="m.txt")
    err = info.value
    assert err.source == "m.txt" and err.line == line and err.column == column
    assert words in err.message and str(err).startswith(f"m.txt{':' + str(line) if line else ''}")
    if cause is None:
        assert not isinstance(err.__cause__, E.MachineDefinitionError)
    else:
        assert isinstance(err.__cause__, cause)


@pytest.mark.parametrize("format", [None, "yaml", "standard", "morphett", "json"])
@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_empty(format, text, tmp_path):
    with pytest.raises(FormatError, match="empty"):
        loads(text, format)
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(FormatError, match="empty") as info:
        load(path, format)
    assert info.value.source == str(path)


def test_comments_only():
    with pytest.raises(FormatError, match="got nothing"):
        loads("# nothing here\n", "yaml")
    with pytest.raises(FormatError, match="start state '0'"):
        loads("; nothing here\n")  # detected as Morphett; no rule mentions state 0


@pytest.mark.parametrize("name, data, line, column, words", [
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3, 1, "not a text file"),
    ("machine.yaml", b"blank: ' '\nstart state: \xff\n", 2, 14, "not UTF-8"),
    ("machine.json", b'{"states": ["\xc3"]}', 1, 14, "not UTF-8"),
])
def test_not_text(tmp_path, name, data, line, column, words):
    path = tmp_path / name
    path.write_bytes(data)
    for call in (load, read_input):
        with pytest.raises(FormatError, match=words) as info:
            call(path)
        assert (info.value.source, info.value.line, info.value.column) == (str(path), line, column)


@pytest.mark.parametrize("format", ["yaml", "standard", "morphett", "json"])
def test_control_characters_are_not_text(format):
    with pytest.raises(FormatError, match="control character U\\+0000") as info:
        loads("1RB1LB\x00_1LA1LZ", format)
    assert (info.value.line, info.value.column) == (1, 7)


def test_undetectable():
    with pytest.raises(FormatError, match="cannot tell the format"):
        loads("a machine, I promise\n")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("blank: ' '\nstart state: a\ntable:\n  a:\n    1: {R: b}\n")
    with pytest.raises(FormatError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}:5:12: transition to undeclared state 'b'")


def test_morphett_initial_tape_with_a_head_marker():
    with pytest.raises(FormatError, match="marks the head") as info:
        read_input("; $INITIAL_TAPE: 10*1\n0 _ _ r 0\n")
    assert info.value.line == 1


# ---------------------------------------------------------------- machines a format cannot express
def _machine(**over) -> Machine:
    fields = dict(states=("a", "h"), input_alphabet=("1",), tape_alphabet=("_", "1"), blank="_", start="a",
                  delta={("a", "1"): ("h", "1", "R")}, halt={"h"})
    fields.update(over)
    return Machine(**fields)


@pytest.mark.parametrize("format, machine, words", [
    ("yaml", _machine(delta={("a", "1"): ("h", "1", "S")}), "moves only L or R"),
    ("yaml", _machine(tapes=2, delta={("a", ("1", "_")): ("h", ("1", "_"), ("R", "R"))}), "2 tapes"),
    ("yaml", _machine(tape_alphabet=("_", "1", "10")), "single characters"),
    ("yaml", _machine(states=("a", "b", "h")), "state 'b' has no transitions"),
    ("morphett", _machine(), "state 'h' is a halt state"),
    ("morphett", _machine(blank="1", input_alphabet=("_",)), "blank is '1'"),
    ("morphett", _machine(states=("a", "halt-now", "h"), halt={"h", "halt-now"}, delta={}), "state 'h'"),
    ("standard", _machine(), "tape alphabet must be 0..n-1"),
    ("standard", _machine(states=("A", "B"), input_alphabet=("1",), tape_alphabet=("0", "1"), blank="0",
                          start="A", delta={("A", "1"): ("B", "1", "S")}, halt={"B"}), "moves S"),
    ("standard", _machine(states=("A", "C", "Z"), tape_alphabet=("0", "1"), blank="0", start="A",
                          delta={}, halt={"Z"}), "A, B, C, … in order"),
])
def test_dumps_says_what_it_cannot_express(format, machine, words):
    with pytest.raises(FormatError, match="cannot express") as info:
        dumps(machine, format)
    assert words in str(info.value)


@pytest.mark.parametrize("format", ["yaml", "morphett", "json"])
def test_dumps_rejects_an_input_outside_the_alphabet(format):
    m = _machine(states=("a", "halt"), halt={"halt"}, delta={("a", "1"): ("halt", "1", "R")})
    with pytest.raises(FormatError, match="'_' is not in the input alphabet"):
        dumps(m, format, input="1_")
    with pytest.raises(FormatError, match="no place for an input"):
        dumps(standard_bb2(), "standard", input="1")


def standard_bb2():
    return loads("1RB1LB_1LA1RZ", "standard")
