"""Dynamic N-grams (Graves et al. 2014, §4.4): the online layout, the Beta(1/2, 1/2) tables, the
Bayes-optimal estimator against a plain Python reference, its cost, online prediction through the
models' interface, the cross-entropy comparison, and a short training run."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from ntm.analysis.compare import compare, cross_entropy_bits, format_table
from ntm.models import build_model, predict
from ntm.models.online import online_logits, prefix_logits
from tasks import TaskError, get_task
from tasks import ngrams

few = settings(max_examples=50 if os.environ.get("CI") == "true" else 200, deadline=None,
               suppress_health_check=[HealthCheck.too_slow])


def reference_probabilities(bits: list[int], context: int) -> list[float]:
    """The estimator as the paper states it, one sequence, one step at a time: P(bit t+1 = 1) =
    (N1 + 1/2) / (N0 + N1 + 1) from the counts after bit t+1's context so far; 1/2 without a context."""
    counts: dict[tuple, list[int]] = {}
    out = []
    for t in range(1, len(bits)):
        if t < context:
            out.append(0.5)
            continue
        c = tuple(bits[t - context:t])
        n0, n1 = counts.get(c, [0, 0])
        out.append((n1 + 0.5) / (n0 + n1 + 1))
        counts.setdefault(c, [0, 0])[bits[t]] += 1
    return out


# ---------------------------------------------------------------- the task's batches
def test_shapes_alignment_and_mask_with_mixed_lengths():
    t = get_task("ngrams")
    lengths = [6, 40, 17]
    b = t.sample(np.random.default_rng(3), 3, lengths)
    assert b.online and t.online and t.input_size == t.output_size == 1
    assert b.inputs.shape == b.targets.shape == (3, 39, 1) and b.mask.shape == (3, 39)
    assert b.mask.sum(1).tolist() == [n - 1 for n in lengths] == b.input_lengths.tolist()
    for i, n in enumerate(lengths):
        word = [int(a) for a in b.input_symbols[i]]
        assert len(word) == n and set(word) <= {0, 1}
        assert b.inputs[i, :n - 1, 0].tolist() == word[:-1]        # input t: bit t
        assert b.targets[i, :n - 1, 0].tolist() == word[1:]        # target t: bit t+1
        assert not b.inputs[i, n - 1:].any() and not b.targets[i, n - 1:].any()
        assert b.output_symbols[i] == t.specification(b.input_symbols[i])
    assert t.decode(b.targets, b.mask) == b.output_symbols


def test_default_length_is_the_papers_200_and_options_are_checked():
    t = get_task("ngrams")
    assert t.train_lengths == (200, 200) and t.context == 5 and t.min_length == 6
    assert t.sample(np.random.default_rng(0), 2, 200).inputs.shape == (2, 199, 1)
    assert get_task("ngrams", length=50, context=3).train_lengths == (50, 50)
    for bad in ({"length": 5}, {"length": 2000}, {"length": True}, {"context": 0}, {"context": 11},
                {"context": 2.0}, {"max_length": 1}):
        with pytest.raises(TaskError):
            get_task("ngrams", **bad)
    with pytest.raises(TaskError, match="below the minimum"):
        t.sample(np.random.default_rng(0), 1, 5)
    with pytest.raises(TaskError, match="numpy.random.Generator"):
        t.sample(np.random.RandomState(0), 1, 10)


def test_same_seed_same_batch_and_other_seeds_differ():
    t = get_task("ngrams")
    a, b, c = (t.sample(np.random.default_rng(s), 4, 60) for s in (9, 9, 10))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    assert t.eval_batch(30, 8) is t.eval_batch(30, 8)


def test_tables_follow_the_beta_half_half_prior():
    """Beta(1/2, 1/2): mean 1/2, variance 1/8, P(p < 0.1) = (2/π) asin(√0.1); over 32,000 entries."""
    p = ngrams.draw_tables(np.random.default_rng(0), 1000).ravel()
    assert p.shape == (32_000,) and ((p >= 0) & (p <= 1)).all()
    se = math.sqrt(1 / 8 / p.size)
    assert abs(p.mean() - 0.5) < 5 * se
    assert abs(p.var() - 1 / 8) < 0.01
    assert abs((p < 0.1).mean() - 2 / math.pi * math.asin(math.sqrt(0.1))) < 0.01


def test_bits_follow_their_table():
    """After each context, the frequency of ones is that context's table entry (one long sequence)."""
    rng = np.random.default_rng(1)
    tables = ngrams.draw_tables(rng, 1)
    bits = ngrams.generate(rng, tables, 200_000)
    idx = ngrams.context_index(bits)[0, 5:]
    nxt = bits[0, 5:]
    checked = 0
    for c in range(32):
        seen = idx == c
        if seen.sum() > 2000:
            assert abs(nxt[seen].mean() - tables[0, c]) < 5 * math.sqrt(0.25 / seen.sum())
            checked += 1
    assert checked >= 8


# ---------------------------------------------------------------- the Bayes-optimal estimator
@few
@given(bits=st.lists(st.integers(0, 1), min_size=2, max_size=80), context=st.integers(1, 6))
def test_estimator_equals_the_python_reference(bits, context):
    got = ngrams.optimal_probabilities(np.array([bits]), context)[0]
    np.testing.assert_allclose(got, reference_probabilities(bits, context), rtol=1e-12)


def test_estimator_on_a_batch_equals_it_row_by_row():
    bits = ngrams.generate(np.random.default_rng(2), ngrams.draw_tables(np.random.default_rng(3), 5), 120)
    got = ngrams.optimal_probabilities(bits)
    for row, want in zip(got, bits):
        np.testing.assert_allclose(row, reference_probabilities(want.tolist(), 5), rtol=1e-12)


def test_estimator_cost_is_below_always_one_half_on_long_sequences():
    """Predicting 1/2 costs exactly 1 bit per prediction; the estimator learns each table and costs less."""
    t = get_task("ngrams")
    b = t.eval_batch(1000, 64)
    cost = t.optimal_cost(b)
    half = cross_entropy_bits(torch.zeros_like(b.targets), b.targets, b.mask).numpy()
    np.testing.assert_allclose(half, 999.0, rtol=1e-6)
    assert cost.shape == (64,) and cost.mean() < half.mean() and (cost < half).mean() > 0.9


def test_optimal_cost_counts_only_masked_predictions():
    t = get_task("ngrams")
    b = t.sample(np.random.default_rng(4), 3, [6, 30, 12])
    cost = t.optimal_cost(b)
    for i in range(3):
        one = t.sample(np.random.default_rng(0), 1, 6)   # a batch of one, rebuilt from sample i
        n = int(b.mask[i].sum())
        one.inputs, one.targets, one.mask = b.inputs[i:i + 1, :n], b.targets[i:i + 1, :n], b.mask[i:i + 1, :n]
        assert cost[i] == pytest.approx(float(t.optimal_cost(one)[0]))


# ---------------------------------------------------------------- online prediction
@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_recurrent_one_pass_equals_the_prefix_definition(name):
    model = build_model(name, 1, 1, hidden_size=8, layers=2).double()
    x = get_task("ngrams").sample(np.random.default_rng(5), 3, 25).inputs.double()
    np.testing.assert_allclose(online_logits(model, x).detach(), prefix_logits(model, x).detach(), atol=1e-12)


# small configs of the models with a step (ntm.models.online._step_online)
STEP_MODELS = {"ntm": {"N": 8, "M": 4, "controller_size": 8},
               "dnc": {"N": 6, "W": 4, "read_heads": 2, "controller_size": 8},
               "stack_rnn": {"hidden_size": 8, "stack_size": 5, "stack_cell_size": 3},
               "tape_rnn": {"hidden_size": 8, "tape_size": 6, "tape_cell_size": 3, "mlp_size": 4, "jump": False}}


@pytest.fixture
def one_thread():
    """One torch thread, as the trainer runs: the prefix definition's many tiny steps take seconds
    with two threads on a busy 2-core box (thread hand-offs) and well under one with one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(STEP_MODELS))
def test_step_models_one_pass_equals_the_prefix_definition(name, monkeypatch, one_thread):
    """Every step t of a mixed-length (left-aligned, padded) batch, in float64; T = 39 crosses a
    chunk of answer steps (STEP_CHUNK = 32). The one pass never calls the model per prefix."""
    torch.manual_seed(1)
    model = build_model(name, 1, 1, **STEP_MODELS[name]).double()
    x = get_task("ngrams").sample(np.random.default_rng(5), 3, [7, 40, 12]).inputs.double()   # (3, 39, 1)
    with torch.no_grad():                                  # gradients: the test below
        want = prefix_logits(model, x)
        monkeypatch.setattr("ntm.models.online.prefix_logits", lambda *a: pytest.fail("took the prefix path"))
        got = online_logits(model, x)
    assert got.shape == want.shape == (3, 39, 1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_step_models_online_checks_the_channels():
    from ntm.errors import ConfigError
    model = build_model("ntm", 1, 1, **STEP_MODELS["ntm"])
    with pytest.raises(ConfigError, match="inputs must be a tensor"):
        online_logits(model, torch.zeros(2, 5, 3))


def test_tape_rnn_with_jumps_keeps_the_prefix_definition(one_thread):
    """With jumps the distance is each prefix's length, so no state is shared: the definition's path."""
    torch.manual_seed(2)
    model = build_model("tape_rnn", 1, 1, **{**STEP_MODELS["tape_rnn"], "jump": True}).double()
    x = get_task("ngrams").sample(np.random.default_rng(5), 2, 12).inputs.double()
    np.testing.assert_allclose(online_logits(model, x).detach(), prefix_logits(model, x).detach(), atol=1e-12)


@pytest.mark.parametrize("name", list(STEP_MODELS))
def test_step_models_online_gradients_flow(name, one_thread):
    """Backward through the one pass: finite gradients for every parameter, equal to the
    definition's (float64)."""
    torch.manual_seed(3)
    model = build_model(name, 1, 1, **STEP_MODELS[name]).double()
    b = get_task("ngrams").sample(np.random.default_rng(8), 2, 15)
    x, y = b.inputs.double(), b.targets.double()
    grads = []
    for logits_of in (online_logits, prefix_logits):
        model.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(logits_of(model, x), y).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.requires_grad])
    assert all(torch.isfinite(g).all() for g in grads[0]) and any(g.abs().sum() > 0 for g in grads[0])
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "bilstm", "ntm"])
def test_a_prediction_never_sees_the_future(name):
    """Flipping input bits from step 6 on leaves predictions 0..5 unchanged (also for the BiLSTM)."""
    torch.manual_seed(0)
    params = {"ntm": {"N": 8, "M": 4}}.get(name, {"hidden_size": 8, "layers": 1})
    model = build_model(name, 1, 1, **params)
    x = get_task("ngrams").sample(np.random.default_rng(6), 2, 12).inputs
    y = x.clone()
    y[:, 6:] = 1 - y[:, 6:]
    with torch.no_grad():
        a, b = online_logits(model, x), online_logits(model, y)
    assert torch.allclose(a[:, :6], b[:, :6]) and not torch.allclose(a[:, 6:], b[:, 6:])


class Optimal(nn.Module):
    """A "model" that answers the Bayes-optimal estimate for the prefix it read (the interface:
    forward(inputs (B, T_in, 1), T_out=1) -> logits (B, 1, 1))."""

    def forward(self, inputs, T_out, input_lengths=None, output_lengths=None):
        bits = np.concatenate([inputs[:, :, 0].numpy(), np.zeros((inputs.shape[0], 1))], 1).astype(np.int64)
        p = ngrams.optimal_probabilities(bits)[:, -1]                     # P(the bit after the prefix)
        return torch.from_numpy(np.log(p / (1 - p))).float().view(-1, 1, 1)


def test_compare_reports_cross_entropy_above_the_optimal_estimator():
    t = get_task("ngrams", length=30)
    rows = compare(Optimal(), t, [12, 30], samples=16)
    for r in rows:
        assert r["excess_bits_per_seq"] == pytest.approx(0.0, abs=1e-3)
        optimal = float(t.optimal_cost(t.eval_batch(r["length"], 16)).mean())
        assert r["model_bits_per_seq"] == pytest.approx(optimal, abs=1e-3)
    half = compare(build_model("lstm", 1, 1, hidden_size=4, layers=1), t, [30], samples=16)[0]
    assert half["excess_bits_per_seq"] == pytest.approx(half["model_bits_per_seq"] - half["optimal_bits_per_seq"])
    table = format_table(rows, t.loss_kind)
    assert "optimal bits/seq" in table and "excess bits/seq" in table and "bit err/seq" not in table


def test_predict_goes_through_online_prediction():
    model = build_model("lstm", 1, 1, hidden_size=8, layers=1)
    b = get_task("ngrams").sample(np.random.default_rng(7), 2, 20)
    assert torch.equal(predict(model, b), online_logits(model, b.inputs))


# ---------------------------------------------------------------- training and the command line
def test_two_training_steps_of_an_lstm_on_ngrams(tmp_path):
    from ntm.training import TrainConfig, train
    lines = []
    cfg = TrainConfig(task="ngrams", task_params={"length": 20}, model="lstm",
                      model_params={"hidden_size": 16, "layers": 1}, batch_size=4, steps=2, eval_every=1,
                      eval_samples=8, checkpoint_every=2, compare_lengths=[20], target_bits=-1.0, device="cpu")
    res = train(cfg, tmp_path / "run", progress=False, log=lines.append)
    assert res.steps == 2
    (row,) = res.comparison
    assert row["excess_bits_per_seq"] == pytest.approx(row["model_bits_per_seq"] - row["optimal_bits_per_seq"])
    assert row["model_bits_per_seq"] > 0
    text = "\n".join(map(str, lines))
    assert "optimal bits/seq" in text and "comparison with the Bayes-optimal estimator" in text
    assert "excess bits/seq" in text


def test_three_training_steps_of_an_ntm_on_ngrams(tmp_path):
    """The NTM trains on ngrams end to end through the one-pass online path."""
    from ntm.training import TrainConfig, train
    cfg = TrainConfig(task="ngrams", task_params={"length": 20}, model="ntm",
                      model_params={"N": 8, "M": 4, "controller_size": 16}, batch_size=4, steps=3, eval_every=3,
                      eval_samples=8, checkpoint_every=3, compare_lengths=[20], target_bits=-1.0, device="cpu")
    res = train(cfg, tmp_path / "run", progress=False, log=lambda _: None)
    assert res.steps == 3
    (row,) = res.comparison
    assert math.isfinite(row["excess_bits_per_seq"]) and row["model_bits_per_seq"] > 0


@pytest.mark.parametrize("task, params, restarted", [("ngrams", {"length": 12}, False),
                                                     ("copy", {"width": 2, "train_lengths": [1, 12]}, True)])
def test_the_restart_rule_never_restarts_an_online_task(tmp_path, task, params, restarted):
    """A memory model with a restart rule set to fire at once (1 step, 0 bits) restarts on copy but
    not on ngrams, whose error is bits above the optimal estimator."""
    from ntm.training import TrainConfig, train
    cfg = TrainConfig(task=task, task_params=params, model="ntm", model_params={"N": 8, "M": 4, "controller_size": 8},
                      batch_size=4, steps=4, eval_every=2, eval_samples=8, checkpoint_every=4, compare_lengths=[12],
                      target_bits=-1.0, restart_steps=1, restart_bits=0.0, device="cpu")
    res = train(cfg, tmp_path / "run", progress=False, log=lambda _: None)
    assert (res.restarts > 0) == restarted


def test_training_evaluation_scores_ngrams_by_excess_cross_entropy():
    """The trainer's error for ngrams is the cross-entropy above the estimator (0 for the estimator
    itself), not thresholded bit errors (which the estimator has plenty of)."""
    from ntm.training.evaluation import evaluate_bits
    t = get_task("ngrams", length=20)
    excess, _ = evaluate_bits(Optimal(), t, [(20, 8)], "cpu")
    assert excess == pytest.approx(0.0, abs=1e-3)
    assert compare(Optimal(), t, [20], samples=8)[0]["bit_errors_per_seq"] > 1


def test_cli_names_the_estimator_as_the_reference(capsys):
    import argparse

    from ntm.cli import tasks as cli_tasks
    for argv in (["tasks", "list"], ["tasks", "show", "ngrams", "--length", "12"]):
        parser = argparse.ArgumentParser(prog="ntm")
        cli_tasks.register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        out = capsys.readouterr().out
        assert "Bayes-optimal estimator" in out
    assert "not a Turing machine" in out and "optimal cost:" in out


def test_verify_refuses_ngrams_and_the_example_plot_predicts_online():
    from ntm.analysis.figures import run_example
    from ntm.analysis.verify import search
    from ntm.errors import ConfigError
    t = get_task("ngrams", length=20)
    model = build_model("lstm", 1, 1, hidden_size=8, layers=1)
    with pytest.raises(ConfigError, match="Bayes-optimal estimator"):
        search(model, t, max_examples=1)
    ex = run_example(model, t, 20, seed=3)
    b = t.sample(np.random.default_rng(3), 1, 20)
    want = torch.sigmoid(online_logits(model, b.inputs))[0].detach().numpy()
    np.testing.assert_allclose(ex["outputs"], want, rtol=1e-5)
