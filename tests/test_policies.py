"""The trainer's rules (ntm.training.policies) as pure functions, and `Trainer.apply`, the one place
that acts on them: every rule and every part of every action can fail a test here."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from ntm.training import TrainConfig
from ntm.training import policies as P
from ntm.training.loop import Trainer
from ntm.training.policies import Action, Score
from ntm.training.state import CurriculumState, Phase, TrainState

CFG = TrainConfig(lr=1e-3, min_lr=4e-4, collapse_bits=5.0, collapse_ratio=2.0, rollback_lr_factor=0.5,
                  lr_drop_bits=1.0, lr_drop_factor=0.5, target_bits=0.01, polish_steps=100, polish_lr=2.5e-4,
                  restart_steps=50, restart_bits=10.0, max_restarts=2)


def state(**kw):
    return TrainState(**{"lr": 1e-3, "step": 200, **kw})


# ---------------------------------------------------------------- each rule

@pytest.mark.parametrize("best,bits,kept", [(None, 30.0, True), (10.0, 9.0, True), (10.0, 10.0, True), (10.0, 10.5, False)])
def test_keep_best_keeps_a_new_best_and_ties_go_to_the_later(best, bits, kept):
    a = P.keep_best(CFG, state(best_bits=best, best_step=100), Score(bits, 0.0))
    assert (a is not None) == kept
    if kept:
        assert a.keep and a.load is None and (a.state.best_bits, a.state.best_step) == (bits, 200)


@pytest.mark.parametrize("best,bits,collapsed", [(10.0, 19.0, False),   # +9 bits but under 2x
                                                 (2.0, 6.9, False),     # over 2x but under +5 bits
                                                 (10.0, 26.0, True), (2.0, 7.5, True), (None, 100.0, False)])
def test_collapse_needs_both_the_rise_and_the_ratio(best, bits, collapsed):
    a = P.collapse(CFG, state(best_bits=best, best_step=100), Score(bits, 0.0))
    assert (a is not None) == collapsed
    if collapsed:
        assert a.load == "best" and a.state.rollbacks == 1 and a.state.lr == pytest.approx(5e-4)
        assert "rolled back to step 100" in a.message


def test_collapse_lr_stops_at_min_lr():
    a = P.collapse(CFG, state(lr=5e-4, best_bits=1.0), Score(50.0, 0.0))
    assert a.state.lr == pytest.approx(4e-4)


def test_lr_drops_once_below_lr_drop_bits():
    assert P.lr_drop(CFG, state(best_bits=1.5), Score(1.5, 0)) is None
    a = P.lr_drop(CFG, state(best_bits=0.5), Score(0.5, 0))
    assert a.set_lr and a.state.lr == pytest.approx(5e-4) and a.state.lr_dropped
    assert P.lr_drop(CFG, a.state, Score(0.2, 0)) is None


def test_converging_starts_polishing_from_the_best_weights():
    a = P.advance_phase(CFG, state(best_bits=0.005), Score(0.005, 1.0))
    assert a.name == "polish" and a.load == "best"
    assert (a.state.phase, a.state.converged_step, a.state.lr, a.state.lr_dropped) == \
        (Phase.POLISHING, 200, 2.5e-4, True)
    assert P.advance_phase(CFG, state(best_bits=0.02), Score(0.02, 0)) is None


def test_without_polishing_converging_finishes():
    cfg = dataclasses.replace(CFG, polish_steps=0)
    a = P.advance_phase(cfg, state(best_bits=0.005), Score(0.005, 1.0))
    assert a.name == "finish" and a.load is None and a.state.phase is Phase.FINISHED and a.state.converged_step == 200


@pytest.mark.parametrize("step,finished", [(299, False), (300, True)])
def test_polishing_finishes_polish_steps_after_converging(step, finished):
    a = P.advance_phase(CFG, state(step=step, phase=Phase.POLISHING, converged_step=200, best_bits=0.5), Score(0.5, 0))
    assert (a is not None and a.state.phase is Phase.FINISHED) == finished


@pytest.mark.parametrize("kw,has_memory,restarts", [
    ({}, True, True),
    ({}, False, False),                                  # no memory algorithm to find
    ({"best_bits": 9.0}, True, False),                   # found it
    ({"attempt_start": 160}, True, False),               # too early in the attempt
    ({"restarts": 2}, True, False),                      # max_restarts spent
])
def test_restart_only_a_stalled_memory_model(kw, has_memory, restarts):
    s = state(**{"best_bits": 20.0, "attempt_start": 0, **kw}, phase=Phase.SEARCHING, lr_dropped=True,
              curriculum=CurriculumState(0.5, [1.0]))
    a = P.restart(CFG, s, Score(20.0, 0), has_memory=has_memory)
    assert (a is not None) == restarts
    if restarts:
        n = a.state
        assert a.load == "fresh" and n.restarts == 1 and n.attempt_start == 200 and n.lr == CFG.lr
        assert (n.best_bits, n.best_step, n.converged_step, n.lr_dropped) == (None, None, None, False)
        assert n.curriculum == CurriculumState() and n.phase is Phase.SEARCHING


states = st.builds(TrainState, lr=st.floats(1e-5, 1e-1), step=st.integers(0, 10_000),
                   best_bits=st.none() | st.floats(0, 100), best_step=st.none() | st.integers(0, 10_000),
                   phase=st.sampled_from([Phase.SEARCHING, Phase.POLISHING]), lr_dropped=st.booleans(),
                   converged_step=st.integers(0, 10_000), restarts=st.integers(0, 3), attempt_start=st.integers(0, 10_000))


@given(s=states, bits=st.floats(0, 100), has_memory=st.booleans())
def test_rules_are_pure(s, bits, has_memory):
    """No rule changes the state it is given; each returns a new one."""
    before = copy.deepcopy(s)
    for rule in P.rules(has_memory):
        rule(CFG, s, Score(bits, 0.0))
    assert s == before


# ---------------------------------------------------------------- Trainer.apply: the one place that acts

class _Curriculum:
    def lengths(self, rng, B, at):
        return 2

    def bounds(self, at):
        return 1, 2


def _trainer():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    model.has_memory = True
    return Trainer(TrainConfig(lr=1e-3, ema_decay=0.9, seed=0), model, make_model=lambda: torch.nn.Linear(3, 2),
                   sample=None, curriculum=_Curriculum(), evaluator=lambda m, polishing: (0.0, 1.0),
                   rng=np.random.default_rng(0), device="cpu", log=lambda *_: None)


def _train_a_little(t):
    for _ in range(3):
        t.optimizer.zero_grad()
        t.model(torch.ones(4, 3)).pow(2).sum().backward()
        t.optimizer.step()
        t.averaged.update_parameters(t.model)


@pytest.mark.parametrize("load", ["best", "fresh"])
def test_apply_loads_weights_and_starts_optimizer_and_average_again(load):
    """Rollback and polishing load the best weights, a restart fresh ones; each rebuilds the
    optimizer at the new state's lr and restarts the moving average (deleting any of these fails)."""
    t = _trainer()
    t.best_weights = {k: torch.full_like(v, 0.25) for k, v in t.model.state_dict().items()}
    _train_a_little(t)
    old_optimizer = t.optimizer
    assert t.averaged.n_averaged > 0 and len(old_optimizer.state) > 0
    new = TrainState(lr=3e-4, restarts=1)
    t.apply(Action("x", new, load=load), Score(1.0, 0.0))
    assert t.state is new
    assert t.optimizer is not old_optimizer and not t.optimizer.state
    assert t.optimizer.param_groups[0]["lr"] == 3e-4
    assert t.averaged.n_averaged == 0 and t.averaged.count == 0
    if load == "best":
        assert all(torch.equal(v, torch.full_like(v, 0.25)) for v in t.model.state_dict().values())
    else:                                             # seeded by the restart count: it repeats
        torch.manual_seed(0 + 1_000_003 * 1)
        fresh = torch.nn.Linear(3, 2).state_dict()
        assert all(torch.equal(t.model.state_dict()[k], fresh[k]) for k in fresh)
        assert t.best_weights is None


def test_apply_keeps_the_scored_weights_and_sets_lr_in_place():
    t = _trainer()
    _train_a_little(t)
    opt = t.optimizer
    t.apply(Action("keep_best", TrainState(lr=1e-3), keep=True), Score(1.0, 0.0, averaged=True))
    avg = t.averaged.module.state_dict()
    assert all(torch.equal(t.best_weights[k], avg[k]) for k in avg)
    t.apply(Action("drop_lr", TrainState(lr=5e-4), set_lr=True), Score(1.0, 0.0))
    assert t.optimizer is opt and opt.param_groups[0]["lr"] == 5e-4 and opt.state


class _Batch:
    """A stand-in for tasks.Batch: `predict` calls the model on inputs (B, T_in, 3)."""
    def __init__(self, B):
        self.inputs, self.targets = torch.ones(B, 1, 3), torch.zeros(B, 1, 2)
        self.input_lengths = self.output_lengths = None

    def to(self, device):
        return self


class _Objective:
    """loss = the model's mean output, times `scale` (NaN: every step's loss is NaN)."""
    def __init__(self):
        self.scale = 1.0

    def loss(self, logits, batch):
        return logits.mean() * self.scale


def test_a_step_with_a_nan_loss_is_skipped_and_too_many_raise():
    """A finite step updates the weights and the loss sum; a NaN step leaves both and is counted;
    past 100 + step/10 skipped steps the run stops with DivergenceError (naming the step)."""
    from ntm.errors import DivergenceError
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    model.forward = lambda x, *_: x @ model.weight.t() + model.bias     # predict passes lengths too
    t = Trainer(TrainConfig(lr=1e-2, seed=0), model, make_model=lambda: torch.nn.Linear(3, 2),
                sample=lambda rng, B, lengths: _Batch(B), curriculum=_Curriculum(),
                evaluator=lambda m, polishing: (0.0, 1.0), objective=_Objective(),
                rng=np.random.default_rng(0), device="cpu", log=lambda *_: None)
    before = model.weight.detach().clone()
    t.train_step()
    assert not torch.equal(model.weight, before) and t.state.loss_n == 1 and t.state.skipped == 0
    t.objective.scale = float("nan")
    after = model.weight.detach().clone()
    t.train_step()
    assert torch.equal(model.weight, after) and t.state.loss_n == 1 and t.state.skipped == 1
    with pytest.raises(DivergenceError, match="NaN/Inf"):
        for _ in range(200):
            t.train_step()
    assert t.state.skipped == 100 + t.state.step // 10 + 1          # the first count past the limit


@pytest.mark.parametrize("case", ["plain", "buffer", "replaced", "shared"])
def test_the_moving_average_equals_torch_s_averaged_model_to_the_bit(case):
    """`MovingAverage` (its own update; torch's where a buffer is an integer or two modules share a
    weight) against `AveragedModel` with `get_ema_multi_avg_fn`: the same weights after updates, a
    restart, a state dict loaded in the middle, and ("replaced") a parameter the model replaced."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    from ntm.training.loop import MovingAverage
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LSTM(3, 5), torch.nn.Linear(5, 3))
    if case == "buffer":
        model.register_buffer("steps", torch.zeros((), dtype=torch.long))
    if case == "shared":
        model[2].bias = model[0].bias
    ours, theirs = MovingAverage(model, 0.9), AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    assert ours.fast is (case in ("plain", "replaced"))
    for step in range(12):
        if case == "replaced" and step == 3:
            model[0].weight = torch.nn.Parameter(torch.randn(3, 4))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ours.update_parameters(model)
        theirs.update_parameters(model)
        if step == 5:
            ours.restart()
            theirs.n_averaged.zero_()
        if step == 8:
            ours = MovingAverage(model, 0.9, ours.state_dict())
        assert ours.count == int(theirs.n_averaged)
        for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
            assert torch.equal(a, b)
