"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401).

Reading order: state, config, the model (one step, then a whole episode), then the fused training
loop. The memory equations live in `ntm.memory`, the head activations in `ntm.heads`, the controllers
in `ntm.controller`.

One time step t (figure 1 of the paper): the controller reads x_t and the previous read vectors
r_{t-1}; its output h_t gives every head's parameters; each head addresses M_{t-1} (eqs. 5-9); read
heads read M_{t-1} (eq. 2); write heads erase and add (eqs. 3-4) to give M_t; the output is a linear
function of [h_t, r_t]. This order (read before write, output from [h_t, r_t]), the activations and
the initial state follow Collier & Beel (2018), "Implementing Neural Turing Machines", ICANN,
arXiv:1807.08518, and their reference implementation (github.com/MarkPKCollier/NeuralTuringMachine).

Two ways to run the same computation:
- the reference path (`step`, `reference_forward`, `run_with_info`): the equations of `ntm.memory`
  composed, differentiated by autograd. Plain to read; the oracle for tests.
- the fused path (`forward`): the same step through `memory.step_forward` and the controllers'
  `step_forward`, with the whole episode's gradient computed by hand in one autograd node
  (`_FusedEpisode`). Autograd's bookkeeping for ~100 small operations per step was most of the
  cost on CPU. Weight gradients are formed once per episode, not per step. Optionally the step and
  its gradient are compiled with torch.compile (`NTMConfig.compile`). On CPU tensors with one LSTM
  layer (`NTMConfig.engine`, "auto"), the fused path runs as two numba kernels instead
  (`ntm.kernels`: all steps forward, then all steps' gradient; ~3x faster than the PyTorch fused
  path on a 2-core CPU), the batch split over `kernels.threads()` threads.
tests/test_models.py and tests/test_kernels.py check that all of them agree in values and gradients.
"""

from __future__ import annotations

import math
import warnings
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ntm import kernels, memory
from ntm.controller import CONTROLLERS
from ntm.errors import ConfigError
from ntm.heads import HeadParameters, activate, activate_backward, head_sizes

# ---------------------------------------------------------------- state


class NTMState(NamedTuple):
    """Everything that carries over from one step to the next. Passed in and returned, never mutated."""
    controller: tuple[Tensor, ...]   # LSTM: (h_1, c_1, ..., h_L, c_L), each (B, units); feed-forward: ()
    M: Tensor                        # (B, N, M) memory
    read_w: Tensor                   # (B, R, N) read heads' weightings w_t
    write_w: Tensor                  # (B, W, N) write heads' weightings
    r: Tensor                        # (B, R, M) read vectors r_t


# ---------------------------------------------------------------- config

MEMORY_INITS = ("constant", "learned", "random")
WEIGHTING_INITS = ("learned", "one_hot")
ENGINES = ("auto", "numba", "torch")


@dataclass
class NTMConfig:
    """Hyperparameters of an `NTM` (input and output sizes are given to the model, not kept here).

    Defaults: the paper's copy-task NTM with an LSTM controller (Graves et al. 2014, table 2:
    one read and one write head, 100 controller units, 128 x 20 memory, shifts -1, 0, +1).
    """
    controller: str = "lstm"         # "lstm" or "feedforward"
    controller_size: int = 100       # units per controller layer
    controller_layers: int = 1
    N: int = 128                     # memory locations
    M: int = 20                      # vector size at each location
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1             # R: shifts -R..R allowed (eq. 8)
    # M_0: "constant" = memory_init_value everywhere, not trained (Collier & Beel 2018 found small
    # constants converge fastest and most reliably); "learned" = tanh of a trained matrix that starts
    # at memory_init_value; "random" = tanh(N(0, 0.5^2)) drawn once at construction, then fixed (kept
    # in the state dict). Collier & Beel, section 3.
    memory_init: str = "constant"
    memory_init_value: float = 1e-6
    # w_0 of every head: "one_hot" = all weight on location 0, fixed (the default: a sharp start lets
    # the shift walk the heads from the first step; on copy (lr 1e-3, per-sample lengths), seed 0 reached 0.01 bits/seq after 44,800
    # sequences where "learned" was still at 23 bits after 83,200 — bench/README.md "Training").
    # "learned" = softmax of a trained bias (Collier & Beel's implementation), drawn at random at
    # first (a uniform start with constant memory is rotation-symmetric: no gradient breaks the tie).
    # r_0 is always learned: tanh of a trained bias (Collier & Beel). The controller state starts at zero.
    weighting_init: str = "one_hot"
    # clip the controller's head output to [-clip_value, clip_value] before the activations (Collier &
    # Beel's implementation, clip_value = 20): bounds beta, gamma and the logits of g and s, so one
    # overconfident step cannot make addressing arbitrarily sharp. None: no clipping.
    clip_value: float | None = None
    # torch.compile the fused training step (COMPILE_STEPS time steps per compiled call; inference
    # stays eager; falls back to eager, with a warning, where compiling fails)
    compile: bool = False
    # how the fused path runs: "numba" = the episode as two numba kernels (ntm.kernels: CPU, one LSTM
    # layer; several times faster there), "torch" = PyTorch operations (any device and controller),
    # "auto" = numba where it applies (CPU tensors, one LSTM layer, compile off), else torch
    engine: str = "auto"

    def __post_init__(self):
        for name in ("controller_size", "controller_layers", "N", "M", "read_heads", "write_heads"):
            _check_int(name, getattr(self, name), 1)
        _check_int("shift_range", self.shift_range, 0)
        choices = {"controller": tuple(CONTROLLERS), "memory_init": MEMORY_INITS,
                   "weighting_init": WEIGHTING_INITS, "engine": ENGINES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"NTM option {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        value = self.memory_init_value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < 1:
            raise ConfigError(f"NTM option memory_init_value must be a number in (-1, 1), got {value!r}")
        clip = self.clip_value
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0):
            raise ConfigError(f"NTM option clip_value must be a positive number or absent, got {clip!r}")
        if not isinstance(self.compile, bool):
            raise ConfigError(f"NTM option compile must be true or false, got {self.compile!r}")
        if self.engine == "numba" and (self.controller != "lstm" or self.controller_layers != 1 or self.compile):
            raise ConfigError("NTM option engine = \"numba\" needs controller = \"lstm\", controller_layers = 1 "
                              "and compile = false; use engine = \"auto\" or \"torch\"")


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"NTM option {name} must be an integer >= {low}, got {value!r}")


# ---------------------------------------------------------------- model

class NTM(nn.Module):
    """A Neural Turing Machine with any number of read and write heads.

    forward(inputs (B, T_in, C_in), T_out, input_lengths=None) -> logits (B, T_out, C_out)
    step(x (B, C_in), state) -> (logits (B, C_out), state);  initial_state(batch_size) -> NTMState
    run_with_info(...) -> (logits, per-step weightings, read and add vectors)  (for plots)
    reference_forward(...) -> logits, through the per-equation functions and autograd
    Raises ConfigError for bad options or inputs that do not fit the model. With config.compile,
    only training steps (gradients enabled) are compiled: inference runs eagerly, so evaluating
    at new batch sizes does not trigger new compiles.
    """

    def __init__(self, input_size: int, output_size: int, config: NTMConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else NTMConfig()
        for name, value in (("input_size", input_size), ("output_size", output_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"NTM {name} must be a positive integer, got {value!r}")
        self.input_size, self.output_size = input_size, output_size
        R, W, N, M, U = cfg.read_heads, cfg.write_heads, cfg.N, cfg.M, cfg.controller_size
        self.R, self.W, self.H, self.S = R, W, R + W, 2 * cfg.shift_range + 1

        self.controller = CONTROLLERS[cfg.controller](input_size, R * M, U, cfg.controller_layers)
        self.heads = nn.Linear(U, sum(head_sizes(M, R, W, cfg.shift_range).values()))
        self.output = nn.Linear(U + R * M, output_size)

        # initial state (Collier & Beel 2018; see NTMConfig)
        self.r_bias = nn.Parameter(torch.empty(R, M).uniform_(-0.5, 0.5))
        if cfg.weighting_init == "learned":
            bound = math.sqrt(6 / (1 + N))                       # Glorot bound of their 1 -> N layer
            self.w_bias = nn.Parameter(torch.empty(self.H, N).uniform_(-bound, bound))
        if cfg.memory_init == "learned":
            self.M_bias = nn.Parameter(torch.full((N, M), float(cfg.memory_init_value)).atanh())
        elif cfg.memory_init == "random":
            self.register_buffer("M_0", torch.tanh(0.5 * torch.randn(N, M)))

    # -- state

    def initial_state(self, batch_size: int) -> NTMState:
        """The state before the first step, from the model's own parameters (device and dtype follow)."""
        B, cfg, like = batch_size, self.config, self.r_bias
        if cfg.memory_init == "constant":                        # made here: exact in any dtype
            M_0 = like.new_full((cfg.N, cfg.M), cfg.memory_init_value)
        else:
            M_0 = torch.tanh(self.M_bias) if cfg.memory_init == "learned" else self.M_0
        if cfg.weighting_init == "learned":
            w_0 = torch.softmax(self.w_bias, -1)
        else:
            w_0 = torch.nn.functional.one_hot(like.new_zeros(self.H, dtype=torch.long), cfg.N).to(like.dtype)
        w_0 = w_0.expand(B, -1, -1)                              # (B, H, N)
        return NTMState(
            controller=self.controller.initial_state(B),
            # (B, N, M), stored as (B, M, N): the N locations of each component side by side, so
            # sums over M and products with keys run along contiguous memory (several times faster
            # on CPU); every operation keeps this layout
            M=M_0.t().expand(B, -1, -1).contiguous().transpose(1, 2),
            read_w=w_0[:, :self.R].contiguous(), write_w=w_0[:, self.R:].contiguous(),
            r=torch.tanh(self.r_bias).expand(B, -1, -1).contiguous())

    # -- one step (reference path)

    def _cell(self, gx: Tensor, controller: tuple[Tensor, ...], M: Tensor, w: Tensor, r: Tensor):
        """One step with w (B, H, N) all heads' weightings and gx (B, G) the projected input.
        Returns (h (B, U), controller, M, w, r, a (B, W, M) the add vectors)."""
        cfg = self.config
        h, controller = self.controller(gx, r.flatten(1), controller)               # (B, U)
        p = activate(self._clip(self.heads(h)), cfg.M, self.H, self.W, self.S)
        w = memory.address(M, w, p.k, p.beta, p.g, p.s, p.gamma)                    # (B, H, N)
        r = memory.read(M, w[:, :self.R])                                           # (B, R, M)
        M = memory.write(M, w[:, self.R:], p.e, p.a)                                # (B, N, M)
        return h, controller, M, w, r, p.a

    def step(self, x: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """One time step: x (B, C_in), state -> (logits y (B, C_out), new state). Reference path."""
        x = x.to(self.r_bias.dtype)
        w = torch.cat([state.read_w, state.write_w], dim=1)
        h, controller, M, w, r, _ = self._cell(self.controller.project(x), state.controller, state.M, w, state.r)
        y = self.output(torch.cat([h, r.flatten(1)], dim=1))
        return y, NTMState(controller, M, w[:, :self.R], w[:, self.R:], r)

    # -- a whole episode

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None) -> Tensor:
        """Read inputs (B, T_in, C_in), right-aligned, then T_out steps of zero input; return the
        logits of those T_out steps (B, T_out, C_out). input_lengths (B,): steps t < T_in -
        input_lengths[b] are padding, where sample b's state does not change, so a batch gives the
        same logits as its samples one by one. Inputs are cast to the model's dtype."""
        B, T_in = _check_inputs(inputs, T_out, input_lengths, self.input_size)
        inputs = inputs.to(self.r_bias.dtype)
        if T_out == 0:                                                              # nothing to answer
            return inputs.new_zeros(B, 0, self.output_size)
        state = self.initial_state(B)
        w_0 = torch.cat([state.read_w, state.write_w], dim=1)
        gx = self._projected_inputs(inputs, T_out)                                  # (T, B, G)
        keep = _keep_masks(T_in, input_lengths)
        params = [*self.controller.step_parameters(), self.heads.weight, self.heads.bias]
        if torch.is_grad_enabled() and any(t.requires_grad for t in [gx, state.M, w_0, state.r, *params]):
            h, r = _FusedEpisode.apply(self, T_in, keep, gx, state.M, w_0, state.r, *params)
        elif self._numba_engine(gx):             # inference
            h, r, _ = self._numba_loop(gx, state.M, w_0, state.r, keep, T_in, save=False)
        else:                                    # inference: eager (a compile per batch size would cost more)
            h, r, _ = self._fused_loop(gx, state.M, w_0, state.r, keep, T_in, save=False, compiled=False)
        features = torch.cat([h, r.flatten(2)], dim=2)                              # (T_out, B, U + R*M)
        return self.output(features).transpose(0, 1)                                # (B, T_out, C_out)

    def reference_forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None) -> Tensor:
        """`forward` through the plain equations and autograd (slower; same values and gradients)."""
        return self._run_reference(inputs, T_out, input_lengths, info=False)[0]

    def run_with_info(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None
                      ) -> tuple[Tensor, dict[str, Tensor]]:
        """`forward`, plus what the heads did at each of the T = T_in + T_out steps (for plots):
        read_weightings (B, T, R, N), write_weightings (B, T, W, N), read_vectors (B, T, R, M),
        add_vectors (B, T, W, M). At a sample's padding steps they repeat the initial values
        (zeros for add vectors). Reference path."""
        return self._run_reference(inputs, T_out, input_lengths, info=True)

    def _projected_inputs(self, inputs: Tensor, T_out: int) -> Tensor:
        """The controller's input term for every step, (T_in + T_out, B, G): inputs, then zero input."""
        B = inputs.shape[0]
        gx_in = self.controller.project(inputs.transpose(0, 1))                     # (T_in, B, G)
        gx_zero = self.controller.project(inputs.new_zeros(1, 1, self.input_size))  # (1, 1, G): the bias
        return torch.cat([gx_in, gx_zero.expand(T_out, B, -1)], dim=0).contiguous()

    def _run_reference(self, inputs, T_out, input_lengths, info):
        B, T_in = _check_inputs(inputs, T_out, input_lengths, self.input_size)
        inputs = inputs.to(self.r_bias.dtype)
        state = self.initial_state(B)
        controller, M, r = state.controller, state.M, state.r
        w = torch.cat([state.read_w, state.write_w], dim=1)                        # (B, H, N)
        a = M.new_zeros(B, self.W, self.config.M)
        gx = self._projected_inputs(inputs, T_out)
        keep = _keep_masks(T_in, input_lengths)
        hs, rs, trace = [], [], []
        for t in range(T_in + T_out):
            new = self._cell(gx[t], controller, M, w, r)
            if t < len(keep):                                    # some samples are still in padding
                new = (new[0], tuple(_where(keep[t], o, n) for o, n in zip(controller, new[1])),
                       *(_where(keep[t], o, n) for o, n in zip((M, w, r, a), new[2:])))
            h, controller, M, w, r, a = new
            if t >= T_in:
                hs.append(h)
                rs.append(r)
            if info:
                trace.append((w, r, a))
        features = torch.cat([_stack(hs, B, self.config.controller_size, M),
                              _stack(rs, B, self.R * self.config.M, M)], dim=2)  # (T_out, B, U + R*M)
        logits = self.output(features).transpose(0, 1)
        if not info:
            return logits, None
        ws, rv, av = (torch.stack(x, dim=1) for x in zip(*trace)) if trace else (
            M.new_zeros(B, 0, self.H, self.config.N), M.new_zeros(B, 0, self.R, self.config.M),
            M.new_zeros(B, 0, self.W, self.config.M))
        return logits, {"read_weightings": ws[:, :, :self.R], "write_weightings": ws[:, :, self.R:],
                        "read_vectors": rv, "add_vectors": av}

    def _clip(self, raw: Tensor) -> Tensor:
        c = self.config.clip_value
        return raw if c is None else raw.clamp(-c, c)

    # -- fused path through numba (ntm.kernels): the whole episode in one call each way

    def _numba_engine(self, x: Tensor) -> bool:
        """Whether an episode on x's device and dtype runs through `ntm.kernels` (see NTMConfig.engine).
        Raises ConfigError when engine = "numba" is asked for where it cannot run."""
        cfg = self.config
        fits = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
        if cfg.engine == "numba" and not fits:
            raise ConfigError(f"NTM engine \"numba\" runs on CPU float32/float64 tensors, got {x.device} "
                              f"{x.dtype}; use engine = \"auto\"")
        return fits and cfg.engine != "torch" and not cfg.compile and cfg.controller == "lstm" \
            and cfg.controller_layers == 1

    def _numba_loop(self, gx: Tensor, M: Tensor, w: Tensor, r: Tensor, keep: list[Tensor], T_in: int, save: bool):
        """`_fused_loop` through `kernels.episode_forward`, the batch split over `kernels.threads()`.
        Returns (h (T_out, B, U), r (T_out, B, R, M), saved)."""
        T, B = gx.shape[0], gx.shape[1]
        mask = np.zeros((T, B), dtype=bool)                       # (T, B) True: padding, state kept
        if keep:
            mask[:len(keep)] = torch.stack(keep).cpu().numpy()
        cfg, gx, M, w, r = self.config, _array(gx), _array(M.transpose(1, 2)), _array(w), _array(r)
        weights = (_array(self.controller.weight_rh[0].t()), _array(self.heads.weight.t()), _array(self.heads.bias))

        def run(part: slice):
            saved, handle = kernels.saved_arrays(T, part.stop - part.start, cfg.controller_size,
                                                 self.heads.out_features, self.R, self.W, cfg.M, cfg.N, gx.dtype, save)
            keep_part = np.ascontiguousarray(mask[:, part])               # (T, B_part), kept for backward
            Hs, Rs = kernels.episode_forward(
                np.ascontiguousarray(gx[:, part]), keep_part, M[part], w[part], r[part],
                *weights, float(cfg.clip_value or 0.0), self.R, self.S, saved, save)
            return torch.from_numpy(Hs), torch.from_numpy(Rs), saved, handle, keep_part

        parts = kernels.batch_parts(B, kernels.threads())
        out = kernels.run_parts(run, parts)
        Hs, Rs = _cat([o[0] for o in out], dim=1), _cat([o[1] for o in out], dim=1)
        return Hs[T_in:], Rs[T_in:].view(T - T_in, B, self.R, self.config.M), (parts, out, mask)

    def _numba_backward(self, saved, T_in: int, dH: Tensor, dR: Tensor):
        """`_fused_backward` through `kernels.episode_backward`, each part of the batch on its thread
        with its share of the weight gradients (formed once for the episode from the saved inputs and
        the gate gradients: one matrix product per weight, not one per step)."""
        parts, out, mask = saved
        T, B = mask.shape
        U, RM = self.config.controller_size, self.R * self.config.M
        dR = dR.reshape(T - T_in, B, RM)
        weights = (_array(self.controller.weight_rh[0]), _array(self.heads.weight))
        clip = float(self.config.clip_value or 0.0)

        def run(i: int):
            part, (Hs, _, saved, handle, keep_part) = parts[i], out[i]
            dH_part, dR_part = dH.new_zeros(T, Hs.shape[1], U), dR.new_zeros(T, Hs.shape[1], RM)   # zero at input steps
            dH_part[T_in:], dR_part[T_in:] = dH[:, part], dR[:, part]
            dZ, draw, dM, dw, dr = (torch.from_numpy(a) for a in kernels.episode_backward(
                dH_part.numpy(), dR_part.numpy(), keep_part, saved, *weights, clip, self.R, self.S))
            X = torch.from_numpy(saved[0]).flatten(0, 1)                        # (T*B_part, R*M + U)
            draw_flat = draw.flatten(0, 1)                                      # (T*B_part, P)
            grads = self.controller.weight_grads([X], [dZ.flatten(0, 1)]) + [
                draw_flat.t() @ Hs.flatten(0, 1), draw_flat.sum(0)]
            kernels.release(handle)                               # X is read: the arrays may be reused
            return dZ, dM, dw, dr, grads

        res = kernels.run_parts(run, list(range(len(parts))))
        dZ = _cat([r[0] for r in res], dim=1)                     # (T, B, 4U): also the gradient of gx
        dM, dw, dr = (_cat([r[k] for r in res], dim=0) for k in (1, 2, 3))
        grads = [sum(g[k] for g in (r[4] for r in res)) for k in range(len(res[0][4]))]
        return dZ, dM.transpose(1, 2), dw, dr.view(B, self.R, self.config.M), grads

    # -- fused path: one step, its gradient, and the loop over an episode

    def _forward_step(self, gx: Tensor, controller: tuple[Tensor, ...], M: Tensor, w: Tensor, r: Tensor,
                      keep: Tensor | None):
        """The step of `_cell` through the fused functions; keep (B,) bool marks padding (state kept).
        Returns (h, controller, M, w, r, saved) with saved what `_backward_step` needs."""
        cfg = self.config
        h, controller_new, c_saved = self.controller.step_forward(gx, r.flatten(1), controller)
        raw = self._clip(torch.addmm(self.heads.bias, h, self.heads.weight.t()))   # (B, P)
        p = activate(raw, cfg.M, self.H, self.W, self.S)
        w_new, r_new, M_new, m_saved = memory.step_forward(M, w, *p, R=self.R)
        if keep is not None:
            controller_new = tuple(_where(keep, o, n) for o, n in zip(controller, controller_new))
            M_new, w_new, r_new = _where(keep, M, M_new), _where(keep, w, w_new), _where(keep, r, r_new)
        return h, controller_new, M_new, w_new, r_new, (c_saved, h, raw, m_saved)

    def _backward_step(self, saved, dh_out: Tensor | None, dcontroller: tuple[Tensor, ...], dM: Tensor,
                       dw: Tensor, dr: Tensor, keep: Tensor | None):
        """Gradient of `_forward_step`: from the gradients of its outputs (dh_out for h as an output
        feature, None at input steps; the rest for the new state) to those of its inputs.
        Returns (dcontroller, dM, dw, dr, draw, dZ): draw and dZ feed the weight gradients, and
        dZ[0], layer 1's gate gradient, is also the gradient of gx."""
        c_saved, h, raw, m_saved = saved
        p = HeadParameters(m_saved.k, m_saved.beta, m_saved.g, m_saved.s, m_saved.gamma, m_saved.e, m_saved.a)
        if keep is not None:                                     # padding: the gradient skips the step
            kept = [_where(keep, d, torch.zeros_like(d)) for d in (*dcontroller, dM, dw, dr)]
            dcontroller = tuple(_where(keep, torch.zeros_like(d), d) for d in dcontroller)
            dM, dw, dr = (_where(keep, torch.zeros_like(d), d) for d in (dM, dw, dr))
        dM, dw, dk, dbeta, dg, ds, dgamma, de, da = memory.step_backward(m_saved, dw, dr, dM, R=self.R)
        draw = activate_backward(raw, p, HeadParameters(dk, dbeta, dg, ds, dgamma, de, da))  # (B, P)
        if self.config.clip_value is not None:                   # clamp: no gradient outside the range
            draw = draw * (raw.abs() < self.config.clip_value)
        dh = draw @ self.heads.weight                                              # (B, U)
        if dh_out is not None:
            dh = dh + dh_out
        _, dr_flat, dcontroller, dZ = self.controller.step_backward(c_saved, dh, dcontroller)
        dr = dr_flat.view_as(dr)
        if keep is not None:
            n = len(dcontroller)
            dcontroller = tuple(d + k for d, k in zip(dcontroller, kept[:n]))
            dM, dw, dr = dM + kept[n], dw + kept[n + 1], dr + kept[n + 2]
        return dcontroller, dM, dw, dr, draw, dZ

    def _forward_steps(self, gx: Tensor, controller, M: Tensor, w: Tensor, r: Tensor, keep: Tensor | None):
        """`_forward_step` over gx (K, B, G), keep (K, B) or None: the unit that is compiled.
        Returns (h (K, B, U), r (K, B, R, M), controller, M, w, r, saved per step)."""
        hs, rs, saved = [], [], []
        for t in range(gx.shape[0]):
            h, controller, M, w, r, s = self._forward_step(gx[t], controller, M, w, r, None if keep is None else keep[t])
            hs.append(h)
            rs.append(r)
            saved.append(s)
        return _stack_steps(hs), _stack_steps(rs), controller, M, w, r, saved

    def _backward_steps(self, saved, dH: Tensor | None, dR: Tensor | None, dcontroller, dM: Tensor,
                        dw: Tensor, dr: Tensor, keep: Tensor | None):
        """Gradient of `_forward_steps`, last step first. dH (K, B, U), dR (K, B, R, M): gradients of its
        h and r outputs (None: zero). Returns (dcontroller, dM, dw, dr, draw (K, B, P), dZ per controller
        layer (K, B, G_l), X per controller layer (K, B, in_l), h (K, B, U)); the last four make the
        weight gradients, and dZ[0] is the gradient of gx."""
        draws, dZs = [], []
        for t in reversed(range(len(saved))):
            if dR is not None:
                dr = dr + dR[t]
            dcontroller, dM, dw, dr, draw, dZ = self._backward_step(
                saved[t], None if dH is None else dH[t], dcontroller, dM, dw, dr, None if keep is None else keep[t])
            draws.append(draw)
            dZs.append(dZ)
        layers = range(len(dZs[0]))
        dZ = [_stack_steps([d[l] for d in reversed(dZs)]) for l in layers]
        X = [_stack_steps([s[0][l][0] for s in saved]) for l in layers]
        h = _stack_steps([s[1] for s in saved])
        return dcontroller, dM, dw, dr, _stack_steps(draws[::-1]), dZ, X, h

    def _chunks(self, T: int, keep: list[Tensor], B: int, device, compiled: bool) -> tuple[int, int, Tensor | None]:
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

    def _step_functions(self, compiled: bool):
        """(forward steps, backward steps): the plain methods, or compiled."""
        if not compiled:
            return self._forward_steps, self._backward_steps
        fns = _COMPILED.get(self)                                # kept off the module: deepcopy-safe
        if fns is None:
            fns = _COMPILED[self] = (_Compiled(self._forward_steps), _Compiled(self._backward_steps))
        return fns

    def _fused_loop(self, gx, M, w, r, keep, T_in, save, compiled):
        """Run every step of the fused path (compiled: torch.compile'd, in chunks of COMPILE_STEPS).
        Returns (h (T_out, B, U), r (T_out, B, R, M), saved), with saved what `_fused_backward` needs."""
        T, B = gx.shape[0], gx.shape[1]
        K, pad, mask = self._chunks(T, keep, B, gx.device, compiled)
        if pad:
            gx = torch.cat([gx.new_zeros(pad, B, gx.shape[2]), gx])
        forward_steps = self._step_functions(compiled)[0]
        controller, hs, rs, saved = self.controller.initial_state(B), [], [], []
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

    def _fused_backward(self, saved, T_in: int, dH: Tensor, dR: Tensor):
        """Gradient of `_fused_loop` from those of its outputs h and r, all steps last to first.
        Returns (dgx (T, B, G), dM_0, dw_0, dr_0, gradients of the step parameters)."""
        chunks, K, pad, mask, M, compiled = saved
        B = M.shape[0]
        backward_steps = self._step_functions(compiled)[1]
        dcontroller = self.controller.initial_state(B)           # zeros shaped like the state
        dM, dw = torch.zeros_like(M), M.new_zeros(B, self.H, self.config.N)
        dr = M.new_zeros(B, self.R, self.config.M)
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
        grads = self.controller.weight_grads(X, [d.flatten(0, 1) for d in dZ]) + [draw.t() @ h, draw.sum(0)]
        return dgx, dM, dw, dr, grads


# Steps per compiled call: fewer calls (each costs guard checks and wrappers) against a longer compile.
COMPILE_STEPS = 4


class _FusedEpisode(torch.autograd.Function):
    """A whole episode as one autograd node: forward runs `NTM._fused_loop`, backward
    `NTM._fused_backward` (the hand-derived gradient, last step first)."""

    @staticmethod
    def forward(ctx, model, T_in, keep, gx, M_0, w_0, r_0, *params):
        ctx.numba = model._numba_engine(gx)
        if ctx.numba:
            h, r, saved = model._numba_loop(gx, M_0, w_0, r_0, keep, T_in, save=True)
        else:
            h, r, saved = model._fused_loop(gx, M_0, w_0, r_0, keep, T_in, save=True, compiled=model.config.compile)
        ctx.model, ctx.T_in, ctx.saved = model, T_in, saved
        return h, r

    @staticmethod
    def backward(ctx, dH, dR):
        run = ctx.model._numba_backward if ctx.numba else ctx.model._fused_backward
        dgx, dM, dw, dr, grads = run(ctx.saved, ctx.T_in, dH, dR)
        ctx.saved = None                                         # free the episode's activations
        return (None, None, None, dgx, dM, dw, dr, *grads)


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


# ---------------------------------------------------------------- helpers shared with the baselines

def _check_inputs(inputs: Tensor, T_out: int, input_lengths: Tensor | None, input_size: int) -> tuple[int, int]:
    """Validate forward's arguments; return (B, T_in). Raises ConfigError on a mismatch."""
    if not isinstance(inputs, Tensor) or inputs.dim() != 3 or inputs.shape[2] != input_size:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ConfigError(f"inputs must be a tensor (batch, time, {input_size}), got {shape}")
    if isinstance(T_out, bool) or not isinstance(T_out, int) or T_out < 0:
        raise ConfigError(f"T_out must be an integer >= 0, got {T_out!r}")
    B, T_in = inputs.shape[0], inputs.shape[1]
    if input_lengths is not None:
        if not isinstance(input_lengths, Tensor) or input_lengths.shape != (B,):
            raise ConfigError(f"input_lengths must be a tensor of shape ({B},)")
        if B and (int(input_lengths.min()) < 0 or int(input_lengths.max()) > T_in):
            raise ConfigError(f"input_lengths must lie in 0..{T_in} (the inputs' time steps)")
    return B, T_in


def _keep_masks(T_in: int, input_lengths: Tensor | None) -> list[Tensor]:
    """For each leading step where some sample is padding, a (B,) bool mask of those samples
    (True: state kept). Empty when there is no padding (then no step pays for torch.where)."""
    if input_lengths is None or input_lengths.numel() == 0:
        return []
    pad = T_in - input_lengths.to(torch.long)                                     # (B,)
    steps = int(pad.max())
    return list((torch.arange(steps, device=pad.device).unsqueeze(1) < pad).unbind(0))


def _cat(xs: list[Tensor], dim: int) -> Tensor:
    """torch.cat(xs, dim), without a copy when there is one part."""
    return xs[0] if len(xs) == 1 else torch.cat(xs, dim=dim)


def _array(t: Tensor) -> np.ndarray:
    """A CPU tensor as a C-contiguous numpy array (no copy when it already is one)."""
    return t.detach().contiguous().numpy()


def _where(keep: Tensor, old: Tensor, new: Tensor) -> Tensor:
    """old where keep[b] else new, broadcasting keep (B,) over the other dimensions."""
    return torch.where(keep.view(-1, *([1] * (old.dim() - 1))), old, new)


def _stack_steps(xs: list[Tensor]) -> Tensor:
    """torch.stack(xs), without a copy when there is one step (the eager loop's case)."""
    return xs[0].unsqueeze(0) if len(xs) == 1 else torch.stack(xs)


def _stack(xs: list[Tensor], B: int, width: int, like: Tensor) -> Tensor:
    """Stack per-step (B, ...) tensors into (T, B, width); (0, B, width) when there are none."""
    if not xs:
        return like.new_zeros(0, B, width)
    return torch.stack(xs).reshape(len(xs), B, width)
