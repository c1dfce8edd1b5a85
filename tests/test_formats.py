"""Machine file formats: hand examples in each format's own style, round trips (hypothesis),
format detection, files. The reference simulator `turing.run` is the oracle for behaviour."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import turing
from turing import FormatError, Machine, Status, run
from turing.formats import detect, dump, dumps, json_io, load, loads, morphett, read_input, standard, yaml_io
from turing.strategies import inputs, machines

FORMATS = ("yaml", "standard", "morphett", "json")


# ---------------------------------------------------------------- helpers
def renamed(m: Machine, names: dict) -> Machine:
    """`m` with states renamed by `names` (others kept)."""
    r = lambda q: names.get(q, q)  # noqa: E731
    return Machine(states=[r(q) for q in m.states], input_alphabet=m.input_alphabet, tape_alphabet=m.tape_alphabet,
                   blank=m.blank, start=r(m.start), tapes=m.tapes, name=m.name,
                   delta={(r(q), a): (r(act.next_state), act.write, act.move) for (q, a), act in m.delta.items()},
                   accept={r(q) for q in m.accept}, reject={r(q) for q in m.reject}, halt={r(q) for q in m.halt})


def idle_states_halt(m: Machine) -> Machine:
    """`m` with its running states that have no transitions made halt states: turingmachine.io
    cannot tell them apart (a state with no entries halts)."""
    idle = {q for q in m.states if not m.is_halting(q)} - {q for q, _ in m.delta}
    return Machine(states=m.states, input_alphabet=m.input_alphabet, tape_alphabet=m.tape_alphabet, blank=m.blank,
                   start=m.start, delta=m.delta, accept=m.accept, reject=m.reject, halt=m.halt | idle, name=m.name)


def morphett_named(m: Machine) -> Machine:
    """`m` with its halting states named as Morphett requires (halt…, halt-accept…, halt-reject…)."""
    return renamed(m, {**{q: f"halt-{q}" for q in m.halt}, **{q: f"halt-accept-{q}" for q in m.accept},
                       **{q: f"halt-reject-{q}" for q in m.reject}})


def unique(elements, n: int):
    return st.lists(elements, min_size=n, max_size=n, unique=True)


# ---------------------------------------------------------------- turingmachine.io YAML
# The binary increment of turingmachine.io's examples: scan right, then carry leftwards.
INCREMENT_YAML = """\
# binary increment, after turingmachine.io's example
input: '1011'
blank: ' '
start state: right
table:
  right:            # find the last digit
    [1,0]: R
    ' '  : {L: carry}
  carry:            # 1 + 1 = 10: write 0, carry on; 0 or blank + 1: write 1, done
    1      : {write: 0, L}
    [0,' ']: {write: 1, L: done}
  done:
"""


def test_yaml_binary_increment():
    m = yaml_io.loads(INCREMENT_YAML)
    assert m.states == ("right", "carry", "done") and m.start == "right" and m.halt == {"done"}
    assert m.blank == " " and m.tape_alphabet == (" ", "1", "0") and m.input_alphabet == ("1", "0")
    assert m.delta[("carry", "1")] == ("carry", "0", "L")  # `{write: 0, L}`: same state
    assert m.delta[("right", "0")] == ("right", "0", "R")  # `R`: same state, same symbol
    assert yaml_io.read_input(INCREMENT_YAML) == tuple("1011")
    r = run(m, read_input(INCREMENT_YAML))
    assert (r.status, r.tape_string()) == (Status.HALTED, "1100")
    for n in range(40):
        assert run(m, f"{n:b}").tape_string() == f"{n + 1:b}"


# A palindrome checker in turingmachine.io's style, with `synonyms`.
PALINDROME_YAML = """\
blank: _
start state: first
synonyms:
  yes: {R: accept}
  no:  {R: reject}
table:
  first:
    a: {write: _, R: carry a}
    b: {write: _, R: carry b}
    _: yes
  carry a: {[a, b]: R, _: {L: last a}}
  carry b: {[a, b]: R, _: {L: last b}}
  last a: {a: {write: _, L: back}, b: no, _: yes}
  last b: {b: {write: _, L: back}, a: no, _: yes}
  back: {[a, b]: L, _: {R: first}}
  accept:
  reject: {}
accept states: [accept]
reject states: [reject]
"""


def test_yaml_synonyms_and_accept_reject_keys():
    m = yaml_io.loads(PALINDROME_YAML)
    assert m.accept == {"accept"} and m.reject == {"reject"} and not m.halt
    assert m.delta[("first", "_")] == ("accept", "_", "R")
    for n in range(7):
        for i in range(2 ** n):
            w = f"{i:0{n}b}".replace("0", "a").replace("1", "b") if n else ""
            assert run(m, w).status == (Status.ACCEPTED if w == w[::-1] else Status.REJECTED)


def test_yaml_without_accept_keys_halts_in_named_state():
    m = yaml_io.loads(PALINDROME_YAML.split("accept states")[0])
    assert m.halt == {"accept", "reject"} and not m.accept
    assert run(m, "abba").state == "accept" and run(m, "ab").state == "reject"


def test_yaml_symbols_are_taken_as_written():
    # YAML would make ints, floats and booleans of these; symbols keep the text
    m = yaml_io.loads("blank: 0\nstart state: 1\ntable:\n  1:\n    [y, n, 1]: {write: 0, R: 2}\n  2:\n")
    assert m.blank == "0" and m.states == ("1", "2") and set(m.tape_alphabet) == {"0", "y", "n", "1"}


def test_yaml_turingmachine_io_document_reads_its_source_code():
    doc = "name: binary increment\nsource code: |\n" + "".join(
        "  " + line + "\n" for line in INCREMENT_YAML.splitlines()) + "positions:\n  right: {x: 1, y: 2}\n"
    assert yaml_io.loads(doc) == yaml_io.loads(INCREMENT_YAML)
    assert read_input(doc) == tuple("1011")
    broken = doc.replace("{L: carry}", "{L: nowhere}")
    with pytest.raises(FormatError) as err:
        yaml_io.loads(broken, source="inc.yaml")
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "nowhere" in text)
    assert err.value.line == line and broken.splitlines()[line - 1][err.value.column - 1:].startswith("nowhere")


def test_yaml_dumps_groups_and_reads_back():
    m = yaml_io.loads(INCREMENT_YAML)
    text = dumps(m, "yaml", input="1011")
    assert "[1, 0]: R" in text and "input: '1011'" in text and "tape alphabet" not in text
    assert yaml_io.loads(text) == m and yaml_io.read_input(text) == tuple("1011")


# ---------------------------------------------------------------- busy-beaver standard text
@pytest.mark.parametrize("text, steps, ones", [
    ("1RB1LB_1LA1RZ", 6, 4),                            # BB(2)
    ("1RB1RZ_1LB0RC_1LC1LA", 21, 5),                     # BB(3), the step champion
    ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 107, 13),            # BB(4)
])
def test_standard_busy_beavers(text, steps, ones):
    m = standard.loads(text)
    r = run(m)
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, steps, ones)
    assert standard.dumps(m) == text


def test_standard_bb5_reads_and_writes_back():
    text = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"  # 47,176,870 steps: too many for the reference simulator here
    m = standard.loads(text)
    assert m.states == tuple("ABCDEZ") and m.halt == {"Z"} and m.start == "A" and len(m.delta) == 10
    assert m.tape_alphabet == ("0", "1") and m.blank == "0" and m.input_alphabet == ("1",)
    assert standard.dumps(m) == text and load(text) == m


def test_standard_undefined_transition_and_other_halt_letters():
    m = standard.loads("1RB---_1LA1LH")  # A0 B0 A1: undefined
    assert ("A", "1") not in m.delta and m.halt == {"H"} and m.states == ("A", "B", "H")
    assert run(m).status == Status.NO_TRANSITION
    m3 = standard.loads("1RB2LA1RZ_2LA2RB1LC_---1RZ2RH")  # 3 symbols, two halt letters
    assert m3.tape_alphabet == ("0", "1", "2") and m3.halt == {"Z", "H"} and m3.states[-2:] == ("Z", "H")


def test_standard_matches_the_library():
    library = pytest.importorskip("turing.library")
    for name in ("bb2", "bb3", "bb4", "bb5"):
        text = library.BUSY_BEAVERS[name][0]
        assert standard.loads(text) == library.get(name) and standard.dumps(library.get(name)) == text


@st.composite
def standard_texts(draw):
    """Standard texts: 1..6 rows, 1..4 symbols, some ---, jumps to halt letters Z, H or Y."""
    rows, n = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    targets = standard.LETTERS[:rows] + "ZHY"
    cell = st.one_of(st.just("---"), st.tuples(st.integers(0, n - 1), st.sampled_from("LR"),
                                               st.sampled_from(targets)).map(lambda t: f"{t[0]}{t[1]}{t[2]}"))
    return "_".join("".join(draw(cell) for _ in range(n)) for _ in range(rows))


@given(standard_texts())
def test_standard_text_round_trip(text):
    m = standard.loads(text)
    assert standard.dumps(m) == text
    assert loads(dumps(m, "json"), "json") == m


# ---------------------------------------------------------------- Morphett
# BB(4) in morphett.info's style: state 0 steps once into a, then the four states a..d.
BEAVER_MORPHETT = """\
; four-state busy beaver (BB(4)), morphett.info style
0 * * * a    ; one extra step, from Morphett's start state 0

a _ 1 r b
a 1 1 l b
b _ 1 l a
b 1 _ l c
c _ 1 r halt
c 1 1 l d
d _ 1 r d
d 1 _ r a     !

; a blank tape. $INITIAL_TAPE:
"""


def test_morphett_busy_beaver():
    m = morphett.loads(BEAVER_MORPHETT)
    assert m.states == ("0", "a", "b", "c", "halt", "d") and m.halt == {"halt"} and m.start == "0"
    assert m.tape_alphabet == ("_", "1") and m.delta[("0", "_")] == ("a", "_", "S")
    assert read_input(BEAVER_MORPHETT) == ()
    r = run(m)
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, 108, 13)  # BB(4)'s 107, plus the first step


# Binary increment with wildcards: every priority level of Morphett's lookup is used.
INCREMENT_MORPHETT = """\
; $INITIAL_TAPE: 1011
0 _ _ l carry    ; (state, symbol): the end of the number
0 * * r 0        ; (state, *): skip digits
carry 1 0 l *    ; carry on; '*' as the new state: stay in carry
* 0 1 * halt     ; (*, symbol)
* * * * oops     ; (*, *): a blank while carrying
oops _ 1 * halt
"""


def test_morphett_wildcards_expand_by_priority():
    m = morphett.loads(INCREMENT_MORPHETT)
    assert m.states == ("0", "carry", "halt", "oops") and m.tape_alphabet == ("_", "1", "0")
    d = m.delta
    assert d[("0", "_")] == ("carry", "_", "L")                          # exact
    assert d[("0", "1")] == ("0", "1", "R") and d[("0", "0")] == ("0", "0", "R")  # (0, *)
    assert d[("carry", "1")] == ("carry", "0", "L")                      # exact, '*' new state
    assert d[("carry", "0")] == ("halt", "1", "S")                       # (*, 0)
    assert d[("carry", "_")] == ("oops", "_", "S")                       # (*, *), '*' new symbol
    assert d[("oops", "0")] == ("halt", "1", "S") and d[("oops", "1")] == ("oops", "1", "S")
    assert not any(q == "halt" for q, _ in d)                            # wildcards skip halting states
    for n in range(40):
        assert run(m, f"{n:b}").tape_string() == f"{n + 1:b}"
    assert read_input(INCREMENT_MORPHETT) == tuple("1011")


def test_morphett_halt_accept_and_reject():
    m = morphett.loads("0 a a r 0\n0 _ _ * halt-accept\n0 b b * Halt-Reject\n")
    assert m.accept == {"halt-accept"} and m.reject == {"Halt-Reject"} and not m.halt
    assert run(m, "aa").status == Status.ACCEPTED and run(m, "ab").status == Status.REJECTED


def test_morphett_directives_carry_start_and_alphabets():
    m = Machine(states=("q", "r", "halt"), input_alphabet=("1",), tape_alphabet=("1", "#", "_"), blank="_",
                start="r", delta={("r", "1"): ("q", "#", "R"), ("q", "_"): ("halt", "_", "L")}, halt={"halt"})
    text = morphett.dumps(m, input="11")
    assert "; $INITIAL_STATE: r" in text and "; $STATES: q r halt" in text
    assert "; $TAPE_ALPHABET: 1 # _" in text and "; $INPUT_ALPHABET: 1" in text
    assert morphett.loads(text) == m and morphett.read_input(text) == ("1", "1")


# ---------------------------------------------------------------- JSON
def test_json_two_tapes_stay_moves_and_long_symbols():
    m = Machine(states=("copy", "done"), input_alphabet=("00", "01"), tape_alphabet=("__", "00", "01"), blank="__",
                start="copy", tapes=2, halt={"done"}, name="copy pairs",
                delta={("copy", (a, "__")): ("copy", (a, a), ("R", "R")) for a in ("00", "01")}
                | {("copy", ("__", "__")): ("done", ("__", "__"), ("S", "L"))})
    text = json_io.dumps(m, input=["01", "00"])
    assert '["copy", ["__", "__"], "done", ["__", "__"], ["S", "L"]]' in text
    back = json_io.loads(text)
    assert back == m and back.name == "copy pairs" and json_io.read_input(text) == ("01", "00")
    assert run(back, ["01", "00"]).tapes[1] == ("01", "00")


def test_json_example_of_the_docs():
    docs = (Path(__file__).parents[1] / "docs" / "formats.md").read_text(encoding="utf-8")
    m = json_io.loads(docs.split("```json\n")[1].split("```")[0])
    assert m.tapes == 2 and run(m, "0110").tapes[1] == tuple("0110")
    assert json_io.dumps(m) == docs.split("```json\n")[1].split("```")[0]


def test_json_defaults():
    m = json_io.loads('{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_", "x"], "delta": []}')
    assert m.input_alphabet == ("x",) and m.tapes == 1 and not m.halting_states


# ---------------------------------------------------------------- round trips (hypothesis)
@given(st.data())
def test_json_round_trip_any_machine(data):
    names = data.draw(unique(st.text(min_size=1, max_size=4), 8))
    symbols = data.draw(unique(st.text(min_size=1, max_size=3), 5))
    m = data.draw(machines(tapes=st.integers(1, 3), max_states=4, max_symbols=4, state_names=names,
                           symbol_names=symbols[1:], blank=symbols[0]))
    w = data.draw(inputs(m, max_length=4))
    text = json_io.dumps(m, input=w)
    assert json_io.loads(text) == m and json_io.read_input(text) == w


@given(st.data())
def test_yaml_round_trip(data):
    chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    symbols = data.draw(unique(chars, 5))
    names = data.draw(unique(st.text(chars, min_size=1, max_size=5), 7))
    m = idle_states_halt(data.draw(machines(max_states=7, max_symbols=5, moves=("L", "R"), state_names=names,
                                            symbol_names=symbols[1:], blank=symbols[0])))
    w = data.draw(inputs(m, max_length=5))
    text = yaml_io.dumps(m, input=w)
    assert yaml_io.loads(text) == m and yaml_io.read_input(text) == w and detect(text) == "yaml"


@given(st.data())
def test_morphett_round_trip(data):
    word = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Z"), exclude_characters=";*"),
                   min_size=1, max_size=5).filter(lambda q: not q.lower().startswith("halt"))
    names = data.draw(unique(word, 7))
    symbols = data.draw(unique(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Z"),
                                             exclude_characters=";*_"), 4))
    m = morphett_named(data.draw(machines(max_states=7, max_symbols=5, state_names=names, symbol_names=symbols)))
    w = data.draw(inputs(m, max_length=5))
    text = morphett.dumps(m, input=w)
    assert morphett.loads(text) == m and morphett.read_input(text) == w and detect(text) == "morphett"


@pytest.mark.parametrize("format", FORMATS)
@given(data=st.data())
def test_dumps_reads_back_or_says_why(format, data):
    """Any machine: `dumps` either raises FormatError, or writes a text that reads back equal
    (and that `detect` recognises)."""
    m = data.draw(machines(tapes=st.integers(1, 2), max_states=5, max_symbols=4))
    try:
        text = dumps(m, format)
    except FormatError as err:
        assert "cannot express" in str(err)
        return
    assert loads(text, format) == m
    assert loads(text) == m and detect(text) == format


@pytest.mark.parametrize("format", FORMATS)
def test_behaviour_survives_a_round_trip(format):
    m = standard.loads("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")
    back = loads(dumps(m, format), format) if format != "morphett" else m
    assert run(back) == run(m)


# ---------------------------------------------------------------- files and detection
@pytest.mark.parametrize("text, format", [
    (INCREMENT_YAML, "yaml"), (PALINDROME_YAML, "yaml"), ("1RB1LB_1LA1RZ", "standard"),
    ("  1RB1LB_1LA1RZ\n", "standard"), (BEAVER_MORPHETT, "morphett"), (INCREMENT_MORPHETT, "morphett"),
    (json_io.dumps(standard.loads("1RB1LB_1LA1RZ")), "json"),
    ('{"blank": "_", "start state": "a", "table": {"a": null}}', "yaml"),   # JSON written turingmachine.io-style
    ("{blank: _, start state: a, table: {a: }}", "yaml"),                   # a YAML flow mapping
])
def test_detect(text, format):
    assert detect(text) == format
    assert isinstance(loads(text), Machine)


def test_load_files_by_extension_and_content(tmp_path):
    m = yaml_io.loads(INCREMENT_YAML)
    for name, format in [("inc.yaml", "yaml"), ("inc.yml", "yaml"), ("inc.json", "json"), ("inc.tm", "json"),
                         ("inc.txt", "yaml"), ("inc", "json")]:
        path = tmp_path / name
        path.write_text(dumps(m, format, input="101"), encoding="utf-8")
        assert load(path) == m and load(str(path)) == m and turing.load(path) == m
        assert read_input(path) == tuple("101")
        assert load(path).name == Path(name).stem
    (tmp_path / "bb.txt").write_text("1RB1LB_1LA1RZ\n")
    assert load(tmp_path / "bb.txt") == standard.loads("1RB1LB_1LA1RZ")
    (tmp_path / "inc.morphett.txt").write_text(INCREMENT_MORPHETT)
    assert load(tmp_path / "inc.morphett.txt") == morphett.loads(INCREMENT_MORPHETT)


def test_dump_writes_by_extension(tmp_path):
    m = standard.loads("1RB1LB_1LA1RZ")
    dump(m, tmp_path / "bb2.json")
    dump(m, tmp_path / "bb2.txt", format="standard")
    assert load(tmp_path / "bb2.json") == m and (tmp_path / "bb2.txt").read_text() == "1RB1LB_1LA1RZ"
    with pytest.raises(FormatError, match="extension"):
        dump(m, tmp_path / "bb2.txt")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.yaml")
    with pytest.raises(FileNotFoundError):
        load("no/such/machine.yaml")


def test_load_with_explicit_format():
    assert load("1RB1LB_1LA1RZ", format="standard") == standard.loads("1RB1LB_1LA1RZ")
    with pytest.raises(FormatError, match="unknown format"):
        loads("1RB1LB_1LA1RZ", "xml")


# ---------------------------------------------------------------- hostile input: limits, nesting, Unicode
from turing.errors import LimitError  # noqa: E402
from turing.formats import DEFAULT_LIMITS, Limits  # noqa: E402


def _one_line_with_a_place(err: FormatError) -> None:
    assert str(err).isprintable() and err.line is not None


@pytest.mark.parametrize("format", ["json", None])
@pytest.mark.parametrize("depth", [DEFAULT_LIMITS.max_depth, 330, 5_000])
def test_deep_json_is_a_limit_error(format, depth):
    text = '{"states": ' + "[" * depth + "]" * depth + "}"  # the input at 330
    with pytest.raises(LimitError, match="nested deeper than") as info:
        loads(text, format)
    assert (info.value.line, info.value.column) == (1, 11 + DEFAULT_LIMITS.max_depth)  # the object is level 1


def test_nesting_limit_can_be_raised():
    text = '{"states": ' + "[" * 40 + "]" * 40 + ', "start": "a", "blank": "_", "tape_alphabet": ["_"], "delta": []}'
    with pytest.raises(FormatError, match='"states": expected an array of strings') as info:
        loads(text, "json", max_depth=41)
    assert not isinstance(info.value, LimitError)


@given(st.integers(0, 3_000), st.sampled_from(["[]", "{}", '{"a": }']), st.booleans())
def test_any_nesting_gives_a_machine_or_a_format_error(depth, kind, detected):
    opening, closing = kind[:-1], kind[-1]
    text = '{"states": ' + opening * depth + closing * depth + "}"
    with pytest.raises(FormatError) as info:
        loads(text, None if detected else "json")
    _one_line_with_a_place(info.value)


@pytest.mark.parametrize("text, format, words", [
    ("\udcff", None, "lone surrogate U+DCFF"),                   # `ntm machine run $'\xff'`
    ("1RB1LB_1LA1LZ\ud800", "standard", "lone surrogate U+D800"),
    ('{"states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_", "\\ud800"], "delta": []}', None,
     "lone surrogate U+D800"),                                    # an escape: the text itself is ASCII
    ('blank: "\\ud800"\nstart state: a\ntable:\n  a:\n', "yaml", "Unicode"),  # an escape, too
])
def test_lone_surrogates_are_format_errors(text, format, words):
    with pytest.raises(FormatError, match=re.escape(words)) as info:
        loads(text, format)
    _one_line_with_a_place(info.value)


@pytest.mark.parametrize("char", ["\x0c", "\x80", "\x9f", "\ufffe"])
def test_characters_yaml_forbids_are_placed_and_escaped(char):
    text = f"blank: _\nstart state: a\ntable:\n  a:{char}\n"
    with pytest.raises(FormatError) as info:
        loads(text, "yaml")
    _one_line_with_a_place(info.value)
    assert (info.value.line, info.value.column) == (4, 5)


def test_a_key_with_a_newline_is_escaped_in_the_message():
    with pytest.raises(FormatError) as info:
        loads('{"states\\nnope": 1}', "json")
    assert '"states\\nnope": unknown key' in str(info.value) and str(info.value).isprintable()


def test_duplicate_keys_are_found_in_linear_time():
    keys = 60_000  # the input: over 90 s with the quadratic check
    text = "{" + ", ".join(f'"k{i}": 1' for i in range(keys)) + ', "k7": 2}'
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match="duplicate key 'k7'") as info:
        loads(text, "json")
    assert time.perf_counter() - t0 < 10
    assert (info.value.line, info.value.column) == (1, 1)


def _morphett_grid(states: int, symbols: int, wildcard: bool) -> str:
    syms = [chr(0x100 + i) for i in range(symbols - 1)]
    if wildcard:
        rules = [f"{q} * * r *" for q in range(states)]
    else:
        rules = [f"{q} {syms[q % len(syms)]} {syms[(q + 1) % len(syms)]} r {q + 1}" for q in range(states)]
    return "\n".join(rules) + "\n; $TAPE_ALPHABET: _ " + " ".join(syms) + "\n"


def test_morphett_wildcards_are_counted_before_they_are_expanded():
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="2,250,000 exceeds the limit of 200,000 .*max_transitions") as info:
        loads(_morphett_grid(1_500, 1_500, True), "morphett")  # the input: 36-68 s, ~1 GB
    assert time.perf_counter() - t0 < 5 and info.value.line == 1
    m = loads(_morphett_grid(40, 30, True), "morphett", max_transitions=40 * 30)
    assert len(m.delta) == 40 * 30
    with pytest.raises(LimitError):
        loads(_morphett_grid(40, 30, True), "morphett", limits=Limits(max_transitions=40 * 30 - 1))


def test_morphett_without_wildcards_costs_its_rules_not_states_times_symbols():
    t0 = time.perf_counter()
    m = loads(_morphett_grid(12_000, 3_000, False), "morphett")  # ~200 KB; the took 45 s
    assert len(m.delta) == 12_000 and len(m.states) == 12_001
    assert time.perf_counter() - t0 < 10


def _naive_expansion(patterns: list[tuple], states, symbols) -> dict:
    """Morphett's lookup, spelled out over every (state, symbol): the oracle for `_expand`."""
    table = {(q, a): (q2, b, d) for q, a, b, d, q2 in patterns}
    delta = {}
    for q in states:
        if morphett.halting_kind(q):
            continue
        for a in symbols:
            hit = next((table[k] for k in ((q, a), (q, "*"), ("*", a), ("*", "*")) if k in table), None)
            if hit:
                q2, b, d = hit
                delta[(q, a)] = (q if q2 == "*" else q2, a if b == "*" else b, {"l": "L", "r": "R", "*": "S"}[d])
    return delta


@given(st.lists(st.tuples(st.sampled_from(["0", "1", "2", "*"]), st.sampled_from(["_", "a", "b", "*"]),
                          st.sampled_from(["_", "a", "b", "*"]), st.sampled_from("lr*"),
                          st.sampled_from(["0", "1", "2", "*", "halt"])),
                min_size=1, max_size=12, unique_by=lambda p: p[:2]))
def test_morphett_expansion_and_its_count_match_a_naive_expansion(patterns):
    text = "\n".join(" ".join(p) for p in patterns) + "\n; $STATES: 0 1 2 halt\n; $TAPE_ALPHABET: _ a b\n"
    expected = _naive_expansion(patterns, ("0", "1", "2", "halt"), ("_", "a", "b"))
    m = loads(text, "morphett", max_transitions=len(expected))
    assert dict(m.delta) == expected
    if expected:
        with pytest.raises(LimitError):
            loads(text, "morphett", max_transitions=len(expected) - 1)


def test_morphett_read_symbol_outside_the_declared_alphabet():
    with pytest.raises(FormatError, match="'x' is not in \\$TAPE_ALPHABET") as info:
        loads("; $TAPE_ALPHABET: _ 1\n0 _ 1 r 0\n0 x 1 r 0\n", "morphett")
    assert info.value.line == 3 and isinstance(info.value.__cause__, turing.errors.UndeclaredSymbolError)


def _yaml_alias_table(states: int, symbols: int) -> str:
    entries = "".join(f"    {chr(0x100 + i)}: R\n" for i in range(symbols))
    return ("blank: _\nstart state: s0\ntable:\n  s0: &t\n" + entries
            + "".join(f"  s{i}: *t\n" for i in range(1, states)))


def test_yaml_aliases_are_counted_before_they_are_expanded():
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="9,000,000 exceeds") as info:
        loads(_yaml_alias_table(3_000, 3_000))  # the input: 46 s, 4 GB, then MemoryError
    assert time.perf_counter() - t0 < 5 and info.value.line == 4
    m = loads(_yaml_alias_table(30, 20), max_transitions=600)
    assert len(m.delta) == 600
    with pytest.raises(LimitError):
        loads(_yaml_alias_table(30, 20), max_transitions=599)


@pytest.mark.parametrize("text, keyword, limit", [
    (json_io.dumps(standard.loads("1RB1LB_1LA1RZ")), "max_states", 2),
    (json_io.dumps(standard.loads("1RB1LB_1LA1RZ")), "max_symbols", 1),
    (json_io.dumps(standard.loads("1RB1LB_1LA1RZ")), "max_transitions", 3),
    ('{"tapes": 1000000000, "states": ["a"], "start": "a", "blank": "_", "tape_alphabet": ["_"], "delta": []}',
     "max_tapes", 64),
    (INCREMENT_YAML, "max_states", 2), (INCREMENT_YAML, "max_transitions", 5),
    (INCREMENT_MORPHETT, "max_states", 3), (INCREMENT_MORPHETT, "max_symbols", 2),
    ("1RB1LB_1LA1RZ", "max_states", 1), ("1RB1LB_1LA1RZ", "max_chars", 12),
])
def test_each_limit_binds_and_names_its_keyword(text, keyword, limit):
    with pytest.raises(LimitError, match=keyword) as info:
        loads(text, **{keyword: limit})
    _one_line_with_a_place(info.value)
    if keyword != "max_tapes":
        assert isinstance(loads(text, **{keyword: getattr(DEFAULT_LIMITS, keyword)}), Machine)


def test_limits_are_checked_and_a_large_file_is_not_read(tmp_path):
    with pytest.raises(ValueError):
        Limits().replace(max_states=-1)
    with pytest.raises(TypeError):
        loads("1RB1LB_1LA1RZ", max_nothing=3)
    path = tmp_path / "big.txt"
    path.write_text("1RB1LB_1LA1RZ" + " " * 1_000)
    with pytest.raises(LimitError, match="1,013 exceeds the limit of 100") as info:
        load(path, max_chars=100)
    assert info.value.source == str(path)
    assert load(path) == standard.loads("1RB1LB_1LA1RZ")


def test_cli_prints_one_line_for_a_surrogate_spec(capsys):
    from ntm.cli import main
    assert main(["machine", "run", "\udcff"]) == 2  # what `ntm machine run $'\xff'` passes
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ntm: error: <text>:1:1:") and "U+DCFF" in err


def test_turing_never_imports_torch():
    code = ("import sys, turing, turing.engine, turing.formats, turing.fuzzing, turing.graph, turing.library, "
            "turing.strategies; turing.load('1RB1LB_1LA1RZ'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_a_huge_value_is_cut_in_the_message():
    with pytest.raises(FormatError) as info:
        loads("blank: _\nstart state: a\ntable:\n  a: {x: {write: " + "y" * 50_000 + ", R: a}}\n", "yaml")
    message = info.value.message
    assert message.startswith("the symbol to write: 'yyy") and message.endswith("y…")
    assert len(message) == FormatError.MAX_MESSAGE and info.value.line == 4
