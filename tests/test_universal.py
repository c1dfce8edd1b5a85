"""The universal task and model (tasks.universal, ntm.models.universal_ntm, ntm.analysis.universal_compare)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings, strategies as st

import turing
from ntm.analysis.trace_compare import free_run
from ntm.analysis.universal_compare import (check_universal_example, compare_family, compare_machines, family_runs,
                                            run_groups)
from ntm.analysis.universal_shrink import shrink_counterexample, shrink_machine
from ntm.analysis.verify import search
from ntm.errors import ConfigError
from ntm.models import build_model
from ntm.models.universal_ntm import UniversalNTM, construct
from ntm.training.objective import TraceObjective
from ntm.training.optimizer import clipped_step
from tasks.errors import TaskError
from tasks.registry import get_task
from tasks.task import machine_trace
from tasks.universal import HALT_CODE, UniversalTask, complete, machine_batch, random_tables, state_codes
from turing import Machine, library


def model_for(task, seed=0, exact=False, cls=UniversalNTM):
    torch.manual_seed(seed)
    m = cls(task.input_size, task.output_size)
    return construct(m) if exact else m


# ---------------------------------------------------------------- the task's arrays
@pytest.mark.parametrize("seed", range(4))
def test_batch_is_the_reference_trace(seed):
    """Every step of every random machine's run equals the reference simulator's (machine_trace,
    turing.run): state (by its code), head, write, move, stop, final tape; and the table rows hold δ."""
    task = UniversalTask(states=(1, 5), max_steps=40)
    rng = np.random.default_rng(seed)
    batch = task.sample(rng, 12, rng.integers(0, 5, size=12))
    for b, (m, word) in enumerate(zip(batch.machines, batch.input_symbols)):
        name = {int(c): q for q, c in zip(m.states, batch.codes[b]) if c >= 0 and not m.is_halting(q)}
        name[HALT_CODE] = "Z"
        ref = machine_trace(m, word, max_steps=40)
        assert int(batch.steps[b]) == len(ref)
        for t, step in enumerate(ref):
            assert name[int(batch.state[b, t])] == step.state
            assert int(batch.heads[b, t, 0]) + batch.origin == step.head
            assert str(batch.read[b, t, 0]) == step.read and str(batch.write[b, t, 0]) == step.write
            assert "LSR"[batch.move[b, t, 0]] == step.move
        result = turing.run(m, word, max_steps=40)
        assert name[int(batch.state[b, len(ref)])] == result.state
        assert bool(batch.stopped[b]) == (result.status == turing.Status.HALTED)
        cells = {result.origins[0] + j: a for j, a in enumerate(result.tapes[0])}
        for r in range(batch.tape_rows):
            assert str(batch.final_tape[b, 0, r]) == cells.get(r + batch.origin, "0")
        assert not batch.final_tape[b, 0, batch.tape_rows:].any()          # the table rows read as blanks
        assert list(batch.tape[b, 0, -batch.origin:-batch.origin + len(word)]) == [1] * len(word)
        rows = {(int(k), int(a)): (int(w), int(mv), int(n)) for k, a, w, mv, n in batch.table[b] if k >= 0}
        assert len(rows) == 2 * len(name) - 2
        for (q, a), act in m.delta.items():
            code = int(batch.codes[b, m.states.index(q)])
            assert rows[code, int(a)] == (int(act.write), "LSR".index(act.move),
                                          int(batch.codes[b, m.states.index(act.next_state)]))


def test_codes_are_distinct_and_extend_past_training():
    task = UniversalTask(states=(6, 6))
    batch = task.sample(np.random.default_rng(0), 64, 0)
    for row in batch.codes:
        live = row[:6]
        assert len(set(live.tolist())) == 6 and (live > 0).all() and row[6] == HALT_CODE
    C = state_codes(6)
    assert C.shape == (64, 6) and len({tuple(c) for c in C}) == 64 and (C[HALT_CODE] == -1).all()


def test_random_tables_halt_about_once_per_machine():
    t = random_tables(np.random.default_rng(0), np.full(4000, 4))
    halts = (t.next < 0).sum((1, 2))
    assert 0.8 < halts.mean() < 1.2 and set(np.unique(t.move)) == {0, 2}


def test_bad_options_and_machines():
    with pytest.raises(TaskError, match="states"):
        UniversalTask(states=(0, 3))
    with pytest.raises(TaskError, match="code_bits"):
        UniversalTask(states=(2, 8), code_bits=3)
    with pytest.raises(TaskError, match="supervision"):
        UniversalTask(supervision="all")
    with pytest.raises(TaskError, match="2 symbols"):
        machine_batch([library.get("binary_increment")], [("1",)], np.random.default_rng(0), 10)


def test_partial_tables_run_as_their_completion():
    """An undefined δ(q, a) writes a, stays and halts: one step more than the partial machine's run
    (the engine stops before it); the constructed model runs it exactly, Antihydra (a Cryptid with
    an undefined entry and no halt state) included."""
    partial = Machine(states=("A", "B"), input_alphabet=("1",), tape_alphabet=("0", "1"), blank="0", start="A",
                      delta={("A", "0"): ("B", "1", "R"), ("A", "1"): ("A", "1", "L"), ("B", "0"): ("A", "1", "L")})
    whole = complete(partial)
    assert whole.transition("B", "1") == ("Z", "1", "S") and whole.halt == {"Z"} and complete(whole) is whole
    cut = turing.run(partial, (), max_steps=50)
    batch = machine_batch([partial], [()], np.random.default_rng(0), 50)
    assert batch.stopped[0] and int(batch.steps[0]) == cut.steps + 1
    exact = model_for(UniversalTask(), exact=True)
    rows = compare_machines(exact, [partial, library.get("antihydra")], max_steps=300)
    assert [r["first_divergence"] for r in rows] == [None, None] and all(r["tape_exact"] for r in rows)


def test_registry_and_model_registry():
    task = get_task("universal", states=[2, 3])
    assert task.states == (2, 3) and task.loss_kind == "trace"
    model = build_model("universal_ntm", task.input_size, task.output_size, **task.model_options())
    assert isinstance(model, UniversalNTM)
    with pytest.raises(TypeError):
        model(None)


# ---------------------------------------------------------------- batched = one by one
def test_batch_equals_its_samples_one_by_one():
    """The batch's arrays, and an (untrained) model's logits on it, equal those of each sample alone (to
    1e-5: a soft lookup gives the batch's extra zero rows, tape padding and shorter tables, a share of
    its weight, e^(beta (0 - max cosine)) each)."""
    task = UniversalTask(states=(2, 4), max_steps=30)
    batch = task.sample(np.random.default_rng(3), 6, [0, 1, 2, 3, 0, 2])
    model = model_for(task, seed=1).double()
    out = model.run(batch)
    for b in range(6):
        one = machine_batch([batch.machines[b]], [batch.input_symbols[b]], np.random.default_rng(0), 30,
                            codes=[batch.codes[b, :len(batch.machines[b].states)]])
        s = int(one.steps[0])
        assert s == batch.steps[b] and one.stopped[0] == batch.stopped[b]
        for f in ("state", "read", "write", "move"):
            assert (getattr(one, f)[0, :s] == getattr(batch, f)[b, :s]).all(), f
        assert (one.heads[0, :s + 1] + one.origin == batch.heads[b, :s + 1] + batch.origin).all()
        alone = model.run(one)
        for f in ("state", "write", "move", "halt"):
            torch.testing.assert_close(getattr(alone, f)[0, :s + 1], getattr(out, f)[b, :s + 1], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- the exact model
def test_constructed_weights_run_every_table_exactly():
    """construct(): step-exact and tape-exact on random machines of 2-6 states and BB(2)-BB(4) to the halt;
    its teacher-forced loss is near zero."""
    task = UniversalTask(states=(2, 6), max_steps=80)
    model = model_for(task, exact=True)
    r = compare_family(model, task, samples=48, lengths=(0, 3))
    assert r["step_exact"] == 1.0 and r["tape_exact"] == 1.0
    rows = compare_machines(model, [library.get(n) for n in ("bb2", "bb3", "bb4")], max_steps=500)
    assert [(r["machine_steps"], r["halted"], r["first_divergence"], r["tape_exact"]) for r in rows] == \
        [(6, True, None, True), (21, True, None, True), (107, True, None, True)]
    batch = task.eval_batch(2, 32)
    assert TraceObjective().loss(model.run(batch), batch).item() < 0.1


@pytest.mark.parametrize("level", ["writes", "moves", "output"])
def test_machines_compare_at_every_level_of_the_ladder(level):
    """compare_machines(supervision=) compares the level's decisions: the exact weights run BB(2)-BB(4)
    exactly at every level ("output": told the step count, the tape alone); a model that never stops
    is wrong at the halt wherever the stop is compared and still tape-exact where it is told when."""
    machines = [library.get(n) for n in ("bb2", "bb3", "bb4")]
    exact = model_for(UniversalTask(), exact=True)
    rows = compare_machines(exact, machines, max_steps=500, supervision=level)
    assert all(r["first_divergence"] is None and r["tape_exact"] for r in rows)
    with torch.no_grad():
        exact.out.bias[-1] = -100.0                                  # the stop logit: never stop
    rows = compare_machines(exact, machines, max_steps=500, supervision=level)
    if level == "output":
        assert all(r["tape_exact"] for r in rows)
    else:
        assert [r["first_divergence"] for r in rows] == [r["machine_steps"] for r in rows]


def test_a_cut_run_is_compared_at_the_bound():
    """A machine that never halts is cut at the step bound, and the model with it."""
    loop = Machine(states=("A", "Z"), input_alphabet=("1",), tape_alphabet=("0", "1"), blank="0", start="A",
                   delta={("A", "0"): ("A", "1", "R"), ("A", "1"): ("Z", "1", "R")}, halt={"Z"})
    model = model_for(UniversalTask(), exact=True)
    batch = machine_batch([loop], [()], np.random.default_rng(0), 25)
    r = free_run(model, batch)
    assert not batch.stopped[0] and r.model_steps[0] == 25 and r.step_exact[0] and r.tape_exact[0]


@pytest.mark.parametrize("noise", [0.0, 1.2])
def test_regrouped_family_gives_every_machine_its_drawn_batch_result(noise):
    """compare_family runs machines of like span together (run_groups) instead of as drawn: per machine
    the same first diverging step and tape verdict, and for a step-exact run the same model steps,
    on the exact weights and on weights so perturbed that some runs diverge (at steps 0-4 here)."""
    task = UniversalTask(states=(2, 6), max_steps=300)
    model = model_for(task, exact=True)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(noise * torch.randn_like(p) * p.abs().mean())
    drawn, before = family_runs(model, task, samples=48, chunk=16, regroup=False)
    _, after = family_runs(model, task, samples=48, chunk=16)
    assert (before["first_divergence"] == after["first_divergence"]).all()
    assert (before["tape_exact"] == after["tape_exact"]).all()
    exact = before["first_divergence"] < 0
    assert (before["model_steps"][exact] == after["model_steps"][exact]).all()
    assert noise == 0 or 0 < exact.mean() < 1
    assert len(drawn) == 3 and sum(b.batch_size for b in drawn) == 48


def test_a_free_run_writes_the_symbol_column_alone_bit_for_bit():
    """Without gradients `act` writes only the symbol column (free runs): the same memory, bit for bit,
    as the whole write that training keeps, for active and inactive samples."""
    task = UniversalTask(states=(2, 4), max_steps=20)
    model = model_for(task, seed=1)
    batch = task.sample(np.random.default_rng(2), 6, [0, 1, 2, 3, 1, 0])
    s = model.start_state(batch)
    active = torch.tensor([True, False, True, True, False, True])
    for _ in range(5):
        d, core = model.decide(s)
        with torch.no_grad():
            fast = model.act(s, d, core, None, active)
        with torch.enable_grad():
            full = model.act(s, d, core, None, active)
        assert torch.equal(fast.M, full.M) and torch.equal(fast.w, full.w)
        s = fast


def test_run_groups_puts_wanderers_apart():
    """Every machine in one batch of at most `chunk`; two machines that wander 10^4 cells, one each
    way, do not share a batch (their memory would be 2 x 10^4 rows) nor one with the short runs."""
    left = np.array([-2, -10_002, -2, -1, -2, -3])
    right = np.array([2, 2, 10_001, 3, 1, 2])
    steps = np.array([10_000, 10_000, 10_000, 10_000, 5, 10_000])
    groups = run_groups(left, right, np.full(6, 8), steps, chunk=4)
    assert sorted(np.concatenate(groups).tolist()) == list(range(6)) and max(len(g) for g in groups) <= 4
    where = {int(b): k for k, g in enumerate(groups) for b in g}
    assert len({where[1], where[2], where[0]}) == 3 and len({where[0], where[3], where[5]}) == 1


# ---------------------------------------------------------------- a planted wrong entry
class Planted(UniversalNTM):
    """The exact model, with one wrong table entry in memory: δ(B, 1) moves the other way."""

    def start_state(self, batch, device=None):
        s = super().start_state(batch, device)
        M, N, D = s.M.clone(), batch.tape_rows, self.D
        for b, m in enumerate(batch.machines):
            row = N + 2 * m.states.index("B") + 1 if "B" in m.states else None     # rows: A0 A1 B0 B1 ...
            if row is not None:
                move = M[b, row, D + 5:D + 8].clone()
                M[b, row, D + 5:D + 8] = move.flip(0)                               # L <-> R
        return s._replace(M=M)


def test_verify_finds_the_machine_that_exercises_a_planted_entry():
    task = UniversalTask(states=(2, 3), max_steps=40)
    model = model_for(task, exact=True, cls=Planted)
    found = search(model, task, min_length=0, max_length=3, max_examples=200, seed=0)
    c = found.counterexample
    assert c is not None and c.step is not None and "move" in c.what
    assert c.machine["state"] == "B" and c.machine["read"] == 1                      # it exercises δ(B, 1)
    assert c.machine["move"] != c.model["move"]
    assert "B 1 ->" in str(c) and "machine table" in str(c)
    exact = model_for(task, exact=True)
    assert search(exact, task, min_length=0, max_length=3, max_examples=30, seed=0).counterexample is None


# ---------------------------------------------------------------- shrinking the counterexample's machine
def _rerun(model, s, task):
    """The shrunk machine run again from scratch (the engine and the model, its codes given): the
    first diverging step (-1: none), whether the final tapes differ, and the entry at that step."""
    m = s.machine
    codes = [s.codes.get(q, HALT_CODE) for q in m.states]
    batch = machine_batch([m], [s.input_symbols], np.random.default_rng(1), task.max_steps, "trace", task.code_bits,
                          codes=[codes])
    r = free_run(model, batch)
    first = int(r.first_divergence[0])
    names = {c: q for q, c in s.codes.items()}
    at = lambda t: (names[int(batch.state[0, t])], str(int(batch.read[0, t, 0])))  # noqa: E731
    return first, int(r.cells_wrong[0]) > 0, at(first) if 0 <= first < batch.steps[0] else None


def _disagreeing(model, task, seed: int, tries: int = 64):
    """The first (length, seed) from `seed` on whose random machine the model leaves the machine."""
    for s in range(seed, seed + tries):
        c = check_universal_example(model, task, s % 4, s)
        if c is not None:
            return c
    raise AssertionError(f"no disagreement in seeds {seed}..{seed + tries - 1}")


def test_verify_shrinks_the_machine_to_the_planted_entry():
    """`search` (what `ntm verify` runs) returns the counterexample's machine shrunk: its run still
    reaches the planted δ(B, 1), the model still leaves it there, and it is no larger than the machine
    drawn; with exact weights nothing is reported."""
    task = UniversalTask(states=(2, 3), max_steps=40)
    model = model_for(task, exact=True, cls=Planted)
    found = search(model, task, min_length=0, max_length=3, max_examples=200, seed=0)
    s = found.shrunk
    assert s is not None and s.step is not None and "move" in s.what
    assert (s.machine_step["state"], s.machine_step["read"]) == ("B", 1) and ("B", "1") in s.used
    assert s.machine_step["move"] != s.model_step["move"]
    assert all(a <= b for a, b in zip(s.size, s.original)) and s.size.entries < s.original.entries
    drawn = found.counterexample
    assert s.original.input_length == len(drawn.input_symbols) and 1 <= s.calls <= 64
    assert "B 1 ->" in str(s) and "shrunk machine" in str(s) and "undefined" in str(s)
    assert _rerun(model, s, task)[::2] == (s.step, ("B", "1"))
    exact = model_for(task, exact=True)
    r = search(exact, task, min_length=0, max_length=3, max_examples=30, seed=0)
    assert r.counterexample is None and r.shrunk is None
    with pytest.raises(ConfigError, match="agrees"):
        shrink_machine(exact, drawn_machine(task, drawn), drawn.input_symbols, {"A": 5, "B": 9, "C": 17},
                       task.max_steps)


def drawn_machine(task, c):
    """The random machine a (length, seed) counterexample stands for."""
    return task.sample(np.random.default_rng(c.seed), 1, c.length).machines[0]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_shrunk_planted_counterexample_keeps_the_planted_entry(seed):
    """Whatever machine exercises the planted entry, its shrink still does, at its first diverging
    step, the model still leaves it (checked again from scratch), and it is no larger."""
    task = UniversalTask(states=(2, 4), max_steps=40)
    model = model_for(task, exact=True, cls=Planted)
    c = _disagreeing(model, task, seed)
    s = shrink_counterexample(model, task, c)
    assert (s.machine_step["state"], s.machine_step["read"]) == ("B", 1)
    assert _rerun(model, s, task)[::2] == (s.step, ("B", "1"))
    assert all(a <= b for a, b in zip(s.size, s.original))


@settings(max_examples=25, deadline=None)
@given(weights=st.integers(0, 3), seed=st.integers(0, 10_000), calls=st.integers(1, 40))
@example(weights=0, seed=209, calls=5)          # removing one unreachable state that another one goes to
def test_the_shrink_never_returns_a_machine_the_model_runs_right(weights, seed, calls):
    """Random (untrained) weights leave most machines somewhere: the shrunk machine is one the model
    still leaves (run again from scratch), at the step reported, at the original's entry and in one
    of its decisions, within `calls` model runs, no larger than the one drawn, and the same every
    time (deterministic)."""
    task = UniversalTask(states=(2, 4), max_steps=24)
    model = model_for(task, seed=weights)
    c = _disagreeing(model, task, seed)
    s = shrink_counterexample(model, task, c, max_calls=calls)
    first, tape_differs, entry = _rerun(model, s, task)
    assert first >= 0 or tape_differs
    assert (None if first < 0 else first) == s.step
    assert entry is None or entry == (s.machine_step["state"], str(s.machine_step["read"]))
    if "read" in c.machine:                   # it diverged at an entry: the shrink follows that entry
        assert (s.machine_step["state"], s.machine_step["read"]) == (c.machine["state"], c.machine["read"])
    assert set(s.what) & set(c.what)          # and one of the decisions that were wrong there
    assert s.calls <= calls and all(a <= b for a, b in zip(s.size, s.original))
    assert set(s.undefined).isdisjoint(s.machine.delta)
    assert str(shrink_counterexample(model, task, c, max_calls=calls)) == str(s)


def test_a_shorter_input_that_reaches_the_entry_by_a_longer_path_is_not_kept():
    """On 1 1 the run reaches the planted δ(B, 1) at step 1 (entries A 1, B 1); on 1 it reaches it at
    step 3 through B 0 and C 1: the model still leaves the machine there, at the same entry, but the
    run uses more entries, so the shrink keeps the longer input (it undefines A 0 and drops C)."""
    m = Machine(states=("A", "B", "C", "Z"), input_alphabet=("1",), tape_alphabet=("0", "1"), blank="0", start="A",
                delta={("A", "0"): ("Z", "0", "R"), ("A", "1"): ("B", "1", "R"), ("B", "0"): ("C", "1", "L"),
                       ("B", "1"): ("A", "0", "R"), ("C", "0"): ("Z", "0", "R"), ("C", "1"): ("B", "1", "R")},
                halt={"Z"})
    task = UniversalTask(states=(2, 3), max_steps=40)
    model = model_for(task, exact=True, cls=Planted)
    s = shrink_machine(model, m, ("1", "1"), {"A": 7, "B": 40, "C": 21}, task.max_steps)
    assert s.input_symbols == ("1", "1") and s.step == 1 and s.used == (("A", "1"), ("B", "1"))
    assert s.size == (2, 2, 2, 2) and s.original == (3, 6, 2, 2)
    one = shrink_machine(model, m, ("1",), {"A": 7, "B": 40, "C": 21}, task.max_steps)   # the longer path itself
    assert one.step == 3 and one.used == (("A", "1"), ("B", "0"), ("B", "1"), ("C", "1"))


class NeverStops(UniversalNTM):
    """The exact model whose stop unit never fires: it leaves every halting machine at its halt."""

    def decide(self, s):
        d, core = super().decide(s)
        return d._replace(halt=torch.full_like(d.halt, -10.0)), core


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_stop_disagreement_shrinks_to_a_machine_that_still_halts(seed):
    """A disagreement at no entry (the machine halts, the model does not stop): a shrunk candidate on
    which the machine runs to the bound instead is one the model agrees with, and is never kept."""
    task = UniversalTask(states=(2, 4), max_steps=24)
    model = model_for(task, exact=True, cls=NeverStops)
    c = _disagreeing(model, task, seed)
    s = shrink_counterexample(model, task, c)
    assert s.what == ("stop",) and s.machine_step["stop"] is True and s.model_step["stop"] is False
    assert _rerun(model, s, task)[0] == s.step and all(a <= b for a, b in zip(s.size, s.original))


def test_shrink_calls_are_checked_and_zero_shrinks_nothing():
    task = UniversalTask(states=(2, 3), max_steps=40)
    model = model_for(task, exact=True, cls=Planted)
    with pytest.raises(ConfigError, match="shrink_calls"):
        search(model, task, max_examples=5, seed=0, shrink_calls=-1)
    c = _disagreeing(model, task, 0)
    with pytest.raises(ConfigError, match="max_calls"):
        shrink_counterexample(model, task, c, max_calls=0)
    m = drawn_machine(task, c)
    for codes, why in (({"A": 5}, "no code for state"), ({"A": 5, "B": 5, "C": 6}, "distinct"),
                       ({"A": 0, "B": 4, "C": 6}, "distinct"), ({"A": 64, "B": 4, "C": 6}, "distinct")):
        with pytest.raises(ConfigError, match=why):
            shrink_machine(model, m, c.input_symbols, codes, task.max_steps)
    one = shrink_counterexample(model, task, c, max_calls=1)
    assert one.calls == 1 and one.size == one.original
    r = search(model, task, min_length=0, max_length=3, max_examples=200, seed=0, shrink_calls=0)
    assert r.counterexample is not None and r.shrunk is None


def test_cli_verify_prints_the_shrunk_machine(tmp_path, monkeypatch, capsys):
    """`ntm verify RUN` on a universal run prints the shrunk machine after the counterexample."""
    import ntm.training.run_dir
    from ntm.cli import main
    task = UniversalTask(states=(2, 3), max_steps=40)
    model = model_for(task, exact=True, cls=Planted)
    monkeypatch.setattr(ntm.training.run_dir, "load_run", lambda run, device: (model, task, {"run_dir": tmp_path}))
    assert main(["verify", str(tmp_path), "--max-examples", "200", "--min-length", "0"]) == 1
    out = capsys.readouterr().out
    assert out.index("counterexample (length") < out.index("shrunk machine (states") < out.index("state codes: A")
    assert main(["verify", str(tmp_path), "--shrink-calls", "0", "--min-length", "0"]) == 1   # replayed, not shrunk
    out = capsys.readouterr().out
    assert "replayed" in out and "shrunk machine" not in out


# ---------------------------------------------------------------- training
@pytest.mark.slow
def test_short_training_runs_held_out_machines_step_exact():
    """Adam from random weights, the trace level, batches of 32 random machines of 2-4 states: step-exact
    on 64 held-out machines of the training size and 64 of 5-6 states (about 75 s on an idle core; it
    stops at the first evaluation where 128 held-out machines are all exact, step 400-450 here)."""
    torch.set_num_threads(1)
    task = UniversalTask(states=(2, 4), max_steps=64)
    model = model_for(task, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng, objective = np.random.default_rng(0), TraceObjective()
    held_out = task.eval_batch(2, 128)
    for it in range(1, 1501):
        batch = task.sample(rng, 32, rng.integers(0, 4, size=32))
        loss = objective.loss(model.run(batch), batch)
        clipped_step(opt, loss, model.parameters(), 10)
        if it % 50 == 0 and free_run(model, held_out).step_exact.all():
            break
    assert compare_family(model, task, samples=64, seed=7)["step_exact"] == 1.0
    assert compare_family(model, UniversalTask(states=(5, 6), max_steps=200), samples=64, seed=7)["step_exact"] == 1.0


# ---------------------------------------------------------------- the command line
def run_cli(*args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "ntm.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_universal_end_to_end(tmp_path):
    """ntm train --task universal picks the universal NTM; compare, verify and tasks show run on it."""
    run = tmp_path / "run"
    p = run_cli("train", "--task", "universal", "--steps", "3", "--polish-steps", "0", "--out", str(run), "--quiet",
                "--config", str(_small_config(tmp_path)))
    assert p.returncode == 0, p.stderr
    assert "universal_ntm" in p.stdout and "step-exact" in p.stdout
    p = run_cli("compare", str(run), "--lengths", "0,3", "--samples", "8")
    assert p.returncode == 0 and "random tables, 2-4 states" in p.stdout, p.stderr
    p = run_cli("compare", str(run), "--machines", "library:bb2,library:bb3", "--max-steps", "50")
    assert p.returncode == 0 and "bb3          3 states" in p.stdout, p.stderr
    p = run_cli("compare", str(run), "--machines", "library:binary_increment")
    assert p.returncode == 2 and "2 symbols" in p.stderr, p.stderr
    p = run_cli("verify", str(run), "--max-examples", "3")
    assert p.returncode in (0, 1) and "Traceback" not in p.stderr, p.stderr
    p = run_cli("plot", str(run), "--length", "2")
    assert p.returncode == 0, p.stderr
    for name in ("learning_curve", "spacetime_bb4", "spacetime_random"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 1000
    p = run_cli("tasks", "show", "universal", "--seed", "3")
    assert p.returncode == 0 and "table rows" in p.stdout and "A 0 ->" in p.stdout, p.stderr
    p = run_cli("train", "--task", "universal", "--controller", "lstm", "--out", str(tmp_path / "r2"), "--steps", "1")
    assert p.returncode == 2 and "feed-forward" in p.stderr and not (tmp_path / "r2").exists()


def _small_config(tmp_path):
    """A config whose evaluations and final comparison are small (the CLI test's time)."""
    path = tmp_path / "small.toml"
    path.write_text('eval_samples = 16\ncompare_lengths = [0, 3]\n[task_params]\nmax_steps = 16\n')
    return path


# ---------------------------------------------------------------- every machine of a size
def _entries(t) -> np.ndarray:
    """(B, 2S) each entry of each table as one number: write, move (L/R), next (the halt last)."""
    S = t.write.shape[1]
    return (t.write * 2 * (S + 1) + t.move // 2 * (S + 1) + np.where(t.next < 0, S, t.next)).reshape(len(t.states), -1)


def test_all_tables_enumerates_every_table_random_tables_can_draw():
    from tasks.universal import all_tables
    one, two = all_tables(1), all_tables(2)
    assert len(one.states) == 64 and len(two.states) == 12 ** 4
    assert len({tuple(e) for e in _entries(two).tolist()}) == 12 ** 4                  # all distinct
    assert set(np.unique(two.move)) == {0, 2} and set(np.unique(two.next)) == {-1, 0, 1}
    drawn = random_tables(np.random.default_rng(0), np.full(64, 2))                    # each drawn one is among them
    assert {tuple(e) for e in _entries(drawn).tolist()} <= {tuple(e) for e in _entries(two).tolist()}
    for bad in (0, 3, True):
        with pytest.raises(TaskError, match="all_tables"):
            all_tables(bad)


def _uses(m, max_steps: int, entry=("B", 1)) -> bool:
    """Whether the machine's run from the blank tape uses δ(entry) before it stops."""
    run = machine_batch([m], [()], np.random.default_rng(0), max_steps)
    names = {int(c): q for q, c in zip(m.states, run.codes[0])}
    s = int(run.steps[0])
    return entry in {(names[int(c)], int(r)) for c, r in zip(run.state[0, :s], run.read[0, :s, 0])}


def test_every_machine_that_reaches_a_planted_entry_and_only_those_diverge():
    """On 600 of the 20,736 two-state machines: exact weights diverge on none; with δ(B, 1) planted
    wrong, on exactly the machines whose run uses δ(B, 1) before it stops (the engine's trace says)."""
    from ntm.analysis.universal_compare import compare_all_machines
    from tasks.universal import all_tables
    task = UniversalTask(states=(2, 2), max_steps=20)
    idx = np.arange(0, 12 ** 4, 34)[:600]
    exact = compare_all_machines(model_for(task, exact=True), 2, max_steps=20, indices=idx)
    assert exact["machines"] == 600 and exact["step_exact"] == 1.0 and exact["diverging"] == []
    planted = compare_all_machines(model_for(task, exact=True, cls=Planted), 2, max_steps=20, indices=idx)
    t = all_tables(2)
    uses = {int(b) for b in idx if _uses(t.machine(int(b)), 20)}
    assert {i for i, _, _ in planted["diverging"]} == uses and 0 < len(uses) < 600
