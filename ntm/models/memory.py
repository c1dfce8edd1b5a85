"""The memory of a Neural Turing Machine: the paper's equations as pure functions on tensors.

Source: Graves, Wayne & Danihelka (2014), "Neural Turing Machines", arXiv:1410.5401, section 3.
Each function is one equation (or one named step of the addressing pipeline, figure 2) and cites it.
Nothing here holds state or changes a tensor in place: every function returns new tensors.

Shapes (the paper's symbols; any leading batch dimensions are allowed where a shape says ``...``):
    M      memory                      (..., N, M)   N locations, each a vector of size M
    w      weightings                  (..., H, N)   one row per head; each row sums to 1
    k      keys                        (..., H, M)
    beta   key strengths, > 0          (..., H, 1)
    g      interpolation gates, [0,1]  (..., H, 1)
    s      shift weightings            (..., H, S)   S = 2 shift_range + 1 shifts, -shift_range..shift_range in
                                                       that order; rows sum to 1
    gamma  sharpening exponents, >= 1  (..., H, 1)
    e      erase vectors, [0,1]        (..., W, M)   W write heads
    a      add vectors                 (..., W, M)
    r      read vectors                (..., H, M)

Numerical safety (no NaN or Inf in values or gradients, float32 and float64; tests/test_memory.py
tries zero memory, zero keys, huge beta and gamma, uniform and one-hot weightings):
- cosine similarity adds `EPS` to squared norms, so a zero key or a zero memory row gives K = 0, and
  the square root never sees 0 (whose derivative is infinite);
- sharpening is done in log space, softmax(gamma * log w), which equals w^gamma / sum_j w(j)^gamma
  but never raises 0 to a power nor divides by a zero sum; `w` is clamped to at least `EPS` first,
  which also removes tiny negative values a shift could leave from rounding;
- both softmaxes (eqs. 5 and 9) subtract the row's maximum before multiplying by beta or gamma, so
  no product overflows to +inf, however large beta or gamma are.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

# Floor for squared norms and for weightings before the log. Far below anything that matters:
# a memory row initialised to 1e-6 (Collier & Beel 2018) has squared norm M * 1e-12 = 2e-11 at M = 20,
# and a weighting of 1e-16 contributes nothing once normalised. Representable in float32 and float64.
EPS = 1e-16


# ---------------------------------------------------------------- section 3.3.1: focusing by content

def cosine_similarity(k: Tensor, M: Tensor, eps: float = EPS) -> Tensor:
    """K[k, M(i)] = k . M(i) / (||k|| ||M(i)||) for every head and location (eq. 6).

    k (..., H, M), M (..., N, M) -> (..., H, N). Norms are sqrt(sum x^2 + eps): zero vectors give 0.
    """
    dot = torch.matmul(k, M.transpose(-1, -2))                   # (..., H, N)
    k_norm = (k * k).sum(-1, keepdim=True).add(eps).rsqrt()      # (..., H, 1), 1 / ||k||
    M_norm = (M * M).sum(-1).add(eps).rsqrt().unsqueeze(-2)      # (..., 1, N), 1 / ||M(i)||
    return dot * k_norm * M_norm


def content_weighting(k: Tensor, beta: Tensor, M: Tensor, eps: float = EPS) -> Tensor:
    """w^c(i) = exp(beta K[k, M(i)]) / sum_j exp(beta K[k, M(j)]) (eq. 5).

    k (..., H, M), beta (..., H, 1), M (..., N, M) -> (..., H, N). The largest K is subtracted before
    the product with beta (softmax does not change): beta (K - max K) <= 0 never overflows, so even
    beta = 3e38 gives a one-hot (or an even split between ties), not NaN.
    """
    return torch.softmax(beta * _minus_max(cosine_similarity(k, M, eps)), dim=-1)


def _minus_max(x: Tensor) -> Tensor:
    """x - max(x) along the last axis, the max held constant: softmax(c (x - max x)) = softmax(c x)
    in value and in gradient, and c (x - max x) cannot overflow to +inf however large c is."""
    return x - x.detach().amax(-1, keepdim=True)


# ---------------------------------------------------------------- section 3.3.2: focusing by location

def interpolate(w_c: Tensor, w_prev: Tensor, g: Tensor) -> Tensor:
    """w^g = g w^c + (1 - g) w_{t-1} (eq. 7). All (..., H, N) but g (..., H, 1)."""
    return torch.lerp(w_prev, w_c, g)


def shift(w_g: Tensor, s: Tensor) -> Tensor:
    """w~(i) = sum_j w^g(j) s(i - j), indices modulo N (eq. 8): circular convolution.

    w_g (..., H, N), s (..., H, S) with S = 2 shift_range + 1 and s[..., m] the weight of a shift by
    m - shift_range, so a
    focus at j moves to j + 1 under s = [0, 0, 1] -> (..., H, N). Batched: one torch.roll of the whole
    batch per shift (a loop over the S shifts, never over the batch); rolls beat a gather or a grouped
    convolution on CPU for small S.
    """
    shift_range = (s.shape[-1] - 1) // 2
    w_tilde = s[..., shift_range:shift_range + 1] * w_g          # shift 0
    for m in range(s.shape[-1]):
        if m != shift_range:                                     # torch.roll(w, d)[i] = w[i - d]
            w_tilde = torch.addcmul(w_tilde, s[..., m:m + 1], torch.roll(w_g, m - shift_range, dims=-1))
    return w_tilde


def sharpen(w_tilde: Tensor, gamma: Tensor, eps: float = EPS) -> Tensor:
    """w(i) = w~(i)^gamma / sum_j w~(j)^gamma (eq. 9), computed as softmax(gamma log w~).

    w_tilde (..., H, N), gamma (..., H, 1) -> (..., H, N). w~ is clamped to >= eps first: no log(0),
    no 0^gamma, no zero denominator, and tiny negative rounding residue from a shift is removed;
    the largest log w~ is subtracted first, as in `content_weighting`.
    """
    return torch.softmax(gamma * _minus_max(w_tilde.clamp_min(eps).log()), dim=-1)


def address(M: Tensor, w_prev: Tensor, k: Tensor, beta: Tensor, g: Tensor, s: Tensor,
            gamma: Tensor, eps: float = EPS) -> Tensor:
    """The whole addressing pipeline of figure 2: content (5-6), interpolation (7), shift (8),
    sharpening (9). Every head at once: heads are a batch dimension. Returns w_t (..., H, N)."""
    w_c = content_weighting(k, beta, M, eps)
    w_g = interpolate(w_c, w_prev, g)
    w_tilde = shift(w_g, s)
    return sharpen(w_tilde, gamma, eps)


# ---------------------------------------------------------------- sections 3.1 and 3.2: reading and writing

def read(M: Tensor, w: Tensor) -> Tensor:
    """r = sum_i w(i) M(i) (eq. 2). M (..., N, M), w (..., H, N) -> r (..., H, M)."""
    return torch.matmul(w, M)


def erase(M: Tensor, w: Tensor, e: Tensor) -> Tensor:
    """M~(i) = M(i) [1 - w(i) e] (eq. 3), for each write head in turn.

    M (..., N, M), w (..., W, N), e (..., W, M) -> (..., N, M). With several write heads the
    erasures multiply, so their order does not matter (section 3.2).
    """
    for h in range(w.shape[-2]):                                 # heads, not batch: W is small
        w_h = w[..., h, :, None]                                 # (..., N, 1)
        M = torch.addcmul(M, M * w_h, e[..., h, None, :], value=-1)  # M - M w(i) e = M (1 - w(i) e)
    return M


def add(M_tilde: Tensor, w: Tensor, a: Tensor) -> Tensor:
    """M(i) = M~(i) + w(i) a (eq. 4), summed over write heads (order does not matter).

    M_tilde (..., N, M), w (..., W, N), a (..., W, M) -> (..., N, M).
    """
    for h in range(w.shape[-2]):                                 # outer products, no bmm with inner size 1
        M_tilde = torch.addcmul(M_tilde, w[..., h, :, None], a[..., h, None, :])
    return M_tilde


def write(M: Tensor, w: Tensor, e: Tensor, a: Tensor) -> Tensor:
    """Erase then add (eqs. 3-4): the memory after the write heads' step. Shapes as `erase`."""
    return add(erase(M, w, e), w, a)


# ---------------------------------------------------------------- one whole step, with its gradient by hand
#
# Training runs the equations above thousands of times per second; autograd's bookkeeping for some
# forty small operations per step costs more than the arithmetic. So the model's training loop uses
# `step_forward` (the same equations, keeping what the gradient needs) and `step_backward` (their
# gradient, derived by hand below). tests/test_memory.py checks both against autograd through the
# functions above, in float64, including the adversarial cases.

class StepSaved(NamedTuple):
    """What `step_backward` needs from `step_forward` (one step; shapes as the module docstring)."""
    M: Tensor            # (B, N, M) memory before the step
    w_prev: Tensor       # (B, H, N)
    k: Tensor
    beta: Tensor
    g: Tensor
    s: Tensor
    gamma: Tensor
    e: Tensor
    a: Tensor
    k_inv: Tensor        # (B, H, 1) 1 / ||k||
    M_inv: Tensor        # (B, 1, N) 1 / ||M(i)||
    K: Tensor            # (B, H, N) cosine similarities (eq. 6)
    w_c: Tensor          # (B, H, N) eq. 5
    w_g: Tensor          # (B, H, N) eq. 7
    w_tilde: Tensor      # (B, H, N) eq. 8
    log_w: Tensor        # (B, H, N) log of w_tilde clamped to >= EPS
    w: Tensor            # (B, H, N) eq. 9
    erased: tuple        # memory before each write head's erase (W tensors (B, N, M)); erased[0] is M


def step_forward(M: Tensor, w_prev: Tensor, k: Tensor, beta: Tensor, g: Tensor, s: Tensor,
                 gamma: Tensor, e: Tensor, a: Tensor, R: int, eps: float = EPS
                 ) -> tuple[Tensor, Tensor, Tensor, StepSaved]:
    """Address every head (eqs. 5-9), read with the first R heads (eq. 2), write with the rest (eqs.
    3-4). Returns (w (B, H, N), r (B, R, M), M_t (B, N, M), saved). Same values as `address`, `read`
    and `write`."""
    k_inv = (k * k).sum(-1, keepdim=True).add(eps).rsqrt()       # (B, H, 1)
    M_inv = (M * M).sum(-1).add(eps).rsqrt().unsqueeze(-2)       # (B, 1, N)
    K = torch.matmul(k, M.transpose(-1, -2)) * k_inv * M_inv     # (B, H, N) eq. 6
    w_c = torch.softmax(beta * _minus_max(K), dim=-1)            # eq. 5
    w_g = interpolate(w_c, w_prev, g)                            # eq. 7
    w_tilde = shift(w_g, s)                                      # eq. 8
    log_w = w_tilde.clamp_min(eps).log()
    w = torch.softmax(gamma * _minus_max(log_w), dim=-1)         # eq. 9
    r = read(M, w[..., :R, :])                                   # eq. 2
    w_write = w[..., R:, :]
    erased, M_t = [], M
    for h in range(w_write.shape[-2]):                           # eq. 3, head by head
        erased.append(M_t)
        M_t = torch.addcmul(M_t, M_t * w_write[..., h, :, None], e[..., h, None, :], value=-1)
    M_t = add(M_t, w_write, a)                                   # eq. 4
    saved = StepSaved(M, w_prev, k, beta, g, s, gamma, e, a, k_inv, M_inv, K, w_c, w_g, w_tilde,
                      log_w, w, tuple(erased))
    return w, r, M_t, saved


def step_backward(saved: StepSaved, dw: Tensor, dr: Tensor, dM_t: Tensor, R: int, eps: float = EPS):
    """The gradient of `step_forward`: given the gradients of its outputs w, r, M_t, return those of
    its inputs (dM, dw_prev, dk, dbeta, dg, ds, dgamma, de, da), same shapes as the inputs.

    Derivation, in the reverse order of the forward pass (all sums over the axis the shape loses):
    add:      da = w_w^T dM_t;  dw_w = a . dM_t(i)
    erase:    M~ = X (1 - w e):  dX = dM~ (1 - w e);  dw_w -= (dM~ X) e;  de = -w^T (dM~ X)
    read:     dM += w_r^T dr;  dw_r = dr . M(i)
    sharpen:  w = softmax(v), v = gamma log w~:  dv = w (dw - sum w dw);  dgamma = sum dv log w~;
              dw~ = gamma dv / w~ where w~ >= eps (the clamp passes no gradient below it)
    shift:    ds_m = sum_i dw~(i) w^g(i - d_m);  dw^g(i) = sum_m s_m dw~(i + d_m)
    interp:   dw^c = g dw^g;  dw_prev = (1 - g) dw^g;  dg = sum dw^g (w^c - w_prev)
    content:  dz = w^c (dw^c - sum w^c dw^c);  dbeta = sum dz K;  dK = beta dz
    cosine:   K = (k . M(i)) k_inv M_inv(i):  with D = dK k_inv M_inv and Q = dK K,
              dk = D M - (sum_i Q) k_inv^2 k;  dM(i) += D^T k - (sum_h Q) M_inv(i)^2 M(i)
    """
    sv = saved
    w_write = sv.w[..., R:, :]
    # eq. 4 (add)
    da = torch.matmul(w_write, dM_t)                                       # (B, W, M)
    dw_write = torch.matmul(sv.a, dM_t.transpose(-1, -2))                  # (B, W, N)
    # eq. 3 (erase), last head first. Rank-one updates of (B, N, M) tensors are torch.addcmul with
    # broadcast factors, not matrix products with an inner size of 1 (slow, and they would return
    # a different memory layout than M's, which makes every later sum slow too).
    dM, de = dM_t, [None] * len(sv.erased)
    dw_write = list(dw_write.unbind(-2))
    for h in reversed(range(len(sv.erased))):
        X, w_h, e_h = sv.erased[h], w_write[..., h:h + 1, :], sv.e[..., h:h + 1, :]   # (B, 1, N), (B, 1, M)
        P = dM * X                                                         # (B, N, M)
        dw_write[h] = dw_write[h] - torch.matmul(e_h, P.transpose(-1, -2)).squeeze(-2)
        de[h] = -torch.matmul(w_h, P)                                      # (B, 1, M)
        dM = torch.addcmul(dM, dM * w_h.transpose(-1, -2), e_h, value=-1)  # dM (1 - w e)
    de = torch.cat(de, dim=-2) if de else sv.e.new_zeros(sv.e.shape)
    # eq. 2 (read)
    w_read = sv.w[..., :R, :]
    for h in range(R):
        dM = torch.addcmul(dM, w_read[..., h, :, None], dr[..., h, None, :])
    dw_read = torch.matmul(dr, sv.M.transpose(-1, -2))                     # (B, R, N)
    dw = dw + torch.cat([dw_read] + [d.unsqueeze(-2) for d in dw_write], dim=-2)
    # eq. 9 (sharpen)
    dv = sv.w * (dw - (sv.w * dw).sum(-1, keepdim=True))
    dgamma = (dv * sv.log_w).sum(-1, keepdim=True)
    dw_tilde = torch.where(sv.w_tilde >= eps, sv.gamma * dv / sv.w_tilde.clamp_min(eps), 0.0)
    # eq. 8 (shift): w~ = sum_m s_m roll(w^g, d_m) with d_m = m - R
    S = sv.s.shape[-1]
    ds = torch.stack([(dw_tilde * torch.roll(sv.w_g, m - S // 2, dims=-1)).sum(-1) for m in range(S)], -1)
    dw_g = shift(dw_tilde, sv.s.flip(-1))                                  # the adjoint shift: s reversed
    # eq. 7 (interpolation)
    dw_c = sv.g * dw_g
    dw_prev = dw_g - dw_c
    dg = (dw_g * (sv.w_c - sv.w_prev)).sum(-1, keepdim=True)
    # eq. 5 (content)
    dz = sv.w_c * (dw_c - (sv.w_c * dw_c).sum(-1, keepdim=True))
    dbeta = (dz * sv.K).sum(-1, keepdim=True)
    dK = sv.beta * dz
    # eq. 6 (cosine)
    D = dK * sv.k_inv * sv.M_inv                                           # (B, H, N)
    Q = dK * sv.K
    dk = torch.matmul(D, sv.M) - Q.sum(-1, keepdim=True) * sv.k_inv.square() * sv.k
    dM = torch.addcmul(dM, sv.M, (Q.sum(-2, keepdim=True) * sv.M_inv.square()).transpose(-1, -2), value=-1)
    for h in range(D.shape[-2]):
        dM = torch.addcmul(dM, D[..., h, :, None], sv.k[..., h, None, :])
    return dM, dw_prev, dk, dbeta, dg, ds, dgamma, de, da
