"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401).

Reading order: state, config, the model (one step, then a whole episode). The memory equations live
in `ntm.models.memory`, the head outputs and their activations in `ntm.models.heads`, the
controllers in `ntm.models.controller`.

One time step t (figure 1 of the paper): the controller reads x_t and the previous read vectors
r_{t-1}; its output h_t gives every head's parameters; each head addresses M_{t-1} (eqs. 5-9); read
heads read M_{t-1} (eq. 2); write heads erase and add (eqs. 3-4) to give M_t; the output is a linear
function of [h_t, r_t]. This order (read before write, output from [h_t, r_t]), the activations and
the initial state follow Collier & Beel (2018), "Implementing Neural Turing Machines", ICANN,
arXiv:1807.08518, and their reference implementation (github.com/MarkPKCollier/NeuralTuringMachine).

Two ways to run the same computation:
- the reference path (`step`, `reference_forward`, `run_with_info`): the equations of
  `ntm.models.memory` composed, differentiated by autograd. Plain to read; the oracle for tests.
- the fused path (`forward` when gradients are needed, or on the CPU): the whole episode as one
  autograd node with a hand-derived gradient, run by numba kernels on the CPU or by PyTorch
  operations elsewhere (`NTMConfig.backend`). It lives in `ntm.models.fused`; this file only
  dispatches to it.
tests/test_models.py and tests/test_kernels.py check that all of them agree in values and gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models import fused, memory
from ntm.models.controller import CONTROLLERS
from ntm.models.heads import activate, block_starts, head_sizes
from ntm.models.inputs import check_inputs, check_int, check_sizes, keep_masks, stack, where

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
BACKENDS = ("auto", "numba", "torch")
MAX_MEMORY = 2 ** 26     # N * M per sample: 256 MB in float32; the compiler's largest runs use ~10^4


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
    shift_range: int = 1             # shifts -shift_range..shift_range allowed (eq. 8); R is the read heads
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
    # the initial bias of every read (write) head's interpolation-gate logit, g = sigmoid(.) (eq. 7);
    # None: the layer's own init (g near 0.5). Negative starts the heads addressing by location
    # (w_t from w_{t-1} by shifts), which content lookups must then earn; like an LSTM's forget-gate
    # bias (Gers et al. 2000) an init, not a constraint. docs/sweeps.md: its effect on reverse.
    read_g_bias: float | None = None
    write_g_bias: float | None = None
    # clip the controller's head output to [-clip_value, clip_value] before the activations (Collier &
    # Beel's implementation, clip_value = 20): bounds beta, gamma and the logits of g and s, so one
    # overconfident step cannot make addressing arbitrarily sharp. None: no clipping.
    clip_value: float | None = None
    # torch.compile the fused training step (fused.COMPILE_STEPS time steps per compiled call;
    # inference stays eager; falls back to eager, with a warning, where compiling fails)
    torch_compile: bool = False
    # how the fused path runs (ntm.models.fused): "numba" = the episode as two numba kernels (CPU, one
    # LSTM layer; several times faster there), "torch" = PyTorch operations (any device and
    # controller), "auto" = numba where it applies (CPU tensors, one LSTM layer, torch_compile off)
    backend: str = "auto"

    def __post_init__(self):
        for name in ("controller_size", "controller_layers", "N", "M", "read_heads", "write_heads"):
            check_int("NTM", name, getattr(self, name), 1)
        check_int("NTM", "shift_range", self.shift_range, 0)
        choices = {"controller": tuple(CONTROLLERS), "memory_init": MEMORY_INITS,
                   "weighting_init": WEIGHTING_INITS, "backend": BACKENDS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"NTM option {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        if self.N * self.M > MAX_MEMORY:
            raise ConfigError(f"NTM memory N x M = {self.N} x {self.M} is over {MAX_MEMORY:,} values per sample "
                              f"({4 * MAX_MEMORY // 2**20} MB in float32); use a smaller N or M")
        value = self.memory_init_value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < 1:
            raise ConfigError(f"NTM option memory_init_value must be a number in (-1, 1), got {value!r}")
        for name in ("read_g_bias", "write_g_bias"):
            b = getattr(self, name)
            if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b)):
                raise ConfigError(f"NTM option {name} must be a finite number or absent, got {b!r}")
        clip = self.clip_value
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0):
            raise ConfigError(f"NTM option clip_value must be a positive number or absent, got {clip!r}")
        if not isinstance(self.torch_compile, bool):
            raise ConfigError(f"NTM option torch_compile must be true or false, got {self.torch_compile!r}")
        if self.backend == "numba" and (self.controller != "lstm" or self.controller_layers != 1 or self.torch_compile):
            raise ConfigError("NTM option backend = \"numba\" needs controller = \"lstm\", controller_layers = 1 "
                              "and torch_compile = false; use backend = \"auto\" or \"torch\"")


# ---------------------------------------------------------------- model

class NTM(nn.Module):
    """A Neural Turing Machine with any number of read and write heads.

    forward(inputs (B, T_in, C_in), T_out, input_lengths=None, output_lengths=None) -> logits (B, T_out, C_out)
    step(x (B, C_in), state) -> (logits (B, C_out), state);  initial_state(batch_size) -> NTMState
    run_with_info(...) -> (logits, per-step weightings, read and add vectors)  (for plots)
    reference_forward(...) -> logits, through the per-equation functions and autograd
    Raises ConfigError for bad options or inputs that do not fit the model. With config.torch_compile,
    only training steps (gradients enabled) are compiled: inference runs eagerly, so evaluating
    at new batch sizes does not trigger new compiles.
    """

    has_memory = True        # the trainer's restart rule and the comparison's "exceeds memory N" use it

    def __init__(self, input_size: int, output_size: int, config: NTMConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else NTMConfig()
        check_sizes("NTM", input_size, output_size)
        self.input_size, self.output_size = input_size, output_size
        R, W, N, M, U = cfg.read_heads, cfg.write_heads, cfg.N, cfg.M, cfg.controller_size
        self.R, self.W, self.H, self.S = R, W, R + W, 2 * cfg.shift_range + 1

        self.controller = CONTROLLERS[cfg.controller](input_size, R * M, U, cfg.controller_layers)
        self.heads = nn.Linear(U, sum(head_sizes(M, R, W, cfg.shift_range).values()))
        self.output = nn.Linear(U + R * M, output_size)
        o_g = block_starts(self.H, W, M, self.S)[1]                 # read heads' g logits, then write heads'
        with torch.no_grad():                                       # after the draws: other weights unchanged
            for bias, first, count in ((cfg.read_g_bias, o_g, R), (cfg.write_g_bias, o_g + R, W)):
                if bias is not None:
                    self.heads.bias[first:first + count] = bias

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
        M, w, r = self._initial_memory(batch_size)
        return NTMState(controller=self.controller.initial_state(batch_size), M=M,
                        read_w=w[:, :self.R].contiguous(), write_w=w[:, self.R:].contiguous(), r=r)

    def _initial_memory(self, B: int) -> tuple[Tensor, Tensor, Tensor]:
        """(M_0 (B, N, M), w_0 (B, H, N) every head's weighting, r_0 (B, R, M)): `initial_state`
        without the controller, in as few operations as each init allows (a training step at batch 1
        pays ~2 us for each)."""
        cfg, like = self.config, self.r_bias
        # (B, N, M), stored as (B, M, N): the N locations of each component side by side, so sums over
        # M and products with keys run along contiguous memory (several times faster on CPU); every
        # operation keeps this layout
        if cfg.memory_init == "constant":                        # made here: exact in any dtype
            M = like.new_full((B, cfg.M, cfg.N), cfg.memory_init_value)
        else:
            M_0 = torch.tanh(self.M_bias) if cfg.memory_init == "learned" else self.M_0   # (N, M)
            M = M_0.t().expand(B, -1, -1).contiguous()
        if cfg.weighting_init == "learned":
            w = torch.softmax(self.w_bias, -1).expand(B, -1, -1)
        else:                                                    # all on location 0
            w = like.new_zeros(B, self.H, cfg.N)
            w[:, :, 0] = 1
        return M.transpose(1, 2), w, torch.tanh(self.r_bias).expand(B, -1, -1).contiguous()

    def _episode_parameters(self) -> list[nn.Parameter]:
        """The parameters `fused.FusedEpisode` takes, in its order: the controller's (`project_parameters`,
        `step_parameters`), then the head and output layers' (weight, bias). The layers are read from
        the module dictionaries: nn.Module's attribute lookup cost ~6 us a batch-1 step here."""
        modules = self._modules
        c, heads, output = modules["controller"], modules["heads"], modules["output"]
        return [*c.project_parameters(), *c.step_parameters(), *heads._parameters.values(),
                *output._parameters.values()]

    # -- one step (reference path)

    def _cell(self, gx: Tensor, controller: tuple[Tensor, ...], M: Tensor, w: Tensor, r: Tensor):
        """One step with w (B, H, N) all heads' weightings and gx (B, G) the projected input.
        Returns (h (B, U), controller, M, w, r, a (B, W, M) the add vectors)."""
        cfg = self.config
        h, controller = self.controller(gx, r.flatten(1), controller)               # (B, U)
        p = activate(self.clip(self.heads(h)), cfg.M, self.H, self.W, self.S)
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

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                output_lengths: Tensor | None = None) -> Tensor:
        """Read inputs (B, T_in, C_in), right-aligned, then T_out steps of zero input; return the
        logits of those T_out steps (B, T_out, C_out). input_lengths (B,): steps t < T_in -
        input_lengths[b] are padding, where sample b's state does not change, so a batch gives the
        same logits as its samples one by one. output_lengths (B,) is checked and otherwise unused
        (the NTM is causal). Inputs are cast to the model's dtype."""
        B, T_in = check_inputs(inputs, T_out, input_lengths, self.input_size, output_lengths)
        inputs = inputs.to(self.r_bias.dtype)
        if T_out == 0:                                                              # nothing to answer
            return inputs.new_zeros(B, 0, self.output_size)
        M_0, w_0, r_0 = self._initial_memory(B)
        x = self._padded_inputs(inputs, T_out)                                      # (T, B, C_in)
        keep = keep_masks(T_in, input_lengths)
        params = self._episode_parameters()
        if torch.is_grad_enabled() and any(t.requires_grad for t in [x, M_0, w_0, r_0, *params]):
            return fused.FusedEpisode.apply(self, T_in, keep, x, M_0, w_0, r_0, *params)
        if fused.numba_applies(self, x):         # inference
            return fused.numba_inference(self, x, M_0, w_0, r_0, keep, T_in)         # (B, T_out, C_out)
        gx = self.controller.project(x)          # inference: eager (a compile per batch size would cost more)
        h, r, _ = fused.fused_loop(self, gx, M_0, w_0, r_0, keep, T_in, save=False, compiled=False)
        return fused.readout(self, h, r)[0]                                         # (B, T_out, C_out)

    def reference_forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                          output_lengths: Tensor | None = None) -> Tensor:
        """`forward` through the plain equations and autograd (slower; same values and gradients)."""
        return self._run_reference(inputs, T_out, input_lengths, info=False)[0]

    def run_with_info(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None
                      ) -> tuple[Tensor, dict[str, Tensor]]:
        """`forward`, plus what the heads did at each of the T = T_in + T_out steps (for plots):
        read_weightings (B, T, R, N), write_weightings (B, T, W, N), read_vectors (B, T, R, M),
        add_vectors (B, T, W, M). At a sample's padding steps they repeat the initial values
        (zeros for add vectors). Reference path."""
        return self._run_reference(inputs, T_out, input_lengths, info=True)

    def _padded_inputs(self, inputs: Tensor, T_out: int) -> Tensor:
        """The controller's input at every step, (T_in + T_out, B, C_in): inputs, then T_out steps of
        zero input."""
        return torch.nn.functional.pad(inputs.transpose(0, 1), (0, 0, 0, 0, 0, T_out))

    def _run_reference(self, inputs, T_out, input_lengths, info):
        B, T_in = check_inputs(inputs, T_out, input_lengths, self.input_size)
        inputs = inputs.to(self.r_bias.dtype)
        state = self.initial_state(B)
        controller, M, r = state.controller, state.M, state.r
        w = torch.cat([state.read_w, state.write_w], dim=1)                        # (B, H, N)
        a = M.new_zeros(B, self.W, self.config.M)
        gx = self.controller.project(self._padded_inputs(inputs, T_out))           # (T, B, G)
        keep = keep_masks(T_in, input_lengths)
        hs, rs, trace = [], [], []
        for t in range(T_in + T_out):
            new = self._cell(gx[t], controller, M, w, r)
            if t < len(keep):                                    # some samples are still in padding
                new = (new[0], tuple(where(keep[t], o, n) for o, n in zip(controller, new[1])),
                       *(where(keep[t], o, n) for o, n in zip((M, w, r, a), new[2:])))
            h, controller, M, w, r, a = new
            if t >= T_in:
                hs.append(h)
                rs.append(r)
            if info:
                trace.append((w, r, a))
        features = torch.cat([stack(hs, B, self.config.controller_size, M),
                              stack(rs, B, self.R * self.config.M, M)], dim=2)  # (T_out, B, U + R*M)
        logits = self.output(features).transpose(0, 1)
        if not info:
            return logits, None
        ws, rv, av = (torch.stack(x, dim=1) for x in zip(*trace)) if trace else (
            M.new_zeros(B, 0, self.H, self.config.N), M.new_zeros(B, 0, self.R, self.config.M),
            M.new_zeros(B, 0, self.W, self.config.M))
        return logits, {"read_weightings": ws[:, :, :self.R], "write_weightings": ws[:, :, self.R:],
                        "read_vectors": rv, "add_vectors": av}

    def clip(self, raw: Tensor) -> Tensor:
        """The head output, clamped to +-clip_value when the config asks (else as it is)."""
        c = self.config.clip_value
        return raw if c is None else raw.clamp(-c, c)
