"""Trace tasks and the trace NTM (tasks.trace, ntm.models.trace_ntm, ntm.analysis.trace_*): the trace
arrays against the reference simulator, a batch against its samples one by one, what each level of
the supervision ladder trains, a trained model step-exact far beyond its training lengths, and
`ntm verify` finding a planted bug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import turing
from ntm.analysis.trace_compare import free_run
from ntm.analysis.verify import search
from ntm.models import build_model, predict
from ntm.models.trace_ntm import Decisions, TraceNTM
from ntm.training import TrainConfig, train
from ntm.training.objective import TraceObjective
from tasks.errors import TaskError
from tasks.registry import get_task
from tasks.task import machine_trace
from tasks.trace import SUPERVISION, TraceTask
from turing.strategies import machines


def model_for(task, seed=0, **options):
    torch.manual_seed(seed)
    return build_model("trace_ntm", task.input_size, task.output_size, **{**task.model_options(), **options})


# ---------------------------------------------------------------- the task's arrays
@settings(max_examples=40)
@given(st.data())
def test_trace_batch_is_the_reference_trace(data):
    """Every step of every run equals `turing.trace`'s (via machine_trace), k = 1 and 2 tapes, runs
    that halt, stop with no transition or are cut at the bound; the final tapes equal `turing.run`'s."""
    machine = data.draw(machines(max_states=4, max_symbols=3, tapes=st.sampled_from([1, 2]), all_inputs=True))
    task = TraceTask(machine, max_steps=60)
    ns = np.array(data.draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
    batch = task.sample(np.random.default_rng(data.draw(st.integers(0, 2 ** 16))), len(ns), ns)
    names = ("_B",) + task.symbols
    cls = {machine.blank: 0} | {a: i + 1 for i, a in enumerate(task.symbols)}
    for b, word in enumerate(batch.input_symbols):
        ref = machine_trace(machine, word, max_steps=60)
        assert int(batch.steps[b]) == len(ref)
        for t, step in enumerate(ref):
            heads = step.head if machine.tapes > 1 else (step.head,)
            writes = step.write if machine.tapes > 1 else (step.write,)
            moves = step.move if machine.tapes > 1 else (step.move,)
            assert machine.states[batch.state[b, t]] == step.state
            assert tuple(batch.heads[b, t] + batch.origin) == tuple(heads)
            assert tuple(batch.write[b, t]) == tuple(cls[a] for a in writes)
            assert tuple("LSR"[m] for m in batch.move[b, t]) == tuple(moves)
        result = turing.run(machine, word, max_steps=60)
        assert bool(batch.stopped[b]) == (result.status in (turing.Status.HALTED, turing.Status.ACCEPTED,
                                                            turing.Status.REJECTED, turing.Status.NO_TRANSITION))
        for i in range(machine.tapes):
            cells, origin = result.tapes[i], result.origins[i]
            for j, a in enumerate(cells):
                r = origin + j - batch.origin
                if 0 <= r < batch.rows:
                    assert names[batch.final_tape[b, i, r]] == (a if a != machine.blank else "_B")
                else:
                    assert a == machine.blank
        assert list(batch.tape[b, 0, -batch.origin:-batch.origin + len(word)]) == [cls[a] for a in word]


def test_every_library_machine_has_a_trace_task():
    for name in turing.library.names():
        task = get_task(f"trace:{name}")
        lo, hi = task.train_lengths
        batch = task.sample(np.random.default_rng(0), 4, hi)
        assert batch.write.shape[0] == 4 and batch.rows >= 3


@pytest.mark.parametrize("name", ["binary_add", "binary_add_le"])
def test_addition_traces_get_sums_to_run(name):
    """The addition machines read a + b with one '+': their trace tasks draw such words (uniform words
    over {0, 1, +} would mostly end in "no transition"), so every run halts."""
    task = get_task(f"trace:{name}")
    batch = task.sample(np.random.default_rng(0), 16, [1, 2, 5, 8] * 4)
    assert all(w.count("+") == 1 for w in batch.input_symbols)
    assert all(turing.run(task.machine, w).status == turing.Status.HALTED for w in batch.input_symbols)


def test_trace_task_errors():
    with pytest.raises(TaskError, match="neither a library machine"):
        get_task("trace:no_such_machine")
    with pytest.raises(TaskError, match="supervision"):
        get_task("trace:reverse", supervision="everything")
    with pytest.raises(TaskError, match="train_lengths"):
        get_task("trace:reverse", train_lengths=(5, 2))


# ---------------------------------------------------------------- the model
def test_a_batch_equals_its_samples_one_by_one():
    task = get_task("trace:binary_add")
    for controller in ("ff", "lstm"):
        model = model_for(task, controller=controller).double()
        batch = task.sample(np.random.default_rng(3), 4, [1, 3, 6, 8])
        out = predict(model, batch)
        for b in range(4):
            single = _one(batch, b)
            o1 = predict(model, single)
            n = int(batch.steps[b])
            assert torch.allclose(out.write[b, :n], o1.write[0, :n], atol=1e-6)
            assert torch.allclose(out.move[b, :n], o1.move[0, :n], atol=1e-6)
            assert torch.allclose(out.state[b, :n], o1.state[0, :n], atol=1e-6)
            assert torch.allclose(out.halt[b, :n + 1], o1.halt[0, :n + 1], atol=1e-6)


def _one(batch, b):
    """Sample b of a batch as a batch of one (the same memory rows: an untrained head blurs over all
    of them, and a circular memory of another size would wrap the blur differently)."""
    import dataclasses
    n, one = int(batch.steps[b]), slice(b, b + 1)
    return dataclasses.replace(
        batch, tape=batch.tape[one], final_tape=batch.final_tape[one], heads=batch.heads[one, :n + 1],
        state=batch.state[one, :n + 1], read=batch.read[one, :n], write=batch.write[one, :n],
        move=batch.move[one, :n], steps=batch.steps[one], stopped=batch.stopped[one],
        lengths=batch.lengths[one], input_symbols=batch.input_symbols[one])


@pytest.mark.parametrize("level", SUPERVISION)
def test_each_level_trains_what_it_says(level):
    """The loss's gradient reaches the state and stop outputs exactly as the ladder says (the LSTM
    controller: the feed-forward one feeds its state output back, so gradients reach it at every
    level); writes and moves shape every later read, so they get gradients at every level."""
    task = get_task("trace:reverse", supervision=level)
    model = model_for(task, controller="lstm")
    batch = task.sample(np.random.default_rng(0), 8, 5)
    loss = TraceObjective().loss(predict(model, batch), batch)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    g = model.out.weight.grad.abs().sum(1)                    # per output unit
    Q, kG, k = model.Q, model.k * model.G, model.k
    state, write, move, halt = g[:Q].sum(), g[Q:Q + kG].sum(), g[Q + kG:Q + kG + 3 * k].sum(), g[-1]
    assert (state > 0) == (level == "trace")
    assert (halt > 0) == (level != "output")
    assert move > 0                                           # moves decide every later read, even for output
    assert write > 0


def test_no_nan_under_adversarial_weights():
    task = get_task("trace:binary_add")
    model = model_for(task)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e4)
    batch = task.sample(np.random.default_rng(0), 4, 8)
    out = predict(model, batch)
    assert all(torch.isfinite(x).all() for x in out)
    assert torch.isfinite(TraceObjective().loss(out, batch))


# ---------------------------------------------------------------- learning and comparison
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("trace") / "run"
    cfg = TrainConfig(task="trace:binary_increment", model="trace_ntm", steps=600, lr=3e-3, polish_steps=0,
                      eval_every=100, seed=0, threads=1, compare_lengths=[8, 64])
    return train(cfg, run, progress=False, log=lambda *_: None)


def test_trained_model_is_step_exact_far_beyond_its_lengths(trained):
    assert trained.converged
    for row in trained.comparison:
        assert row["step_exact"] == 1.0 and row["seq_accuracy"] == 1.0, row
    assert trained.comparison[-1]["length"] == 64


def test_free_run_catches_every_kind_of_wrong_step(trained):
    from ntm.training.run_dir import load_run
    model, task, _ = load_run(trained.run_dir)
    batch = task.eval_batch(8, 32)
    assert (free_run(model, batch).first_divergence < 0).all()
    with torch.no_grad():
        model.out.bias[-1] -= 100                                     # never stops
    r = free_run(model, batch)
    assert (r.first_wrong["halt"] == batch.steps).all()


class Planted(TraceNTM):
    """The trained model with a planted bug: from its 8th step on, head 0 moves the wrong way."""

    def initial_state(self, *a, **k):
        self.t = 0
        return super().initial_state(*a, **k)

    def decide(self, s):
        d, core = super().decide(s)
        self.t += 1
        if self.t > 8:
            move = d.move.clone()
            move[:, 0] = move[:, 0].flip(-1)                           # L <-> R
            d = Decisions(d.state, d.write, move, d.halt)
        return d, core


def test_verify_finds_a_planted_bug(trained):
    from ntm.training.run_dir import load_run
    model, task, _ = load_run(trained.run_dir)
    assert search(model, task, min_length=1, max_length=12, max_examples=20, seed=0).counterexample is None
    planted = Planted(task.input_size, task.output_size, model.config)
    planted.load_state_dict(model.state_dict())
    c = search(planted, task, min_length=1, max_length=12, max_examples=50, seed=0).counterexample
    assert c is not None and c.step == 8 and "move" in c.what
    assert "step 8" in str(c)
    batch = task.sample(np.random.default_rng(c.seed), 1, c.length)
    assert batch.steps[0] > 8 and batch.move[0, 8, 0] != 1           # the machine moves there: the flip shows


# ---------------------------------------------------------------- the command line
def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ntm.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_trace_run_end_to_end(tmp_path):
    path = tmp_path / "inc.json"
    from turing.formats import dump
    dump(turing.library.get("binary_increment"), path, "json")
    run = tmp_path / "run"
    p = run_cli("train", "--task", f"trace:{path}", "--steps", "300", "--train-lengths", "1-6",
                "--out", str(run), "--quiet")
    assert p.returncode == 0, p.stderr
    assert "step by step" in p.stdout and "step-exact" in p.stdout
    p = run_cli("compare", str(run), "--lengths", "6,40", "--samples", "16")
    assert p.returncode == 0 and "first divergence" in p.stdout, p.stderr
    p = run_cli("verify", str(run), "--max-examples", "5")
    assert p.returncode in (0, 1) and "Traceback" not in p.stderr
    p = run_cli("plot", str(run))
    assert p.returncode == 0 and (run / "plots" / "spacetime.png").exists(), p.stderr
    p = run_cli("train", "--out", str(run), "--resume", "--steps", "400", "--quiet")
    assert p.returncode == 0, p.stderr
    path.rename(tmp_path / "moved.json")                  # the run keeps the machine, not the path
    p = run_cli("compare", str(run), "--lengths", "6", "--samples", "8", cwd="/")
    assert p.returncode == 0 and "1.0000" in p.stdout, p.stderr


def test_default_run_directory_of_a_machine_file_is_one_folder(tmp_path):
    from ntm.cli.train import _default_out
    assert _default_out("trace:sub/dir/flip.yaml", "trace_ntm", 0) == Path("runs/trace-flip-trace_ntm-seed0")
    assert _default_out("trace:binary_add", "trace_ntm", 1) == Path("runs/trace-binary_add-trace_ntm-seed1")
    with pytest.raises(TaskError, match="did you mean binary_add"):
        get_task("trace:binary_ad")
    assert get_task("trace:library:bb2").machine.name == get_task("trace:bb2").machine.name


@pytest.mark.parametrize("args, message", [
    (("--task", "copy", "--supervision", "trace"), "apply to trace tasks"),
    (("--task", "trace:binary_increment", "--model", "lstm"), "trace_ntm"),
    (("--task", "copy", "--model", "trace_ntm"), "trace:MACHINE"),
    (("--task", "trace:nope"), "neither a library machine"),
    (("--task", "trace:reverse", "--train-lengths", "a-b"), "MIN-MAX"),
])
def test_cli_trace_errors(tmp_path, args, message):
    p = run_cli("train", *args, "--out", str(tmp_path / "r"), "--steps", "1")
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_tasks_show_a_trace_task():
    p = run_cli("tasks", "show", "trace:binary_add", "--length", "3")
    assert p.returncode == 0, p.stderr
    assert "machine steps:   7" in p.stdout and "copy_a" in p.stdout and "memory:" in p.stdout


def test_head_forcing_anneals_and_never_applies_at_evaluation():
    task = get_task("trace:reverse")
    model = model_for(task, head_forcing=4)
    batch = task.sample(np.random.default_rng(0), 4, 5)
    model.train()
    weights = [model.forcing()]
    for _ in range(5):
        predict(model, batch)
        weights.append(model.forcing())
    assert weights == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    model.eval()
    assert model.forcing() == 0.0
    fresh = model_for(task, head_forcing=4).train()
    forced, free = predict(fresh, batch), predict(model_for(task).train(), batch)
    assert not torch.allclose(forced.move[:, 2:], free.move[:, 2:])   # the forced heads read other cells
    assert "runs" in fresh.state_dict()                              # saved: a resumed run anneals on
