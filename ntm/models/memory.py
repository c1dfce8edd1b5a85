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

The fused training path's step (the same equations keeping what their gradient needs, and that
gradient derived by hand) is in `ntm.models.memory_step`; the reader of the paper does not need it.
"""

from __future__ import annotations

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
    return torch.softmax(beta * minus_max(cosine_similarity(k, M, eps)), dim=-1)


def minus_max(x: Tensor) -> Tensor:
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
    return torch.softmax(gamma * minus_max(w_tilde.clamp_min(eps).log()), dim=-1)


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
