"""The DNC, Stack-RNN and Tape-RNN (ntm/models/dnc.py, stack_rnn.py, tape_rnn.py): each equation group on
small hand-worked values, adversarial NaN checks (zero memory, huge strengths, every row used, ties in
usage) for values and gradients, the models' steps and states, and their options. The property tests
every model passes (batching with padding, batch-mates, shapes, dtypes, round trips) are in
tests/test_models.py."""

import math

import pytest
import torch

from ntm.errors import ConfigError
from ntm.models import build_model, memory_rows
from ntm.models import dnc
from ntm.models.dnc import DNCConfig, DNCState, Interface
from ntm.models.stack_rnn import StackRNNState, update_stack
from ntm.models.tape_rnn import TapeRNNState, roll, update_tape

D = torch.float64


def t(x):
    return torch.tensor(x, dtype=D)


# ---------------------------------------------------------------- DNC: hand-worked values, one equation group each

def test_content_lookup():
    """Rows e_1, e_2; key e_1; beta = ln 3: D = (1, 0), so C = (3, 1) / 4."""
    M, k, beta = t([[[1, 0], [0, 1]]]), t([[[1, 0]]]), t([[[math.log(3)]]])
    torch.testing.assert_close(dnc.content_lookup(M, k, beta), t([[[0.75, 0.25]]]))


@pytest.mark.parametrize("f, w_r_prev, psi", [
    ([[0.5], [1.0]], [[0.2, 0.8], [1.0, 0.0]], [0.0, 0.6]),      # (1 - .1)(1 - 1), (1 - .4)(1 - 0)
    ([[0.0], [0.0]], [[0.2, 0.8], [1.0, 0.0]], [1.0, 1.0]),      # nothing freed
])
def test_retention(f, w_r_prev, psi):
    torch.testing.assert_close(dnc.retention(t([f]), t([w_r_prev])), t([psi]))


@pytest.mark.parametrize("u_prev, w_w_prev, psi, u", [
    ([0.5, 0.0], [[0.5, 1.0]], [1.0, 0.5], [0.75, 0.5]),         # .5 + .5 - .25; (0 + 1 - 0) .5
    ([0.0, 0.2], [[0.5, 0.0], [0.5, 0.0]], [1.0, 1.0], [0.75, 0.2]),  # two heads: 1 - (1 - .5)^2
])
def test_usage(u_prev, w_w_prev, psi, u):
    torch.testing.assert_close(dnc.usage(t([u_prev]), t([w_w_prev]), t([psi])), t([u]))


@pytest.mark.parametrize("u, a", [
    ([0.5, 0.2, 0.9], [0.1, 0.8, 0.01]),     # free list 1, 0, 2: .8; .5 * .2; .1 * (.2 * .5)
    ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0]),      # ties: the lowest index first
    ([0.5, 0.5], [0.5, 0.25]),               # ties: (1 - .5), (1 - .5) .5
    ([1.0, 1.0], [0.0, 0.0]),                # every row used: nothing to allocate
    ([1.0, 0.0], [0.0, 1.0]),
])
def test_allocation_without_the_floor(u, a):
    torch.testing.assert_close(dnc.allocation(t([u]), eps=0.0), t([a]))


def test_allocation_floors_usage_as_deepmind_does():
    """u' = 1e-6 + (1 - 1e-6) u: an empty memory gives (1 - 1e-6, 1e-6 (1 - 1e-6))."""
    torch.testing.assert_close(dnc.allocation(t([[0.0, 0.0]])), t([[1 - 1e-6, 1e-6 * (1 - 1e-6)]]), rtol=1e-12, atol=0)


def test_allocation_with_the_floor_is_close_and_sums_to_at_most_one():
    u = torch.rand(50, 9, dtype=D, generator=torch.Generator().manual_seed(0))
    a = dnc.allocation(u)
    torch.testing.assert_close(a, dnc.allocation(u, eps=0.0), atol=1e-5, rtol=0)
    assert (a >= 0).all() and (a.sum(-1) <= 1 + 1e-12).all()


def test_allocations_of_two_write_heads_take_different_rows():
    """Head 2 allocates from the usage after head 1's (gated) allocation: empty memory, both gates 1."""
    u, ones = t([[0.0, 0.0, 0.0]]), t([[[1.0], [1.0]]])
    torch.testing.assert_close(dnc.allocations(u, ones, ones, eps=0.0), t([[[1, 0, 0], [0, 1, 0]]]))


def test_write_weighting():
    """g^w (g^a a + (1 - g^a) c) = .5 (.25 (1, 0) + .75 (0, 1))."""
    w = dnc.write_weighting(t([[[1, 0]]]), t([[[0, 1]]]), t([[[0.25]]]), t([[[0.5]]]))
    torch.testing.assert_close(w, t([[[0.125, 0.375]]]))


@pytest.mark.parametrize("w_w, e, v, M_t", [
    ([[1, 0]], [[1, 0]], [[5, 6]], [[5, 8], [3, 4]]),                     # row 0: (1, 2) o (0, 1) + (5, 6)
    ([[0.5, 0], [0.5, 0]], [[1, 1], [1, 1]], [[0, 0], [0, 0]], [[0.25, 0.5], [3, 4]]),  # erasures multiply
    ([[0, 1], [0, 1]], [[0, 0], [0, 0]], [[1, 1], [2, 3]], [[1, 2], [6, 8]]),  # writes add
])
def test_write_memory(w_w, e, v, M_t):
    M = t([[[1, 2], [3, 4]]])
    torch.testing.assert_close(dnc.write_memory(M, t([w_w]), t([e]), t([v])), t([M_t]))


def test_read_memory():
    torch.testing.assert_close(dnc.read_memory(t([[[1, 2], [3, 4]]]), t([[[0.25, 0.75]]])), t([[[2.5, 3.5]]]))


def test_precedence():
    """(1 - sum w) p + w = .5 (.5, .5, 0) + (0, 0, .5)."""
    torch.testing.assert_close(dnc.precedence(t([[[0.5, 0.5, 0]]]), t([[[0, 0, 0.5]]])), t([[[0.25, 0.25, 0.5]]]))


@pytest.mark.parametrize("L_prev, p_prev, w_w, L", [
    ([[0, 0], [0, 0]], [1, 0], [0, 1], [[0, 0], [1, 0]]),           # row 1 written right after row 0
    ([[0, 0.5], [0.5, 0]], [0, 0], [0.5, 0], [[0, 0.25], [0.25, 0]]),  # (1 - .5 - 0) .5 both ways
    ([[0, 0], [0, 0]], [1, 0], [1, 0], [[0, 0], [0, 0]]),           # a row never links to itself
])
def test_link(L_prev, p_prev, w_w, L):
    torch.testing.assert_close(dnc.link(t([[L_prev]]), t([[p_prev]]), t([[w_w]])), t([[L]]))


def test_directional_weightings_follow_the_links():
    L = t([[[[0, 0, 0], [1, 0, 0], [0, 1, 0]]]])                      # 0 -> 1 -> 2
    f, b = dnc.directional(L, t([[[0, 1, 0]]]))                       # read head at row 1
    torch.testing.assert_close(f, t([[[[0, 0, 1]]]]))                 # forward: row 2
    torch.testing.assert_close(b, t([[[[1, 0, 0]]]]))                 # backward: row 0


def test_read_weighting_mixes_backward_content_forward():
    b, c, f = t([[[[1, 0, 0]]]]), t([[[0, 1, 0]]]), t([[[[0, 0, 1]]]])
    torch.testing.assert_close(dnc.read_weighting(b, c, f, t([[[0.2, 0.3, 0.5]]])), t([[[0.2, 0.3, 0.5]]]))


def test_interface_layout_and_activations():
    W, R, H = 3, 2, 1
    xi = dnc.interface(torch.zeros(1, sum(dnc.interface_sizes(W, R, H).values()), dtype=D), W, R, H)
    assert xi.k_r.shape == (1, R, W) and xi.pi.shape == (1, R, 3) and xi.g_w.shape == (1, H, 1)
    torch.testing.assert_close(xi.beta_r, torch.full((1, R, 1), 1 + math.log(2), dtype=D))  # oneplus(0)
    torch.testing.assert_close(xi.pi, torch.full((1, R, 3), 1 / 3, dtype=D))
    torch.testing.assert_close(xi.e, torch.full((1, H, W), 0.5, dtype=D))


# ---------------------------------------------------------------- DNC: the equations composed

def _state(N, W, R=1, H=1, B=1):
    z = torch.zeros
    return DNCState((), z(B, N, W, dtype=D), z(B, N, dtype=D), z(B, H, N, dtype=D), z(B, H, N, dtype=D),
                    z(B, H, N, N, dtype=D), z(B, R, N, dtype=D), z(B, R, W, dtype=D))


def _xi(v, pi, k_r=None, W=2):
    """One write head, one read head: allocate (g^a = g^w = 1), erase nothing, free nothing."""
    one, zero = t([[[1.0]]]), t([[[0.0]]])
    return Interface(k_r=t([[k_r or [0.0] * W]]), beta_r=t([[[50.0]]]), k_w=t([[[0.0] * W]]), beta_w=one,
                     e=t([[[0.0] * W]]), v=t([[v]]), f=zero, g_a=one, g_w=one, pi=t([[pi]]))


def test_writes_go_to_free_rows_and_reads_follow_the_links():
    """Three allocated writes on an empty 4 x 2 memory go to three different rows (the first to row 0:
    ties, lowest index first; then the least used, whose order the previous writes' tiny spill decides);
    the links record that order, so a read by content of the first vector, then forward twice, reads
    the three vectors in the order written: the DNC's sequence recall (Graves et al. 2016, figure 1)."""
    s = _state(4, 2)
    content, forward = [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
    vectors = t([[1, 0], [0, 1], [-1, 0]])
    rows = []
    for v in vectors.tolist():
        s = dnc.memory_step(s, _xi(v, content, k_r=[1.0, 0.0]))
        assert s.w_w[0, 0].max() > 1 - 1e-5
        rows.append(int(s.w_w[0, 0].argmax()))
    assert rows[0] == 0 and len(set(rows)) == 3
    torch.testing.assert_close(s.M[0, rows], vectors, atol=1e-5, rtol=0)
    torch.testing.assert_close(s.u[0, rows[:2]], t([1, 1]), atol=1e-5, rtol=0)   # u_t: writes before t
    torch.testing.assert_close(s.L[0, 0, rows[1], rows[0]] + s.L[0, 0, rows[2], rows[1]], t(2.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.r[0, 0], vectors[0], atol=1e-4, rtol=0)   # content read found the first
    reads = []
    for _ in range(2):
        s = dnc.memory_step(s, _xi([0.0, 0.0], forward)._replace(g_w=t([[[0.0]]])))  # no more writes
        reads.append(s.r[0, 0])
    torch.testing.assert_close(torch.stack(reads), vectors[1:], atol=1e-4, rtol=0)


@pytest.mark.parametrize("H", [1, 2])
def test_weightings_stay_weightings_and_links_have_zero_diagonal(H):
    """Over a random run: write and read weightings, allocation and precedence are in [0, 1] and sum
    to at most 1; usage in [0, 1]; L in [0, 1] with rows and columns summing to at most 1, diagonal 0."""
    model = build_model("dnc", 3, 2, N=5, W=3, read_heads=2, write_heads=H, controller_size=8).double()
    x = torch.randn(4, 12, 3, dtype=D, generator=torch.Generator().manual_seed(1))
    s = model.initial_state(4)
    with torch.no_grad():
        for i in range(12):
            _, s = model.step(x[:, i], s)
            for w in (s.w_w, s.w_r, s.p):
                assert (w >= -1e-12).all() and (w.sum(-1) <= 1 + 1e-9).all()
            assert (s.u >= 0).all() and (s.u <= 1).all()
            assert (s.L >= -1e-12).all() and (s.L.sum(-1) <= 1 + 1e-9).all() and (s.L.sum(-2) <= 1 + 1e-9).all()
            assert (torch.diagonal(s.L, dim1=-2, dim2=-1) == 0).all()


# ---------------------------------------------------------------- DNC: adversarial (no NaN in values or gradients)

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("u", [[0.0] * 5, [1.0] * 5, [0.3, 0.3, 0.3, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0, 1.0]],
                         ids=["empty", "all-used", "ties", "one-free"])
def test_allocation_gradients_are_finite(u, dtype):
    u = torch.tensor([u], dtype=dtype, requires_grad=True)
    a = dnc.allocation(u)
    (g,) = torch.autograd.grad((a * torch.arange(1.0, 6.0, dtype=dtype)).sum(), u)
    assert torch.isfinite(a).all() and torch.isfinite(g).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [1.0, 1e4, 1e30])
@pytest.mark.parametrize("M_value", [0.0, 1e-6, 1.0])
def test_content_lookup_on_zero_memory_and_huge_strengths(M_value, beta, dtype):
    """Values are finite for any strength. Gradients too, except float32 with beta = 1e30 on a (near)
    zero memory: there the exact derivative, beta / ||M(i)|| ~ 1e30 * 1e8, is beyond float32 (with the
    default clip_value = 20 a DNC's strengths stay below 22)."""
    M = torch.full((1, 4, 3), M_value, dtype=dtype, requires_grad=True)
    k = torch.tensor([[[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]]], dtype=dtype, requires_grad=True)
    b = torch.full((1, 2, 1), beta, dtype=dtype, requires_grad=True)
    c = dnc.content_lookup(M, k, b)
    assert torch.isfinite(c).all()
    torch.testing.assert_close(c.sum(-1), torch.ones(1, 2, dtype=dtype))
    if dtype == torch.float32 and beta > 1e20 and M_value < 1e-3:
        return
    grads = torch.autograd.grad((c * torch.arange(4.0, dtype=dtype)).sum(), [M, k, b])
    assert all(torch.isfinite(g).all() for g in grads)


def _saturated_dnc(dtype, scale):
    """A DNC whose interface weights are multiplied by `scale` (strengths in the thousands, gates at 0
    or 1) and whose allocation and write gates are pinned open, so a few steps use every row."""
    torch.manual_seed(0)
    model = build_model("dnc", 3, 2, N=4, W=3, read_heads=2, controller_size=8, clip_value=None).to(dtype)
    sizes = list(dnc.interface_sizes(3, 2, 1).items())
    start = {name: sum(n for _, n in sizes[:i]) for i, (name, _) in enumerate(sizes)}
    with torch.no_grad():
        model.interface.weight.mul_(scale)
        for gate in ("g_a", "g_w"):
            model.interface.bias[start[gate]] = 1e3
        model.interface.bias[start["f"]:start["f"] + 2] = -1e3                  # never free a row
    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_dnc_with_every_row_used_and_huge_strengths_stays_finite(dtype, scale):
    model = _saturated_dnc(dtype, scale)
    x = torch.randn(2, 10, 3, dtype=dtype, generator=torch.Generator().manual_seed(2))
    state = model.initial_state(2)
    for i in range(10):                                                        # 10 writes into 4 rows
        _, state = model.step(x[:, i], state)
    assert (state.u > 0.99).all()                                              # every row used
    y = model(x, 4, torch.tensor([10, 6]))
    y.sum().backward()
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dnc_on_zero_inputs_and_zero_memory_stays_finite(dtype):
    """All-zero inputs: the memory stays (near) zero, every usage ties; values and gradients finite."""
    torch.manual_seed(0)
    model = build_model("dnc", 3, 2, N=4, W=3, read_heads=2, controller_size=8).to(dtype)
    y = model(torch.zeros(2, 5, 3, dtype=dtype), 3)
    y.sum().backward()
    assert torch.isfinite(y).all() and all(torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------- Stack-RNN

S = [[1.0], [2.0], [0.0]]                   # top 1, then 2, then an empty cell


@pytest.mark.parametrize("a, s_t", [
    ([1, 0, 0], [[9], [1], [2]]),           # push 9: everything moves down, the bottom cell falls off
    ([0, 1, 0], [[2], [0], [0]]),           # pop: everything moves up, zeros come in at the bottom
    ([0, 0, 1], S),                         # no-op
    ([0.5, 0.5, 0], [[5.5], [0.5], [1]]),   # half push, half pop
])
def test_update_stack(a, s_t):
    torch.testing.assert_close(update_stack(t([S]), t([a]), t([[9.0]])), t([s_t]))


def test_a_one_cell_stack_pops_to_zero():
    torch.testing.assert_close(update_stack(t([[[4.0]]]), t([[0.25, 0.5, 0.25]]), t([[8.0]])), t([[[3.0]]]))


# ---------------------------------------------------------------- Tape-RNN

TAPE = [[1.0], [2.0], [3.0], [4.0], [5.0]]  # cell 0 under the head


@pytest.mark.parametrize("k, m_t", [
    (0, [9, 2, 3, 4, 5]),                   # write 9, stay
    (1, [2, 3, 4, 5, 9]),                   # write, left: cell 1 comes under the head
    (2, [5, 9, 2, 3, 4]),                   # write, right
    (3, [3, 4, 5, 9, 2]),                   # write, jump left by the input length 2
    (4, [4, 5, 9, 2, 3]),                   # write, jump right by 2
])
def test_update_tape_actions(k, m_t):
    a = torch.nn.functional.one_hot(torch.tensor([k]), 5).to(D)
    out = update_tape(t([TAPE]), a, t([[9.0]]), torch.tensor([2]))
    torch.testing.assert_close(out, t([[[v] for v in m_t]]))


def test_update_tape_mixes_and_works_without_jumps():
    a3 = t([[0.5, 0.25, 0.25]])
    expected = 0.5 * t([9, 2, 3, 4, 5]) + 0.25 * t([2, 3, 4, 5, 9]) + 0.25 * t([5, 9, 2, 3, 4])
    torch.testing.assert_close(update_tape(t([TAPE]), a3, t([[9.0]]), None)[0, :, 0], expected)


def test_each_sample_jumps_by_its_own_length():
    m = torch.arange(12.0, dtype=D).reshape(2, 6, 1)
    together = roll(m, torch.tensor([1, 4]))
    torch.testing.assert_close(together, torch.cat([torch.roll(m[:1], 1, 1), torch.roll(m[1:], 4, 1)]))
    torch.testing.assert_close(roll(m, torch.tensor([7, -2])), roll(m, torch.tensor([1, 4])))  # modulo N


def test_tape_rnn_jump_uses_the_input_length_and_can_be_off():
    """With jumps the outputs depend on the jump distance; without, the actions layer has 3 outputs."""
    torch.manual_seed(0)
    with_jump = build_model("tape_rnn", 3, 2, hidden_size=8, tape_size=7, tape_cell_size=2).double()
    assert with_jump.actions.out_features == 5 and with_jump.config.jump is True
    x = torch.randn(1, 4, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    ys = []
    for n in (1, 3):
        state = with_jump.initial_state(1, torch.tensor([n]))
        for i in range(6):
            y, state = with_jump.step(x[:, i] if i < 4 else torch.zeros(1, 3, dtype=D), state)
        ys.append(y)
    assert not torch.allclose(ys[0], ys[1])
    assert build_model("tape_rnn", 3, 2, jump=False).actions.out_features == 3


# ---------------------------------------------------------------- all three: steps, state, options

SMALL = {"dnc": dict(N=5, W=3, read_heads=2, write_heads=2, controller_size=8),
         "stack_rnn": dict(hidden_size=8, stack_size=4, stack_cell_size=2, core="lstm"),
         "tape_rnn": dict(hidden_size=8, tape_size=6, tape_cell_size=2, mlp_layers=0)}


def leaves(state):
    """Every tensor of a (nested) state tuple, in order."""
    return [state] if isinstance(state, torch.Tensor) else [x for part in state for x in leaves(part)]


def _model(name):
    torch.manual_seed(0)
    return build_model(name, 3, 2, **SMALL[name]).double()


@pytest.mark.parametrize("name", list(SMALL))
def test_step_by_step_equals_forward_and_leaves_the_state_alone(name):
    model = _model(name)
    x = torch.randn(2, 3, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    state = model.initial_state(2, torch.tensor([3, 3])) if name == "tape_rnn" else model.initial_state(2)
    ys = []
    for i in range(5):
        before = [s.clone() for s in leaves(state)]
        y, new = model.step(x[:, i] if i < 3 else torch.zeros(2, 3, dtype=D), state)
        assert all(torch.equal(a, b) for a, b in zip(before, leaves(state)))
        assert type(new) is type(state)
        ys.append(y)
        state = new
    torch.testing.assert_close(torch.stack(ys[3:], 1), model(x, 2))


@pytest.mark.parametrize("name, state_type", [("dnc", DNCState), ("stack_rnn", StackRNNState),
                                              ("tape_rnn", TapeRNNState)])
def test_every_parameter_learns_and_memory_rows(name, state_type):
    model = _model(name)
    assert isinstance(model.initial_state(1), state_type) and model.has_memory
    assert memory_rows(model) == {"dnc": 5, "stack_rnn": 4, "tape_rnn": 6}[name]
    x = torch.randn(2, 4, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    model(x, 4, torch.tensor([4, 2])).square().sum().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n


def test_dnc_defaults_are_deepminds_repeat_copy_setup():
    c = DNCConfig()
    assert (c.N, c.W, c.write_heads, c.read_heads, c.controller_size, c.clip_value) == (16, 16, 1, 4, 64, 20.0)


@pytest.mark.parametrize("name, option, value", [
    ("dnc", "N", 0), ("dnc", "W", 1.5), ("dnc", "read_heads", True), ("dnc", "write_heads", 0),
    ("dnc", "controller_size", "64"), ("dnc", "controller_layers", 0), ("dnc", "clip_value", 0),
    ("dnc", "clip_value", float("nan")),
    ("stack_rnn", "hidden_size", 0), ("stack_rnn", "stack_size", 0), ("stack_rnn", "stack_cell_size", -1),
    ("stack_rnn", "core", "gru"),
    ("tape_rnn", "tape_size", 0), ("tape_rnn", "tape_cell_size", 2.0), ("tape_rnn", "mlp_layers", -1),
    ("tape_rnn", "mlp_size", 0), ("tape_rnn", "core", "transformer"), ("tape_rnn", "jump", 1),
])
def test_bad_options_raise_config_error_naming_the_option(name, option, value):
    with pytest.raises(ConfigError, match=option):
        build_model(name, 3, 2, **{option: value})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["stack_rnn", "tape_rnn"])
def test_saturated_stack_and_tape_models_stay_finite(name, dtype):
    """Every weight x 100: one-hot actions, saturated tanh units, large pushed and written values;
    values and gradients stay finite."""
    torch.manual_seed(0)
    model = build_model(name, 3, 2, **SMALL[name]).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100)
    x = torch.randn(2, 8, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))
    y = model(x, 8, torch.tensor([8, 3]))
    y.sum().backward()
    assert torch.isfinite(y).all() and all(torch.isfinite(p.grad).all() for p in model.parameters())
