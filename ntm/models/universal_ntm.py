"""The universal NTM: one model that runs any machine whose transition table sits in its memory.

For the universal task (`tasks.universal`). The memory holds N tape rows and then T table rows,
one row per entry δ(q, a) (columns: the tape symbol | key: the code of q, one-hot of a | value:
one-hot of the written class, one-hot of the move, the code of the next state; see the task's
docstring). Two heads: the *tape head* walks the tape rows by location addressing as the trace
NTM's head does (`ntm.models.trace_ntm`); the *table head* finds the entry by content addressing
(NTM eqs. 5-6, `memory.content_weighting`) over the key columns. One model step = one machine step:

    r      = w_tape M[:, sym]                        the class read (blank = 1 - r)         eq. 2
    c      = q C                                     the state's code (C: the code book)
    k      = W_k [1 - r, r, c]                       the lookup key, a learned linear map
    w_tab  = softmax(beta cos(k, M[:, key]))         the entry's row, over the table rows    eqs. 5-6
                                                     (a zero key, tape or unused row, is left out:
                                                     a soft lookup then does not depend on how
                                                     many such rows the batch pads with)
    v      = w_tab M[:, value]                       the entry's value                       eq. 2
    out    = controller([v, 1 - r, r, c])            write logits (2), move logits (L, S, R),
                                                     next code (tanh, bits wide), stop logit
    state  = s (code_out . C_j) for every code j     the next state as logits over the codes
    M      <- M (1 - w_tape e) + w_tape a            erase/add on the symbol column          eqs. 3-4
    w_tape <- sharpen(shift(w_tape, softmax(move)))                                          eqs. 8-9

The state's classes are the 2^bits codes, not one machine's states, so the trace tasks' objective
(`ntm.training.objective.TraceObjective`) and step-by-step comparison
(`ntm.analysis.trace_compare.free_run`) apply unchanged, and a machine with more states than any
seen in training is written in the same codes. The state is fed back as in the trace NTM's "ff"
controller: the machine's during training at the "trace" level (teacher forcing), the argmax of
the model's own at evaluation. The table is never written (the erase vector is zero outside the
symbol column), so the lookup cannot drift; only the tape can.

`construct(model)` sets weights by hand that run every table exactly (as `ntm compile` does for
one machine): the reference the learned weights are measured against, and the exact model that
the verify tests plant a wrong entry into.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models import memory
from ntm.models.inputs import check_int
from ntm.models.trace_ntm import Decisions, TraceOutputs, TraceState, carry, teacher_forced


@dataclass
class UniversalNTMConfig:
    """``code_bits`` comes from the task (`tasks.universal.UniversalTask.model_options`)."""
    code_bits: int = 6          # D, the state codes' width (2^D codes, code 0 = halt)
    hidden: int = 64            # units per controller layer
    gamma: float = 2.0          # the tape head's sharpening exponent (eq. 9), fixed as in the trace NTM
    beta: float = 20.0          # the table head's key strength at initialisation (eq. 5; learned)
    controller = "ff"           # not an option: the controller is feed-forward, the state fed back

    def __post_init__(self):
        for name in ("code_bits", "hidden"):
            check_int("universal NTM", name, getattr(self, name))
        if not 2 <= self.code_bits <= 12:
            raise ConfigError(f"universal NTM option code_bits must be in 2..12, got {self.code_bits}")
        for name, lo in (("gamma", 1), ("beta", 1e-3)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= 1000:
                raise ConfigError(f"universal NTM option {name} must be a number in [{lo}, 1000], got {v!r}")


def state_codebook(bits: int) -> Tensor:
    """(2^bits, bits): code c is the ±1 vector of c's bits (`tasks.universal.state_codes`)."""
    c = torch.arange(2 ** bits)[:, None] >> torch.arange(bits)[None, :]
    return torch.where(c & 1 == 1, 1.0, -1.0)


class UniversalNTM(nn.Module):
    """An NTM that runs the machine whose table is in its memory (module docstring). ``input_size``
    is the memory row's width (2 code_bits + 8), ``output_size`` the codes (2^code_bits)."""
    has_memory = True
    feeds_state = True

    def __init__(self, input_size: int, output_size: int, config: UniversalNTMConfig | None = None):
        super().__init__()
        c = self.config = config or UniversalNTMConfig()
        D = self.D = c.code_bits
        self.Q, self.width = 2 ** D, 2 * D + 8
        if input_size != self.width or output_size != self.Q:
            raise ConfigError(f"universal NTM: the task's sizes ({input_size}, {output_size}) do not match "
                              f"2 code_bits + 8 = {self.width} and 2^code_bits = {self.Q}")
        # the row's columns: symbol | key (code D, one-hot 2) | value (write 2, move 3, next code D)
        self.key_cols, self.value_cols = slice(1, D + 3), slice(D + 3, 2 * D + 8)
        self.register_buffer("codes", state_codebook(D), persistent=False)                 # (Q, D)
        e = torch.zeros(1, self.width)
        e[0, 0] = 1
        self.register_buffer("e", e, persistent=False)                                       # erase: symbol column
        self.key = nn.Linear(2 + D, D + 2)
        self.log_beta = nn.Parameter(torch.tensor(math.log(c.beta)))
        self.core = nn.Sequential(nn.Linear(5 + D + 2 + D, c.hidden), nn.Tanh(), nn.Linear(c.hidden, c.hidden), nn.Tanh())
        self.out = nn.Linear(c.hidden, 2 + 3 + D + 1)
        self.log_scale = nn.Parameter(torch.tensor(0.0))                                     # state logits' scale

    # ------------------------------------------------------------ state
    def start_state(self, batch, device=None) -> TraceState:
        """The state before step 0 of a `tasks.universal.UniversalBatch`: tape and table in memory,
        the tape head on input cell 0, the start state's code fed back."""
        dev = device or self.out.weight.device
        t = lambda x: torch.as_tensor(np.ascontiguousarray(x), device=dev)  # noqa: E731
        tape, table, N = t(batch.tape), t(batch.table), batch.tape_rows
        B, R = tape.shape[0], tape.shape[2]
        dtype = self.out.weight.dtype
        M = torch.zeros(B, R, self.width, dtype=dtype, device=dev)
        M[..., 0] = (tape[:, 0] == 1).to(dtype)
        valid = (table[..., 0] >= 0).to(dtype).unsqueeze(-1)                                   # (B, T, 1)
        tab = table.clamp_min(0)
        rows = torch.cat([self.codes[tab[..., 0]], F.one_hot(tab[..., 1], 2).to(dtype),
                          F.one_hot(tab[..., 2], 2).to(dtype), F.one_hot(tab[..., 3], 3).to(dtype),
                          self.codes[tab[..., 4]]], -1)                                        # (B, T, width - 1)
        M[:, N:N + table.shape[1], 1:] = rows.to(dtype) * valid
        w = F.one_hot(t(batch.heads[:, 0]), R).to(dtype)                                       # (B, 1, R)
        q = F.one_hot(t(batch.state[:, 0]), self.Q).to(dtype)                                  # (B, Q)
        return TraceState(M, w, q, ())

    # ------------------------------------------------------------ one step
    def decide(self, s: TraceState) -> tuple[Decisions, tuple]:
        """Read the tape, look the entry up, decide (module docstring)."""
        B = s.M.shape[0]
        p = memory.read(s.M, s.w)[:, 0, :1]                                                    # (B, 1)
        r = torch.cat([1 - p, p], -1)                                                          # (B, 2) blank first
        c = s.q @ self.codes.to(s.q.dtype)                                                     # (B, D)
        k = self.key(torch.cat([r, c], -1))                                                    # (B, D + 2)
        keys = s.M[..., self.key_cols]                                                         # (B, R, D + 2)
        sq = (keys * keys).sum(-1)                                                             # (B, R) squared norms
        sim = _cosine(k.unsqueeze(1), keys, sq)                                                # (B, 1, R)
        logits = (self.log_beta.exp() * memory.minus_max(sim)).masked_fill(              # table rows only (after
            (sq == 0).unsqueeze(1), float("-inf"))                                             # beta: no 0 * inf in its grad)
        w_tab = torch.softmax(logits, -1)                                                      # eqs. 5-6
        v = memory.read(s.M[..., self.value_cols], w_tab)[:, 0]                                # (B, 5 + D)
        o = self.out(self.core(torch.cat([v, r, c], -1)))
        code = torch.tanh(o[:, 5:5 + self.D])
        state = self.log_scale.exp() * code @ self.codes.to(code.dtype).T                     # (B, Q)
        return Decisions(state, o[:, :2].view(B, 1, 2), o[:, 2:5].view(B, 1, 3), o[:, -1]), ()

    def act(self, s: TraceState, d: Decisions, core: tuple, q_next: Tensor | None, active: Tensor) -> TraceState:
        """Write, then move, only where `active` (B,) bool; `q_next` is the state fed back (None:
        the softmax of the state output)."""
        a = torch.softmax(d.write, -1)[..., 1:] * self.e                                       # (B, 1, width)
        if torch.is_grad_enabled():
            M = memory.write(s.M, s.w, self.e.expand(s.M.shape[0], -1, -1).to(s.M.dtype), a)
        else:
            # e = a = 0 outside the symbol column leave the other columns as they are, bit for bit: a
            # free run writes that column alone (one pass over the memory a step, not four). Training
            # keeps the whole write, whose gradient would otherwise be summed in another order.
            sym = memory.write(s.M[..., :1], s.w, self.e[..., :1].expand_as(a[..., :1]), a[..., :1])  # (B, R, 1)
            M = torch.cat([sym, s.M[..., 1:]], -1)
        w = memory.sharpen(memory.shift(s.w, torch.softmax(d.move, -1)), s.w.new_tensor(self.config.gamma))
        q = torch.softmax(d.state, -1) if q_next is None else q_next
        return carry(active, TraceState(M, w, q, ()), s)

    # ------------------------------------------------------------ a whole run (training)
    def run(self, batch) -> TraceOutputs:
        """Every step's logits on a `UniversalBatch`, each sample run for exactly its machine's steps
        (at the "trace" level the machine's next state is fed back: teacher forcing)."""
        return teacher_forced(self, batch, batch.supervision == "trace")

    def tape_log_probs(self, M: Tensor) -> Tensor:
        """M (B, R, width) -> (B, 1, R, 2) log-probabilities of each row's cell class (table rows
        read as blanks)."""
        p = M[..., 0]
        return torch.stack([1 - p, p], -1).clamp_min(1e-12).log().unsqueeze(1)

    def forward(self, *args, **kwargs):
        raise TypeError("the universal NTM runs on universal batches: use model.run(batch) (tasks.universal)")


def _cosine(k: Tensor, M: Tensor, sq: Tensor) -> Tensor:
    """`memory.cosine_similarity(k, M)` (eq. 6) given M's squared row norms `sq` (..., N): the lookup
    needs them for its mask too (a key row is zero exactly when its squared norm is: its entries are
    0, 1 or -1, never written), so they are summed once."""
    dot = torch.matmul(k, M.transpose(-1, -2))                                                 # (..., 1, N)
    k_norm = (k * k).sum(-1, keepdim=True).add(memory.EPS).rsqrt()
    return dot * k_norm * sq.add(memory.EPS).rsqrt().unsqueeze(-2)


# ---------------------------------------------------------------- exact weights by hand

@torch.no_grad()
def construct(model: UniversalNTM) -> UniversalNTM:
    """Set `model`'s weights to ones that run every table exactly (module docstring), in place.

    The key is [c, D (1 - r, r)] (the code and the read symbol weighed alike: the right row has
    cosine 1, the nearest wrong one (2D - 2) / 2D); beta = 300 makes the lookup one-hot to ~1e-15.
    The controller's first layer squashes the value's one-hots to ±tanh(2) and the codes to
    ±tanh(4); the second repeats them and adds a stop unit, on when every bit of the state's code
    is -1 (the halt code); the output scales them to logits of ±10.
    """
    D, H = model.D, model.config.hidden
    if H < 2 * D + 6:
        raise ConfigError(f"construct needs hidden >= 2 code_bits + 6 = {2 * D + 6}, got {H}")
    for p in model.parameters():
        p.zero_()
    model.key.weight[:D, 2:] = torch.eye(D)
    model.key.weight[D, 0] = model.key.weight[D + 1, 1] = D
    model.log_beta.fill_(math.log(300.0))
    l1, l2 = model.core[0], model.core[2]
    # layer 1 inputs: v = [write 2, move 3, next code D], r 2, c D; units 0..4+D copy v, 5+D.. copy c
    for i in range(5):
        l1.weight[i, i], l1.bias[i] = 4.0, -2.0
    for i in range(5, 5 + D):
        l1.weight[i, i] = 4.0
    for i in range(D):
        l1.weight[5 + D + i, 7 + D + i] = 4.0
    t = math.tanh(4.0)
    for i in range(5 + D):
        l2.weight[i, i] = 4.0
    stop = 5 + D
    l2.weight[stop, 5 + D:5 + 2 * D] = -4.0                        # -4 sum(t c) - 4 (D - 1) t: +4t on halt
    l2.bias[stop] = -4.0 * (D - 1) * t
    model.out.weight[:5 + D, :5 + D] = 10 * torch.eye(5 + D)
    model.out.weight[-1, stop] = 10.0
    model.log_scale.fill_(math.log(5.0))
    return model
