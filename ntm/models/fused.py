"""The NTM's fused training path: a whole episode as one autograd node, its gradient derived by hand.

Same computation as the reference path of `ntm.models.ntm` (`NTM._cell` through autograd), which
the reader does not need this file for. Why it exists: on a CPU, autograd's bookkeeping for the
~100 small operations of a step cost more than their arithmetic. Two engines run it:
- numba (`numba_loop` / `numba_backward`, the kernels of `ntm.models.kernels`): CPU tensors, one
  LSTM controller layer; the default there (`NTMConfig.backend = "auto"`), the batch split over
  `kernels.threads()` threads;
- PyTorch (`fused_loop` / `fused_backward`): the step through `memory_step.step_forward` and the
  controllers' `step_forward`, any device and controller, optionally `torch.compile`d
  (`NTMConfig.torch_compile`). Weight gradients are formed once per episode, not per step.
Why it stays (bench/README.md, "Fused step against torch.compile"; CPU, copy, batch 32): compiled,
it trains 1.24-1.51x as fast as `torch.compile` of the reference step (2.8-3.2x the eager
reference), the fastest CPU path measured there; eager, it loses to that compiled reference step
(0.62-0.79x). So on a CPU without numba's kernels (a feed-forward or multi-layer controller) use
``torch_compile = true``. On a GPU it has not been measured yet. tests/test_models.py and
tests/test_kernels.py check values and gradients against the reference path.
"""

from __future__ import annotations

import functools
import threading
import warnings
import weakref

import numpy as np
import torch
from torch import Tensor

from ntm.models import kernels, memory_step
from ntm.errors import ConfigError
from ntm.models.heads import HeadParameters, activate, activate_backward
from ntm.models.inputs import array, cat, stack_steps, where


# ---------------------------------------------------------------- numba: the whole episode in one call each way

def numba_applies(model, x: Tensor) -> bool:
    """Whether an episode on x's device and dtype runs through `ntm.models.kernels` (see
    NTMConfig.backend). Raises ConfigError when backend = "numba" is asked for where it cannot run."""
    cfg = model.config
    fits = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if cfg.backend == "numba" and not fits:
        raise ConfigError(f"NTM backend \"numba\" runs on CPU float32/float64 tensors, got {x.device} "
                          f"{x.dtype}; use backend = \"auto\"")
    return fits and cfg.backend != "torch" and not cfg.torch_compile and cfg.controller == "lstm" \
        and cfg.controller_layers == 1


def kernel_weights(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weights the kernels read, as numpy arrays: the LSTM's recurrent W_rh (4U, R*M + U), the
    head layer's W_h (P, U) and b_h (P,). Read from the modules' dictionaries: nn.Module's attribute
    lookups cost ~10 us a batch-1 training step here."""
    c, heads = model._modules["controller"], model._modules["heads"]._parameters
    return array(c._modules["weight_rh"]._parameters["0"]), array(heads["weight"]), array(heads["bias"])


def numba_loop(model, gx: Tensor, M: Tensor, w: Tensor, r: Tensor, keep: list[Tensor], T_in: int, save: bool):
    """`fused_loop` through `kernels.episode_forward`, the batch split over `kernels.threads()`.
    Returns (h (T_out, B, U), r (T_out, B, R, M), saved)."""
    T, B = gx.shape[0], gx.shape[1]
    mask = np.zeros((T, B), dtype=bool)                       # (T, B) True: padding, state kept
    if keep:
        mask[:len(keep)] = torch.stack(keep).cpu().numpy()
    cfg, gx, M, w, r = model.config, array(gx), array(M.transpose(1, 2)), array(w), array(r)
    # transposed views (Fortran order), not copies: numba's np.dot hands the order to BLAS
    W_rh, W_h, b_h = kernel_weights(model)
    weights = (W_rh.T, W_h.T, b_h)

    def run(part: slice):
        saved, handle = kernels.saved_arrays(T, part.stop - part.start, cfg.controller_size,
                                             W_h.shape[0], model.R, model.W, cfg.M, cfg.N, gx.dtype, save)
        Hs, Rs = kernels.episode_forward(gx, mask, part.start, M[part], w[part], r[part],  # the part's samples
                                         *weights, float(cfg.clip_value or 0.0), model.R, model.S, saved, save)
        return torch.from_numpy(Hs), torch.from_numpy(Rs), saved, handle

    parts = kernels.batch_parts(B, kernels.threads())
    out = kernels.run_parts(run, parts)
    Hs, Rs = cat([o[0] for o in out], dim=1), cat([o[1] for o in out], dim=1)
    return Hs[T_in:], Rs[T_in:].view(T - T_in, B, model.R, model.config.M), (parts, out, mask, (W_rh, W_h))

def numba_backward(model, saved, T_in: int, dH: Tensor, dR: Tensor, x: Tensor):
    """`fused_backward` through `kernels.episode_backward`, each part of the batch on its thread
    with its share of the weight gradients (formed once for the episode from the saved inputs and
    the gate gradients: one matrix product per weight, not one per step). The parts then form the
    input projection's weight gradient dgx^T x (x (T, B, C_in)) together, each a block of its rows
    (`kernels.gate_rows`): one thread took 0.7-0.9 ms a batch-32 step for it while the other core
    waited (bench/README.md, "The seventh pass"). The products go through torch (MKL): through
    scipy's OpenBLAS they ran twice as fast on an AVX-512 CPU, but rounded otherwise, which every
    recorded run depends on (over 20 seeds of copy, 3 models exact at length 120 against 9: no
    more than a change of rounding moves that count; "The ninth pass").
    Returns `fused_backward`'s values and that gradient (4U, C_in)."""
    parts, out, mask, weights = saved                     # weights: the forward's (W_rh, W_h)
    T, B = mask.shape
    dR = dR.reshape(T - T_in, B, model.R * model.config.M)
    clip = float(model.config.clip_value or 0.0)
    dH_np, dR_np = dH.detach().numpy(), dR.detach().numpy()          # strided views, read in place
    G = 4 * model.config.controller_size
    dgx, x = dH.new_empty(T, B, G), x.reshape(T * B, x.shape[-1])      # (T, B, 4U): every part's dZ
    rows, joined = kernels.gate_rows(G, len(parts)), threading.Barrier(len(parts))

    def run(i: int):
        part, (Hs, _, saved, handle) = parts[i], out[i]
        try:
            dZ, draw, dM, dw, dr = (torch.from_numpy(a) for a in kernels.episode_backward(
                dH_np, dR_np, T_in, mask, part.start, saved, *weights, clip, model.R, model.S))
            dgx[:, part] = dZ                                   # on this thread: no join on the caller's
            X = torch.from_numpy(saved.X).flatten(0, 1)                    # (T*B_part, R*M + U)
            draw_flat = draw.flatten(0, 1)                                  # (T*B_part, P)
            grads = model.controller.weight_grads([X], [dZ.flatten(0, 1)]) + [
                draw_flat.t() @ Hs.flatten(0, 1), draw_flat.sum(0)]
            kernels.release(handle)                           # X is read: the arrays may be reused
        except BaseException:
            joined.abort()                                    # the other parts stop waiting
            raise
        joined.wait()                                         # every part's dZ is in dgx
        return dM, dw, dr, grads, dgx.view(T * B, G)[:, rows[i]].t() @ x

    res = kernels.run_parts(run, list(range(len(parts))), together=True)
    dM, dw, dr = (cat([r[k] for r in res], dim=0) for k in (0, 1, 2))
    grads = res[0][3]                                        # summed over the parts, in their order
    for r in res[1:]:
        for g, part in zip(grads, r[3], strict=True):
            g.add_(part)                                     # in place: sum() began with 0 + g, one pass more
    dW_x = res[0][4] if len(res) == 1 else cat([r[4] for r in res], dim=0)
    return dgx, dM.transpose(1, 2), dw, dr.view(B, model.R, model.config.M), grads, dW_x


#: Bytes of the input projection gx (T, B, 4U) that inference computes at once; a larger batch goes
#: in chunks of samples (at least `_INFERENCE_MIN` a chunk). Why: the polishing set's 512 sequences
#: of 41 steps made a 34 MB gx, above glibc's largest mmap threshold, so every evaluation took fresh
#: pages from the OS: the projection took 18-25 ms of a ~110 ms forward, 5-8 ms in chunks
#: (bench/README.md, "The sixth pass"). A sample's logits are its own: chunks give the batch's
#: (tests/test_kernels.py; BLAS may round a row differently in a matrix of another size, as the
#: threads' split).
INFERENCE_BYTES = 16 << 20
_INFERENCE_MIN = 64


def numba_inference(model, x: Tensor, M: Tensor, w: Tensor, r: Tensor, keep: list[Tensor], T_in: int) -> Tensor:
    """Logits (B, T_out, C_out) of the numba path without a graph, x (T, B, C_in), the batch in chunks
    of samples whose projection stays within `INFERENCE_BYTES`."""
    T, B = x.shape[0], x.shape[1]
    rows = max(_INFERENCE_MIN, INFERENCE_BYTES // max(1, T * model.controller.weight_x.shape[0] * x.element_size()))
    out = []
    for c in kernels.batch_parts(B, -(-B // rows)):        # even chunks: none of a few rows
        gx = model.controller.project(x[:, c])                                    # (T, B_c, G)
        h, rr, _ = numba_loop(model, gx, M[c], w[c], r[c], [k[c] for k in keep], T_in, save=False)
        out.append(readout(model, h, rr)[0])
    return out[0] if len(out) == 1 else torch.cat(out)


# ---------------------------------------------------------------- PyTorch: one step, its gradient, the loop

def forward_step(model, gx: Tensor, controller: tuple[Tensor, ...], M: Tensor, w: Tensor, r: Tensor,
                  keep: Tensor | None):
    """The step of `_cell` through the fused functions; keep (B,) bool marks padding (state kept).
    Returns (h, controller, M, w, r, saved) with saved what `backward_step` needs."""
    cfg = model.config
    h, controller_new, c_saved = model.controller.step_forward(gx, r.flatten(1), controller)
    raw = model.clip(torch.addmm(model.heads.bias, h, model.heads.weight.t()))   # (B, P)
    p = activate(raw, cfg.M, model.H, model.W, model.S)
    w_new, r_new, M_new, m_saved = memory_step.step_forward(M, w, *p, R=model.R)
    if keep is not None:
        controller_new = tuple(where(keep, o, n) for o, n in zip(controller, controller_new))
        M_new, w_new, r_new = where(keep, M, M_new), where(keep, w, w_new), where(keep, r, r_new)
    return h, controller_new, M_new, w_new, r_new, (c_saved, h, raw, m_saved)

def backward_step(model, saved, dh_out: Tensor | None, dcontroller: tuple[Tensor, ...], dM: Tensor,
                   dw: Tensor, dr: Tensor, keep: Tensor | None):
    """Gradient of `forward_step`: from the gradients of its outputs (dh_out for h as an output
    feature, None at input steps; the rest for the new state) to those of its inputs.
    Returns (dcontroller, dM, dw, dr, draw, dZ): draw and dZ feed the weight gradients, and
    dZ[0], layer 1's gate gradient, is also the gradient of gx."""
    c_saved, h, raw, m_saved = saved
    p = HeadParameters(m_saved.k, m_saved.beta, m_saved.g, m_saved.s, m_saved.gamma, m_saved.e, m_saved.a)
    if keep is not None:                                     # padding: the gradient skips the step
        kept = [where(keep, d, torch.zeros_like(d)) for d in (*dcontroller, dM, dw, dr)]
        dcontroller = tuple(where(keep, torch.zeros_like(d), d) for d in dcontroller)
        dM, dw, dr = (where(keep, torch.zeros_like(d), d) for d in (dM, dw, dr))
    dM, dw, dk, dbeta, dg, ds, dgamma, de, da = memory_step.step_backward(m_saved, dw, dr, dM, R=model.R)
    draw = activate_backward(raw, p, HeadParameters(dk, dbeta, dg, ds, dgamma, de, da))  # (B, P)
    if model.config.clip_value is not None:                   # clamp: no gradient outside the range
        draw = draw * (raw.abs() < model.config.clip_value)
    dh = draw @ model.heads.weight                                              # (B, U)
    if dh_out is not None:
        dh = dh + dh_out
    _, dr_flat, dcontroller, dZ = model.controller.step_backward(c_saved, dh, dcontroller)
    dr = dr_flat.view_as(dr)
    if keep is not None:
        n = len(dcontroller)
        dcontroller = tuple(d + k for d, k in zip(dcontroller, kept[:n]))
        dM, dw, dr = dM + kept[n], dw + kept[n + 1], dr + kept[n + 2]
    return dcontroller, dM, dw, dr, draw, dZ

def forward_steps(model, gx: Tensor, controller, M: Tensor, w: Tensor, r: Tensor, keep: Tensor | None):
    """`forward_step` over gx (K, B, G), keep (K, B) or None: the unit that is compiled.
    Returns (h (K, B, U), r (K, B, R, M), controller, M, w, r, saved per step)."""
    hs, rs, saved = [], [], []
    for t in range(gx.shape[0]):
        h, controller, M, w, r, s = forward_step(model, gx[t], controller, M, w, r, None if keep is None else keep[t])
        hs.append(h)
        rs.append(r)
        saved.append(s)
    return stack_steps(hs), stack_steps(rs), controller, M, w, r, saved

def backward_steps(model, saved, dH: Tensor | None, dR: Tensor | None, dcontroller, dM: Tensor,
                    dw: Tensor, dr: Tensor, keep: Tensor | None):
    """Gradient of `forward_steps`, last step first. dH (K, B, U), dR (K, B, R, M): gradients of its
    h and r outputs (None: zero). Returns (dcontroller, dM, dw, dr, draw (K, B, P), dZ per controller
    layer (K, B, G_l), X per controller layer (K, B, in_l), h (K, B, U)); the last four make the
    weight gradients, and dZ[0] is the gradient of gx."""
    draws, dZs = [], []
    for t in reversed(range(len(saved))):
        if dR is not None:
            dr = dr + dR[t]
        dcontroller, dM, dw, dr, draw, dZ = backward_step(model, 
            saved[t], None if dH is None else dH[t], dcontroller, dM, dw, dr, None if keep is None else keep[t])
        draws.append(draw)
        dZs.append(dZ)
    layers = range(len(dZs[0]))
    dZ = [stack_steps([d[l] for d in reversed(dZs)]) for l in layers]
    X = [stack_steps([s[0][l][0] for s in saved]) for l in layers]
    h = stack_steps([s[1] for s in saved])
    return dcontroller, dM, dw, dr, stack_steps(draws[::-1]), dZ, X, h

def chunks(model, T: int, keep: list[Tensor], B: int, device, compiled: bool) -> tuple[int, int, Tensor | None]:
    """How the loop cuts T steps: (steps per call K, padding steps added in front, keep (T', B) or None).

    Eager: one step per call, and no keep mask past the last padding step (no torch.where there).
    Compiled: COMPILE_STEPS per call, T padded at the front to a multiple of it with steps where
    every sample keeps its state, and a keep mask at every step, so two graphs serve all lengths.
    """
    if not compiled:
        return 1, 0, (torch.stack(keep) if keep else None)
    K = COMPILE_STEPS
    pad = (-T) % K
    mask = torch.zeros(pad + T, B, dtype=torch.bool, device=device)
    mask[:pad] = True
    if keep:
        mask[pad:pad + len(keep)] = torch.stack(keep)
    return K, pad, mask

def step_functions(model, compiled: bool):
    """(forward steps, backward steps): the plain methods, or compiled."""
    if not compiled:
        return functools.partial(forward_steps, model), functools.partial(backward_steps, model)
    fns = _COMPILED.get(model)                               # kept off the module: deepcopy-safe
    if fns is None:
        fns = _COMPILED[model] = (_Compiled(functools.partial(forward_steps, model)),
                                  _Compiled(functools.partial(backward_steps, model)))
    return fns

def fused_loop(model, gx, M, w, r, keep, T_in, save, compiled):
    """Run every step of the fused path (compiled: torch.compile'd, in chunks of COMPILE_STEPS).
    Returns (h (T_out, B, U), r (T_out, B, R, M), saved), with saved what `fused_backward` needs."""
    T, B = gx.shape[0], gx.shape[1]
    K, pad, mask = chunks(model, T, keep, B, gx.device, compiled)
    if pad:
        gx = torch.cat([gx.new_zeros(pad, B, gx.shape[2]), gx])
    forward_steps = step_functions(model, compiled)[0]
    controller, hs, rs, saved = model.controller.initial_state(B), [], [], []
    for t0 in range(0, pad + T, K):
        inputs = (gx[t0:t0 + K], controller, M, w, r,
                  mask[t0:t0 + K] if mask is not None and t0 < len(mask) else None)
        h, rr, controller, M, w, r, s = forward_steps(*inputs)
        hs.append(h)
        rs.append(rr)
        if save:
            saved.append(s)
    h, rr = torch.cat(hs)[pad + T_in:], torch.cat(rs)[pad + T_in:]
    return h, rr, (saved, K, pad, mask, M, compiled)

def fused_backward(model, saved, T_in: int, dH: Tensor, dR: Tensor):
    """Gradient of `fused_loop` from those of its outputs h and r, all steps last to first.
    Returns (dgx (T, B, G), dM_0, dw_0, dr_0, gradients of the step parameters)."""
    chunks, K, pad, mask, M, compiled = saved
    B = M.shape[0]
    backward_steps = step_functions(model, compiled)[1]
    dcontroller = model.controller.initial_state(B)           # zeros shaped like the state
    dM, dw = torch.zeros_like(M), M.new_zeros(B, model.H, model.config.N)
    dr = M.new_zeros(B, model.R, model.config.M)
    lead = pad + T_in                                        # steps before the first output
    if compiled:                                             # the same graph at every call
        dH = torch.cat([dH.new_zeros(lead, *dH.shape[1:]), dH])
        dR = torch.cat([dR.new_zeros(lead, *dR.shape[1:]), dR])
        lead = 0
    draws, dZs, Xs, hs = [], [], [], []
    for c in reversed(range(len(chunks))):
        t0 = c * K
        out = t0 >= lead                                     # eager: gradients enter at output steps
        m = mask[t0:t0 + K] if mask is not None and t0 < len(mask) else None
        dcontroller, dM, dw, dr, draw, dZ, X, h = backward_steps(
            chunks[c], dH[t0 - lead:t0 - lead + K] if out else None,
            dR[t0 - lead:t0 - lead + K] if out else None, dcontroller, dM, dw, dr, m)
        for lst, x in ((draws, draw), (dZs, dZ), (Xs, X), (hs, h)):
            lst.append(x)
    # weight gradients, once for the whole episode: (T*B, out)^T @ (T*B, in)
    def steps(parts):
        return torch.cat(parts[::-1])                                           # (T', B, ...)
    draw, h = steps(draws).flatten(0, 1), steps(hs).flatten(0, 1)               # (T*B, P), (T*B, U)
    layers = range(len(dZs[0]))
    X = [steps([x[l] for x in Xs]).flatten(0, 1) for l in layers]
    dZ = [steps([d[l] for d in dZs]) for l in layers]                          # (T', B, G_l)
    dgx = dZ[0][pad:]                                                           # (T, B, G)
    grads = model.controller.weight_grads(X, [d.flatten(0, 1) for d in dZ]) + [draw.t() @ h, draw.sum(0)]
    return dgx, dM, dw, dr, grads



# Steps per compiled call: fewer calls (each costs guard checks and wrappers) against a longer compile.
COMPILE_STEPS = 4


class FusedEpisode(torch.autograd.Function):
    """A whole episode, its input projection and its output layer as one autograd node: forward runs
    `controller.project`, `fused_loop` (or `numba_loop`), then `readout`; backward the readout's
    gradient by hand, then `fused_backward` (or `numba_backward`): the hand-derived gradient, last
    step first, then the projection's (`controller.project_grads`). The projection and output layer
    are inside the node (not layers around it) because at batch 1 their autograd nodes
    (concatenation, linear, transpose) cost about as much as their arithmetic (bench/README.md,
    "Models"); their gradients are formed as autograd formed them, to the bit.
    x (T, B, C_in): the inputs padded with the output steps' zero input. Returns the logits
    (B, T_out, C_out)."""

    @staticmethod
    def forward(ctx, model, T_in, keep, x, M_0, w_0, r_0, *params):
        gx = model.controller.project(x)                         # (T, B, G)
        ctx.numba = numba_applies(model, gx)
        if ctx.numba:
            h, r, saved = numba_loop(model, gx, M_0, w_0, r_0, keep, T_in, save=True)
        else:
            h, r, saved = fused_loop(model, gx, M_0, w_0, r_0, keep, T_in, save=True, compiled=model.config.torch_compile)
        logits, features = readout(model, h, r)
        ctx.model, ctx.T_in, ctx.saved, ctx.features, ctx.x = model, T_in, saved, features, x
        return logits

    @staticmethod
    def backward(ctx, dlogits):
        model, features = ctx.model, ctx.features                # features (T_out * B, U + R*M)
        T_out, B, U = dlogits.shape[1], dlogits.shape[0], model.config.controller_size
        d = dlogits.transpose(0, 1).reshape(T_out * B, model.output_size)   # (T_out * B, C_out)
        d_features = (d @ model.output.weight).view(T_out, B, features.shape[1])
        dW_out, db_out = d.t() @ features, d.sum(0)
        dH, dR = d_features[..., :U], d_features[..., U:].reshape(T_out, B, model.R, model.config.M)
        if ctx.numba:
            dgx, dM, dw, dr, grads, dW_x = numba_backward(model, ctx.saved, ctx.T_in, dH, dR, ctx.x)
        else:
            (dgx, dM, dw, dr, grads), dW_x = fused_backward(model, ctx.saved, ctx.T_in, dH, dR), None
        x, dgx = ctx.x.flatten(0, 1), dgx.flatten(0, 1)         # (T * B, C_in), (T * B, G)
        dx = (dgx @ model.controller.weight_x).view_as(ctx.x) if ctx.needs_input_grad[3] else None
        ctx.saved = ctx.features = ctx.x = None                  # free the episode's activations
        project = model.controller.project_grads(x, dgx, dW_x)
        return (None, None, None, dx, dM, dw, dr, *project, *grads, dW_out, db_out)


def readout(model, h: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    """The output layer y_t = W_out [h_t, r_t] + b_out at every output step: h (T_out, B, U),
    r (T_out, B, R, M) -> (logits (B, T_out, C_out), features (T_out * B, U + R*M), kept for the
    gradient). Plain tensor operations: inside `FusedEpisode` autograd does not see them."""
    T_out, B = h.shape[0], h.shape[1]
    features = torch.cat([h, r.flatten(2)], dim=2).flatten(0, 1)                  # (T_out * B, U + R*M)
    logits = torch.addmm(model.output.bias, features, model.output.weight.t())      # (T_out * B, C_out)
    return logits.view(T_out, B, model.output_size).transpose(0, 1), features


class _Compiled:
    """torch.compile(fn), falling back to fn (with one warning) if compiling fails on this platform."""

    def __init__(self, fn):
        self.fn, self.compiled = fn, torch.compile(fn, dynamic=False)

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as err:                              # no C++ compiler, unsupported op, ...
                warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); running the NTM eagerly")
                self.compiled = None
        return self.fn(*args)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
