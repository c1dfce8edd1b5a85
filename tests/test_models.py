"""ntm.models (the registry, the NTM, the DNC, Stack-RNN and Tape-RNN, the baselines): shapes, exact batching with front padding (every model),
the NTM's fused path against its reference path (values and gradients), state handling, devices and
dtypes, parameter counts, and build_model's registry and round trip."""

import copy
import dataclasses
import json
import pickle

import pytest
import torch
from hypothesis import given, strategies as st

from ntm.errors import ConfigError
from ntm.models.heads import activate
from ntm.models.ntm import NTM, NTMConfig, NTMState
from ntm.models import MODEL_NAMES, build_model, count_parameters

C_IN, C_OUT = 5, 3
SMALL = {"ntm": dict(N=8, M=4, controller_size=16), "lstm": dict(hidden_size=12, layers=2),
         "gru": dict(hidden_size=12, layers=2), "rnn": dict(hidden_size=12, layers=2),
         "bilstm": dict(hidden_size=12, layers=2), "dnc": dict(N=6, W=4, read_heads=2, controller_size=12),
         "stack_rnn": dict(hidden_size=12, stack_size=5, stack_cell_size=3),
         "tape_rnn": dict(hidden_size=12, tape_size=7, tape_cell_size=3, mlp_size=8),
         "mlp": dict(hidden_size=12, hidden_layers=2, max_T_in=4, max_T_out=3)}


def small(name, dtype=torch.float64, seed=0, **options):
    torch.manual_seed(seed)
    return build_model(name, C_IN, C_OUT, **{**SMALL[name], **options}).to(dtype)


def right_aligned(lengths, T_in, seed=0, dtype=torch.float64):
    """Random inputs (B, T_in, C_IN), zero at each sample's leading padding steps."""
    lengths = torch.tensor(lengths, dtype=torch.long)
    x = torch.randn(len(lengths), T_in, C_IN, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    real = torch.arange(T_in).unsqueeze(0) >= (T_in - lengths).unsqueeze(1)            # (B, T_in)
    return x * real.unsqueeze(2), lengths


MODELS = {name: small(name) for name in MODEL_NAMES}


# ---------------------------------------------------------------- shapes and the interface

@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("B, T_in, T_out", [(3, 4, 2), (1, 1, 5), (2, 6, 0), (2, 0, 3), (0, 3, 2)])
def test_output_shape(name, B, T_in, T_out):
    x = torch.randn(B, T_in, C_IN, dtype=torch.float64)
    y = MODELS[name](x, T_out)
    assert y.shape == (B, T_out, C_OUT) and y.dtype == torch.float64
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("bad", [
    lambda m: m(torch.zeros(2, 3, C_IN + 1), 2),                     # wrong channel count
    lambda m: m(torch.zeros(2, 3), 2),                               # not (B, T, C)
    lambda m: m(torch.zeros(2, 3, C_IN), -1),                        # negative T_out
    lambda m: m(torch.zeros(2, 3, C_IN), 2, torch.tensor([1, 4])),   # a length beyond T_in
    lambda m: m(torch.zeros(2, 3, C_IN), 2, torch.tensor([1])),      # one length per sample
    lambda m: m(torch.zeros(2, 3, C_IN), 2, None, torch.tensor([1, 3])),  # an output length beyond T_out
])
def test_bad_inputs_raise_config_error(name, bad):
    with pytest.raises(ConfigError):
        bad(MODELS[name])


# ---------------------------------------------------------------- exact batching with front padding

@st.composite
def padded_batches(draw):
    T_in = draw(st.integers(0, 5))
    lengths = draw(st.lists(st.integers(0, T_in), min_size=1, max_size=4))
    return lengths, T_in, draw(st.integers(0, 4)), draw(st.integers(0, 2**16))


def one_by_one(model, x, lengths, T_out):
    return torch.cat([model(x[b:b + 1, x.shape[1] - int(n):], T_out) for b, n in enumerate(lengths)])


@pytest.mark.parametrize("name", MODEL_NAMES)
@given(batch=padded_batches())
def test_batch_equals_its_samples_one_by_one(name, batch):
    lengths, T_in, T_out, seed = batch
    model = MODELS[name]
    x, lens = right_aligned(lengths, T_in, seed)
    with torch.no_grad():
        torch.testing.assert_close(model(x, T_out, lens), one_by_one(model, x, lens, T_out), rtol=1e-10, atol=1e-10)


@st.composite
def batches_with_output_lengths(draw):
    lengths, T_in, T_out, seed = draw(padded_batches())
    T_out = max(T_out, 1)
    outs = draw(st.lists(st.integers(1, T_out), min_size=len(lengths), max_size=len(lengths)))
    return lengths, T_in, outs, seed


@pytest.mark.parametrize("name", MODEL_NAMES)
@given(batch=batches_with_output_lengths())
def test_a_samples_outputs_do_not_depend_on_its_batch_mates_output_lengths(name, batch):
    """Each sample answers over its own output steps (output_lengths): its logits there are those it
    gets alone, whatever its batch-mates' output lengths (the BiLSTM looks ahead, so it needs them)."""
    lengths, T_in, outs, seed = batch
    model = MODELS[name]
    x, lens = right_aligned(lengths, T_in, seed)
    out_lens = torch.tensor(outs)
    with torch.no_grad():
        together = model(x, max(outs), lens, out_lens)
        for b, (n, k) in enumerate(zip(lengths, outs)):
            alone = model(x[b:b + 1, T_in - n:], k)
            torch.testing.assert_close(together[b, :k], alone[0], rtol=1e-10, atol=1e-10)


@given(batch=padded_batches())
def test_ntm_reference_path_batches_exactly_too(batch):
    lengths, T_in, T_out, seed = batch
    model = MODELS["ntm"]
    x, lens = right_aligned(lengths, T_in, seed)
    with torch.no_grad():
        expected = torch.cat([model.reference_forward(x[b:b + 1, T_in - n:], T_out) for b, n in enumerate(lengths)])
        torch.testing.assert_close(model.reference_forward(x, T_out, lens), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_padding_steps_do_not_matter_and_gradients_batch_exactly(name):
    model = MODELS[name]
    x, lens = right_aligned([4, 2, 0], 4, seed=3)
    noisy = x + 100 * (x == 0)                                        # garbage in the padding
    torch.testing.assert_close(model(noisy, 3, lens), model(x, 3, lens))
    params = [p for p in model.parameters() if p.requires_grad]
    batch_grads = torch.autograd.grad(model(x, 3, lens).sum(), params)
    sample_grads = torch.autograd.grad(one_by_one(model, x, lens, 3).sum(), params)
    for g, h in zip(batch_grads, sample_grads):
        torch.testing.assert_close(g, h, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the NTM: fused path = reference path

NTM_CONFIGS = [
    dict(),
    dict(controller="feedforward", controller_layers=2),
    dict(read_heads=2, write_heads=2, controller_layers=2, shift_range=2),
    dict(read_heads=1, write_heads=3, shift_range=0),
    dict(memory_init="learned", weighting_init="one_hot"),
    dict(memory_init="random", N=5, M=3),
    dict(clip_value=0.3),                       # small enough that many head outputs are clipped
]


@pytest.mark.parametrize("backend", ["auto", "torch"])     # auto: numba where it applies (tests/test_kernels.py)
@pytest.mark.parametrize("options", NTM_CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_fused_path_equals_reference_in_values_and_gradients(options, backend):
    model = small("ntm", backend=backend, **options)
    x, lens = right_aligned([5, 3, 0], 5, seed=1)
    for lengths in (None, lens):
        y = model(x, 4, lengths)
        y_ref = model.reference_forward(x, 4, lengths)
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
        weights = torch.randn(y.shape, dtype=y.dtype)
        params = [p for p in model.parameters() if p.requires_grad]
        g = torch.autograd.grad((y * weights).sum(), params)
        g_ref = torch.autograd.grad((y_ref * weights).sum(), params)
        for (n, _), a, b in zip(((n, p) for n, p in model.named_parameters() if p.requires_grad), g, g_ref):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=lambda m: f"{n}: {m}")


def test_every_parameter_learns():
    model = small("ntm", memory_init="learned")
    x, lens = right_aligned([3, 2], 3)
    model(x, 3, lens).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("memory_init_value", [0.0, 1e-6])
def test_saturated_heads_keep_values_and_gradients_finite(dtype, memory_init_value, backend):
    """Head weights x 1000 saturate everything (beta and gamma in the hundreds to thousands, g at 0
    or 1, s one-hot, a zero memory): values and gradients stay finite. (The true gradients reach
    ~1e15 here, through 1 / ||M(i)|| of nearly empty rows; much further and float32 overflows, as
    the exact derivative would.)"""
    model = small("ntm", dtype=dtype, memory_init_value=memory_init_value, backend=backend)
    with torch.no_grad():
        model.heads.weight.mul_(1e3)
    x, lens = right_aligned([6, 2], 6, dtype=dtype)
    y = model(x, 6, lens)
    y.sum().backward()
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_step_by_step_equals_forward():
    model = MODELS["ntm"]
    x = torch.randn(2, 3, C_IN, dtype=torch.float64)
    state, ys = model.initial_state(2), []
    for t in range(5):
        y, state = model.step(x[:, t] if t < 3 else torch.zeros(2, C_IN, dtype=torch.float64), state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys[3:], 1), model(x, 2))


def test_step_does_not_mutate_the_state_it_is_given():
    model = MODELS["ntm"]
    state = model.initial_state(2)
    before = [t.clone() for t in (*state.controller, state.M, state.read_w, state.write_w, state.r)]
    x = torch.randn(2, C_IN, dtype=torch.float64)
    _, new = model.step(x, state)
    _, again = model.step(x, state)
    after = [*state.controller, state.M, state.read_w, state.write_w, state.r]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert isinstance(new, NTMState) and torch.equal(new.M, again.M)
    assert not torch.equal(new.M, state.M)


def test_forward_does_not_mutate_inputs_or_parameters():
    model = MODELS["ntm"]
    x, lens = right_aligned([3, 1], 3)
    x0, lens0, params0 = x.clone(), lens.clone(), [p.clone() for p in model.parameters()]
    model(x, 2, lens).sum().backward()
    model.zero_grad()
    assert torch.equal(x, x0) and torch.equal(lens, lens0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params0))


def test_initial_state_shapes_and_weightings():
    cfg = dict(read_heads=2, write_heads=3)
    model = small("ntm", **cfg)
    s = model.initial_state(4)
    assert [t.shape for t in s.controller] == [(4, 16), (4, 16)]
    assert s.M.shape == (4, 8, 4) and s.read_w.shape == (4, 2, 8) and s.write_w.shape == (4, 3, 8)
    assert s.r.shape == (4, 2, 4)
    torch.testing.assert_close(s.read_w.sum(-1), torch.ones(4, 2, dtype=torch.float64))
    assert (s.M == 1e-6).all()                                         # Collier & Beel's constant, exact
    assert s.M.transpose(1, 2).is_contiguous()                         # stored (B, M, N): see initial_state
    torch.testing.assert_close(s.r, torch.tanh(model.r_bias).expand(4, -1, -1))
    one_hot = small("ntm", weighting_init="one_hot", write_heads=2).initial_state(3)
    assert (one_hot.read_w[:, :, 0] == 1).all() and one_hot.read_w.sum() == 3
    assert (one_hot.write_w[:, :, 0] == 1).all() and one_hot.write_w.sum() == 6
    learned = small("ntm", memory_init="learned", N=5, M=3)
    torch.testing.assert_close(learned.initial_state(2).M, torch.tanh(learned.M_bias).expand(2, -1, -1))


def test_run_with_info():
    model = small("ntm", read_heads=2, write_heads=1)
    x, lens = right_aligned([4, 2], 4)
    logits, info = model.run_with_info(x, 3, lens)
    torch.testing.assert_close(logits, model(x, 3, lens))
    assert info["read_weightings"].shape == (2, 7, 2, 8) and info["write_weightings"].shape == (2, 7, 1, 8)
    assert info["read_vectors"].shape == (2, 7, 2, 4) and info["add_vectors"].shape == (2, 7, 1, 4)
    torch.testing.assert_close(info["write_weightings"].sum(-1), torch.ones(2, 7, 1, dtype=torch.float64))
    # sample 1 starts 2 steps late: its first two steps repeat the initial weightings
    w0 = model.initial_state(1).write_w[0]
    torch.testing.assert_close(info["write_weightings"][1, 1], w0)


# ---------------------------------------------------------------- devices and dtypes

@pytest.mark.parametrize("name", MODEL_NAMES)
def test_float64_model_and_float32_inputs(name):
    model = MODELS[name]
    x, lens = right_aligned([3, 1], 3, dtype=torch.float32)
    y = model(x, 2, lens)
    assert y.dtype == torch.float64
    y32 = small(name, dtype=torch.float32)(x, 2, lens)
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_cuda_matches_cpu(name):
    model = MODELS[name]
    x, lens = right_aligned([4, 2, 0], 4)
    y = model(x, 3, lens)
    gpu = copy.deepcopy(model).cuda()
    y_gpu = gpu(x.cuda(), 3, lens.cuda())
    assert y_gpu.device.type == "cuda"
    torch.testing.assert_close(y_gpu.cpu(), y, rtol=1e-9, atol=1e-9)
    y_gpu.sum().backward()
    if name == "ntm":
        s = gpu.initial_state(2)
        assert all(t.device.type == "cuda" for t in (*s.controller, s.M, s.read_w, s.write_w, s.r))


# ---------------------------------------------------------------- parameter counts

def test_gated_networks_have_four_and_three_times_the_recurrent_parameters():
    counts = {name: count_parameters(small(name, hidden_size=64, layers=2)) for name in ("rnn", "lstm", "gru")}
    readout = 64 * C_OUT + C_OUT
    rnn, lstm, gru = (counts[n] - readout for n in ("rnn", "lstm", "gru"))
    assert lstm == 4 * rnn and gru == 3 * rnn
    assert 3.5 < counts["lstm"] / counts["rnn"] <= 4 and 2.6 < counts["gru"] / counts["rnn"] <= 3


def test_ntm_parameter_count_is_the_sum_of_its_parts():
    # the paper's copy NTM: 8 bits + 2 delimiter channels in, 8 out; LSTM 100; 128 x 20; 1 + 1 heads
    model = build_model("ntm", 10, 8)
    U, M, N, H = 100, 20, 128, 2
    controller = 4 * U * 10 + 4 * U * (M + U) + 4 * U                 # weight_x, weight_rh, bias
    heads = (U + 1) * (H * (M + 1 + 1 + 3 + 1) + 2 * M)                # k, beta, g, s, gamma; e, a
    output = (U + M + 1) * 8
    initial = M                                                         # r_0 bias (w_0 one-hot, fixed)
    assert count_parameters(model) == controller + heads + output + initial
    assert count_parameters(build_model("ntm", 10, 8, weighting_init="learned")) == \
        count_parameters(model) + H * N                                 # w_0 biases
    assert count_parameters(build_model("ntm", 10, 8, memory_init="learned")) == \
        count_parameters(model) + N * M


# ---------------------------------------------------------------- build_model

@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_round_trips_through_json(name):
    model = small(name)
    options = json.loads(json.dumps(dataclasses.asdict(model.config)))
    rebuilt = build_model(name, C_IN, C_OUT, **options).double()
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    x, lens = right_aligned([3, 2], 3)
    torch.testing.assert_close(rebuilt(x, 2, lens), model(x, 2, lens))


@pytest.mark.parametrize("name, options", [
    ("transformer", {}), ("ntm", {"hidden_size": 10}), ("lstm", {"N": 10}), ("ntm", {"N": 0}),
    ("ntm", {"controller": "gru"}), ("ntm", {"shift_range": -1}), ("ntm", {"memory_init": "zeros"}),
    ("ntm", {"read_heads": 1.5}), ("ntm", {"compile": "yes"}), ("ntm", {"memory_init_value": float("nan")}),
    ("ntm", {"clip_value": 0}), ("ntm", {"clip_value": True}),
    ("ntm", {"read_g_bias": float("inf")}), ("ntm", {"write_g_bias": "-4"}), ("ntm", {"read_g_bias": False}),
    ("rnn", {"layers": 0}), ("gru", {"hidden_size": True}),
])
def test_unknown_names_and_bad_options_raise_config_error(name, options):
    with pytest.raises(ConfigError):
        build_model(name, C_IN, C_OUT, **options)


def test_bad_sizes_raise_config_error():
    for name in MODEL_NAMES:
        with pytest.raises(ConfigError):
            build_model(name, 0, C_OUT)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_models_copy_and_pickle(name):
    model = small(name, **({"compile": True} if name == "ntm" else {}))
    clone = pickle.loads(pickle.dumps(copy.deepcopy(model)))
    x = torch.randn(1, 2, C_IN, dtype=torch.float64)
    with torch.no_grad():                                              # no compile: not a training step
        torch.testing.assert_close(clone.eval()(x, 1) if name != "ntm" else clone.reference_forward(x, 1),
                                   model.eval()(x, 1) if name != "ntm" else model.reference_forward(x, 1))


def test_ntm_config_defaults_are_the_papers_copy_setup():
    c = NTMConfig()
    assert (c.controller, c.controller_size, c.controller_layers, c.N, c.M, c.read_heads, c.write_heads,
            c.shift_range, c.memory_init, c.memory_init_value, c.torch_compile) == \
        ("lstm", 100, 1, 128, 20, 1, 1, 1, "constant", 1e-6, False)
    assert isinstance(build_model("ntm", 10, 8), NTM)


@pytest.mark.parametrize("read_heads, write_heads", [(1, 1), (2, 1), (1, 2)])
def test_g_bias_sets_only_those_heads_gates_and_draws_the_same_weights(read_heads, write_heads):
    """read_g_bias / write_g_bias: the interpolation gate g (eq. 7) of those heads starts at
    sigmoid(bias) for every controller output of zero; no other weight changes (the same draws)."""
    sizes = dict(N=5, M=3, controller_size=4, read_heads=read_heads, write_heads=write_heads)
    torch.manual_seed(0)
    plain = NTM(C_IN, C_OUT, NTMConfig(**sizes))
    torch.manual_seed(0)
    biased = NTM(C_IN, C_OUT, NTMConfig(**sizes, read_g_bias=-4.0, write_g_bias=3.0))
    for (name, p), (_, q) in zip(plain.named_parameters(), biased.named_parameters()):
        if name != "heads.bias":
            assert torch.equal(p, q), name
    H, S = read_heads + write_heads, 3
    g = activate(biased.heads.bias[None].detach(), 3, H, write_heads, S).g.flatten()
    torch.testing.assert_close(g, torch.sigmoid(torch.tensor([-4.0] * read_heads + [3.0] * write_heads)))
    changed = (plain.heads.bias != biased.heads.bias).sum().item()
    assert changed == H                                    # the g logits, nothing else


# ---------------------------------------------------------------- torch.compile (slow: minutes on CPU)

@pytest.mark.slow
def test_compiled_ntm_equals_eager():
    eager, compiled = small("ntm"), small("ntm", torch_compile=True)
    x, lens = right_aligned([5, 3, 0], 5, seed=2)
    for lengths in (None, lens):
        y, y_c = eager(x, 4, lengths), compiled(x, 4, lengths)
        torch.testing.assert_close(y_c, y, rtol=1e-10, atol=1e-10)
        g = torch.autograd.grad(y.sum(), list(eager.parameters()))
        g_c = torch.autograd.grad(y_c.sum(), list(compiled.parameters()))
        for a, b in zip(g_c, g):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_compile_falls_back_to_eager_when_it_fails(monkeypatch):
    """Where torch.compile cannot work (no C++ compiler, an unsupported platform), the model warns
    once and runs the same steps eagerly."""
    from ntm.models import fused

    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no compiler here")
        return run
    monkeypatch.setattr(fused.torch, "compile", broken_compile)
    eager, compiled = small("ntm"), small("ntm", torch_compile=True)
    x, lens = right_aligned([4, 2], 4)
    with pytest.warns(UserWarning, match="torch.compile failed"):          # forward, then backward
        y = compiled(x, 3, lens)
        g = torch.autograd.grad(y.sum(), list(compiled.parameters()))
    torch.testing.assert_close(y, eager(x, 3, lens))
    g_eager = torch.autograd.grad(eager(x, 3, lens).sum(), list(eager.parameters()))
    for a, b in zip(g, g_eager):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- the MLP's window, the BiLSTM's summary readout

@pytest.mark.parametrize("align, seen", [("start", slice(0, 4)), ("end", slice(2, 6))])
def test_mlp_sees_only_its_window_and_has_no_answer_beyond_it(align, seen):
    model = small("mlp", align=align)                           # max_T_in 4, max_T_out 3
    x = torch.randn(2, 6, C_IN, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x, 3), model(x[:, seen], 3))       # 2 of the 6 steps are cut
        y = model(x, 5)
        assert (y[:, 3:] == 0).all() and not (y[:, :3] == 0).all()         # logits 0 beyond max_T_out
        outside = x.clone()
        outside[:, 5 if align == "start" else 0] += 1
        torch.testing.assert_close(model(outside, 3), model(x, 3))
        inside = x.clone()
        inside[:, seen.start] += 1
        assert not torch.allclose(model(inside, 3), model(x, 3))
    with pytest.raises(ConfigError, match="align"):
        small("mlp", align="middle")


def test_bilstm_summary_readout_batches_exactly_and_answers_from_the_first_input():
    model = small("bilstm", readout="summary")
    x, lens = right_aligned([4, 2, 1], 4, seed=5)
    with torch.no_grad():
        y = model(x, 2, lens)
        torch.testing.assert_close(y, one_by_one(model, x, lens, 2), rtol=1e-10, atol=1e-10)
        assert torch.equal(y[:, 0], y[:, 1])                               # one summary for every output step
        first = x.clone()
        first[0, 0] += 1                                                   # sample 0's first input
        assert not torch.allclose(model(first, 2, lens)[0], y[0])
    with pytest.raises(ConfigError, match="readout"):
        small("bilstm", readout="middle")
