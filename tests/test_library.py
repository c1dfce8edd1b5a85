"""The library's machines against plain-Python specifications, run by the reference simulator.

Each transducer: hypothesis draws inputs, `turing.run` runs the machine, the output (last tape)
must equal the specification, and the step count must equal the formula in its docstring.
Busy beavers must match their published step and ones counts; the open / looping machines must
end at the step limit.
"""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, strategies as st

from turing import Status, run
from turing import library as lib
from turing.errors import AlphabetError, UnknownMachineError

BYTES = lib.bit_symbols(8)
HAS_ENGINE = importlib.util.find_spec("turing.engine") is not None


def words(alphabet, max_size=12, min_size=0):
    return st.lists(st.sampled_from(tuple(alphabet)), min_size=min_size, max_size=max_size).map(tuple)


def bits(max_size=12):
    return words(("0", "1"), max_size)


#: small alphabets of multi-character symbols, none of them a marker
alphabets = st.lists(st.text("abc01xyz", min_size=1, max_size=3), min_size=1, max_size=5,
                     unique=True).map(tuple)


def halted(m, w):
    r = run(m, w)
    assert r.status == Status.HALTED, r
    return r


def as_int(bits_):
    return int("".join(bits_) or "0", 2)


# ---------------------------------------------------------------- copy
@given(words(BYTES, max_size=20))
def test_copy_256_symbols(w):
    r = halted(lib.get("copy"), w)
    assert r.output == w
    assert r.steps == len(w) + 1


@given(st.data())
def test_copy_any_alphabet(data):
    alphabet = data.draw(alphabets)
    w = data.draw(words(alphabet))
    assert halted(lib.copy_machine(alphabet), w).output == w


def test_copy_default_is_8_bit_vectors():
    m = lib.get("copy")
    assert m.input_alphabet == BYTES and len(BYTES) == 256 and m.tapes == 2
    assert (len(m.states), len(m.delta)) == (2, 257)


# ---------------------------------------------------------------- repeat copy
@given(words(lib.bit_symbols(3), max_size=8), st.integers(0, 5))
def test_repeat_copy(w, k):
    n = len(w)
    r = halted(lib.get("repeat_copy", width=3), list(w) + ["#"] + ["*"] * k)
    assert r.output == w * k + ("$",)
    assert r.steps == k * k + 2 * n * k + 4 * k + n + 2


def test_repeat_copy_8_bit_size():
    m = lib.get("repeat_copy")
    assert (len(m.states), len(m.delta)) == (4, 3 * 256 + 8)


# ---------------------------------------------------------------- sort
@given(st.data())
def test_sort_is_stable_by_rank(data):
    alphabet = data.draw(alphabets)
    rank = {a: data.draw(st.integers(0, 3)) for a in alphabet}  # ties likely
    descending = data.draw(st.booleans())
    w = data.draw(words(alphabet))
    m = lib.sort_machine(alphabet, key=rank, descending=descending)
    r = halted(m, w)
    assert r.output == tuple(sorted(w, key=rank.__getitem__, reverse=descending))  # sorted is stable
    d = len({rank[a] for a in w})
    assert r.steps == (2 * d + 1) * (len(w) + 1)
    R = len(set(rank.values()))
    assert (len(m.states), len(m.delta)) == (2 * R + 2, (2 * R + 1) * (len(alphabet) + 2))


@given(words(tuple("0123456789")))
def test_sort_default_digits(w):
    assert halted(lib.get("sort"), w).output == tuple(sorted(w))


@given(words(lib.priority_symbols(3, 4), max_size=20))
def test_priority_sort_keeps_input_order_within_a_priority(w):
    m = lib.get("sort", width=3, priorities=4, descending=True)
    assert halted(m, w).output == tuple(sorted(w, key=lib.priority_of, reverse=True))


@given(words(BYTES, max_size=10))
def test_sort_256_symbols_full_order(w):
    m = lib.get("sort", width=8)
    assert len(m.states) == 2 * 256 + 2
    assert halted(m, w).output == tuple(sorted(w))


def test_sort_arguments():
    with pytest.raises(ValueError):
        lib.sort_machine(("0", "1"), width=2)
    with pytest.raises(ValueError):
        lib.sort_machine(priorities=2)
    with pytest.raises(AlphabetError, match="'b'"):
        lib.sort_machine(("a", "b"), key={"a": 0})


# ---------------------------------------------------------------- reverse, duplicate
@given(bits())
def test_reverse(w):
    r = halted(lib.get("reverse"), w)
    assert r.output == w[::-1]
    assert r.steps == 2 * len(w) + 2


@given(bits())
def test_duplicate(w):
    r = halted(lib.get("duplicate"), w)
    assert r.output == w + w
    assert r.steps == 3 * len(w) + 3


@given(st.data())
def test_reverse_and_duplicate_any_alphabet(data):
    alphabet = data.draw(alphabets)
    w = data.draw(words(alphabet))
    assert halted(lib.reverse_machine(alphabet), w).output == w[::-1]
    assert halted(lib.duplicate_machine(alphabet), w).output == w + w


# ---------------------------------------------------------------- arithmetic
@given(bits(16))
def test_binary_increment(w):
    r = halted(lib.get("binary_increment"), w)
    assert "".join(r.output) == format(as_int(w) + 1, f"0{len(w)}b")  # width kept unless it overflows
    t = len(w) - len("".join(w).rstrip("1"))
    assert r.steps == len(w) + t + 2


@given(bits(10), bits(10))
def test_binary_add(a, b):
    r = halted(lib.get("binary_add"), a + ("+",) + b)
    total = as_int(a) + as_int(b)
    assert "".join(r.output) == format(total, "b")
    m = max(len(a), len(b))
    assert r.steps == len(a) + len(b) + m + max(0, m - total.bit_length()) + 4


@given(bits(10), bits(10))
def test_binary_add_le(a, b):
    """Little-endian: the operands and the sum LSB first, the sum without high zeros, then '$'."""
    r = halted(lib.get("binary_add_le"), a + ("+",) + b)
    total = as_int(a[::-1]) + as_int(b[::-1])
    assert "".join(r.output) == format(total, "b")[::-1] + "$"
    m = max(len(a), len(b))
    strip = 0 if total.bit_length() > m else m + 2 if total == 0 else m + 1 - total.bit_length()
    assert r.steps == 2 * len(a) + m + 4 + strip


def test_binary_add_le_example_from_the_benchmark():
    assert "".join(halted(lib.get("binary_add_le"), tuple("001+01101")).output) == "01011$"   # 4 + 22 = 26


@pytest.mark.parametrize("name", ["binary_add", "binary_add_le"])
@pytest.mark.parametrize("word", ["", "0101", "1+1+1", "++"])
def test_binary_add_needs_one_plus(name, word):
    assert run(lib.get(name), word).status == Status.NO_TRANSITION


# ---------------------------------------------------------------- palindrome
@given(bits(10), st.sampled_from(["", "0", "1"]))
def test_palindromes_are_accepted(w, middle):
    p = w + tuple(middle) + w[::-1]
    r = run(lib.get("palindrome"), p)
    assert r.status == Status.ACCEPTED
    n = len(p)
    assert r.steps == (n + 1) * (n + 2) // 2


@given(bits())
def test_palindrome_decides(w):
    r = run(lib.get("palindrome"), w)
    assert r.status == (Status.ACCEPTED if w == w[::-1] else Status.REJECTED)
    assert r.steps <= (len(w) + 1) * (len(w) + 2) // 2


@given(st.data())
def test_palindrome_any_alphabet(data):
    alphabet = data.draw(alphabets)
    w = data.draw(words(alphabet, 8))
    m = lib.palindrome_machine(alphabet)
    assert (len(m.states), len(m.delta)) == (2 * len(alphabet) + 4, 2 * (len(alphabet) + 1) ** 2)
    assert run(m, w).status == (Status.ACCEPTED if w == w[::-1] else Status.REJECTED)
    assert run(m, w + w[::-1]).status == Status.ACCEPTED


# ---------------------------------------------------------------- busy beavers and loops
@pytest.mark.parametrize("name", ["bb2", "bb3", "bb4"])
def test_busy_beaver_published_counts(name):
    _, steps, ones = lib.BUSY_BEAVERS[name]
    r = run(lib.get(name))
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, steps, ones)


@pytest.mark.skipif(not HAS_ENGINE, reason="needs turing.engine; see test_bb5_reference")
def test_bb5_published_counts_fast():
    from turing.engine import run_fast
    r = run_fast(lib.get("bb5"))
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, 47_176_870, 4_098)


@pytest.mark.slow
def test_bb5_reference():
    r = run(lib.get("bb5"))
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, 47_176_870, 4_098)


@pytest.mark.parametrize("name", ["antihydra", "hydra", "loop"])
def test_non_halting_machines_reach_the_step_limit(name):
    r = run(lib.get(name), max_steps=20_000)
    assert (r.status, r.steps) == (Status.STEP_LIMIT, 20_000)


@pytest.mark.parametrize("steps, a, b", [(20, 3, 0), (75, 6, 2), (208, 12, 1), (572, 21, 0), (1428, 33, 2)])
def test_hydra_follows_its_published_rules(steps, a, b):
    # bbchallenge wiki, "Hydra": C(3,0) -55-> C(6,2) -133-> C(12,1) -364-> C(21,0) -856-> C(33,2),
    # C(a,b) = 0^inf <A 2 0^a 3^b 2 0^inf; from a blank tape C(3,0) comes at step 20
    r = run(lib.get("hydra"), max_steps=steps)
    assert (r.state, r.tape) == ("A", ("2",) + ("0",) * a + ("3",) * b + ("2",))


def test_busy_beaver_by_number():
    assert lib.busy_beaver(4) == lib.get("bb4") and lib.get("bb4").name == "bb4"
    with pytest.raises(ValueError):
        lib.busy_beaver(6)


# ---------------------------------------------------------------- engine agreement
@pytest.mark.skipif(not HAS_ENGINE, reason="needs turing.engine")
@pytest.mark.parametrize("name, params, alphabet", [
    ("copy", {}, BYTES), ("sort", {"width": 8, "priorities": 2}, lib.priority_symbols(8, 2)),
    ("reverse", {}, ("0", "1")), ("duplicate", {}, ("0", "1"))])
def test_engine_batch_agrees(name, params, alphabet):
    from turing.engine import run_batch
    import random
    rng = random.Random(0)
    m = lib.get(name, **params)
    inputs = [[rng.choice(alphabet) for _ in range(rng.randrange(21))] for _ in range(64)]
    assert run_batch(m, inputs).results() == [run(m, w) for w in inputs]


# ---------------------------------------------------------------- registry and symbols
def test_names_and_descriptions():
    assert set(lib.names()) >= {"copy", "repeat_copy", "sort", "reverse", "duplicate", "binary_increment",
                                "binary_add", "binary_add_le", "palindrome", "bb2", "bb3", "bb4", "bb5", "antihydra",
                                "loop"}
    for name in lib.names():
        doc = lib.BUILDERS[name].__doc__
        assert lib.describe(name) and "state" in doc and "transition" in doc, name


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownMachineError, match="copy.*palindrome"):
        lib.get("kopy")
    with pytest.raises(UnknownMachineError):
        lib.describe("kopy")


def test_get_caches():
    assert lib.get("copy") is lib.get("copy")
    assert lib.get("reverse", alphabet=["a", "b"]) is lib.get("reverse", alphabet=("a", "b"))
    key = {"a": 1, "b": 0}  # unhashable: built every time, still correct
    assert run(lib.get("sort", alphabet=("a", "b"), key=key), "abab").output == tuple("bbaa")


@pytest.mark.parametrize("alphabet", [(), ("0", "0"), ("0", "#"), ("0", "_"), ("",)])
def test_bad_alphabets(alphabet):
    with pytest.raises(AlphabetError):
        lib.copy_machine(alphabet)


def test_symbols():
    assert lib.bit_symbols(2) == ("00", "01", "10", "11")
    assert lib.bit_symbols(8)[5] == "00000101"
    assert lib.priority_symbols(1, 2) == ("0:0", "0:1", "1:0", "1:1")
    assert lib.priority_of("12:0101") == 12
    with pytest.raises(ValueError):
        lib.bit_symbols(0)
    with pytest.raises(ValueError):
        lib.priority_symbols(2, 0)
