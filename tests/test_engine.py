"""The fast engine agrees with the reference simulator `turing.run`, the oracle, exactly."""

import importlib
import json
import sys
import multiprocessing
import threading
import weakref
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from turing import InputError, Machine, Status, build_delta, run
from turing import trace as turing_trace
from turing import engine, library
from turing.engine import compile, run_batch, run_fast
from turing.strategies import inputs, machines

try:  # written alongside the engine; its machines make good test cases when present
    from turing import library
except ImportError:  # pragma: no cover
    library = None

max_steps = st.integers(0, 10_000)


# ---------------------------------------------------------------- helpers
def busy_beaver(text: str) -> Machine:
    """A machine from the busy-beaver standard text, e.g. ``1RB1LZ_1LA1RZ`` (states A, B, …;
    symbols 0 (blank), 1, …; Z halts)."""
    rows = []
    for i, part in enumerate(text.split("_")):
        for a in range(len(part) // 3):
            write, move, q2 = part[3 * a:3 * a + 3]
            if write != "-":
                rows.append((chr(65 + i), str(a), q2, write, move))
    n, symbols = text.count("_") + 1, tuple(str(a) for a in range(len(text.split("_")[0]) // 3))
    return Machine(states=tuple(chr(65 + i) for i in range(n)) + ("Z",), input_alphabet=symbols[1:],
                   tape_alphabet=symbols, blank="0", start="A", delta=build_delta(rows), halt={"Z"})


def walker(move: str) -> Machine:
    """Writes 1 and moves `move` forever: the tape grows on one side only."""
    return Machine(states=("q",), input_alphabet=("1",), tape_alphabet=("_", "1"), blank="_",
                   start="q", delta={("q", "_"): ("q", "1", move), ("q", "1"): ("q", "1", move)})


@st.composite
def machine_and_words(draw, n_words=None, **kwargs):
    m = draw(machines(**kwargs))
    if n_words is None:
        return m, draw(inputs(m, max_length=12))
    return m, draw(st.lists(inputs(m, max_length=12), min_size=0, max_size=n_words))


def check_batch(m, words, limit):
    batch = run_batch(m, words, max_steps=limit)
    expected = [run(m, w, max_steps=limit) for w in words]
    assert batch.results() == expected
    assert batch.statuses() == [r.status for r in expected]
    assert batch.steps.tolist() == [r.steps for r in expected]
    assert batch.outputs() == [r.output for r in expected]
    symbols = batch.compiled.symbols
    assert [tuple(symbols[c] for c in codes) for codes in batch.output_codes()] == batch.outputs()
    assert len(batch) == len(words)


# ---------------------------------------------------------------- properties
@given(machine_and_words(), max_steps)
def test_run_fast_equals_run(mw, limit):
    m, w = mw
    assert run_fast(m, w, max_steps=limit) == run(m, w, max_steps=limit)


@given(machine_and_words(n_words=8), max_steps)
def test_run_batch_equals_run(mw, limit):
    check_batch(*mw, limit)


@given(machine_and_words(n_words=5, max_states=4, max_symbols=3, tapes=st.integers(2, 3)),
       st.integers(0, 2_000))
def test_multitape_equals_run(mw, limit):
    m, words = mw
    check_batch(m, words, limit)
    for w in words[:2]:
        assert run_fast(m, w, max_steps=limit) == run(m, w, max_steps=limit)


def check_cells(m, words, steps, cells):
    """Engine and reference agree exactly under a cell limit, and the limit holds: no run uses
    more than `cells` cells unless its input alone does."""
    expected = [run(m, w, max_steps=steps, max_cells=cells) for w in words]
    assert run_batch(m, words, max_steps=steps, max_cells=cells).results() == expected
    for w, r in zip(words, expected):
        assert run_fast(m, w, max_steps=steps, max_cells=cells) == r
        if r.status == Status.CELL_LIMIT:
            assert not r.halted and r.steps < steps
            # one more cell per tape (beyond what the input alone uses at the start) lets the run go on
            start = max(len(w), 1) + m.tapes - 1
            assert run(m, w, max_steps=steps, max_cells=max(cells, start) + m.tapes).steps > r.steps


@given(machine_and_words(n_words=4, tapes=st.integers(1, 3), max_states=4, max_symbols=3),
       st.integers(0, 3_000), st.integers(0, 40))
def test_cell_limit_equals_run(mw, steps, cells):
    check_cells(*mw, steps, cells)


@given(machine_and_words(n_words=3), st.integers(0, 3_000), st.integers(0, 40))
def test_progress_chunks_do_not_change_results(mw, steps, cells):
    m, words = mw
    with mock.patch.object(engine, "PROGRESS_CHUNK", 7):
        for w in words:
            heard = []
            r = run_fast(m, w, steps, cells, progress=heard.append)
            assert r == run(m, w, steps, cells)
            # told after each chunk of 7 steps that a run reached, short of the step limit
            assert heard == [t for t in range(7, steps, 7) if t <= r.steps]


def test_reference_progress():
    reference = importlib.import_module("turing.run")  # (turing.run is also the function)
    heard = []
    with mock.patch.object(reference, "PROGRESS_EVERY", 8):
        r = run(walker("R"), "1", max_steps=100, progress=heard.append)
    assert r.steps == 100 and heard == list(range(8, 100, 8))


@pytest.mark.parametrize("move, tapes", [("R", 1), ("L", 1), ("R", 2), ("L", 3)])
def test_walker_stops_at_the_cell_limit(move, tapes):
    """A head that walks one way uses one more cell per step: with the input "11" on tape 0
    it starts on 2 + (k - 1) cells and stops after max_cells - that many steps."""
    m = walker(move) if tapes == 1 else Machine(
        states=("q",), input_alphabet=("1",), tape_alphabet=("_", "1"), blank="_", start="q", tapes=tapes,
        delta={("q", (a,) + ("_",) * (tapes - 1)): ("q", ("1",) * tapes, (move,) * tapes) for a in "_1"})
    start = (2 if move == "R" else 2) + tapes - 1
    r = run_fast(m, "11", max_steps=10 ** 9, max_cells=1_000)
    assert r == run(m, "11", max_steps=10 ** 9, max_cells=1_000)
    assert r.status == Status.CELL_LIMIT and not r.halted
    # moving right, the first step stays on the input's second cell
    assert r.steps == (1_000 - start) // tapes + (1 if move == "R" else 0)


def test_cell_limit_is_checked_after_the_others():
    m = busy_beaver("1RB1LB_1LA1RZ")  # BB(2): 6 steps, 4 cells
    assert run_fast(m, max_cells=4).status == run(m, max_cells=4).status == Status.HALTED
    assert run_fast(m, max_cells=3) == run(m, max_cells=3)
    assert run(m, max_cells=3).status == Status.CELL_LIMIT
    with pytest.raises(ValueError):
        run_fast(m, max_cells=-1)
    with pytest.raises(ValueError):
        run(m, max_cells=-1)


@settings(max_examples=25)
@given(machine_and_words(n_words=4, tapes=st.integers(1, 2)), st.integers(0, 300))
def test_growth_from_a_bare_buffer(mw, limit):
    """With no margin around the input every move past it grows the buffer."""
    m, words = mw
    with mock.patch.object(engine, "_MARGIN", 0):
        check_batch(m, words, limit)


@settings(max_examples=10)
@given(st.data())
def test_large_alphabet(data):
    """|Γ| >= 255: tapes are int32, not uint8."""
    symbols = tuple(f"s{i}" for i in range(300))
    rows = [("a", s, "a", symbols[(7 * i + 1) % 300], "R") for i, s in enumerate(symbols)]
    rows += [("a", "_", "b", "s299", "L")] + [("b", s, "b", s, "L") for s in symbols[::2]]
    m = Machine(states=("a", "b"), input_alphabet=symbols, tape_alphabet=("_",) + symbols, blank="_",
                start="a", delta=build_delta(rows))
    assert compile(m).tape_dtype == np.int32
    check_batch(m, data.draw(st.lists(inputs(m, max_length=20), max_size=4)), 1_000)


@given(machine_and_words(n_words=6, tapes=st.integers(1, 2)), max_steps)
def test_run_batch_on_codes_equals_on_words(mw, limit):
    m, words = mw
    n = max(map(len, words), default=0)
    index = {a: i for i, a in enumerate(m.tape_alphabet)}
    codes = np.full((len(words), n), 99, np.int64)  # padding past a word's length is ignored
    for b, w in enumerate(words):
        codes[b, :len(w)] = [index[a] for a in w]
    by_codes = run_batch(m, codes, max_steps=limit, lengths=[len(w) for w in words])
    assert by_codes.results() == run_batch(m, words, max_steps=limit).results()


def test_bad_codes():
    m = walker("R")  # Γ = (_, 1), Σ = (1,)
    with pytest.raises(InputError, match="code 7"):
        run_batch(m, np.array([[1, 7]]))
    with pytest.raises(InputError) as fast:
        run_batch(m, np.array([[1, 1], [1, 0]]))
    with pytest.raises(InputError) as ref:
        run(m, ["1", "_"])
    assert str(fast.value) == str(ref.value)
    assert run_batch(m, np.array([[1, 0]]), lengths=[1], max_steps=2).outputs() == [("1", "1")]
    for bad in ([3], [-1], [1, 1]):
        with pytest.raises(ValueError):
            run_batch(m, np.array([[1, 0]]), lengths=bad)
    with pytest.raises(ValueError):
        run_batch(m, np.array([1, 0]))
    with pytest.raises(ValueError):
        run_batch(m, ["1"], lengths=[1])


@pytest.mark.skipif(library is None, reason="turing.library is not there")
@given(st.data())
def test_library_machines(data):
    m = library.get(data.draw(st.sampled_from(library.names())))
    check_batch(m, data.draw(st.lists(inputs(m, max_length=12), max_size=4)), 5_000)


@given(st.data())
def test_strategy_options(data):
    """turing.strategies honours its naming options (the formats' round trips rely on them)."""
    m = data.draw(machines(max_states=5, state_names="ABCDE", symbol_names="123", blank="0",
                           min_symbols=2, blank_first=True, all_inputs=True, halting=("halt",), moves="LR"))
    assert m.tape_alphabet[0] == "0" and m.input_alphabet == m.tape_alphabet[1:]
    assert set(m.states) <= set("ABCDE") and not (m.accept or m.reject)
    assert all(move in "LR" for _, _, move in m.delta.values())
    w = data.draw(inputs(m, min_length=1, max_length=3))
    assert 1 <= len(w) <= 3
    assert run_fast(m, w, max_steps=500) == run(m, w, max_steps=500)


# ---------------------------------------------------------------- worked examples
@pytest.mark.parametrize("text, steps, ones", [
    ("1RB1LB_1LA1RZ", 6, 4),                                # BB(2)
    ("1RB1RZ_1LB0RC_1LC1LA", 21, 5),                        # BB(3), the step champion
    ("1RB1RZ_0RC1RB_1LC1LA", 14, 6),                        # BB(3), the ones champion
    ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 107, 13),               # BB(4)
])
def test_busy_beavers(text, steps, ones):
    m = busy_beaver(text)
    r = run_fast(m)
    assert (r.status, r.steps, r.nonblank) == (Status.HALTED, steps, ones)
    assert r == run(m)
    # halting is checked before the limit: halting on step max_steps counts as halting
    assert run_fast(m, max_steps=steps).status == Status.HALTED
    assert run_fast(m, max_steps=steps - 1) == run(m, max_steps=steps - 1)
    assert run_fast(m, max_steps=steps - 1).status == Status.STEP_LIMIT


@pytest.mark.parametrize("move, head", [("R", 5_000), ("L", -5_000), ("S", 0)])
def test_walk_grows_the_tape(move, head):
    m = walker(move)
    r = run_fast(m, "11", max_steps=5_000)
    assert r == run(m, "11", max_steps=5_000)
    assert (r.status, r.head) == (Status.STEP_LIMIT, head)


def test_empty_input_and_zero_steps():
    m = walker("R")
    assert run_fast(m, "", max_steps=0) == run(m, "", max_steps=0)
    assert run_fast(m, (), max_steps=3).tape == ("1", "1", "1")
    assert run_batch(m, [], max_steps=3).results() == []


def test_no_transition_on_a_sentinel_keeps_the_head_there():
    m = Machine(states=("q",), input_alphabet=("1",), tape_alphabet=("_", "1"), blank="_", start="q",
                delta={("q", "1"): ("q", "1", "L")})
    r = run_fast(m, "1")
    assert r == run(m, "1") and (r.status, r.head) == (Status.NO_TRANSITION, -1)


def test_errors_match_the_reference():
    m = walker("R")
    for bad in ("1x1", ["1", "_"]):
        with pytest.raises(InputError) as fast:
            run_fast(m, bad)
        with pytest.raises(InputError) as ref:
            run(m, bad)
        assert str(fast.value) == str(ref.value)
        with pytest.raises(InputError):
            run_batch(m, ["1", bad])
    with pytest.raises(ValueError):
        run_fast(m, "1", max_steps=-1)


def test_compile_is_cached_and_reusable():
    m = walker("R")
    cm = compile(m)
    assert compile(m) is cm and cm.symbols == m.tape_alphabet and cm.states == m.states
    assert run_fast(cm, "1", max_steps=4) == run(m, "1", max_steps=4)
    assert run_batch(cm, ["1", ""], max_steps=4).outputs() == [("1",) * 4, ("1",) * 4]


def _copy_in_child(words):
    return run_batch(walker("R"), words, max_steps=5).outputs()


def test_forked_workers_and_threads():
    """Datasets are made in forked DataLoader workers and sometimes in threads: both must work
    after the parent has run parallel code (GNU OpenMP would kill the forked child)."""
    words = [["1"] * n for n in range(40)]
    expected = run_batch(walker("R"), words, max_steps=5).outputs()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        outputs = pool.map_async(_copy_in_child, [words] * 2, chunksize=1).get(timeout=60)
    assert outputs == [expected] * 2
    seen = []
    threads = [threading.Thread(target=lambda: seen.extend(_copy_in_child(words) for _ in range(20)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [expected] * 60


# ---------------------------------------------------------------- `ntm machine run`'s limits
# (here rather than in test_cli.py: they test the engine's outcomes through the command line)
def test_cli_walker_stops_at_the_cell_limit(capsys):
    from ntm.cli import main
    for engine_name in ("fast", "reference"):
        assert main(["machine", "run", "1RA1RA", "--max-steps", "1e9", "--max-cells", "5_000", "--json",
                     "--engine", engine_name]) == 0
        out = json.loads(capsys.readouterr().out)
        assert (out["status"], out["steps"], out["halted"]) == ("cell limit", 4_999, False)


@pytest.mark.parametrize("flag, value, steps", [("--max-steps", "1e3", 1_000), ("--max-steps", "1_000", 1_000),
                                                ("--max-steps", "2.5e3", 2_500), ("--max-cells", "1E2", 99)])
def test_cli_counts_accept_exponents_and_underscores(capsys, flag, value, steps):
    from ntm.cli import main
    assert main(["machine", "run", "1RA1RA", flag, value, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == steps


@pytest.mark.parametrize("value", ["1.5", "-3", "1e-3", "ten", "1e30", "nan", "inf"])
def test_cli_rejects_counts_that_are_not_whole_in_one_line(capsys, value):
    from ntm.cli import main
    assert main(["machine", "run", "1RA1RA", "--max-steps", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ntm: error: --max-steps {value!r}: expected a whole number")


def test_cli_progress_on_a_terminal(capsys, monkeypatch):
    from ntm.cli import machine as cli_machine
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = cli_machine._Progress(every=0.0)
    progress(1_000_000)
    err = capsys.readouterr().err
    assert err.startswith("ntm: 1,000,000 steps, ") and err.endswith(" steps/s\n")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    cli_machine._Progress(every=0.0)(5)
    assert capsys.readouterr().err == ""


def test_a_batch_result_prints_as_one_short_line():
    """Printing a batch of many long runs does not flood the screen (a newcomer's complaint)."""
    copy = library.get("copy", width=2)
    r = run_batch(copy, [("01",) * 500] * 200)
    text = repr(r)
    assert "\n" not in text and len(text) < 200 and "200 runs" in text and "200 halted" in text


# ---------------------------------------------------------------- traces (run_batch(..., trace=True))
def reference_steps(m, word, steps, cells):
    """The oracle: `turing.trace`'s configurations, read as transitions (state, heads, symbols
    read and written, moves) and the last configuration's (state, heads)."""
    def cell(c, i, p):
        t, o = c.tapes[i], c.origins[i]
        return t[p - o] if 0 <= p - o < len(t) else c.blank

    configs = list(turing_trace(m, word, max_steps=steps, max_cells=cells))
    out = []
    for c, d in zip(configs, configs[1:]):
        out.append(engine.Step(c.step, c.state, c.heads, tuple(cell(c, i, h) for i, h in enumerate(c.heads)),
                               tuple(cell(d, i, h) for i, h in enumerate(c.heads)),
                               tuple("LSR"[e - h + 1] for h, e in zip(c.heads, d.heads))))
    return out, (configs[-1].state, configs[-1].heads)


def check_trace(m, words, steps, cells):
    plain = run_batch(m, words, max_steps=steps, max_cells=cells)
    traced = run_batch(m, words, max_steps=steps, max_cells=cells, trace=True)
    assert plain.trace is None
    assert traced.results() == plain.results()
    tr, cm = traced.trace, traced.compiled
    B, S, k = len(words), int(traced.steps.max(initial=0)), m.tapes
    assert (tr.state.shape, tr.heads.shape, tr.read.shape, tr.mask.shape) == ((B, S + 1), (B, S + 1, k),
                                                                              (B, S, k), (B, S))
    assert tr.steps.tolist() == traced.steps.tolist() == tr.mask.sum(1).tolist()
    for b, w in enumerate(words):
        expected, (state, heads) = reference_steps(m, w, steps, cells)
        assert tr.transitions(b) == expected
        n = int(tr.steps[b])
        assert (cm.states[tr.state[b, n]], tuple(tr.heads[b, n].tolist())) == (state, heads)
        assert not tr.read[b, n:].any() and not tr.move[b, n:].any()  # padding is 0


@given(machine_and_words(n_words=5, tapes=st.integers(1, 3), max_states=4, max_symbols=3),
       st.integers(0, 600), st.integers(0, 40))
def test_trace_equals_reference_trace(mw, steps, cells):
    """Random 1-3-tape machines, halting or not, with and without the cell limit hit."""
    check_trace(*mw, steps, cells)


@settings(max_examples=25)
@given(machine_and_words(n_words=4, tapes=st.integers(1, 2)), st.integers(0, 2_000))
def test_trace_across_growth(mw, steps):
    """Tape growth and trace growth (from 4 steps of capacity) between loop calls change nothing."""
    m, words = mw
    with mock.patch.object(engine, "_MARGIN", 0), mock.patch.object(engine, "_TRACE_START", 4):
        check_trace(m, words, steps, 10_000)


@pytest.mark.parametrize("serial_steps", [0, 100])
@settings(max_examples=40)
@given(machine_and_words(n_words=8, tapes=st.integers(1, 3), max_states=4, max_symbols=3),
       st.integers(0, 600), st.integers(0, 40))
def test_first_pass_on_the_calling_thread_changes_nothing(serial_steps, mw, steps, cells):
    """Runs, limits and traces as the reference's with no first pass on the calling thread (0:
    numba's threads only) and with one that stops runs part-way (100 steps over up to 8 runs:
    12-100 steps a run, or none at 7 runs and more), the threads going on from there; tapes and
    traces growing in both passes."""
    m, words = mw
    with (mock.patch.object(engine, "SERIAL_STEPS", serial_steps), mock.patch.object(engine, "_MARGIN", 0),
          mock.patch.object(engine, "_TRACE_START", 4)):
        check_trace(m, words, steps, cells)
        check_cells(m, words, steps, cells)


def test_small_batches_run_on_the_calling_thread(monkeypatch):
    """A batch under `SERIAL_STEPS` steps never enters numba's threads; a longer one goes on there."""
    monkeypatch.setattr(engine, "_STEPS_A_RUN", weakref.WeakKeyDictionary())   # other tests' walkers forgotten
    calls = []
    for name in ("_run_1", "_run_k"):
        monkeypatch.setattr(engine, name, lambda *a, name=name: calls.append(name))
    copy = library.get("copy", width=1)
    words = [("0", "1") * 5] * 32
    assert run_batch(copy, words).outputs() == words and calls == []
    # 2 runs of a walker: 16,384 steps each on this thread, then the threads (stubbed: they stop nothing)
    r = run_batch(walker("R"), ["1", ""], max_steps=20_000)
    assert calls == ["_run_1"] and r.steps.tolist() == [engine.SERIAL_STEPS // 2] * 2


def test_a_machine_whose_runs_were_long_goes_straight_to_the_threads(monkeypatch):
    """A batch after one whose runs took more steps than its share of `SERIAL_STEPS` skips the
    first pass; another machine keeps it."""
    monkeypatch.setattr(engine, "_STEPS_A_RUN", weakref.WeakKeyDictionary())   # other tests' walkers forgotten
    m = walker("R")
    assert run_batch(m, ["1", ""], max_steps=20_000).steps.tolist() == [20_000] * 2
    calls = []
    monkeypatch.setattr(engine, "_SERIAL", tuple(lambda *a, i=i: calls.append(i) for i in range(4)))
    assert run_batch(m, ["1", ""], max_steps=20_000).steps.tolist() == [20_000] * 2 and calls == []
    run_batch(walker("L"), ["1", ""], max_steps=20_000)       # stubbed: stops after the first pass
    assert calls == [0]


def test_trace_of_a_walker_and_its_limit():
    m = walker("L")
    r = run_batch(m, ["1", ""], max_steps=1_000, trace=True)
    assert r.trace.heads[0, :, 0].tolist() == list(range(0, -1_001, -1))
    assert r.trace.move.min() == r.trace.move.max() == -1 and r.trace.mask.all()
    per = engine.trace_step_bytes(compile(m))
    assert per == 12
    with pytest.raises(engine.TraceLimitError, match="max_trace_bytes") as e:
        run_batch(m, ["1", ""], max_steps=1_000, trace=True, max_trace_bytes=2 * 500 * per)
    assert "\n" not in str(e.value)
    # the same limit is enough for runs that stop sooner, whatever max_steps says
    assert run_batch(m, ["1"], max_steps=100, trace=True, max_trace_bytes=2 * 500 * per).trace.steps[0] == 100
    text = repr(r.trace)
    assert "\n" not in text and "2 runs" in text and len(text) < 200


def test_trace_with_progress_chunks():
    m = busy_beaver("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")  # BB(4), 107 steps
    with mock.patch.object(engine, "PROGRESS_CHUNK", 7):
        heard = []
        r = engine._execute(compile(m), [()], 1_000, progress=heard.append, max_trace_bytes=2 ** 20)
    assert heard == list(range(7, 107, 7))
    check_steps, _ = reference_steps(m, (), 1_000, 10 ** 6)
    assert r.trace.transitions(0) == check_steps
