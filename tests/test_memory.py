"""ntm.models.memory: each equation on small hand-worked values, its invariants as properties, adversarial
inputs that must not give NaN or Inf (values and gradients), and the fused step (`step_forward`,
`step_backward`) against autograd through the per-equation functions."""

import math

import pytest
import torch
from hypothesis import given, strategies as st

from ntm.models import memory, memory_step

DTYPES = [torch.float32, torch.float64]


def t(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


# ---------------------------------------------------------------- hand-worked values, one equation each

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, expected", [
    ([1.0, 0.0], [1.0, 0.0, 1 / math.sqrt(2), -1.0]),
    ([0.0, 2.0], [0.0, 1.0, 1 / math.sqrt(2), 0.0]),
    ([3.0, 3.0], [1 / math.sqrt(2), 1 / math.sqrt(2), 1.0, -1 / math.sqrt(2)]),
])
def test_cosine_similarity_eq6(k, expected, dtype):
    M = t([[1, 0], [0, 1], [1, 1], [-2, 0]], dtype)               # (N=4, M=2)
    K = memory.cosine_similarity(t([k], dtype), M)                # (H=1, N)
    torch.testing.assert_close(K, t([expected], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_weighting_eq5(dtype):
    # K = [1, 0, -1] (key e1 against rows e1, e2, -e1); beta = ln 2 -> w ~ [2, 1, 1/2]
    M = t([[1, 0], [0, 1], [-1, 0]], dtype)
    w = memory.content_weighting(t([[1, 0]], dtype), t([[math.log(2)]], dtype), M)
    torch.testing.assert_close(w, t([[4 / 7, 2 / 7, 1 / 7]], dtype))


@pytest.mark.parametrize("g, expected", [(0.0, [0, 0, 1]), (1.0, [1, 0, 0]), (0.25, [0.25, 0, 0.75])])
def test_interpolate_eq7(g, expected):
    w = memory.interpolate(t([[1, 0, 0]]), t([[0, 0, 1]]), t([[g]]))
    torch.testing.assert_close(w, t([expected]))


@pytest.mark.parametrize("w_g, s, expected", [
    ([1, 0, 0, 0], [0, 1, 0], [1, 0, 0, 0]),                     # shift 0
    ([1, 0, 0, 0], [0, 0, 1], [0, 1, 0, 0]),                     # +1
    ([1, 0, 0, 0], [1, 0, 0], [0, 0, 0, 1]),                     # -1 wraps round
    ([0, 1, 0, 0], [0.5, 0, 0.5], [0.5, 0, 0.5, 0]),             # blur both ways
    ([0.25, 0.5, 0.25, 0], [0.1, 0.6, 0.3], [0.2, 0.4, 0.3, 0.1]),
    ([1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0]),         # R = 2: +2
    ([1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 1, 0]),         # R = 2: -2 wraps
])
def test_shift_eq8(w_g, s, expected):
    torch.testing.assert_close(memory.shift(t([w_g]), t([s])), t([expected]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w, gamma, expected", [
    ([0.5, 0.25, 0.25], 1.0, [0.5, 0.25, 0.25]),                 # gamma = 1 changes nothing
    ([0.5, 0.25, 0.25], 2.0, [2 / 3, 1 / 6, 1 / 6]),
    ([0.6, 0.4, 0.0], 3.0, [27 / 35, 8 / 35, 0.0]),              # 0^gamma = 0
    ([1 / 3, 1 / 3, 1 / 3], 50.0, [1 / 3, 1 / 3, 1 / 3]),
])
def test_sharpen_eq9(w, gamma, expected, dtype):
    torch.testing.assert_close(memory.sharpen(t([w], dtype), t([[gamma]], dtype)), t([expected], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_read_eq2(dtype):
    M = t([[1, 2], [3, 4], [5, 6]], dtype)
    r = memory.read(M, t([[0.5, 0.5, 0.0], [0, 0, 1]], dtype))
    torch.testing.assert_close(r, t([[2, 3], [5, 6]], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_erase_and_add_eq3_eq4(dtype):
    M = t([[1, 2], [3, 4], [5, 6]], dtype)
    w, e, a = t([[1, 0.5, 0]], dtype), t([[1, 0]], dtype), t([[1, -1]], dtype)
    M_tilde = memory.erase(M, w, e)
    torch.testing.assert_close(M_tilde, t([[0, 2], [1.5, 4], [5, 6]], dtype))
    torch.testing.assert_close(memory.add(M_tilde, w, a), t([[1, 1], [2, 3.5], [5, 6]], dtype))
    torch.testing.assert_close(memory.write(M, w, e, a), t([[1, 1], [2, 3.5], [5, 6]], dtype))


def test_two_write_heads_erase_multiplies_and_adds_sum():
    M = t([[4.0, 8.0]])
    w, e, a = t([[1.0], [1.0]]), t([[0.5, 0.0], [0.5, 0.25]]), t([[1.0, 0.0], [0.0, 2.0]])
    # erase: 4 (1 - .5)(1 - .5) = 1, 8 (1 - 0)(1 - .25) = 6; add: [1, 0] + [0, 2]
    torch.testing.assert_close(memory.write(M, w, e, a), t([[2.0, 8.0]]))
    torch.testing.assert_close(memory.write(M, w.flip(0), e.flip(0), a.flip(0)), t([[2.0, 8.0]]))


# ---------------------------------------------------------------- properties

def random_addressing(seed, B=2, H=3, N=7, M=4, R=1, dtype=torch.float64):
    """Inputs of `address` in their ranges (as `ntm.models.heads.activate` makes them)."""
    gen = torch.Generator().manual_seed(seed)
    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)
    S = 2 * R + 1
    return dict(M=randn(B, N, M), w_prev=torch.softmax(randn(B, H, N), -1), k=torch.tanh(randn(B, H, M)),
                beta=torch.nn.functional.softplus(randn(B, H, 1)) * 5, g=torch.sigmoid(randn(B, H, 1)),
                s=torch.softmax(randn(B, H, S), -1), gamma=1 + torch.nn.functional.softplus(randn(B, H, 1)))


@given(seed=st.integers(0, 2**31 - 1), N=st.integers(1, 9), R=st.integers(0, 3))
def test_address_gives_weightings(seed, N, R):
    w = memory.address(**random_addressing(seed, N=N, R=R))
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=w.dtype))


@given(seed=st.integers(0, 2**31 - 1), N=st.integers(1, 9), d=st.integers(-2, 2))
def test_one_hot_shift_is_a_rotation(seed, N, d):
    w = torch.softmax(torch.randn(3, N, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), -1)
    s = torch.zeros(3, 5, dtype=torch.float64)
    s[:, d + 2] = 1
    torch.testing.assert_close(memory.shift(w, s), torch.roll(w, d, dims=-1))


@given(seed=st.integers(0, 2**31 - 1), gamma=st.floats(1, 100))
def test_sharpen_keeps_order_and_sums_to_one(seed, gamma):
    w = torch.softmax(torch.randn(2, 9, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), -1)
    out = memory.sharpen(w, torch.full((2, 1), gamma, dtype=torch.float64))
    torch.testing.assert_close(out.sum(-1), torch.ones(2, dtype=torch.float64))
    larger = w.unsqueeze(-1) > w.unsqueeze(-2)                     # w(i) > w(j) ...
    assert (out.unsqueeze(-1) >= out.unsqueeze(-2))[larger].all()  # ... keeps out(i) >= out(j)
    assert (out.max(-1).values >= w.max(-1).values - 1e-12).all()  # never flatter


@given(seed=st.integers(0, 2**31 - 1))
def test_write_changes_nothing_where_weighting_is_zero_or_vectors_are_zero(seed):
    a = random_addressing(seed)
    M, w = a["M"], a["w_prev"][:, :1]
    w = w * (torch.arange(w.shape[-1]) % 2 == 0)                   # zero at odd locations
    e, add = torch.rand(2, 1, 4, dtype=torch.float64), torch.randn(2, 1, 4, dtype=torch.float64)
    M_new = memory.write(M, w, e, add)
    torch.testing.assert_close(M_new[:, 1::2], M[:, 1::2])
    torch.testing.assert_close(memory.write(M, w, torch.zeros_like(e), torch.zeros_like(add)), M)


# ---------------------------------------------------------------- adversarial inputs: no NaN, no Inf

def adversarial(case, dtype, B=2, H=3, N=8, M=5):
    """Inputs for `step_forward`/`address`: one named extreme at a time (H = 2 read + 1 write head)."""
    a = random_addressing(0, B=B, H=H, N=N, M=M, dtype=dtype)
    a["e"], a["a"] = torch.rand(B, 1, M, dtype=dtype), torch.tanh(torch.randn(B, 1, M, dtype=dtype))
    if case == "zero memory":
        a["M"] = torch.zeros_like(a["M"])
    elif case == "zero memory rows and zero keys":
        a["M"][:, ::2] = 0
        a["k"][:, 0] = 0
    elif case == "memory at 1e-6 (Collier & Beel's start)":
        a["M"] = torch.full_like(a["M"], 1e-6)
    elif case == "huge beta":
        a["beta"] = torch.full_like(a["beta"], 1e6)
    elif case == "huge gamma":
        a["gamma"] = torch.full_like(a["gamma"], 1e6)
    elif case == "huge beta and gamma, uniform weightings":
        a["beta"], a["gamma"] = torch.full_like(a["beta"], 1e6), torch.full_like(a["gamma"], 1e6)
        a["w_prev"] = torch.full_like(a["w_prev"], 1 / N)
        a["M"] = torch.zeros_like(a["M"])
    elif case == "uniform weightings, constant memory":
        a["w_prev"] = torch.full_like(a["w_prev"], 1 / N)
        a["M"] = torch.ones_like(a["M"])
    elif case == "one-hot weightings, no content, exact shift (zeros before the power)":
        a["w_prev"] = torch.eye(N, dtype=dtype)[:H].expand(B, H, N).clone()
        a["g"] = torch.zeros_like(a["g"])
        a["s"] = torch.eye(3, dtype=dtype)[2].expand(B, H, 3).clone()
        a["gamma"] = torch.full_like(a["gamma"], 30.0)
    else:
        raise ValueError(case)
    return a


CASES = ["zero memory", "zero memory rows and zero keys", "memory at 1e-6 (Collier & Beel's start)",
         "huge beta", "huge gamma", "huge beta and gamma, uniform weightings",
         "uniform weightings, constant memory",
         "one-hot weightings, no content, exact shift (zeros before the power)"]


def finite(*xs):
    return all(bool(torch.isfinite(x).all()) for x in xs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_adversarial_values_and_gradients_are_finite(case, dtype):
    a = adversarial(case, dtype)
    for x in a.values():
        x.requires_grad_()
    w = memory.address(a["M"], a["w_prev"], a["k"], a["beta"], a["g"], a["s"], a["gamma"])
    r = memory.read(a["M"], w[:, :2])
    M_new = memory.write(a["M"], w[:, 2:], a["e"], a["a"])
    assert finite(w, r, M_new)
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=dtype))
    gen = torch.Generator().manual_seed(1)
    loss = sum((x * torch.randn(x.shape, generator=gen, dtype=dtype)).sum() for x in (w, r, M_new))
    grads = torch.autograd.grad(loss, list(a.values()))
    assert finite(*grads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("huge", [1e30, 3e38])
def test_extreme_beta_and_gamma_values_stay_finite(huge, dtype):
    a = adversarial("zero memory", dtype)
    big = torch.tensor(huge, dtype=dtype)                          # 3e38: float32's largest
    w = memory.address(a["M"], a["w_prev"], a["k"], big.expand_as(a["beta"]), a["g"], a["s"],
                       big.expand_as(a["gamma"]))
    assert finite(w)
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sharpen_handles_zeros_tiny_negatives_and_an_all_zero_row(dtype):
    w = t([[0.0, 1.0, 0.0], [-1e-20, 0.5, 0.5], [0.0, 0.0, 0.0]], dtype).requires_grad_()
    out = memory.sharpen(w, t([[5.0], [5.0], [5.0]], dtype))
    assert finite(out)
    torch.testing.assert_close(out, t([[0, 1, 0], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], dtype))
    assert finite(torch.autograd.grad(out[:, 1].sum(), w)[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cosine_of_zero_vectors_is_zero_with_finite_gradient(dtype):
    k, M = torch.zeros(1, 3, dtype=dtype, requires_grad=True), torch.zeros(4, 3, dtype=dtype, requires_grad=True)
    K = memory.cosine_similarity(k, M)
    assert (K == 0).all()
    assert finite(*torch.autograd.grad(K.sum(), [k, M]))


# ---------------------------------------------------------------- the fused step against autograd

def reference_step(a, R):
    w = memory.address(a["M"], a["w_prev"], a["k"], a["beta"], a["g"], a["s"], a["gamma"])
    return w, memory.read(a["M"], w[:, :R]), memory.write(a["M"], w[:, R:], a["e"], a["a"])


def check_fused_step(a, R, dtype, rtol=None, atol=None):
    """step_forward equals the per-equation functions; step_backward equals autograd through them."""
    names = ["M", "w_prev", "k", "beta", "g", "s", "gamma", "e", "a"]
    leaves = {n: a[n].detach().clone().requires_grad_() for n in names}
    w, r, M_new = reference_step(leaves, R)
    gen = torch.Generator().manual_seed(2)
    dw, dr, dM = (torch.randn(x.shape, generator=gen, dtype=dtype) for x in (w, r, M_new))
    expected = torch.autograd.grad((w * dw).sum() + (r * dr).sum() + (M_new * dM).sum(), list(leaves.values()))
    with torch.no_grad():
        w2, r2, M2, saved = memory_step.step_forward(*(a[n] for n in names), R=R)
        got = memory_step.step_backward(saved, dw, dr, dM, R=R)
    for x, y in ((w2, w), (r2, r), (M2, M_new)):
        torch.testing.assert_close(x, y.detach(), rtol=rtol, atol=atol)
    for name, x, y in zip(names, got, expected):
        assert finite(x), name
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol, msg=lambda m: f"d{name}: {m}")


@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 3), N=st.integers(1, 9), M=st.integers(1, 5),
       R=st.integers(1, 2), W=st.integers(1, 2), shift_range=st.integers(0, 2))
def test_fused_step_matches_autograd(seed, B, N, M, R, W, shift_range):
    a = random_addressing(seed, B=B, H=R + W, N=N, M=M, R=shift_range)
    gen = torch.Generator().manual_seed(seed)
    a["e"] = torch.rand(B, W, M, generator=gen, dtype=torch.float64)
    a["a"] = torch.tanh(torch.randn(B, W, M, generator=gen, dtype=torch.float64))
    check_fused_step(a, R, torch.float64)


def test_fused_step_keeps_memory_layout():
    """The model stores M as (B, M, N) in memory (see NTM.initial_state); no step may change that,
    or every later reduction runs over a strided axis."""
    a = adversarial("memory at 1e-6 (Collier & Beel's start)", torch.float32)
    a["M"] = torch.randn(2, 5, 8).transpose(1, 2)                  # (B, N, M) stored as (B, M, N)
    with torch.no_grad():
        _, _, M_new, saved = memory_step.step_forward(*(a[n] for n in ["M", "w_prev", "k", "beta", "g", "s",
                                                                   "gamma", "e", "a"]), R=2)
        dM = memory_step.step_backward(saved, torch.zeros(2, 3, 8), torch.zeros(2, 2, 5), M_new.clone(), R=2)[0]
    assert M_new.stride() == a["M"].stride() and dM.stride() == a["M"].stride()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_fused_step_on_adversarial_inputs(case, dtype):
    a = adversarial(case, dtype)
    if dtype == torch.float64 and "huge" not in case:
        check_fused_step(a, 2, dtype)
        return
    # float32, or gradients of order gamma * N: compare loosely, but both must be finite
    names = ["M", "w_prev", "k", "beta", "g", "s", "gamma", "e", "a"]
    with torch.no_grad():
        w, r, M_new, saved = memory_step.step_forward(*(a[n] for n in names), R=2)
        grads = memory_step.step_backward(saved, torch.ones_like(w), torch.ones_like(r), torch.ones_like(M_new), R=2)
    assert finite(w, r, M_new, *grads)
