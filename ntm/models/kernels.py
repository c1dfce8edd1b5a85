"""The NTM's fused training episode on the CPU as two numba kernels: every step forward in one call,
every step's hand-derived gradient in another.

Same computation as `fused.forward_step` / `fused.backward_step` (the equations of
`ntm.models.memory` with the gradients derived in `memory_step.step_backward`, the LSTM of
`ntm.models.controller`, the activations of `ntm.models.heads`), for the default family: one LSTM
layer as controller, any number of read and write heads, any shift range, optional clipping. Other
controllers use the torch fused path. Why: on a CPU a PyTorch step is some 250 small operations
whose dispatch costs more than their arithmetic; here a step is two matrix products (BLAS, through
scipy) and per-sample loops over a memory that fits in the L1 cache. The batch is split into parts,
one per thread of our own pool (`run_parts`, `threads()`, `set_threads`: the trainer sets it from
``kernel_threads``); numba's own threading layer is not used. A part's call reads the whole batch's
gx, padding mask and output gradients in place at its offset b0: a copy per part, made in Python
under the GIL, held the second thread back (bench/README.md, "The fifth pass").
tests/test_kernels.py checks values and gradients against the reference path.

What keeps the loops fast (issue 21; bench/README.md "Models", `bench/bench_kernels.py`): every
loop over the N locations either updates arrays element by element, which LLVM vectorises, or is
a reduction through `vecmath.dot_span`/`sum_span`/`max_span` (vector lanes in a fixed order, so
the same bits from a fresh compile and from numba's cache), over a matrix's rows or columns through
`vecmath.row_dots`/`col_dot` and kin (the same sums, several in flight); exp, expm1 and log are `vecmath`'s,
which vectorise where libm's do not; numpy's error model (no exception branch per division); plain
copy loops (`_copy`, `_copy2`) instead of numba's slice assignment; the next sample's saved values
prefetched while a sample is computed (`_prefetch_memory`, `vecmath.prefetch`: each kernel ~10 %
faster, more when the box's caches are contended; bench/README.md "The tenth pass"). Per sample and step at batch 32, float32, one
thread: forward 19-21 -> ~4-5 us, backward 15-17 -> ~5-6 us (OpenBLAS's AVX-512 kernels for the two
products; ~7-8 each where OPENBLAS_CORETYPE forces its Haswell ones: bench/README.md, "The eighth
pass"). numba caches these kernels by this
file's timestamp: after editing `vecmath.py`, touch this file (or clear its `__pycache__`), or
the cached kernels keep the old maths.

Layouts (numpy arrays of one float dtype, C-contiguous; T steps, B samples; U controller units;
H = R + W heads, read heads first; S = 2 shift_range + 1 shifts; P head outputs):
    gx    (T, B, 4U)        the controller's input term per step (`LSTMController.project`)
    keep  (T, B) bool       True: sample b is padding at step t, its state does not change
    mem   (B, M, N)         memory, each sample's N locations side by side per component (the
                            layout `NTM.initial_state` keeps, transposed from the paper's N x M)
    w     (B, H, N)         weightings;  r (B, R*M) read vectors, flattened
    WT    (R*M + U, 4U)     the LSTM's recurrent weights, transposed: X = [r_{t-1}, h_{t-1}] -> gates
    WhT   (U, P), bh (P,)   the head layer, transposed
Gates are (i, f, o, g) as in `LSTMController`; head outputs k | beta | g | s | gamma | e | a as
`ntm.models.heads.block_starts` lays them out (compiled into these kernels).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import NamedTuple

import numpy as np
from numba import njit

# numba's np.dot calls the BLAS that scipy ships (OpenBLAS), loaded at the first compile. Its own
# threads would compete with the batch's threads (`run_parts`) for the same cores: 2 parts on 2 cores
# ran at 0.55x instead of 1.4x. Single-threaded unless the user chose otherwise (numpy's BLAS, loaded
# before this line, is not affected).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ntm.models import vecmath
from ntm.models.heads import block_starts
from ntm.models.memory import EPS

# fast-math limited to "nsz" (signed zeros) and "arcp" (x / y as x * (1 / y)): with "reassoc" or
# "contract" as well, the code LLVM made depended on how the functions were compiled together, so a
# run that compiled the kernels and a run that loaded them from numba's cache differed in the last
# bits (and then took another path). Without "nnan"/"ninf", NaN and Inf still propagate.
# numpy's error model: x / 0 gives inf or NaN instead of raising, so a division has no branch to an
# exception, which kept LLVM from vectorising every loop that divides.
_FLAGS = {"nsz", "arcp"}
_jit = njit(cache=True, fastmath=_FLAGS, error_model="numpy")


# Every helper computes in its arrays' dtype: `one` (or `dtype.type(...)`) is 1 of that dtype, since a
# Python float literal would turn float32 arithmetic into float64 (slower, not vectorised as well).

@_jit
def _sigmoid(x, one):
    return one / (one + vecmath.exp(-x))


@_jit
def _tanh(x, one):
    """tanh x = -expm1(-2|x|) / (2 + expm1(-2|x|)), signed: as accurate as libm's tanh (relative error
    ~1e-7 in float32, also near 0, where 2 sigmoid(2x) - 1 loses every digit) at a third of its cost,
    and vectorised (`vecmath.expm1`)."""
    e = vecmath.expm1(-(abs(x) + abs(x)))
    t = -e / (one + one + e)
    return t if x >= 0 else -t


@_jit
def _softplus(x, one):
    return x if x > 20 else np.log1p(np.exp(x))                # torch's softplus (threshold 20)


@_jit
def _softmax_(x, scale):
    """x <- softmax(scale (x - max x)) in place, as eqs. 5 and 9 (the max subtracted first). The
    exponentials and the sum in separate loops, so that both vectorise (`vecmath`)."""
    n = x.shape[0]
    mx = vecmath.max_span(x, 0, n)
    for i in range(n):
        x[i] = vecmath.exp(scale * (x[i] - mx))
    total = vecmath.sum_span(x, 0, n)
    for i in range(n):
        x[i] /= total


@_jit
def _add_rolled(out, scale, x, d):
    """out += scale * roll(x, d), i.e. out[i] += scale * x[(i - d) mod N] (torch.roll's direction)."""
    N = x.shape[0]
    d %= N
    for i in range(d):
        out[i] += scale * x[N - d + i]
    for i in range(d, N):
        out[i] += scale * x[i - d]


@_jit
def _shift3(out, x, sc, sa, da, sb, db):
    """out[i] = (sc x[i] + sa x[(i - da) mod N]) + sb x[(i - db) mod N] for shifts da, db of +-1:
    a three-way shift (S = 3) in one pass, its terms added in the order of `_add_rolled` called for
    da, then db, so the same bits. Why: a head's lerp and shift took ~205 ns for N = 128 with those
    three passes (their loops vectorised poorly), ~52 with this one (bench/README.md, "The tenth pass")."""
    N = x.shape[0]
    out[0] = (sc * x[0] + sa * x[(N - da) % N]) + sb * x[(N - db) % N]
    for i in range(1, N - 1):
        out[i] = (sc * x[i] + sa * x[i - da]) + sb * x[i - db]
    out[N - 1] = (sc * x[N - 1] + sa * x[(N - 1 - da) % N]) + sb * x[(N - 1 - db) % N]


@_jit
def _shift(out, s, x, sign):
    """out <- sum_m s[m] roll(x, sign (m - S // 2)) for the S = len(s) shift weights: eq. 8 (sign 1)
    and its adjoint (sign -1); the centre term first, then the others in the order of m. The
    kernels call `_shift3` instead where S = 3, with its shifts as constants (the same bits; a call
    through here put ~150-250 ns back on a ~1.8 us forward step)."""
    S, N = s.shape[0], x.shape[0]
    centre = S // 2
    for i in range(N):
        out[i] = s[centre] * x[i]
    for m in range(S):
        if m != centre:
            _add_rolled(out, s[m], x, sign * (m - centre))


@_jit
def _copy(dst, src):
    """dst <- src for two vectors of one length, as a plain loop. numba's slice assignment
    (`dst[:] = src`) goes through its general broadcasting code (0.9 us for a 20 x 128 memory here,
    against 0.12 us for loops); no reshape either, which calls into numba's C helpers."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@_jit
def _copy2(dst, src):
    """dst <- src for two matrices of one shape (see `_copy`)."""
    for j in range(dst.shape[0]):
        for i in range(dst.shape[1]):
            dst[j, i] = src[j, i]


@_jit
def _fill(dst, value):
    """dst <- value everywhere in a vector (see `_copy`)."""
    for i in range(dst.shape[0]):
        dst[i] = value


@_jit
def _dot(a, b):
    """sum_i a[i] b[i] over two equal-length vectors, vectorised in a fixed order (`vecmath.dot_span`)."""
    return vecmath.dot_span(a, 0, b, 0, a.shape[0])


@_jit
def _dot_rolled(a, x, d):
    """sum_i a[i] roll(x, d)[i] = sum_i a[i] x[(i - d) mod N], as two spans (no modulo per element)."""
    N = x.shape[0]
    d %= N
    return vecmath.dot_span(a, 0, x, N - d, d) + vecmath.dot_span(a, d, x, 0, N - d)


# ---------------------------------------------------------------- the saved values, reused

_FREE: dict = {}      # free sets of saved arrays, by batch size, sizes and dtype
_FREE_LOCK = threading.Lock()


class Saved(NamedTuple):
    """What `episode_forward` saves for `episode_backward`, per step t and sample b (shapes after
    (T, B); (1, B) when nothing is saved for a backward pass)."""
    X: np.ndarray         # (R*M + U,) the LSTM's recurrent input [r_{t-1}, h_{t-1}]
    ifo: np.ndarray       # (3U,) input, forget, output gates
    g: np.ndarray         # (U,) candidate
    c_prev: np.ndarray    # (U,) c_{t-1}
    tanh_c: np.ndarray    # (U,) tanh c_t
    raw: np.ndarray       # (P,) head output before the activations
    act: np.ndarray       # (P,) after them
    k_inv: np.ndarray     # (H,) 1 / ||k||
    M_inv: np.ndarray     # (N,) 1 / ||M(i)||
    K: np.ndarray         # (H, N) cosine similarities (eq. 6)
    w_c: np.ndarray       # (H, N) eq. 5
    w_g: np.ndarray       # (H, N) eq. 7
    w_tilde: np.ndarray   # (H, N) eq. 8
    log_w: np.ndarray     # (H, N) log of w_tilde, clamped
    w_prev: np.ndarray    # (H, N) w_{t-1}
    w_new: np.ndarray     # (H, N) w_t (eq. 9)
    erased: np.ndarray    # (W, M, N) memory before each write head's erase ((1, 1, ...) at inference)


def saved_arrays(T: int, B: int, U: int, P: int, R: int, W: int, M: int, N: int, dtype, save: bool) -> tuple:
    """A `Saved` of arrays for what `episode_forward` saves (uninitialised; every value read is
    written first), each (T, B, ...), or (1, B, ...) when not save; and a handle for `release`. A set given
    back is reused (its first T steps): the first write to a fresh array costs a page fault per
    4 KiB, which was some 40% of a training step at batch 32."""
    key = (B, U, P, R, W, M, N, np.dtype(dtype).str, save)
    Ts, H = (T if save else 1), R + W
    with _FREE_LOCK:                                             # the batch's threads share the list
        free = _FREE.get(key, [])
        arrays = free.pop() if free and free[-1][0].shape[0] >= Ts else None
    if arrays is None:
        shapes = [(R * M + U,), (3 * U,), (U,), (U,), (U,), (P,), (P,), (H,), (N,)] + [(H, N)] * 7
        arrays = tuple(np.empty((Ts, B) + sh, dtype) for sh in shapes) + (
            np.empty((Ts, B if save else 1, W, M, N), dtype),)
    return Saved(*(a[:Ts] for a in arrays)), (key, arrays)


def release(handle) -> None:
    """Give back a set from `saved_arrays` (by its handle) once its backward pass is done."""
    key, arrays = handle
    with _FREE_LOCK:
        free = _FREE.setdefault(key, [])
        if len(free) < 4:
            free.append(arrays)
            free.sort(key=lambda a: a[0].shape[0])             # the longest last: tried first


@_jit
def _prefetch_memory(saved, t, b):
    """Prefetch what `_memory_step` writes (and its gradient reads) of sample b at step t: the
    caller works on the sample before it meanwhile (`vecmath.prefetch`: a hint, the same bits).
    One loop per rank of array: numba loops only over a tuple of one type."""
    for a in (saved.raw[t, b], saved.act[t, b], saved.M_inv[t, b], saved.k_inv[t, b]):
        vecmath.prefetch(a)
    for a in (saved.K[t, b], saved.w_c[t, b], saved.w_g[t, b], saved.w_tilde[t, b], saved.log_w[t, b],
              saved.w_prev[t, b], saved.w_new[t, b]):
        vecmath.prefetch(a)
    vecmath.prefetch(saved.erased[t, b])


@_jit
def _prefetch_cell(saved, t, b):
    """Prefetch what `_lstm_cell` saves of sample b at step t (see `_prefetch_memory`)."""
    for a in (saved.ifo[t, b], saved.g[t, b], saved.c_prev[t, b], saved.tanh_c[t, b]):
        vecmath.prefetch(a)


# ---------------------------------------------------------------- one sample, one step, forward

@_jit
def _lstm_cell(z, gx, c, h_new, c_new, ifo, g, c_prev, tanh_c):
    """Gates from z + gx (4U,); writes h_new, c_new and what the gradient needs (LSTMController).
    Three loops, not one: the gates i, f, o lie side by side in z, so one loop of sigmoids covers
    them; in a single loop over u LLVM vectorised less of it (0.39 -> 0.27 us for U = 100, the same bits)."""
    U, one = c.shape[0], c.dtype.type(1)
    for p in range(3 * U):                                                 # i, f, o
        ifo[p] = _sigmoid(z[p] + gx[p], one)
    for u in range(U):
        g[u] = _tanh(z[3 * U + u] + gx[3 * U + u], one)
    for u in range(U):
        cc = ifo[U + u] * c[u] + ifo[u] * g[u]
        tc = _tanh(cc, one)
        c_prev[u], tanh_c[u] = c[u], tc
        c_new[u], h_new[u] = cc, ifo[2 * U + u] * tc


@_jit
def _activate(z, bh, clip, raw, act, H, W, M, S):
    """Head output raw = clip(z + bh), then every activation of `heads.activate` into act (P,)."""
    ob, og, o_s, ogam, oe, oa, _ = block_starts(H, W, M, S)
    one = act.dtype.type(1)
    for p in range(raw.shape[0]):
        x = z[p] + bh[p]
        raw[p] = min(max(x, -clip), clip) if clip > 0 else x
    for p in range(ob):
        act[p] = _tanh(raw[p], one)                                        # k
    for hh in range(H):
        act[ob + hh] = _softplus(raw[ob + hh], one)                        # beta
        act[og + hh] = _sigmoid(raw[og + hh], one)                         # g
        act[ogam + hh] = one + _softplus(raw[ogam + hh], one)              # gamma
        s = act[o_s + hh * S:o_s + (hh + 1) * S]
        for m in range(S):
            s[m] = raw[o_s + hh * S + m]
        _softmax_(s, one)                                                  # s
    for p in range(oe, oa):
        act[p] = _sigmoid(raw[p], one)                                     # e
    for p in range(oa, raw.shape[0]):
        act[p] = _tanh(raw[p], one)                                        # a


@_jit
def _write(act, mem, w, R, oe, oa, erased, save):
    """Erase, then add, for every write head in turn (eqs. 3-4), in place on mem (M, N); erased
    (W, M, N) gets the memory before each head's erase if save. Row by row through 1-d views
    (mem[j], w[R + hw]), each row copied for the gradient just before its erase: with 2-d indexing
    and a copy of the whole memory first these loops took ~440 ns, ~310 so."""
    M, N = mem.shape
    W = w.shape[0] - R
    for hw in range(W):                                                    # eq. 3, head by head
        ww = w[R + hw]
        for j in range(M):
            mj, e = mem[j], act[oe + hw * M + j]
            if save:
                _copy(erased[hw, j], mj)                                   # the row before this erase
            for i in range(N):
                mj[i] -= mj[i] * ww[i] * e
    for hw in range(W):                                                    # eq. 4
        ww = w[R + hw]
        for j in range(M):
            mj, a = mem[j], act[oa + hw * M + j]
            for i in range(N):
                mj[i] += ww[i] * a


@_jit
def _memory_step(act, mem, w, r, R, S, M_inv, k_inv, K, w_c, w_g, w_tilde, log_w, w_prev, w_new, erased, save):
    """Address every head (eqs. 5-9), read (2), erase and add (3-4) for one sample, in place on
    mem (M, N), w (H, N), r (R*M,); the intermediate values go to the other arrays (per head (H, N);
    erased (W, M, N): the memory before each write head's erase, only if save)."""
    M, N = mem.shape
    H = w.shape[0]
    W = H - R
    ob, og, o_s, ogam, oe, oa, _ = block_starts(H, W, M, S)
    one, eps = mem.dtype.type(1), mem.dtype.type(EPS)
    vecmath.col_sq(M_inv, mem)                                             # sum_j M(i)_j^2
    for i in range(N):
        M_inv[i] = one / np.sqrt(M_inv[i] + eps)
    _copy2(w_prev, w)
    for hh in range(H):
        k = act[hh * M:(hh + 1) * M]
        ki = one / np.sqrt(_dot(k, k) + eps)
        k_inv[hh] = ki
        Kh = K[hh]
        vecmath.col_dot(Kh, act, hh * M, mem)                              # k . M(i)
        for i in range(N):
            Kh[i] *= ki * M_inv[i]                                         # eq. 6
        wc = w_c[hh]
        _copy(wc, Kh)
        _softmax_(wc, act[ob + hh])                                        # eq. 5
        gate, wp, wg = act[og + hh], w_prev[hh], w_g[hh]
        for i in range(N):
            wg[i] = wp[i] + gate * (wc[i] - wp[i])                         # eq. 7 (torch.lerp)
        s, wt = act[o_s + hh * S:o_s + (hh + 1) * S], w_tilde[hh]
        if S == 3 and N > 2:                                               # eq. 8
            _shift3(wt, wg, s[1], s[0], -1, s[2], 1)
        else:
            _shift(wt, s, wg, 1)
        lw, wn = log_w[hh], w[hh]
        for i in range(N):
            lw[i] = vecmath.log(max(wt[i], eps))
        _copy(wn, lw)
        _softmax_(wn, act[ogam + hh])                                      # eq. 9, in log space
    _copy2(w_new, w)
    for hh in range(R):                                                    # eq. 2
        vecmath.row_dots(r, hh * M, w[hh], 0, mem)                         # r_j = w . M_j
    _write(act, mem, w, R, oe, oa, erased, save)                          # eqs. 3-4


# ---------------------------------------------------------------- the episode, forward

@njit(cache=True, fastmath=_FLAGS, error_model="numpy", nogil=True)
def episode_forward(gx, keep, b0, mem0, w0, r0, WT, WhT, bh, clip, R, S, saved, save):
    """All T steps for samples b0 .. b0 + B - 1 of the batch (B = mem0's first dimension): gx and keep
    are the whole batch's, (T, B_all, 4U) and (T, B_all), read in place, so that the batch's parts
    (`run_parts`) copy nothing before they start. Returns (Hs (T, B, U) every step's h_t, Rs (T, B,
    R*M) every step's r_t; at a padding step both hold the kept state, h and r: padding comes before
    the output steps, the only ones read, and the cell is not run there); what `episode_backward`
    needs goes to saved (arrays from `saved_arrays`), for every step if save, else only the last
    step's (inference: no history kept). clip <= 0: no clipping of the head output."""
    T, G, B = gx.shape[0], gx.shape[2], mem0.shape[0]
    M, H = mem0.shape[1], w0.shape[1]
    U, W, RM, dt = G // 4, H - R, R * M, gx.dtype
    mem, w, r = mem0.copy(), w0.copy(), r0.reshape(B, RM).copy()
    h, c = np.zeros((B, U), dt), np.zeros((B, U), dt)
    hn, cn = np.empty((B, U), dt), np.empty((B, U), dt)
    Hs, Rs = np.empty((T, B, U), dt), np.empty((T, B, RM), dt)
    sb = 1 if save else 0                                                  # inference: one erased slot
    for t in range(T):
        ts = t if save else 0
        Xt = saved.X[ts]                                                   # [r_{t-1}, h_{t-1}]
        for b in range(B):
            _copy(Xt[b, :RM], r[b])
            _copy(Xt[b, RM:], h[b])
        z = np.dot(Xt, WT)                                                 # (B, 4U)
        for b in range(B):
            if save and b + 1 < B:
                _prefetch_cell(saved, t, b + 1)
            if keep[t, b0 + b]:                                            # padding: the cell would be discarded
                _copy(hn[b], h[b])
            else:
                _lstm_cell(z[b], gx[t, b0 + b], c[b], hn[b], cn[b], saved.ifo[ts, b], saved.g[ts, b],
                           saved.c_prev[ts, b], saved.tanh_c[ts, b])
        _copy2(Hs[t], hn)
        z_heads = np.dot(hn, WhT)                                          # (B, P)
        for b in range(B):
            if save and b + 1 < B:                                         # the next sample's lines, meanwhile
                _prefetch_memory(saved, t, b + 1)
            elif save and t + 1 < T:
                _prefetch_memory(saved, t + 1, 0)
            if not keep[t, b0 + b]:                                        # padding: state kept
                _copy(h[b], hn[b])
                _copy(c[b], cn[b])
                _activate(z_heads[b], bh, clip, saved.raw[ts, b], saved.act[ts, b], H, W, M, S)
                _memory_step(saved.act[ts, b], mem[b], w[b], r[b], R, S, saved.M_inv[ts, b], saved.k_inv[ts, b],
                             saved.K[ts, b], saved.w_c[ts, b], saved.w_g[ts, b], saved.w_tilde[ts, b],
                             saved.log_w[ts, b], saved.w_prev[ts, b], saved.w_new[ts, b], saved.erased[ts, b * sb], save)
            _copy(Rs[t, b], r[b])
    return Hs, Rs


# ---------------------------------------------------------------- one sample, one step, backward

@_jit
def _write_read_backward(act, w, dmem, dr, d_act, R, oe, oa, erased, dwt):
    """The add, erase and read part of `_memory_step_backward` (eqs. 4, 3, 2, last first): dmem (M, N)
    in place to the gradient of the memory before the step; the weightings' gradients added to dwt
    (H, N); the erase and add vectors' to d_act."""
    M, N = dmem.shape
    W = w.shape[0] - R
    Mp = erased[0]                                                         # memory before the step
    for hw in range(W):                                                    # eq. 4 (add)
        vecmath.row_dots(d_act, oa + hw * M, w[R + hw], 0, dmem)           # da_j = w . dM_j
        vecmath.col_dot_add(dwt[R + hw], act, oa + hw * M, dmem)           # += a_j dM_j, row by row
    for hw in range(W - 1, -1, -1):                                        # eq. 3 (erase), last head first
        Xe = erased[hw]
        vecmath.col_dot2_sub(dwt[R + hw], act, oe + hw * M, dmem, Xe)      # -= e_j (dM_j * M before), dM before this erase
        vecmath.row_dots2(d_act, oe + hw * M, w[R + hw], 0, dmem, Xe)     # w . (dM_j * M before), negated below
        ww = w[R + hw]
        for j in range(M):
            dj, e = dmem[j], act[oe + hw * M + j]
            d_act[oe + hw * M + j] = -d_act[oe + hw * M + j]
            for i in range(N):
                dj[i] -= dj[i] * ww[i] * e
    for hh in range(R):                                                    # eq. 2 (read)
        vecmath.col_dot_add(dwt[hh], dr, hh * M, Mp)                       # += dr_j M_j, row by row
        wr = w[hh]
        for j in range(M):
            dj, drj = dmem[j], dr[hh * M + j]
            for i in range(N):
                dj[i] += wr[i] * drj


@_jit
def _memory_step_backward(act, w, dmem, dw, dr, d_act, R, S, M_inv, k_inv, K, w_c, w_g, w_tilde, log_w,
                          w_prev, erased, dwt, Qs, dv, dwg):
    """Gradient of `_memory_step` for one sample (derivations in `memory_step.step_backward`): from dmem
    (M, N), dw (H, N), dr (R*M,) of its outputs, in place, to those of its inputs; the head parameters'
    gradients go to d_act (P,). w: the weightings it produced. dwt, Qs, dv, dwg: scratch."""
    M, N = dmem.shape
    H = w.shape[0]
    W, shift_r = H - R, S // 2
    ob, og, o_s, ogam, oe, oa, _ = block_starts(H, W, M, S)
    Mp = erased[0]                                                         # memory before the step
    zero, eps = dmem.dtype.type(0), dmem.dtype.type(EPS)
    _copy2(dwt, dw)
    # Each reduction is a `_dot` (over rows: `vecmath.row_dots`, over columns: `vecmath.col_*`) and
    # each update a loop of its own (all vectorise); dv holds intermediate vectors between the steps
    # that define it.
    _write_read_backward(act, w, dmem, dr, d_act, R, oe, oa, erased, dwt)
    _fill(Qs, zero)
    for hh in range(H):
        wh, lw, wt, wg, wc, wp, Kh = w[hh], log_w[hh], w_tilde[hh], w_g[hh], w_c[hh], w_prev[hh], K[hh]
        dwth, dwh = dwt[hh], dw[hh]
        gamma, beta, gate = act[ogam + hh], act[ob + hh], act[og + hh]
        s = act[o_s + hh * S:o_s + (hh + 1) * S]
        total = _dot(wh, dwth)
        for i in range(N):                                                 # eq. 9 (sharpen)
            dv[i] = wh[i] * (dwth[i] - total)                              # dv: d(gamma log w~)
        dgamma = _dot(dv, lw)
        for i in range(N):
            dv[i] = gamma * dv[i] / wt[i] if wt[i] >= eps else zero         # dv: dw~
        for m in range(S):                                                 # eq. 8 (shift)
            d_act[o_s + hh * S + m] = _dot_rolled(dv, wg, m - shift_r)
        if S == 3 and N > 2:                                               # the adjoint shift
            _shift3(dwg, dv, s[1], s[0], 1, s[2], -1)
        else:
            _shift(dwg, s, dv, -1)
        for i in range(N):                                                 # eq. 7 (interpolation)
            dv[i] = wc[i] - wp[i]                                          # dv: w^c - w_prev
            dwh[i] = dwg[i] - gate * dwg[i]                                # dw_prev
        dg = _dot(dwg, dv)
        for i in range(N):
            dwg[i] *= gate                                                 # dwg: dw^c
        total, ki = _dot(wc, dwg), k_inv[hh]
        for i in range(N):                                                 # eq. 5 (content)
            dv[i] = wc[i] * (dwg[i] - total)                               # dv: d(beta K)
        dbeta = _dot(dv, Kh)
        sq = beta * dbeta
        for i in range(N):
            Qs[i] += beta * dv[i] * Kh[i]
            dv[i] = beta * dv[i] * ki * M_inv[i]                           # dv: D
        k = act[hh * M:(hh + 1) * M]
        vecmath.row_dots(d_act, hh * M, dv, 0, Mp)                         # eq. 6 (cosine): D . M_j, then
        for j in range(M):
            d_act[hh * M + j] = d_act[hh * M + j] - sq * ki * ki * k[j]
            dj, kj = dmem[j], k[j]
            for i in range(N):
                dj[i] += dv[i] * kj
        d_act[ob + hh], d_act[og + hh], d_act[ogam + hh] = dbeta, dg, dgamma
    for j in range(M):
        dj, mj = dmem[j], Mp[j]
        for i in range(N):
            dj[i] -= mj[i] * Qs[i] * M_inv[i] * M_inv[i]


@_jit
def _activate_backward(d_act, raw, act, clip, draw, H, W, M, S):
    """Gradient of `_activate` (heads.activate_backward, then the clip's mask) into draw (P,)."""
    ob, og, o_s, ogam, oe, oa, _ = block_starts(H, W, M, S)
    zero, one = draw.dtype.type(0), draw.dtype.type(1)
    for p in range(ob):
        draw[p] = d_act[p] * (one - act[p] * act[p])
    for hh in range(H):
        draw[ob + hh] = d_act[ob + hh] * _sigmoid(raw[ob + hh], one)
        draw[og + hh] = d_act[og + hh] * act[og + hh] * (one - act[og + hh])
        draw[ogam + hh] = d_act[ogam + hh] * _sigmoid(raw[ogam + hh], one)
        total = zero
        for m in range(o_s + hh * S, o_s + (hh + 1) * S):
            total += act[m] * d_act[m]
        for m in range(o_s + hh * S, o_s + (hh + 1) * S):
            draw[m] = act[m] * (d_act[m] - total)
    for p in range(oe, oa):
        draw[p] = d_act[p] * act[p] * (one - act[p])
    for p in range(oa, raw.shape[0]):
        draw[p] = d_act[p] * (one - act[p] * act[p])
    if clip > 0:
        for p in range(raw.shape[0]):
            if not abs(raw[p]) < clip:
                draw[p] = zero


@_jit
def _lstm_cell_backward(dh, dc, ifo, g, c_prev, tanh_c, dz):
    """Gradient of `_lstm_cell` (LSTMController.step_backward): dh (U,) of h_t from every use, dc (U,)
    of c_t in place -> dc of c_{t-1}; the gate gradients to dz (4U,)."""
    U, one = dh.shape[0], dh.dtype.type(1)
    for u in range(U):
        i_, f_, o_, g_, tc = ifo[u], ifo[U + u], ifo[2 * U + u], g[u], tanh_c[u]
        dct = dc[u] + dh[u] * o_ * (one - tc * tc)
        dz[u] = dct * g_ * i_ * (one - i_)
        dz[U + u] = dct * c_prev[u] * f_ * (one - f_)
        dz[2 * U + u] = dh[u] * tc * o_ * (one - o_)
        dz[3 * U + u] = dct * i_ * (one - g_ * g_)
        dc[u] = dct * f_


# ---------------------------------------------------------------- the episode, backward

@njit(cache=True, fastmath=_FLAGS, error_model="numpy", nogil=True)
def episode_backward(dH, dR, T_in, keep, b0, saved, Wrh, Wh, clip, R, S):
    """The gradient of `episode_forward` (saved from a run with save=True), last step first, for
    samples b0 .. b0 + B - 1 (B: saved's second dimension).

    dH (T - T_in, B_all, U), dR (T - T_in, B_all, R*M): gradients of its outputs Hs and Rs at the
    output steps t >= T_in (zero before them), the whole batch's, any strides (views of the output
    layer's gradient, read in place); keep (T, B_all) as in the forward call. Wrh (4U, R*M + U) and
    Wh (P, U): the weights untransposed. Returns
    (dZ (T, B, 4U) gate gradients, also the gradient of gx; draw (T, B, P) head-output gradients;
    dM_0 (B, M, N); dw_0 (B, H, N); dr_0 (B, R*M)). The weight gradients are then dZ^T X and
    draw^T Hs summed over all steps (see `fused.numba_backward`)."""
    T, B, U = saved.c_prev.shape
    W, M, N = saved.erased.shape[2], saved.erased.shape[3], saved.erased.shape[4]
    H, P, RM = R + W, saved.raw.shape[2], dR.shape[2]
    dt = dH.dtype
    dZ, draw = np.zeros((T, B, 4 * U), dt), np.zeros((T, B, P), dt)
    dh, dc = np.zeros((B, U), dt), np.zeros((B, U), dt)
    dmem, dw, dr = np.zeros((B, M, N), dt), np.zeros((B, H, N), dt), np.zeros((B, RM), dt)
    d_act, dwt = np.empty((B, P), dt), np.empty((B, H, N), dt)                # scratch, one per sample
    Qs, dv, dwg = np.empty((B, N), dt), np.empty((B, N), dt), np.empty((B, N), dt)
    zero = dt.type(0)
    for t in range(T - 1, -1, -1):
        out, to = t >= T_in, t - T_in                                      # an output step: dH, dR there
        for b in range(B):
            for m in range(RM):                                            # + 0 before them, as a zero-padded dR
                dr[b, m] += dR[to, b0 + b, m] if out else zero
            tn, bn = (t, b + 1) if b + 1 < B else (t - 1, 0)               # the next sample's lines, meanwhile
            if tn >= 0:
                _prefetch_memory(saved, tn, bn)
                _prefetch_cell(saved, tn, bn)
            if not keep[t, b0 + b]:
                _memory_step_backward(saved.act[t, b], saved.w_new[t, b], dmem[b], dw[b], dr[b], d_act[b], R, S,
                                      saved.M_inv[t, b], saved.k_inv[t, b], saved.K[t, b], saved.w_c[t, b],
                                      saved.w_g[t, b], saved.w_tilde[t, b], saved.log_w[t, b], saved.w_prev[t, b],
                                      saved.erased[t, b], dwt[b], Qs[b], dv[b], dwg[b])
                _activate_backward(d_act[b], saved.raw[t, b], saved.act[t, b], clip, draw[t, b], H, W, M, S)
        dh_heads = np.dot(draw[t], Wh)                                     # (B, U)
        for b in range(B):
            if not keep[t, b0 + b]:
                for u in range(U):
                    dh_heads[b, u] += (dH[to, b0 + b, u] if out else zero) + dh[b, u]
                _lstm_cell_backward(dh_heads[b], dc[b], saved.ifo[t, b], saved.g[t, b], saved.c_prev[t, b],
                                    saved.tanh_c[t, b], dZ[t, b])
        dX = np.dot(dZ[t], Wrh)                                            # (B, R*M + U)
        for b in range(B):
            if not keep[t, b0 + b]:                                        # padding: gradients pass
                _copy(dr[b], dX[b, :RM])
                _copy(dh[b], dX[b, RM:])
    return dZ, draw, dmem, dw, dr


# ---------------------------------------------------------------- the batch on several threads

_THREADS: dict = {"n": None, "pool": None, "workers": 0}
_TOGETHER = threading.Lock()            # `run_parts(..., together=True)`: one call at a time


def threads() -> int:
    """How many threads an episode's batch is split over: `set_threads`'s value, else one per CPU
    this process may run on. Independent of torch's thread count, which the trainer keeps at 1
    (torch's idle OpenMP threads spin and slow these kernels down)."""
    if _THREADS["n"] is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return _THREADS["n"]


def set_threads(n: int | None) -> None:
    """Split each batch over n threads (None: one per CPU). Raises ValueError unless n >= 1 or None."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"kernel threads must be an integer >= 1 or None, got {n!r}")
    _THREADS["n"] = n


@functools.lru_cache(maxsize=256)
def _parts(B: int, n: int) -> tuple[slice, ...]:
    n = max(1, min(n, B))
    bounds = [round(i * (B / n)) for i in range(n + 1)]    # np.linspace(0, B, n + 1).round(), ~50x cheaper
    return tuple(slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]))


def batch_parts(B: int, n: int) -> list[slice]:
    """The batch cut into at most n contiguous parts of nearly equal size (samples are independent,
    so each part runs as its own episode on its own thread)."""
    return list(_parts(B, n))


@functools.lru_cache(maxsize=64)
def gate_rows(G: int, n: int) -> tuple[slice, ...]:
    """The G rows of a weight gradient cut into n contiguous blocks at multiples of 16 rows (some
    may be empty), one per part of a batch: each part forms the product for its rows. Why 16: MKL
    gave a block of rows the bits of the whole product wherever the block started at an even row
    (the copy task's shapes, bench/README.md "The seventh pass"); 64-byte steps keep to that on
    wider vectors too."""
    bounds = [min(G, 16 * round(i * G / (16 * n))) for i in range(n)] + [G]
    return tuple(slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]))


def run_parts(fn, parts: list, together: bool = False) -> list:
    """[fn(part) for part in parts]: the first on the calling thread, the others on a thread pool
    (the kernels release the GIL). The caller, awake already, starts at once instead of waiting for
    a pool thread to wake (~80 us a call at batch 32 on two threads: bench/README.md "The fifth pass").

    together: the parts wait for each other (a `threading.Barrier` of len(parts)), so they must all
    run at once: the pool then has a thread for each, and such calls run one at a time (a lock), so
    that two callers' parts cannot hold the pool's threads while waiting for parts queued behind
    them. Where the caller's part stops at a broken barrier, the error raised is the part's that
    broke it."""
    if len(parts) == 1:
        return [fn(parts[0])]
    with _TOGETHER if together else contextlib.nullcontext():
        if _THREADS["pool"] is None or _THREADS["workers"] < len(parts) - 1:
            from concurrent.futures import ThreadPoolExecutor
            old, _THREADS["workers"] = _THREADS["pool"], max(os.cpu_count() or 1, len(parts) - 1)
            _THREADS["pool"] = ThreadPoolExecutor(_THREADS["workers"], thread_name_prefix="ntm-kernels")
            if old is not None:
                old.shutdown(wait=False)                      # its threads end once their parts are done
        rest = [_THREADS["pool"].submit(fn, part) for part in parts[1:]]
        try:
            first = fn(parts[0])
        except threading.BrokenBarrierError:
            errors = [f.exception() for f in rest]            # waits for every part
            cause = [e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)]
            if cause:
                raise cause[0] from None
            raise
        return [first] + [f.result() for f in rest]


def cached() -> bool:
    """Whether numba's on-disk cache holds both episode kernels for this source, so a run loads them
    (~1 s) instead of compiling them (~30 s). Reads numba's private cache index; False when it
    cannot tell."""
    try:
        return all(bool(k._cache._cache_file._load_index()) for k in (episode_forward, episode_backward))
    except Exception:  # noqa: BLE001 - a numba without this internal: say nothing is cached
        return False
