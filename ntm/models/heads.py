"""What the controller emits for the heads: the paper's quantities, split by name, activated in one place.

Graves et al. (2014), section 3: each head emits a key k, key strength beta, interpolation gate g,
shift weighting s and sharpening exponent gamma; a write head also an erase vector e and add vector a.
The activations are Collier & Beel's (2018, arXiv:1807.08518, and their reference implementation);
the paper gives the ranges, not the functions.

Layout of the controller's head output (B, P), by name, all heads of a kind side by side
(H = read + write heads, read heads first; W = write heads; S = 2 shift_range + 1 shifts):
    k (H*M) | beta (H) | g (H) | s (H*S) | gamma (H) | e (W*M) | a (W*M)
It is defined once, by `block_sizes` (and `block_starts` from it): the activations here, the numba
kernels (`ntm.models.kernels`, which compile these same two functions) and the machine-to-NTM
compiler all read it from there.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from numba.extending import register_jitable
from torch import Tensor
from torch.nn import functional as F

HEAD_PARAMETERS = ("k", "beta", "g", "s", "gamma", "e", "a")


class HeadParameters(NamedTuple):
    """Every head's parameters for one step, activated."""
    k: Tensor      # (B, H, M) keys: tanh
    beta: Tensor   # (B, H, 1) key strengths: softplus, > 0 (eq. 5)
    g: Tensor      # (B, H, 1) interpolation gates: sigmoid, in (0, 1) (eq. 7)
    s: Tensor      # (B, H, S) shift weightings: softmax over the shifts -shift_range..shift_range (eq. 8)
    gamma: Tensor  # (B, H, 1) sharpening exponents: 1 + softplus, >= 1 (eq. 9)
    e: Tensor      # (B, W, M) erase vectors: sigmoid, in (0, 1) (eq. 3)
    a: Tensor      # (B, W, M) add vectors: tanh (eq. 4)


# register_jitable: plain Python here, and compiled into the numba kernels that call them. numba's
# on-disk cache does not notice a change to these two functions: after changing the layout, delete
# ntm/models/__pycache__/kernels*.nb* (the kernels' tests fail until then).
@register_jitable
def block_sizes(H, W, M, S):
    """Width of each block of the head output, in `HEAD_PARAMETERS` order: the layout's one source.
    H heads (read first), W write heads, M memory width, S shifts."""
    return H * M, H, H, H * S, H, W * M, W * M


@register_jitable
def block_starts(H, W, M, S):
    """Where beta, g, s, gamma, e and a start in the head output (k starts at 0), and its width P."""
    k, beta, g, s, gamma, e, a = block_sizes(H, W, M, S)
    o_beta = k
    o_g = o_beta + beta
    o_s = o_g + g
    o_gamma = o_s + s
    o_e = o_gamma + gamma
    return o_beta, o_g, o_s, o_gamma, o_e, o_e + e, o_e + e + a


def head_sizes(M: int, read_heads: int, write_heads: int, shift_range: int) -> dict[str, int]:
    """Width of each named block of the head output, in layout order."""
    sizes = block_sizes(read_heads + write_heads, write_heads, M, 2 * shift_range + 1)
    return dict(zip(HEAD_PARAMETERS, sizes))


def activate(raw: Tensor, M: int, H: int, W: int, S: int) -> HeadParameters:
    """Split the head output raw (B, P) by name and apply every activation (the only place they are)."""
    B = raw.shape[0]
    k, beta, g, s, gamma, e, a = raw.split(list(block_sizes(H, W, M, S)), dim=-1)
    return HeadParameters(
        k=torch.tanh(k).view(B, H, M),
        beta=F.softplus(beta).view(B, H, 1),
        g=torch.sigmoid(g).view(B, H, 1),
        s=torch.softmax(s.reshape(B, H, S), dim=-1),
        gamma=1 + F.softplus(gamma).view(B, H, 1),
        e=torch.sigmoid(e).view(B, W, M),
        a=torch.tanh(a).view(B, W, M),
    )


def activate_backward(raw: Tensor, p: HeadParameters, d: HeadParameters) -> Tensor:
    """Gradient of `activate` for the fused backward pass: the gradients d (same shapes as p, the
    activated values) -> the gradient of raw (B, P). softplus' = sigmoid; the rest from p itself."""
    B, H, M = p.k.shape
    S = p.s.shape[-1]
    o_beta, _, _, o_gamma, _, _, _ = block_starts(H, p.e.shape[1], M, S)
    raw_beta, raw_gamma = raw[:, o_beta:o_beta + H], raw[:, o_gamma:o_gamma + H]
    parts = (
        d.k * (1 - p.k * p.k),
        d.beta.view(B, H) * torch.sigmoid(raw_beta),
        d.g * p.g * (1 - p.g),
        p.s * (d.s - (p.s * d.s).sum(-1, keepdim=True)),
        d.gamma.view(B, H) * torch.sigmoid(raw_gamma),
        d.e * p.e * (1 - p.e),
        d.a * (1 - p.a * p.a),
    )
    return torch.cat([x.reshape(B, -1) for x in parts], dim=-1)
