"""The trainer's optimizer on one flat tensor (ntm.training.optimizer) against torch's per-parameter one."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from ntm.models import build_model
from ntm.training import TrainConfig
from ntm.training import checkpoint as ckpt
from ntm.training.optimizer import FlatOptimizer, make_optimizer


def _model(seed: int, kind: str = "lstm"):
    torch.manual_seed(seed)
    return build_model(kind, 3, 2, **({"hidden_size": 5} if kind == "lstm" else {"M": 4, "N": 6, "controller_size": 5}))


def _loss(model, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 5, 3, generator=g)
    return model(x, 3).pow(2).mean() * 50          # large enough that clipping to norm 1 acts


def _torch_steps(model, cfg, steps: int):
    """The trainer's step before FlatOptimizer: torch's optimizer over the parameter list, the
    gradient clipped by ``clip_grad_norm_``'s rule with the norm summed in the flat tensor's order.
    Why that order: it is the one difference FlatOptimizer documents (the clipping factor's last
    bits), and RMSprop and Adam divide by the root of a gradient's running square: where an element's
    gradient is ~1e-8 (a sum that nearly cancels) that last bit moved the weight by up to 3e-4 in
    4 steps (seed 1, RMSprop, the NTM), more than any tolerance for "the same steps". The clipping
    itself is checked against ``clip_grad_norm_`` in `test_clip_scales_as_clip_grad_norm_rule_to_the_bit`."""
    opt = make_optimizer(cfg, model.parameters(), cfg.lr)
    for s in range(steps):
        opt.zero_grad(set_to_none=True)
        _loss(model, s).backward()
        if cfg.clip_value is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), cfg.clip_value)
        norm = torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
        torch.nn.utils.clip_grads_with_norm_(model.parameters(), cfg.clip_norm, norm)
        opt.step()
    return opt


def _flat_steps(model, cfg, steps: int, opt=None, first: int = 0):
    opt = opt or FlatOptimizer(cfg, model.parameters(), cfg.lr)
    for s in range(first, first + steps):
        opt.zero_grad()
        _loss(model, s).backward()
        opt.clip(cfg.clip_value, cfg.clip_norm)
        opt.step()
    return opt


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 1000), optimizer=st.sampled_from(["adam", "rmsprop", "sgd"]),
       clip_value=st.sampled_from([None, 0.05]), kind=st.sampled_from(["lstm", "ntm"]))
def test_the_same_steps_as_torch_per_parameter(seed, optimizer, clip_value, kind):
    cfg = TrainConfig.from_dict({"optimizer": optimizer, "lr": 1e-2, "clip_norm": 1.0, "clip_value": clip_value})
    a, b = _model(seed, kind), _model(seed, kind)
    _torch_steps(a, cfg, 4)
    opt = _flat_steps(b, cfg, 4)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name
    flat = torch.cat([p.detach().reshape(-1) for p in b.parameters()])
    assert torch.equal(flat, opt.flat.detach())       # the parameters are the flat tensor's slices


def test_clip_scales_to_the_norm_and_clamps_values():
    model = _model(0)
    opt = FlatOptimizer(TrainConfig(), model.parameters(), 1e-3)
    opt.zero_grad()
    _loss(model, 0).backward()
    before = opt.flat.grad.clone()
    norm = opt.clip(None, 0.5)
    assert torch.isclose(norm, before.norm()) and norm > 0.5
    assert torch.isclose(opt.flat.grad.norm(), torch.tensor(0.5), rtol=1e-4)
    opt.clip(1e-3, None)
    assert opt.flat.grad.abs().max() <= 1e-3
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert torch.equal(grads, opt.flat.grad)           # each parameter's .grad is its slice


def test_state_dict_is_per_parameter_and_loads_torch_state(tmp_path):
    """A checkpoint written by torch's per-parameter Adam (runs before FlatOptimizer) continues the
    same; FlatOptimizer's own state_dict has that form and goes through safetensors."""
    cfg = TrainConfig.from_dict({"lr": 1e-2, "clip_norm": 1.0})
    a, b = _model(1), _model(1)
    torch_opt = _torch_steps(a, cfg, 3)
    b.load_state_dict(a.state_dict())
    flat = FlatOptimizer(cfg, b.parameters(), cfg.lr)
    tensors, meta = ckpt.optimizer_to_files(torch_opt)
    ckpt.save_tensors(tmp_path / "o.safetensors", tensors)
    ckpt.optimizer_from_files(flat, ckpt.load_tensors(tmp_path / "o.safetensors"), meta)
    sd = flat.state_dict()
    assert sorted(sd["state"]) == list(range(len(flat.params)))
    for i, p in enumerate(flat.params):
        assert sd["state"][i]["exp_avg"].shape == p.shape
    ckpt.save_tensors(tmp_path / "w.safetensors", b.state_dict())    # views of one buffer: copied
    tensors2, meta2 = ckpt.optimizer_to_files(flat)
    ckpt.save_tensors(tmp_path / "o2.safetensors", tensors2)
    # continue both for two steps: the same weights
    for s in range(3, 5):
        torch_opt.zero_grad(set_to_none=True)
        _loss(a, s).backward()
        torch.nn.utils.clip_grad_norm_(a.parameters(), 1.0)
        torch_opt.step()
    _flat_steps(b, cfg, 2, flat, first=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="no parameter"):
        FlatOptimizer(TrainConfig(), [], 1e-3)
    mixed = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    with pytest.raises(ValueError, match="dtypes or devices"):
        FlatOptimizer(TrainConfig(), mixed, 1e-3)
    opt = FlatOptimizer(TrainConfig(), [torch.nn.Parameter(torch.zeros(2))], 1e-3)
    with pytest.raises(ValueError, match="2 parameters"):
        opt.load_state_dict({"state": {}, "param_groups": [{**opt.param_groups[0], "params": [0, 1]}]})
    frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    opt = FlatOptimizer(TrainConfig(), [torch.nn.Parameter(torch.zeros(2)), frozen], 1e-3)
    assert len(opt.params) == 1 and np.array_equal(frozen.detach().numpy(), np.ones(3))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), lr=st.sampled_from([1e-4, 1e-2]), kind=st.sampled_from(["lstm", "ntm"]))
def test_direct_fused_adam_is_torch_adam_to_the_bit(seed, lr, kind):
    """`step` calls torch's fused Adam kernel itself after the first step: the same parameters and
    moments, to the bit, as `torch.optim.Adam.step` on the same flat tensor — through a change of
    learning rate and a reload of the optimizer's state (which replaces its parameter groups)."""
    cfg = TrainConfig.from_dict({"lr": lr, "clip_norm": 1.0})
    a, b = _model(seed, kind), _model(seed, kind)
    direct, plain = FlatOptimizer(cfg, a.parameters(), lr), FlatOptimizer(cfg, b.parameters(), lr)
    assert direct._direct
    plain._direct = False                                   # torch's own step throughout
    for first, steps in ((0, 3), (3, 2), (5, 2)):
        _flat_steps(a, cfg, steps, direct, first)
        _flat_steps(b, cfg, steps, plain, first)
        for opt in (direct, plain):
            opt.param_groups[0]["lr"] *= 0.5
        if first == 3:
            direct.load_state_dict(direct.state_dict())
    assert torch.equal(direct.flat, plain.flat)
    for k in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(direct.state[direct.flat][k], plain.state[plain.flat][k]), k


def test_only_plain_fused_adam_on_the_cpu_is_called_directly():
    params = lambda: [torch.nn.Parameter(torch.zeros(3))]  # noqa: E731
    assert FlatOptimizer(TrainConfig(), params(), 1e-3)._direct
    for options in ({"optimizer": "rmsprop"}, {"optimizer": "sgd"}):
        assert not FlatOptimizer(TrainConfig.from_dict(options), params(), 1e-3)._direct


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])
def test_clip_scales_as_clip_grad_norm_rule_to_the_bit(max_norm):
    """Above max_norm the flat gradient is multiplied by min(1, max_norm / (norm + 1e-6)) (the rule of
    ``clip_grad_norm_``) to the bit; below it, left as it is (the multiplication by 1 is skipped); a
    NaN gradient becomes NaN throughout, as there."""
    model = _model(3)
    opt = FlatOptimizer(TrainConfig(), model.parameters(), 1e-3)
    opt.zero_grad()
    _loss(model, 0).backward()
    g = opt.flat.grad.clone()
    expected = g * torch.clamp(max_norm / (torch.linalg.vector_norm(g) + 1e-6), max=1.0)
    opt.clip(None, max_norm)
    assert torch.equal(opt.flat.grad, expected)
    assert torch.equal(opt.flat.grad, g) == (max_norm > 1)   # the large bound leaves it unchanged
    opt.flat.grad[0] = float("nan")
    opt.clip(None, max_norm)
    assert torch.isnan(opt.flat.grad).all()
