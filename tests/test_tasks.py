"""Tests of `tasks`: every target is what the machine wrote (checked with the reference simulator
`turing.run`, the oracle) and what an independent Python specification says; the encodings,
masks, alignment, determinism, decoding, errors, curricula, registry and CLI.

The expected vectors below are written out from each task's documented encoding, not taken from
the tasks' own tables, so an encoding bug cannot hide behind itself.
"""

from __future__ import annotations

import argparse
import copy
import os
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turing
from tasks import Batch, TaskError, get_task, task_names
from tasks.associative_recall import ITEM, QUERY, AssociativeRecall, recall_machine
from tasks.curriculum import Adaptive, Fixed, Increasing, Uniform, make_curriculum
from tasks.registry import parameters
from tasks.task import TraceStep, batch_trace_steps, machine_trace

ALL = task_names()
# the read-then-answer tasks, whose targets a machine writes (dynamic N-grams, online and scored
# against the Bayes-optimal estimator, has its own tests in test_ngrams.py)
MACHINE_TASKS = [n for n in ALL if not get_task(n).online]
# lengths a property test may draw for each task: the training range and a little beyond it
# (beyond, to check generalisation lengths encode too; kept short so the reference runs are quick)
EXTRA = {"reverse": 20, "duplicate": 20, "binary_addition": 20, "binary_addition_le": 20}

# every example runs the reference simulator on each sample: 20 per task in CI, more locally
few = settings(max_examples=20 if os.environ.get("CI") == "true" else 60, deadline=None,
               suppress_health_check=[HealthCheck.too_slow])


def task(name):
    return get_task(name)  # cached by the registry: each machine is built and compiled once


# ---------------------------------------------------------------- independent encodings
def bits(symbol: str) -> list[float]:
    return [float(c) for c in symbol]


def expected_inputs(t, word) -> list[list[float]]:
    """The input steps of `word` as each task's docstring specifies them."""
    name = type(t).__name__
    if name == "Copy":
        return [bits(a) + [0.0] for a in word] + [[0.0] * t.width + [1.0]]
    if name == "RepeatCopy":
        sep = word.index("#")
        k = len(word) - sep - 1
        return [bits(a) + [0.0, 0.0] for a in word[:sep]] + [[0.0] * t.width + [1.0, k / 10.0]]
    if name == "PrioritySort":
        P = t.priorities
        rows = []
        for a in word:
            p, v = a.split(":")
            rows.append(bits(v) + [-1.0 + (2 * int(p) + 1) / P, 0.0])
        return rows + [[0.0] * t.width + [0.0, 1.0]]
    if name == "AssociativeRecall":
        enc = {ITEM: [0.0] * t.width + [1.0, 0.0], QUERY: [0.0] * t.width + [0.0, 1.0]}
        return [enc[a] if a in enc else bits(a) + [0.0, 0.0] for a in word]
    # one-hot symbol tasks
    return [[float(a == s) for s in t.input_alphabet] for a in word]


def expected_target(t, symbol) -> list[float]:
    name = type(t).__name__
    if name == "RepeatCopy":
        return [0.0] * t.width + [1.0] if symbol == "$" else bits(symbol) + [0.0]
    if t.loss_kind == "bce":
        return bits(symbol)
    return [float(symbol == s) for s in t.output_alphabet]


def machine_output(t, word):
    """The target according to the reference simulator (the oracle)."""
    result = turing.run(t.machine, word)
    assert result.status == turing.Status.HALTED
    out = tuple(t._project(a) for a in result.output)
    return (out if t.keep is None else out[:t.keep]), result.steps


# ---------------------------------------------------------------- the main property
@pytest.mark.parametrize("name", MACHINE_TASKS)
@few
@given(data=st.data())
def test_targets_are_the_machines_output_and_the_specification(name, data):
    t = task(name)
    lo, hi = t.train_lengths
    top = hi + EXTRA.get(name, 2)
    B = data.draw(st.integers(1, 5), label="batch size")
    lengths = data.draw(st.lists(st.integers(t.min_length, top), min_size=B, max_size=B), label="lengths")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="seed")
    batch = t.sample(np.random.default_rng(seed), B, lengths)

    assert isinstance(batch, Batch) and batch.batch_size == B
    assert batch.inputs.dtype == torch.float32 and batch.targets.dtype == torch.float32
    assert batch.mask.dtype == torch.bool and batch.input_lengths.dtype == torch.int64
    assert batch.inputs.shape[2] == t.input_size and batch.targets.shape[2] == t.output_size
    assert batch.lengths.tolist() == lengths
    T_in, T_out = batch.inputs.shape[1], batch.targets.shape[1]
    assert T_in == max(batch.input_lengths.tolist())
    assert T_out == max(len(o) for o in batch.output_symbols)

    for b, word in enumerate(batch.input_symbols):
        out, steps = machine_output(t, word)
        assert batch.output_symbols[b] == out == t.specification(word)
        assert int(batch.machine_steps[b]) == steps
        n_out = len(out)
        assert n_out <= t.output_length(lengths[b])
        # targets: LEFT-aligned, the documented vectors, zeros after; the mask marks exactly those
        assert batch.mask[b].tolist() == [True] * n_out + [False] * (T_out - n_out)
        want = torch.tensor([expected_target(t, a) for a in out]).reshape(n_out, t.output_size)
        assert torch.equal(batch.targets[b, :n_out], want)
        assert not batch.targets[b, n_out:].any()
        # inputs: RIGHT-aligned, zeros in front
        rows = torch.tensor(expected_inputs(t, word), dtype=torch.float32)
        L = rows.shape[0]
        assert int(batch.input_lengths[b]) == L <= t.input_length(lengths[b])
        assert torch.allclose(batch.inputs[b, T_in - L:], rows)
        assert not batch.inputs[b, :T_in - L].any()

    assert t.decode(batch.targets, batch.mask) == batch.output_symbols
    assert t.decode(batch.targets, batch.mask, probabilities=True) == batch.output_symbols


def test_fixed_length_tasks_fill_their_stated_lengths():
    """For tasks whose sizes depend on n alone, T_in and T_out are input_length(n), output_length(n)."""
    rng = np.random.default_rng(0)
    for name in ("copy", "associative_recall", "sort", "sort_paper", "reverse", "duplicate"):
        t = task(name)
        n = t.train_lengths[1]
        b = t.sample(rng, 4, n)
        assert b.inputs.shape[:2] == (4, t.input_length(n)), name
        assert b.targets.shape[:2] == (4, t.output_length(n)), name
        assert b.mask.all(), name
    assert task("sort_paper").sample(rng, 2, 20).targets.shape[1] == 16   # the paper's 16 of 20


# ---------------------------------------------------------------- determinism and mixed lengths
@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_batch(name):
    t = task(name)
    lengths = [t.min_length, t.train_lengths[1], t.min_length + 1]
    a = t.sample(np.random.default_rng(7), 3, lengths)
    b = t.sample(np.random.default_rng(7), 3, lengths)
    for f in ("inputs", "input_lengths", "targets", "mask", "machine_steps", "lengths"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert a.input_symbols == b.input_symbols and a.output_symbols == b.output_symbols


def test_different_seeds_differ():
    t = task("copy")
    a, b = (t.sample(np.random.default_rng(s), 8, 20) for s in (1, 2))
    assert a.input_symbols != b.input_symbols


def test_mixed_lengths_align_inputs_right_and_targets_left():
    t = task("copy")
    b = t.sample(np.random.default_rng(3), 3, [1, 20, 5])
    assert b.inputs.shape == (3, 21, 9) and b.targets.shape == (3, 20, 8)
    assert b.input_lengths.tolist() == [2, 21, 6]
    assert b.output_lengths.tolist() == [1, 20, 5]
    assert not b.inputs[0, :19].any() and b.inputs[0, 20, 8] == 1   # delimiter at the last step
    assert all(b.inputs[i, 20, 8] == 1 for i in range(3))          # output phase starts together
    assert b.mask[2].tolist() == [True] * 5 + [False] * 15


def test_repeat_copy_counts_are_drawn_in_range_and_encoded():
    t = get_task("repeat_copy", repeats=(0, 3))
    b = t.sample(np.random.default_rng(0), 64, 2)
    ks = [w.count("*") for w in b.input_symbols]
    assert set(ks) == {0, 1, 2, 3}
    assert b.inputs[:, -1, -1].tolist() == pytest.approx([k / 10 for k in ks])
    assert [len(o) for o in b.output_symbols] == [2 * k + 1 for k in ks]


@pytest.mark.parametrize("name", ["binary_addition", "binary_addition_le"])
def test_binary_addition_splits_the_length_between_two_operands(name):
    t = task(name)
    b = t.sample(np.random.default_rng(0), 50, [1, 2] + [3] * 8 + [40] * 40)
    for w, n in zip(b.input_symbols, b.lengths.tolist()):
        assert len(w) == n and w.count("+") == 1
        a, c = "".join(w).split("+")
        if n >= 3:
            assert a and c


def test_binary_addition_le_is_the_benchmarks_form():
    """LSB first in and out, then the end token, which the mask scores (the benchmark's
    accuracy_mask keeps the positions up to and including its termination token)."""
    t = task("binary_addition_le")
    b = t.sample(np.random.default_rng(2), 40, [1, 2, 3] + [12] * 37)
    for w, out, m in zip(b.input_symbols, b.output_symbols, b.mask):
        a, c = "".join(w).split("+")
        total = int(a[::-1] or "0", 2) + int(c[::-1] or "0", 2)
        assert "".join(out) == format(total, "b")[::-1] + "$" and int(m.sum()) == len(out)
    assert t.output_size == 3 and t.output_alphabet == ("0", "1", "$")


def test_sort_keeps_input_order_within_a_priority():
    t = get_task("sort", width=2, priorities=2)
    word = ("0:01", "1:10", "0:11", "1:00")
    assert t.specification(word) == ("10", "00", "01", "11")
    assert machine_output(t, word)[0] == ("10", "00", "01", "11")


def test_python_spec_path_gives_the_same_targets():
    """The fallback for tasks without a machine: same batch, 0 machine steps, honestly labelled."""
    t = get_task("sort", width=2, priorities=3)
    spec = copy.copy(t)
    spec._use_specification()
    assert not spec.from_machine and spec.machine is None and spec.describe()["machine"] == "python spec"
    a, b = (x.sample(np.random.default_rng(5), 6, [1, 2, 3, 4, 5, 6]) for x in (t, spec))
    assert a.output_symbols == b.output_symbols
    assert torch.equal(a.targets, b.targets) and torch.equal(a.mask, b.mask) and torch.equal(a.inputs, b.inputs)
    assert not b.machine_steps.any() and a.machine_steps.all()


# ---------------------------------------------------------------- the associative recall machine
@few
@given(items=st.lists(st.lists(st.sampled_from(["00", "01", "10", "11"]), min_size=1, max_size=3),
                      min_size=0, max_size=5),
       query=st.lists(st.sampled_from(["00", "01", "10", "11"]), min_size=1, max_size=3))
def test_recall_machine_matches_its_specification_on_any_items(items, query):
    """Items of any lengths, duplicates, absent queries: the machine agrees with the spec."""
    word = tuple(a for it in items for a in (ITEM, *it)) + (QUERY, *query, QUERY)
    result = turing.run(recall_machine(2), word)
    assert result.status == turing.Status.HALTED
    assert result.output == AssociativeRecall.specification(None, word)


def test_recall_machine_example():
    word = "# 10 01 # 11 00 # 01 01 ? 11 00 ?".split()
    assert turing.run(recall_machine(2), word).output == ("01", "01")


# ---------------------------------------------------------------- decoding
def test_decode_logits_and_probabilities():
    t = task("copy")
    b = t.sample(np.random.default_rng(0), 4, [3, 5, 1, 2])
    logits = (b.targets * 2 - 1) * 3.0
    assert t.decode(logits, b.mask) == b.output_symbols
    assert t.decode(torch.sigmoid(logits), b.mask, probabilities=True) == b.output_symbols
    assert [len(w) for w in t.decode(logits)] == [5] * 4        # no mask: every step
    flipped = logits.clone()
    flipped[0, 0, 0] *= -1
    assert t.decode(flipped, b.mask)[0] != b.output_symbols[0]


def test_decode_marks_patterns_that_are_no_symbol():
    t = task("repeat_copy")
    out = torch.zeros(1, 1, t.output_size)
    out[0, 0, 0] = out[0, 0, -1] = 1.0          # a data bit and the end marker at once
    assert t.decode(out, probabilities=True) == [("!100000001",)]


def test_decode_one_hot_by_argmax():
    t = task("reverse")
    b = t.sample(np.random.default_rng(0), 3, [4, 1, 7])
    logits = torch.randn(b.targets.shape) + 10 * b.targets
    assert t.decode(logits, b.mask) == b.output_symbols


# ---------------------------------------------------------------- eval batches
def test_eval_batch_is_fixed_by_task_name_and_length():
    t = task("copy")
    a = t.eval_batch(5, 16)
    assert a is t.eval_batch(5, 16)
    # the seed is crc32 of "name/length" (stable across processes, unlike hash())
    ref = t.sample(np.random.default_rng(zlib.crc32(b"copy/5")), 16, 5)
    assert a.input_symbols == ref.input_symbols and torch.equal(a.targets, ref.targets)
    other = type(t)(name="copy")                      # a fresh instance: the same batch
    assert other.eval_batch(5, 16).input_symbols == a.input_symbols
    assert t.eval_batch(6, 16).input_symbols != a.input_symbols


# ---------------------------------------------------------------- traces and devices
@pytest.mark.parametrize("name", ["copy", "repeat_copy", "associative_recall", "binary_addition"])
def test_traces_follow_the_transition_function(name):
    t = task(name)
    b = t.sample(np.random.default_rng(1), 2, [t.min_length, t.min_length + 1], with_trace=True)
    m = t.machine
    for trace, steps in zip(b.traces, b.machine_steps.tolist()):
        assert len(trace) == steps and trace[0].state == m.start and trace[0].step == 0
        for s, nxt in zip(trace, trace[1:] + [None]):
            action = m.transition(s.state, s.read)
            assert (action.write, action.move) == (s.write, s.move)
            if nxt is not None:
                assert nxt.state == action.next_state
    assert t.sample(np.random.default_rng(1), 1, t.min_length).traces is None


@pytest.mark.parametrize("name", ["copy", "repeat_copy", "associative_recall", "binary_addition"])
def test_batched_traces_equal_the_reference_traces(name):
    """`sample(..., with_trace=True)` reads the engine's trace arrays; `machine_trace` walks
    `turing.trace`: the same TraceSteps, for 1- and k-tape machines."""
    t = task(name)
    ns = np.array([t.min_length, t.min_length + 1, t.min_length + 2])
    b = t.sample(np.random.default_rng(3), 3, ns, with_trace=True)
    limit = t._max_steps(ns)
    assert b.traces == [machine_trace(t.machine, w, limit) for w in b.input_symbols]
    assert [len(tr) for tr in b.traces] == b.machine_steps.tolist()
    assert b.trace.mask.sum(1).tolist() == b.machine_steps.tolist()
    assert b.to("cpu").traces == b.traces  # the arrays travel with the batch; the lists are rebuilt


def test_batched_trace_of_a_one_tape_machine_has_single_values():
    from turing import engine, library
    m, words = library.get("binary_increment"), ["1011", "111", "0"]
    trace = engine.run_batch(m, words, max_steps=100, trace=True).trace
    assert [batch_trace_steps(trace, b) for b in range(3)] == [machine_trace(m, w, 100) for w in words]


def test_trace_of_a_one_tape_machine_has_single_values():
    from turing import library
    trace = machine_trace(library.get("binary_increment"), "1011", 100)
    assert len(trace) == turing.run(library.get("binary_increment"), "1011").steps
    assert trace[0] == TraceStep(0, "right", 0, "1", "1", "R")
    assert trace[-1].write == "1" and trace[-1].move == "S"


def test_batch_to_device():
    b = task("copy").sample(np.random.default_rng(0), 2, 3)
    c = b.to("cpu")
    assert torch.equal(c.inputs, b.inputs) and c.input_symbols is b.input_symbols
    if torch.cuda.is_available():
        g = b.to("cuda")
        assert g.inputs.is_cuda and g.mask.is_cuda and g.input_lengths.is_cuda


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("lengths", [0, -3, [1, 0], [5, -1]])
def test_length_zero_or_below_is_refused(lengths):
    t = task("copy")
    B = 1 if isinstance(lengths, int) else len(lengths)
    with pytest.raises(TaskError, match="below the minimum"):
        t.sample(np.random.default_rng(0), B, lengths)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size_is_refused(batch_size):
    with pytest.raises(TaskError, match="batch size"):
        task("copy").sample(np.random.default_rng(0), batch_size, 3)


@pytest.mark.parametrize("name", ALL)
def test_length_above_the_maximum_is_refused(name):
    t = task(name)
    with pytest.raises(TaskError, match="above the maximum"):
        t.sample(np.random.default_rng(0), 1, t.max_length + 1)


def test_other_bad_arguments_are_refused():
    t = task("copy")
    rng = np.random.default_rng(0)
    with pytest.raises(TaskError, match="2 lengths for a batch of 3"):
        t.sample(rng, 3, [1, 2])
    with pytest.raises(TaskError, match="lengths must be"):
        t.sample(rng, 2, [1.5, 2.0])
    with pytest.raises(TaskError, match="numpy.random.Generator"):
        t.sample(0, 2, 3)
    with pytest.raises(TaskError, match="below the minimum 2"):
        task("associative_recall").sample(rng, 1, 1)   # a query needs an item after it
    with pytest.raises(TaskError, match="outputs must be"):
        t.decode(torch.zeros(1, 3, 5))
    with pytest.raises(TaskError, match="mask shape"):
        t.decode(torch.zeros(1, 3, 8), torch.ones(1, 4, dtype=torch.bool))


def test_registry_errors():
    with pytest.raises(TaskError, match="no task named 'nope'; known tasks: copy"):
        get_task("nope")
    with pytest.raises(TaskError, match="no parameter 'colour'; its parameters: width"):
        get_task("copy", colour=3)
    with pytest.raises(TaskError, match="width"):
        get_task("copy", width=0)
    with pytest.raises(TaskError, match="train_lengths"):
        get_task("copy", train_lengths=(5, 2))


# ---------------------------------------------------------------- registry
def test_registry_names_parameters_and_variants():
    assert {"copy", "repeat_copy", "sort", "associative_recall", "reverse", "duplicate",
            "binary_addition"} <= set(ALL)
    assert get_task("copy") is get_task("copy")
    assert get_task("copy", width=4).input_size == 5
    assert parameters("sort_paper")["keep"] == 16 and parameters("sort")["keep"] is None
    assert get_task("sort_paper").train_lengths == (20, 20)
    for name in ALL:
        t = get_task(name)
        assert t.name == name and t.loss_kind in ("bce", "ce")
        assert t.from_machine == (name in MACHINE_TASKS)       # ngrams: the optimal estimator instead
        assert len(t.input_channels) == t.input_size and len(t.output_channels) == t.output_size


def test_chomsky_tasks_use_the_benchmark_ranges():
    for name in ("reverse", "duplicate", "binary_addition", "binary_addition_le"):
        t = get_task(name)
        assert t.train_lengths == (1, 40) and t.max_length >= 500 and t.loss_kind == "ce"


# ---------------------------------------------------------------- curricula
def test_curricula_draw_in_their_ranges():
    rng = np.random.default_rng(0)
    assert set(Fixed(1, 20).lengths(rng, 50).tolist()) == {20}
    assert set(Fixed(1, 20, length=7).lengths(rng, 5).tolist()) == {7}
    u = Uniform(1, 4).lengths(rng, 400)
    assert set(u.tolist()) == {1, 2, 3, 4} and u.dtype == np.int64
    inc = Increasing(1, 20)
    assert set(inc.lengths(rng, 100, 0.0).tolist()) == {1}
    assert max(inc.lengths(rng, 400, 0.5).tolist()) == 10
    assert max(inc.lengths(rng, 400, 1.0).tolist()) == 20
    assert Increasing(1, 20, start=5).bounds(0.0) == (1, 5)
    same = Uniform(1, 20, same_length=True).lengths(rng, 16)
    assert len(set(same.tolist())) == 1


@given(st.integers(1, 10), st.integers(0, 30), st.lists(st.floats(0, 3), max_size=80))
def test_adaptive_curriculum_rises_one_step_at_a_time_on_mastery(lo, span, errors):
    """L starts at `start`, never falls, never passes hi, rises by one only after `patience` batches
    whose mean error is below the threshold, and then needs `patience` new batches."""
    c = Adaptive(lo, lo + span, threshold=1.0, patience=3)
    progress, seen, top = 0.0, [], c.bounds(0.0)[1]
    assert top == lo + span // 4
    for err in errors:
        seen.append(err)
        progress, rose = c.advance(progress, seen)
        new_top = c.bounds(progress)[1]
        mastered = len(seen) >= 3 and sum(seen[-3:]) / 3 < 1.0 and top < c.hi
        assert rose == mastered and new_top == top + rose <= c.hi
        if rose:
            seen = []
        top = new_top


def test_curricula_feed_sample():
    t = task("copy")
    rng = np.random.default_rng(0)
    c = make_curriculum("increasing", t.train_lengths)
    b = t.sample(rng, 8, c.lengths(rng, 8, 0.3))
    assert b.batch_size == 8 and max(b.lengths.tolist()) <= 1 + int(0.3 * 19)


def test_curriculum_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(TaskError, match="no curriculum named 'zigzag'; known: fixed, uniform, increasing, adaptive"):
        make_curriculum("zigzag", (1, 20))
    with pytest.raises(TaskError, match="0 <= lo <= hi"):
        make_curriculum("uniform", (-1, 20))
    with pytest.raises(TaskError, match="0 <= lo <= hi"):
        make_curriculum("uniform", (5, 2))
    with pytest.raises(TaskError, match="progress"):
        Uniform(1, 3).lengths(rng, 4, 1.5)
    with pytest.raises(TaskError, match="batch size"):
        Uniform(1, 3).lengths(rng, 0)
    with pytest.raises(TaskError, match="start"):
        Increasing(2, 10, start=11)
    with pytest.raises(TaskError, match="patience"):
        make_curriculum("adaptive", (1, 20), patience=0)


# ---------------------------------------------------------------- command line
def run_cli(argv, capsys):
    from ntm.cli import tasks as cli_tasks
    parser = argparse.ArgumentParser(prog="ntm")
    cli_tasks.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    return rc, capsys.readouterr().out


def test_cli_list(capsys):
    rc, out = run_cli(["tasks", "list"], capsys)
    assert rc == 0
    for name in ALL:
        assert f"\n{name} " in out
    assert "library:copy(width=8)" in out and "tasks:recall(width=6)" in out


def test_cli_show(capsys):
    rc, out = run_cli(["tasks", "show", "repeat_copy", "--length", "2", "--seed", "3",
                       "-p", "repeats=(2, 2)", "--tensors", "--trace"], capsys)
    assert rc == 0
    b = get_task("repeat_copy", repeats=(2, 2)).sample(np.random.default_rng(3), 1, 2)
    assert " ".join(b.output_symbols[0]) in out
    assert f"machine steps:   {int(b.machine_steps[0])}" in out
    assert "inputs (1, 3, 10), targets (1, 5, 9), mask (1, 5)" in out
    assert "find" in out                                   # a state name from the trace


def test_cli_show_errors(capsys):
    with pytest.raises(TaskError, match="below the minimum"):
        run_cli(["tasks", "show", "copy", "--length", "0"], capsys)
    with pytest.raises(TaskError, match="no task named"):
        run_cli(["tasks", "show", "copyy"], capsys)
    with pytest.raises(TaskError, match="KEY=VALUE"):
        run_cli(["tasks", "show", "copy", "-p", "width"], capsys)
