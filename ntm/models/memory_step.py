"""One step of the NTM's memory with its gradient derived by hand: the fused training path's
(`ntm.models.fused`; the numba kernels follow the same derivations).

Training runs the equations of `ntm.models.memory` thousands of times per second; autograd's
bookkeeping for some forty small operations per step costs more than the arithmetic. So the fused
path uses `step_forward` (the same equations, keeping what the gradient needs) and `step_backward`
(their gradient, derived by hand below). tests/test_memory.py checks both against autograd through
the per-equation functions, in float64, including the adversarial cases. Shapes as in
`ntm.models.memory`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ntm.models.memory import EPS, add, interpolate, minus_max, read, shift


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
    w_c = torch.softmax(beta * minus_max(K), dim=-1)            # eq. 5
    w_g = interpolate(w_c, w_prev, g)                            # eq. 7
    w_tilde = shift(w_g, s)                                      # eq. 8
    log_w = w_tilde.clamp_min(eps).log()
    w = torch.softmax(gamma * minus_max(log_w), dim=-1)         # eq. 9
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
