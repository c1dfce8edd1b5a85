"""Fuzzing the machine loaders: valid machine files, mutations of them, and what loading one did.

The loaders promise to be total (docs/formats.md): any text gives a `Machine` or a
`FormatError`, within the size limits of `turing.formats.Limits`, with a one-line message that
names the line. This module makes inputs to test that promise and judges each outcome; the
campaign that adds time limits and memory measures is bench/fuzz.py, and tests/test_fuzz.py
runs a bounded version under hypothesis.

    from turing.fuzzing import seed_files, mutate, check
    files = seed_files()                       # [(format, text)], every format, ~100 texts
    text = mutate(files[0][1], random.Random(0), [t for _, t in files])
    outcome = check(text, format=None)         # Outcome(kind="typed", error="FormatError", ...)

Seeds are the library machines' dumps in every format that can express them, machines drawn
from `turing.strategies.machines` (names chosen so that each format can take them), and a few
hand-written files using what `dumps` never writes (YAML anchors, aliases and synonyms, Morphett
wildcards and directives, turingmachine.io documents). Mutations act on characters, lines,
tokens and nesting, and splice in pieces of other seeds and characters that have broken
loaders before (control characters, lone surrogates, byte-order marks, deep brackets,
huge numbers, aliases).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from . import formats, library
from .errors import FormatError
from .run import run

# ---------------------------------------------------------------- seeds
#: hand-written files with what `dumps` never writes
HAND_WRITTEN = (
    ("yaml", "input: '1011'\nblank: ' '\nstart state: right\ntable:\n  right:\n    [1, 0]: R\n"
             "    ' ': {L: carry}\n  carry:\n    1: {write: 0, L}\n    [0, ' ']: {write: 1, L: done}\n  done:\n"),
    ("yaml", "blank: _\nstart state: a\nsynonyms:\n  yes: {R: ok}\ntable:\n  a: &t\n    x: {write: y, R: b}\n"
             "    _: yes\n  b: *t\n  ok:\naccept states: [ok]\n"),
    ("yaml", "name: inc\nsource code: |\n  blank: '0'\n  start state: A\n  table:\n    A: {0: {write: 1, R: B}}\n"
             "    B:\npositions:\n  A: {x: 1, y: 2}\n"),
    ("morphett", "; $INITIAL_TAPE: 1011\n0 _ _ l carry\n0 * * r 0\ncarry 1 0 l *\n* 0 1 * halt\n"
                 "* * * * oops\noops _ 1 * halt\n"),
    ("morphett", "; $STATES: 0 1 halt-accept\n; $TAPE_ALPHABET: _ a b\n; $INITIAL_STATE: 0\n"
                 "0 a a r 0 !\n0 _ _ * halt-accept\n0 b b l 1\n1 * * * halt-accept\n"),
    ("json", '{"tapes": 2, "states": ["c", "d"], "start": "c", "halt": ["d"], "blank": "_",\n'
             ' "tape_alphabet": ["_", "0"], "delta": [\n  ["c", ["0", "_"], "c", ["0", "0"], ["R", "R"]],\n'
             '  ["c", ["_", "_"], "d", ["_", "_"], ["S", "S"]]\n], "input": ["0"]}\n'),
    ("standard", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"),
    ("standard", "1RB2LA1RZ_2LA2RB1LC_---1RZ2RH"),
)


def library_files() -> list[tuple[str, str]]:
    """(format, text) for every library machine (default parameters) in every format that can
    express it, with an example input where the format has one."""
    out = []
    for name in library.names():
        m = library.get(name)
        word = m.input_alphabet[:3]
        for fmt in formats.FORMATS:
            for w in ((), word):
                try:
                    out.append((fmt, formats.dumps(m, fmt, w)))
                    break
                except FormatError:
                    continue
    return out


def drawn_files(n: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    """(format, text) from `n` machines drawn by `turing.strategies.machines` (deterministic for
    a `seed`), each in every format that can express it."""
    from hypothesis import HealthCheck, Phase, given, settings, seed as hypothesis_seed, strategies as st
    from .strategies import machines

    drawn = []
    kinds = st.sampled_from([
        dict(tapes=st.integers(1, 3), max_states=4),  # any: JSON
        dict(state_names="ABCDEF", symbol_names="123", blank="0", blank_first=True, all_inputs=True,
             halting=("halt",), moves="LR", min_symbols=2),  # standard-shaped
        dict(symbol_names="abc", moves="LR"),  # YAML-shaped
        dict(symbol_names="abc", halting=()),  # Morphett-shaped (its halting states need halt… names)
    ])

    @hypothesis_seed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data):
        drawn.append(data.draw(machines(**data.draw(kinds))))

    collect()
    out = []
    for m in drawn:
        for fmt in formats.FORMATS:
            try:
                out.append((fmt, formats.dumps(m, fmt)))
            except FormatError:
                pass
    return out


def seed_files(drawn: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    """All seeds: hand-written, library and drawn files, as (format, text)."""
    return list(HAND_WRITTEN) + library_files() + drawn_files(drawn, seed)


# ---------------------------------------------------------------- mutations
#: characters and pieces that have broken loaders, or sit on a format's boundaries
CHARACTERS = ("\x00", "\x0c", "\x1b", "\x7f", "\x85", "\x9f", "\udcff", "\ud800", "\ufeff", "\u2028", "\r", "\n",
              "\t", " ", "😀", "é", "*", "_", ";", "$", "!", ":", "-", "[", "]", "{", "}", '"', "'", "&", "|", ">",
              "#", ",", "?", "\\", "0", "1", "9", "L", "R", "S", "Z", "H")
PIECES = ("; $INITIAL_TAPE: ", "; $STATES: ", "; $TAPE_ALPHABET: ", "; $INITIAL_STATE: ", "* * * r *", "&x ",
          "*x", "<<: *x", "!!python/object/apply:os.system ['true']", "!!binary", '"\\ud800"', "\\u0000",
          '"\\ud800"', "1e999", "-1", "99999999999999999999", "null", "~", "true", "---\n", "...\n",
          "%YAML 1.1\n", "? ", "- ", "{", "[", "halt", "halt-accept", "halt-reject", "---", "1RZ", "_",
          '"tapes": 1000000000', '"version": 2', '"states": ', "table:", "blank: ", "start state: ")
NUMBERS = ("0", "-1", "1", "2", "255", "256", "65536", "2147483648", "9223372036854775808", "1e309",
           "1" * 5000, "0x10", "1.5", "NaN")


def _span(text: str, rnd: random.Random, longest: int = 40) -> tuple[int, int]:
    i = rnd.randrange(len(text) + 1)
    return i, min(len(text), i + rnd.randint(0, longest))


def _replace_char(text, rnd, pool):
    i, _ = _span(text, rnd)
    return text[:i] + rnd.choice(CHARACTERS) + text[i + 1:]


def _insert(text, rnd, pool):
    i, _ = _span(text, rnd)
    return text[:i] + rnd.choice(CHARACTERS + PIECES) + text[i:]


def _delete(text, rnd, pool):
    i, j = _span(text, rnd)
    return text[:i] + text[j:]


def _repeat_span(text, rnd, pool):
    i, j = _span(text, rnd, 20)
    return text[:j] + text[i:j] * rnd.choice((2, 3, 10, 100, 1000)) + text[j:]


def _repeat_line(text, rnd, pool):
    lines = text.split("\n")
    k = rnd.randrange(len(lines))
    lines[k:k + 1] = [lines[k]] * rnd.choice((2, 10, 100, 1000, 5000))
    return "\n".join(lines)


def _swap_lines(text, rnd, pool):
    lines = text.split("\n")
    a, b = rnd.randrange(len(lines)), rnd.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


def _splice(text, rnd, pool):
    other = rnd.choice(pool) if pool else text
    i, _ = _span(text, rnd)
    a, b = _span(other, rnd, 200)
    return text[:i] + other[a:b] + text[i:]


def _nest(text, rnd, pool):
    i, _ = _span(text, rnd)
    d = rnd.choice((10, 40, 100, 400, 1200, 3000))
    opening, closing = rnd.choice((("[", "]"), ("{", "}"), ('{"a": ', "}"), ("- ", ""), ("[[", "]]")))
    return text[:i] + opening * d + closing * d + text[i:]


def _number(text, rnd, pool):
    runs = list(re.finditer(r"\d+", text))
    if not runs:
        return _insert(text, rnd, pool)
    m = rnd.choice(runs)
    return text[:m.start()] + rnd.choice(NUMBERS) + text[m.end():]


def _token(text, rnd, pool):
    tokens = list(re.finditer(r"[^\s,:\[\]{}\"']+", text))
    if len(tokens) < 2:
        return _insert(text, rnd, pool)
    m, other = rnd.choice(tokens), rnd.choice(tokens + [None])
    new = rnd.choice(("*", "_", "halt", "")) if other is None else other.group()
    return text[:m.start()] + new + text[m.end():]


def _truncate(text, rnd, pool):
    return text[:rnd.randrange(len(text) + 1)]


def _alias_bomb(text, rnd, pool):
    """YAML anchors and aliases at line starts (a shared mapping may expand to many rules)."""
    lines = text.split("\n")
    k = rnd.randrange(len(lines))
    if rnd.random() < 0.5:
        lines[k] = re.sub(r":\s*$", ": &x", lines[k]) if lines[k].rstrip().endswith(":") else lines[k] + " &x"
    else:
        lines.insert(k, "  " + "".join(f"s{i}: *x\n  " for i in range(rnd.choice((10, 300, 3000)))))
    return "\n".join(lines)


MUTATIONS: tuple[Callable[[str, random.Random, Sequence[str]], str], ...] = (
    _replace_char, _insert, _delete, _repeat_span, _repeat_line, _swap_lines, _splice, _nest, _number, _token,
    _truncate, _alias_bomb)


def mutate(text: str, rnd: random.Random, pool: Sequence[str] = (), times: int | None = None) -> str:
    """`text` after `times` random mutations (default 1 to 4), drawn by `rnd`; `pool` holds
    other texts to splice pieces from."""
    for _ in range(rnd.randint(1, 4) if times is None else times):
        text = rnd.choice(MUTATIONS)(text, rnd, pool)
    return text


# ---------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Outcome:
    """What loading one text did.

    Attributes:
        kind: "loaded", "typed" (a `FormatError`: the promise kept), "crash" (any other
            exception while loading) or "crash after loading" (running the machine for a
            few steps, printing its tape or dumping it as JSON raised).
        error: the exception's class name ("" when loaded).
        message: ``str(exception)`` ("" when loaded).
        multiline: the message is not one printable line.
        no_line: a `FormatError` without a line number.
    """
    kind: str
    error: str = ""
    message: str = ""
    multiline: bool = False
    no_line: bool = False


def check(text: str, format: str | None = None, **limits) -> Outcome:
    """Load `text` (in `format`, or detected) and judge the outcome. A loaded machine is also run
    for 200 steps and 200 cells, its tape printed as UTF-8, and written as JSON, since a machine
    that loads but cannot be run or shown is a crash postponed."""
    try:
        m = formats.loads(text, format, source="fuzz.txt", **limits)
    except FormatError as err:
        msg = str(err)
        return Outcome("typed", type(err).__name__, msg, not msg.isprintable(), err.line is None)
    except Exception as err:  # noqa: BLE001 (counting crashes is the point)
        return Outcome("crash", type(err).__name__, f"{err}"[:300])
    try:
        word = m.input_alphabet[:2]
        result = run(m, word, max_steps=200, max_cells=200)
        result.tape_string().encode("utf-8")
        m.name.encode("utf-8")
        formats.dumps(m, "json")
    except Exception as err:  # noqa: BLE001
        return Outcome("crash after loading", type(err).__name__, f"{err}"[:300])
    return Outcome("loaded")
