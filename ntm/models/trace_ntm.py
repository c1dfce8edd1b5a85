"""The NTM driven by a machine's trace: memory = the tape, one head per tape, one step = one machine step.

For the trace tasks (`tasks.trace`). The NTM's memory starts holding the input tape (one row per
cell, one block of columns per tape, symbols coded as `ntm compile` codes them: one-hot over the
non-blank symbols, the blank the zero vector) and each head starts on its tape's first input
cell. One model step is one machine step, in the NTM paper's equations (Graves et al. 2014, §3):

    r_i   = w_i M, tape i's block                    read (eq. 2); blank = 1 - sum(r_i)
    out   = controller([r_1, ..., r_k, q])           state logits, per head write logits over
                                                     Γ (blank first) and move logits (L, S, R),
                                                     a stop logit
    M     <- M (1 - w_i e_i) + w_i a_i               erase/add (eqs. 3-4): e_i = 1 on block i,
                                                     a_i = softmax(write logits) without the blank
    w_i   <- sharpen(shift(w_i, s_i), gamma)         location addressing (eqs. 8-9), s_i =
                                                     softmax(move logits); content addressing is
                                                     off (g = 0, eq. 7): a tape is walked, not searched

So the move is supervised through the shift weighting, the written symbol through the add
vector, the next state through a classification output, the stop through a sigmoid. Each row of M
stays a distribution over Γ with the blank's mass 1 - sum(row), because every write is a convex
mix of the old row and `a`. gamma is fixed (default 2: a prototype found the off-focus weight grows
about linearly with the steps without sharpening, and stays <= 1e-3 at 512 with gamma = 2).

Controllers (`controller` option):
    "ff"    two tanh layers fed [reads, q], where q is the state fed back: at the trace level the
            machine's state during training (teacher forcing) and the argmax of the model's own
            state output at evaluation; below it (the state is not supervised) the softmax of the
            state output, a soft state the model invents (gradients flow through it). With the
            state supervised and fed back the controller is a finite table of
            (state, symbols read) -> decisions: exact at every length once every entry is right.
    "lstm"  an LSTM cell fed the reads only: it must carry the machine's state in its hidden
            vector (the research question: does it stay exact far beyond the training lengths?).

The reference torch path only: the NTM's fused numba path computes a sequence-to-sequence loss on
outputs (`ntm.models.fused`), while a trace needs every step's head outputs with the memory loaded
from the tape. Costs: docs/traces.md and bench/README.md ("Learning from traces").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models import memory
from ntm.models.inputs import check_int

CONTROLLERS = ("ff", "lstm")


@dataclass
class TraceNTMConfig:
    """Sizes come from the machine (`tasks.trace.TraceTask.model_options`); the rest are options."""
    symbols: int = 2            # |Γ|, cell classes, blank included (class 0)
    states: int = 1             # |Q|
    tapes: int = 1              # k: one head per tape
    controller: str = "ff"      # "ff" | "lstm" (module docstring)
    hidden: int = 64            # units per controller layer
    gamma: float = 2.0          # sharpening exponent of every head (eq. 9), fixed
    # teacher forcing of the head addresses: for this many training runs (batches) the weighting
    # after each move is pulled toward the machine's head position, by a weight annealed linearly
    # from 1 to 0 (0: off); never at evaluation, where the model runs free
    head_forcing: int = 0

    def __post_init__(self):
        for name in ("symbols", "states", "tapes", "hidden"):
            check_int("trace NTM", name, getattr(self, name))
        check_int("trace NTM", "head_forcing", self.head_forcing, 0)
        if self.symbols < 2:
            raise ConfigError(f"trace NTM option symbols must be >= 2 (the blank and one more), got {self.symbols}")
        if self.controller not in CONTROLLERS:
            raise ConfigError(f"trace NTM option controller must be one of {', '.join(CONTROLLERS)}, "
                              f"got {self.controller!r}")
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or not 1 <= self.gamma <= 100:
            raise ConfigError(f"trace NTM option gamma must be a number in [1, 100], got {self.gamma!r}")


class TraceState(NamedTuple):
    """Everything that carries over from one step to the next."""
    M: Tensor          # (B, N, k W) memory, W = |Γ| - 1 columns per tape block
    w: Tensor          # (B, k, N) head weightings
    q: Tensor          # (B, |Q|) the state fed back (ff), or (B, 0)
    core: tuple        # () for ff; (h, c) each (B, hidden) for the LSTM


class Decisions(NamedTuple):
    """One step's outputs (logits)."""
    state: Tensor      # (B, |Q|) the state after the step
    write: Tensor      # (B, k, |Γ|) the symbol each head writes, blank first
    move: Tensor       # (B, k, 3) L, S, R
    halt: Tensor       # (B,) the configuration is a stop


class TraceOutputs(NamedTuple):
    """`TraceNTM.run`'s logits for every step t = 0..S (S+1 configurations), and the final memory."""
    state: Tensor      # (B, S+1, |Q|)
    write: Tensor      # (B, S+1, k, |Γ|)
    move: Tensor       # (B, S+1, k, 3)
    halt: Tensor       # (B, S+1)
    tape: Tensor       # (B, k, N, |Γ|) log-probabilities of each cell's class at the end


class TraceNTM(nn.Module):
    """An NTM whose memory is a machine's tape (module docstring). ``input_size`` and
    ``output_size`` are the task's (memory row width k W and |Q|), checked against the config."""
    has_memory = True

    def __init__(self, input_size: int, output_size: int, config: TraceNTMConfig | None = None):
        super().__init__()
        c = self.config = config or TraceNTMConfig()
        self.k, self.G, self.Q = c.tapes, c.symbols, c.states
        self.W = c.symbols - 1
        if input_size != self.k * self.W or output_size != self.Q:
            raise ConfigError(f"trace NTM: the task's sizes ({input_size}, {output_size}) do not match "
                              f"tapes x (symbols - 1) = {self.k * self.W} and states = {self.Q}")
        reads = self.k * self.G
        if c.controller == "ff":
            self.core = nn.Sequential(nn.Linear(reads + self.Q, c.hidden), nn.Tanh(),
                                      nn.Linear(c.hidden, c.hidden), nn.Tanh())
        else:
            self.core = nn.LSTMCell(reads, c.hidden)
        self.out = nn.Linear(c.hidden, self.Q + self.k * (self.G + 3) + 1)
        # one erase vector per head: 1 on its own tape's block (eq. 3), a constant
        self.register_buffer("e", torch.eye(self.k).repeat_interleave(self.W, 1), persistent=False)
        # training runs so far, for the head forcing's annealing (saved with the weights, so a
        # resumed run anneals on; a float, as the weights' moving average expects of a buffer)
        self.register_buffer("runs", torch.zeros(()))

    @property
    def feeds_state(self) -> bool:
        return self.config.controller == "ff"

    # ------------------------------------------------------------ state
    def initial_state(self, tape: Tensor, heads: Tensor, start: int = 0) -> TraceState:
        """tape (B, k, N) cell classes, heads (B, k) rows -> the state before step 0."""
        B, k, N = tape.shape
        M = F.one_hot(tape, self.G)[..., 1:].to(self.out.weight.dtype)        # (B, k, N, W)
        M = M.permute(0, 2, 1, 3).reshape(B, N, k * self.W)
        w = F.one_hot(heads, N).to(M.dtype)                                     # (B, k, N)
        q = F.one_hot(torch.full((B,), start, device=M.device), self.Q).to(M.dtype) if self.feeds_state \
            else M.new_zeros(B, 0)
        core = () if self.feeds_state else (M.new_zeros(B, self.config.hidden),) * 2
        return TraceState(M, w, q, core)

    def start_state(self, batch, device=None) -> TraceState:
        """The state before step 0 of a `tasks.trace.TraceBatch` (`initial_state` of its tape, heads
        and start state), on `device` (default: the model's)."""
        dev = device or self.out.weight.device
        t = lambda x: torch.as_tensor(np.ascontiguousarray(x), device=dev)  # noqa: E731
        return self.initial_state(t(batch.tape), t(batch.heads[:, 0]), int(batch.state[0, 0]))

    # ------------------------------------------------------------ one step
    def decide(self, s: TraceState) -> tuple[Decisions, tuple]:
        """The controller's decisions in configuration `s` (reads happen here), and its new core."""
        B = s.M.shape[0]
        r = memory.read(s.M, s.w).view(B, self.k, self.k, self.W)                 # (B, k, k, W)
        r = torch.diagonal(r, dim1=1, dim2=2).transpose(1, 2)                    # head i, block i: (B, k, W)
        r = torch.cat([1 - r.sum(-1, keepdim=True), r], -1)                      # blank first: (B, k, |Γ|)
        if self.feeds_state:
            h, core = self.core(torch.cat([r.flatten(1), s.q], 1)), ()
        else:
            h, c = self.core(r.flatten(1), s.core)
            core = (h, c)
        o = self.out(h)
        Q, kG = self.Q, self.k * self.G
        return Decisions(o[:, :Q], o[:, Q:Q + kG].view(B, self.k, self.G),
                         o[:, Q + kG:-1].view(B, self.k, 3), o[:, -1]), core

    def act(self, s: TraceState, d: Decisions, core: tuple, q_next: Tensor | None, active: Tensor) -> TraceState:
        """Carry decisions `d` out (write, then move), only where `active` (B,) bool; `q_next` is the
        state fed back (None: the softmax of the state output)."""
        a = torch.softmax(d.write, -1)[..., 1:]                                  # (B, k, W), blank dropped
        a = (a.unsqueeze(1) * self.e.view(1, self.k, self.k, self.W)).flatten(2)  # (B, k, k W) own block
        e = self.e.to(s.M.dtype).expand(s.M.shape[0], -1, -1)
        M = memory.write(s.M, s.w, e, a)
        w = memory.sharpen(memory.shift(s.w, torch.softmax(d.move, -1)), s.w.new_tensor(self.config.gamma))
        if self.feeds_state:
            q = torch.softmax(d.state, -1) if q_next is None else q_next
        else:
            q = s.q
        return carry(active, TraceState(M, w, q, core), s)

    # ------------------------------------------------------------ a whole run (training)
    def run(self, batch) -> TraceOutputs:
        """Every step's logits on a `tasks.trace.TraceBatch`, each sample run for exactly its machine's
        steps (at the trace level the machine's state is fed back: teacher forcing; with
        `head_forcing`, the head addresses too, annealed over the first training runs).

        Returns `TraceOutputs` on the model's device.
        """
        out = teacher_forced(self, batch, batch.supervision == "trace" and self.feeds_state, self.forcing())
        if self.training:
            self.runs += 1
        return out

    def forcing(self) -> float:
        """The head forcing's weight for the next training run: 1 - runs / head_forcing, at least 0;
        0 at evaluation."""
        if not self.training or not self.config.head_forcing:
            return 0.0
        return max(0.0, 1.0 - float(self.runs) / self.config.head_forcing)

    def tape_log_probs(self, M: Tensor) -> Tensor:
        """M (B, N, k W) -> (B, k, N, |Γ|) log-probabilities of each cell's class (blank: 1 - sum)."""
        B, N, _ = M.shape
        cells = M.view(B, N, self.k, self.W).permute(0, 2, 1, 3)
        p = torch.cat([1 - cells.sum(-1, keepdim=True), cells], -1)
        return p.clamp_min(1e-12).log()

    def forward(self, *args, **kwargs):
        raise TypeError("the trace NTM runs on trace batches: use model.run(batch) (tasks.trace.TraceBatch)")


# ---------------------------------------------------------------- what every trace model shares

def carry(active, new: TraceState, old: TraceState) -> TraceState:
    """`new` where `active` (B,) is true, `old` elsewhere (a sample past its run stays put). A step
    where every sample acts returns `new` as it is: no pass over the memory."""
    on = torch.as_tensor(active, device=new.M.device)
    if bool(on.all()):
        return new
    on = on.to(new.M.dtype)
    keep = lambda n, o: torch.lerp(o, n, on.view((-1,) + (1,) * (o.dim() - 1)))  # noqa: E731
    return TraceState(keep(new.M, old.M), keep(new.w, old.w), keep(new.q, old.q) if new.q.numel() else new.q,
                      tuple(keep(n, o) for n, o in zip(new.core, old.core)))


def teacher_forced(model, batch, forced: bool, alpha: float = 0.0) -> TraceOutputs:
    """A trace model (``start_state``, ``decide``, ``act``, ``tape_log_probs``) run over a trace
    batch, each sample for exactly its machine's steps: the logits of every step and the final
    tapes. `forced`: feed back the machine's next state (one-hot); `alpha` > 0 pulls each head's
    weighting that far toward the machine's head position after every move (head forcing)."""
    dev = model.out.weight.device
    t = lambda x: torch.as_tensor(np.ascontiguousarray(x), device=dev)  # noqa: E731
    steps, S = t(batch.steps), batch.write.shape[1]
    s = model.start_state(batch, dev)
    states = t(batch.state) if forced else None
    outs = []
    for i in range(S + 1):
        d, core = model.decide(s)
        outs.append(d)
        if i < S:
            q = F.one_hot(states[:, i + 1], model.Q).to(s.M.dtype) if forced else None
            s = model.act(s, d, core, q, i < steps)
            if alpha > 0:
                on = (alpha * (i < steps)).to(s.w.dtype).view(-1, 1, 1)
                s = s._replace(w=torch.lerp(s.w, F.one_hot(t(batch.heads[:, i + 1]), s.w.shape[-1]).to(s.w.dtype), on))
    return TraceOutputs(torch.stack([d.state for d in outs], 1), torch.stack([d.write for d in outs], 1),
                        torch.stack([d.move for d in outs], 1), torch.stack([d.halt for d in outs], 1),
                        model.tape_log_probs(s.M))
