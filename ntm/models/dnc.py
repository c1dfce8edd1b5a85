"""The Differentiable Neural Computer (Graves et al. 2016, "Hybrid computing using a neural network
with dynamic external memory", Nature 538, Methods section).

Reading order: the memory equations as pure functions (one per equation group of the Methods, each
citing it, with the paper's symbols), the interface vector's layout, then state, config and model.
Defaults and the multi-write-head generalisation follow DeepMind's implementation
(github.com/google-deepmind/dnc, `addressing.py`, `access.py`, `train.py`): with one write head
(the default) every equation is the paper's.

One time step t: the controller (an LSTM) reads [x_t, r_{t-1}] and emits h_t; a linear layer of h_t is
the interface vector xi_t (read and write keys, strengths, erase and write vectors, free, allocation
and write gates, read modes). Then, in the paper's order: usage u_t from the free gates and the last
weightings; the write weighting w^w_t (allocation a_t or content lookup, gated); the memory write
M_t; the precedence p_t and the temporal link matrix L_t; the read weightings w^r_t (backward b_t,
content c^r_t, forward f_t, mixed by the read modes pi_t); the read vectors r_t. The output is a linear
function of [h_t, r_t] (the paper's v_t + W_r [r_t^1; ...; r_t^R]).

Shapes (B batch, N locations, W word size, R read heads, H write heads):
    M    memory                 (B, N, W)        u    usage                 (B, N)
    w^w  write weightings       (B, H, N)        p    precedence            (B, H, N)
    L    temporal link matrix   (B, H, N, N)     w^r  read weightings       (B, R, N)
    r    read vectors           (B, R, W)        pi   read modes            (B, R, 1 + 2H)
With H > 1 (DeepMind's generalisation): one precedence and link matrix per write head, and the read
modes are [backward through each head's links, content, forward through each head's links].

Numerical safety (tests/test_memory_models.py: zero memory, huge strengths, every row used, ties in
usage, for values and gradients): content lookup is the NTM's `memory.content_weighting` (max
subtracted before beta, eps in the norms); allocation floors usage at `EPS_USAGE` (as DeepMind does)
so the product of usages has no zero factor; the sort is stable, so ties are allocated in index
order, the same in a batch as alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models import memory
from ntm.models.controller import LSTMController
from ntm.models.inputs import check_inputs, check_sizes, unroll

# Floor of the usage before allocation, u' = eps + (1 - eps) u (DeepMind's addressing._EPSILON): the
# product of usages is never exactly 0, so every row keeps a (tiny) allocation weight and gradient.
# (torch's cumprod differentiates correctly through exact zeros as well: tests/test_memory_models.py
# checks values and gradients on empty, full and tied usage.)
EPS_USAGE = 1e-6


# ---------------------------------------------------------------- Methods, "Reading and writing to memory"

def content_lookup(M: Tensor, k: Tensor, beta: Tensor) -> Tensor:
    """C(M, k, beta)[i] = exp(beta D(k, M[i])) / sum_j exp(beta D(k, M[j])), D the cosine similarity
    (Methods, "Content-based addressing"). M (B, N, W), k (B, H, W), beta (B, H, 1) -> (B, H, N).
    The NTM's content weighting (Graves et al. 2014, eqs. 5-6): zero rows and keys give a uniform
    weighting, any beta >= 1 (even 1e30) gives no overflow."""
    return memory.content_weighting(k, beta, M)


def write_memory(M: Tensor, w_w: Tensor, e: Tensor, v: Tensor) -> Tensor:
    """M_t = M_{t-1} o (E - w^w e^T) + w^w v^T (Methods, "Reading and writing to memory").

    M (B, N, W), w_w (B, H, N), e and v (B, H, W) -> (B, N, W). With several write heads the erasures
    multiply and the writes add (DeepMind's access.py), so their order does not matter."""
    keep = torch.prod(1 - w_w.unsqueeze(-1) * e.unsqueeze(-2), dim=1)             # (B, N, W)
    return M * keep + torch.matmul(w_w.transpose(1, 2), v)                        # sum_h w_h v_h^T


def read_memory(M: Tensor, w_r: Tensor) -> Tensor:
    """r^i_t = M_t^T w^{r,i}_t (Methods). M (B, N, W), w_r (B, R, N) -> r (B, R, W)."""
    return torch.matmul(w_r, M)


# ---------------------------------------------------------------- Methods, "Dynamic memory allocation"

def retention(f: Tensor, w_r_prev: Tensor) -> Tensor:
    """psi_t = prod_i (1 - f^i_t w^{r,i}_{t-1}), the memory retention vector. f (B, R, 1) free gates
    in [0, 1], w_r_prev (B, R, N) -> psi (B, N)."""
    return torch.prod(1 - f * w_r_prev, dim=1)


def usage(u_prev: Tensor, w_w_prev: Tensor, psi: Tensor) -> Tensor:
    """u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t, the usage vector.

    u_prev (B, N), w_w_prev (B, H, N), psi (B, N) -> (B, N). Several write heads write as one
    weighting 1 - prod_h (1 - w^w_h) (DeepMind), which is w^w itself for H = 1."""
    written = 1 - torch.prod(1 - w_w_prev, dim=1)                                 # (B, N)
    return (u_prev + written - u_prev * written) * psi


def allocation(u: Tensor, eps: float = EPS_USAGE) -> Tensor:
    """a_t[phi_t[j]] = (1 - u_t[phi_t[j]]) prod_{i<j} u_t[phi_t[i]], the allocation weighting, with
    phi_t the locations sorted by ascending usage (the free list). u (B, N) in [0, 1] -> a (B, N).

    Usage is first floored at eps (u' = eps + (1 - eps) u, DeepMind). The sort is stable: among rows
    of equal usage the lower index comes first, so ties (e.g. the empty memory at t = 1) allocate
    row 0, then 1, ... The gradient flows through the sorted values, not the permutation (as in the
    paper, which treats phi as constant)."""
    u = eps + (1 - eps) * u
    u_sorted, phi = torch.sort(u, dim=-1, stable=True)                           # (B, N) ascending
    ones = u.new_ones(u.shape[:-1] + (1,))
    prod_before = torch.cumprod(torch.cat([ones, u_sorted[..., :-1]], dim=-1), dim=-1)  # exclusive
    a_sorted = (1 - u_sorted) * prod_before
    return torch.zeros_like(a_sorted).scatter(-1, phi, a_sorted)                 # back to row order


def allocations(u: Tensor, g_a: Tensor, g_w: Tensor, eps: float = EPS_USAGE) -> Tensor:
    """The allocation weighting of each write head (B, H, N): head h allocates from the usage after
    heads 1..h-1 have (prospectively) written, u <- u + (1 - u) g^w_h g^a_h a_h (DeepMind's
    generalisation; for H = 1 it is `allocation(u)`). u (B, N), g_a and g_w (B, H, 1)."""
    a = []
    for h in range(g_a.shape[1]):                                                 # heads, not batch
        a_h = allocation(u, eps)
        a.append(a_h)
        u = u + (1 - u) * g_w[:, h] * g_a[:, h] * a_h
    return torch.stack(a, dim=1)


def write_weighting(a: Tensor, c_w: Tensor, g_a: Tensor, g_w: Tensor) -> Tensor:
    """w^w_t = g^w_t [g^a_t a_t + (1 - g^a_t) c^w_t] (Methods, "Write weighting"). a and c_w
    (B, H, N), the write gate g_w and allocation gate g_a (B, H, 1) in [0, 1] -> (B, H, N)."""
    return g_w * torch.lerp(c_w, a, g_a)


# ---------------------------------------------------------------- Methods, "Temporal memory linkage"

def precedence(p_prev: Tensor, w_w: Tensor) -> Tensor:
    """p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t, the precedence weighting (p_0 = 0).
    p_prev and w_w (B, H, N) -> (B, H, N)."""
    return (1 - w_w.sum(-1, keepdim=True)) * p_prev + w_w


def link(L_prev: Tensor, p_prev: Tensor, w_w: Tensor) -> Tensor:
    """L_t[i, j] = (1 - w^w_t[i] - w^w_t[j]) L_{t-1}[i, j] + w^w_t[i] p_{t-1}[j], L_t[i, i] = 0:
    the temporal link matrix (L_0 = 0). L_prev (B, H, N, N), p_prev and w_w (B, H, N) -> (B, H, N, N).
    L[i, j] is how much location i was written just after location j."""
    w_i, w_j = w_w.unsqueeze(-1), w_w.unsqueeze(-2)                              # (B, H, N, 1), (B, H, 1, N)
    L = (1 - w_i - w_j) * L_prev + w_i * p_prev.unsqueeze(-2)
    N = L.shape[-1]
    return L * (1 - torch.eye(N, dtype=L.dtype, device=L.device))                # zero diagonal


def directional(L: Tensor, w_r_prev: Tensor) -> tuple[Tensor, Tensor]:
    """f^i_t = L_t w^{r,i}_{t-1} and b^i_t = L_t^T w^{r,i}_{t-1}, the forward and backward weightings.
    L (B, H, N, N), w_r_prev (B, R, N) -> (f, b), each (B, R, H, N): one per read head and link matrix."""
    f = torch.einsum("bhij,brj->brhi", L, w_r_prev)
    b = torch.einsum("bhji,brj->brhi", L, w_r_prev)
    return f, b


def read_weighting(b: Tensor, c: Tensor, f: Tensor, pi: Tensor) -> Tensor:
    """w^{r,i}_t = pi^i_t[1] b^i_t + pi^i_t[2] c^{r,i}_t + pi^i_t[3] f^i_t (Methods, "Read weighting").

    b and f (B, R, H, N), c (B, R, N), pi (B, R, 1 + 2H) rows summing to 1 in the order
    [backward per write head, content, forward per write head] -> (B, R, N)."""
    modes = torch.cat([b, c.unsqueeze(2), f], dim=2)                             # (B, R, 1 + 2H, N)
    return torch.einsum("brm,brmn->brn", pi, modes)


# ---------------------------------------------------------------- the interface vector xi_t

def interface_sizes(W: int, R: int, H: int) -> dict[str, int]:
    """Widths of the interface vector's parts, in order (Methods, "Interface parameters"):
    read keys and strengths, write keys and strengths, erase and write vectors, free gates,
    allocation and write gates, read modes."""
    return {"k_r": R * W, "beta_r": R, "k_w": H * W, "beta_w": H, "e": H * W, "v": H * W,
            "f": R, "g_a": H, "g_w": H, "pi": R * (1 + 2 * H)}


class Interface(NamedTuple):
    """xi_t split and activated. Shapes as the module docstring; gates and strengths (..., 1)."""
    k_r: Tensor      # (B, R, W) read keys
    beta_r: Tensor   # (B, R, 1) read strengths, oneplus: >= 1
    k_w: Tensor      # (B, H, W) write keys
    beta_w: Tensor   # (B, H, 1) write strengths, oneplus
    e: Tensor        # (B, H, W) erase vectors, sigmoid
    v: Tensor        # (B, H, W) write vectors
    f: Tensor        # (B, R, 1) free gates, sigmoid
    g_a: Tensor      # (B, H, 1) allocation gates, sigmoid
    g_w: Tensor      # (B, H, 1) write gates, sigmoid
    pi: Tensor       # (B, R, 1 + 2H) read modes, softmax


def oneplus(x: Tensor) -> Tensor:
    """oneplus(x) = 1 + log(1 + e^x) (Methods): strengths in [1, inf)."""
    return 1 + nn.functional.softplus(x)


def interface(xi: Tensor, W: int, R: int, H: int) -> Interface:
    """Split xi (B, sum of `interface_sizes`) and apply each part's activation (Methods)."""
    sizes = interface_sizes(W, R, H)
    parts = dict(zip(sizes, torch.split(xi, list(sizes.values()), dim=-1)))
    B = xi.shape[0]
    return Interface(
        k_r=parts["k_r"].reshape(B, R, W), beta_r=oneplus(parts["beta_r"]).unsqueeze(-1),
        k_w=parts["k_w"].reshape(B, H, W), beta_w=oneplus(parts["beta_w"]).unsqueeze(-1),
        e=torch.sigmoid(parts["e"]).reshape(B, H, W), v=parts["v"].reshape(B, H, W),
        f=torch.sigmoid(parts["f"]).unsqueeze(-1), g_a=torch.sigmoid(parts["g_a"]).unsqueeze(-1),
        g_w=torch.sigmoid(parts["g_w"]).unsqueeze(-1),
        pi=torch.softmax(parts["pi"].reshape(B, R, 1 + 2 * H), dim=-1))


# ---------------------------------------------------------------- state

class DNCState(NamedTuple):
    """Everything that carries over from one step to the next. Passed in and returned, never mutated."""
    controller: tuple[Tensor, ...]   # LSTM (h_1, c_1, ..., h_L, c_L), each (B, units)
    M: Tensor                        # (B, N, W) memory
    u: Tensor                        # (B, N) usage
    w_w: Tensor                      # (B, H, N) write weightings
    p: Tensor                        # (B, H, N) precedence weightings
    L: Tensor                        # (B, H, N, N) temporal link matrices
    w_r: Tensor                      # (B, R, N) read weightings
    r: Tensor                        # (B, R, W) read vectors


def memory_step(state: DNCState, xi: Interface) -> DNCState:
    """The memory's part of one step, in the paper's order (the controller state is passed through):
    usage, write weighting, write, linkage, read weighting, read (Methods)."""
    psi = retention(xi.f, state.w_r)                                             # (B, N)
    u = usage(state.u, state.w_w, psi)                                           # (B, N)
    a = allocations(u, xi.g_a, xi.g_w)                                           # (B, H, N)
    c_w = content_lookup(state.M, xi.k_w, xi.beta_w)                             # (B, H, N)
    w_w = write_weighting(a, c_w, xi.g_a, xi.g_w)                                # (B, H, N)
    M = write_memory(state.M, w_w, xi.e, xi.v)                                   # (B, N, W)
    L = link(state.L, state.p, w_w)                                              # (B, H, N, N)
    p = precedence(state.p, w_w)                                                 # (B, H, N)
    f, b = directional(L, state.w_r)                                             # (B, R, H, N)
    c_r = content_lookup(M, xi.k_r, xi.beta_r)                                   # (B, R, N)
    w_r = read_weighting(b, c_r, f, xi.pi)                                       # (B, R, N)
    return DNCState(state.controller, M, u, w_w, p, L, w_r, read_memory(M, w_r))


# ---------------------------------------------------------------- config


@dataclass
class DNCConfig:
    """Hyperparameters of a `DNC` (input and output sizes are given to the model, not kept here).

    Defaults: DeepMind's repeat-copy setup (github.com/google-deepmind/dnc, train.py): memory
    16 x 16, one write head, four read heads, an LSTM controller of 64 units, outputs clipped to 20.
    """
    N: int = 16                       # memory locations
    W: int = 16                       # word size (the NTM's M)
    read_heads: int = 4               # R
    write_heads: int = 1              # H (the paper has one; more as DeepMind's code)
    controller_size: int = 64         # LSTM units per layer
    controller_layers: int = 1
    # clip the controller output and the model's logits to [-clip_value, clip_value] (DeepMind's
    # clip_value = 20: bounds every interface parameter); None: no clipping
    clip_value: float | None = 20.0

    def __post_init__(self):
        for name in ("N", "W", "read_heads", "write_heads", "controller_size", "controller_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"DNC option {name} must be an integer >= 1, got {value!r}")
        clip = self.clip_value
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0):
            raise ConfigError(f"DNC option clip_value must be a positive number or absent, got {clip!r}")


# ---------------------------------------------------------------- model

class DNC(nn.Module):
    """A Differentiable Neural Computer with an LSTM controller.

    forward(inputs (B, T_in, C_in), T_out, input_lengths=None, output_lengths=None) -> logits (B, T_out, C_out)
    step(x (B, C_in), state) -> (logits (B, C_out), state);  initial_state(batch_size) -> DNCState
    Raises ConfigError for bad options or inputs that do not fit the model. Plain PyTorch and
    autograd (no fused path).
    """

    has_memory = True        # the trainer's restart rule and the comparison's "exceeds memory N" use it

    def __init__(self, input_size: int, output_size: int, config: DNCConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else DNCConfig()
        check_sizes("DNC", input_size, output_size)
        self.input_size, self.output_size = input_size, output_size
        R, W, U = cfg.read_heads, cfg.W, cfg.controller_size
        self.controller = LSTMController(input_size, R * W, U, cfg.controller_layers)
        self.interface = nn.Linear(U, sum(interface_sizes(W, R, cfg.write_heads).values()))
        self.output = nn.Linear(U + R * W, output_size)

    def initial_state(self, batch_size: int) -> DNCState:
        """All zeros (DeepMind): empty memory and usage, no links, zero weightings and read vectors.
        Made from the model's own weights, so device and dtype follow."""
        B, cfg, like = batch_size, self.config, self.output.weight
        N, H, R = cfg.N, cfg.write_heads, cfg.read_heads
        return DNCState(controller=self.controller.initial_state(B), M=like.new_zeros(B, N, cfg.W),
                        u=like.new_zeros(B, N), w_w=like.new_zeros(B, H, N), p=like.new_zeros(B, H, N),
                        L=like.new_zeros(B, H, N, N), w_r=like.new_zeros(B, R, N),
                        r=like.new_zeros(B, R, cfg.W))

    def step(self, x: Tensor, state: DNCState) -> tuple[Tensor, DNCState]:
        """One time step: x (B, C_in), state -> (logits y (B, C_out), new state)."""
        cfg = self.config
        x = x.to(self.output.weight.dtype)
        h, controller = self.controller(self.controller.project(x), state.r.flatten(1), state.controller)
        h = self._clip(h)                                                         # (B, U)
        xi = interface(self.interface(h), cfg.W, cfg.read_heads, cfg.write_heads)
        new = memory_step(state._replace(controller=controller), xi)
        y = self._clip(self.output(torch.cat([h, new.r.flatten(1)], dim=1)))      # (B, C_out)
        return y, new

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                output_lengths: Tensor | None = None) -> Tensor:
        """Read inputs (B, T_in, C_in), right-aligned, then T_out steps of zero input; return the
        logits of those T_out steps (B, T_out, C_out). At sample b's padding steps
        (t < T_in - input_lengths[b]) its state does not change, so a batch gives the same logits as
        its samples one by one. output_lengths is checked and otherwise unused (the DNC is causal)."""
        B, _ = check_inputs(inputs, T_out, input_lengths, self.input_size, output_lengths)
        inputs = inputs.to(self.output.weight.dtype)
        if T_out == 0:
            return inputs.new_zeros(B, 0, self.output_size)
        return unroll(self.step, self.initial_state(B), inputs, T_out, input_lengths)[0]

    def _clip(self, x: Tensor) -> Tensor:
        c = self.config.clip_value
        return x if c is None else x.clamp(-c, c)
