"""The Tape-RNN: a recurrent network with a differentiable tape (Delétang et al. 2023, "Neural networks
and the Chomsky hierarchy", ICLR, arXiv:2207.02098, loosely based on the Baby-NTM of Suzgun et al.
2019; github.com/google-deepmind/neural_networks_chomsky_hierarchy, `models/tape_rnn.py`,
`TapeInputLengthJumpCore`).

Reading order: the tape update (pure functions), state, config, model. The inner core is the
Stack-RNN's (`ntm.models.stack_rnn.Core`).

One time step t: the core reads [x_t, m_{t-1}[0]], the input and the cell under the head (cell 0: the
tape moves, the head stays), and emits h_t. From h_t an MLP gives the value to write, v_t, and a
linear layer the action probabilities a_t = softmax(A h_t). Every action writes v_t into cell 0, then
moves the tape: stay, left, right, and with `jump` (the default, as in the paper) a jump left or right
by the sample's input length. The new tape is the mixture, by a_t, of those shifted copies.

The jump is a task-specific prior that the NTM does not get: it hands the model the input length,
the distance it needs on tasks that copy or compare the input with itself (duplicate_string,
binary_addition, here `duplicate` and `binary_addition_le`: the benchmark's tasks where only the
Tape-RNN scores 100). Compare it with the NTM
only with `jump = false` too, or say which was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models.inputs import check_inputs, check_int, check_sizes, unroll
from ntm.models.stack_rnn import CORES, Core

ACTIONS = ("stay", "left", "right", "jump left", "jump right")   # a_t's components; no jumps: first 3


# ---------------------------------------------------------------- the tape

def roll(m: Tensor, shift: Tensor | int) -> Tensor:
    """The tape m (B, N, C) rolled along its cells: out[:, i] = m[:, (i - shift) mod N] (torch.roll's
    convention). shift: one int, or (B,) integers, one per sample -> (B, N, C)."""
    if isinstance(shift, int):
        return torch.roll(m, shift, dims=1)
    N = m.shape[1]
    i = (torch.arange(N, device=m.device).unsqueeze(0) - shift.unsqueeze(1)) % N   # (B, N)
    return torch.gather(m, 1, i.unsqueeze(2).expand(-1, -1, m.shape[2]))


def update_tape(m: Tensor, a: Tensor, v: Tensor, jump_by: Tensor | None) -> Tensor:
    """m_t = sum_k a[k] shift_k(write(m_{t-1}, v)) (Delétang et al. 2023, appendix; tape_rnn.py).

    m (B, N, C) the tape, cell 0 under the head; a (B, K) action probabilities in the order of
    `ACTIONS` (K = 5 with jumps, 3 without); v (B, C) the value written into cell 0; jump_by (B,)
    integers, each sample's input length (None without jumps) -> (B, N, C). The shifts are
    stay 0, left -1, right +1, jump left -jump_by, jump right +jump_by (in `roll`'s convention: a
    "left" brings cell 1 under the head)."""
    written = torch.cat([v.unsqueeze(1), m[:, 1:]], dim=1)                         # (B, N, C)
    shifts = [0, -1, 1] + ([-jump_by, jump_by] if jump_by is not None else [])
    moved = torch.stack([roll(written, s) for s in shifts], dim=1)                 # (B, K, N, C)
    return torch.einsum("bk,bknc->bnc", a, moved)


# ---------------------------------------------------------------- state and config

class TapeRNNState(NamedTuple):
    """Everything that carries over from one step to the next. Passed in and returned, never mutated."""
    core: tuple[Tensor, ...]   # (h,) or (h, c), each (B, hidden_size)
    m: Tensor                  # (B, tape_size, tape_cell_size) the tape, cell 0 under the head
    jump_by: Tensor            # (B,) integers: each sample's input length (the jump's distance)


@dataclass
class TapeRNNConfig:
    """Hyperparameters of a `TapeRNN`. Defaults: Delétang et al. (2023), their example.py: a tanh RNN
    of 256 units, a tape of 40 cells of 8 numbers; the write MLP of TapeRNNCore (two hidden layers of
    64, ReLU); the input-length jumps on (TapeInputLengthJumpCore, the model of the paper's tables)."""
    hidden_size: int = 256
    core: str = "rnn"                 # "rnn" (the paper's) or "lstm"
    tape_size: int = 40               # N, the tape's cells (it is circular)
    tape_cell_size: int = 8           # C, the numbers in a cell
    mlp_size: int = 64                # units of each hidden layer of the write MLP
    mlp_layers: int = 2               # hidden layers of the write MLP (0: a linear layer)
    # the jump left/right by the input length: a task-specific prior the NTM does not get (see the
    # module docstring); false leaves stay/left/right
    jump: bool = True

    def __post_init__(self):
        for name in ("hidden_size", "tape_size", "tape_cell_size", "mlp_size"):
            check_int("Tape-RNN", name, getattr(self, name))
        check_int("Tape-RNN", "mlp_layers", self.mlp_layers, 0)
        if self.core not in CORES:
            raise ConfigError(f"Tape-RNN option core must be one of {', '.join(CORES)}, got {self.core!r}")
        if not isinstance(self.jump, bool):
            raise ConfigError(f"Tape-RNN option jump must be true or false, got {self.jump!r}")


# ---------------------------------------------------------------- model

class TapeRNN(nn.Module):
    """A Tape-RNN with the models' interface.

    forward(inputs (B, T_in, C_in), T_out, input_lengths=None, output_lengths=None) -> logits (B, T_out, C_out)
    step(x (B, C_in), state) -> (logits (B, C_out), state)
    initial_state(batch_size, input_lengths=None) -> TapeRNNState (the jump's distance: each sample's
    input length; needed only with config.jump)
    Raises ConfigError for bad options or inputs that do not fit the model.
    """

    has_memory = True

    def __init__(self, input_size: int, output_size: int, config: TapeRNNConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else TapeRNNConfig()
        check_sizes("Tape-RNN", input_size, output_size)
        self.input_size, self.output_size = input_size, output_size
        self.core = Core(cfg.core, input_size + cfg.tape_cell_size, cfg.hidden_size)
        sizes = [cfg.hidden_size] + [cfg.mlp_size] * cfg.mlp_layers
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.write = nn.Sequential(*layers, nn.Linear(sizes[-1], cfg.tape_cell_size))
        self.actions = nn.Linear(cfg.hidden_size, 5 if cfg.jump else 3)           # A
        self.output = nn.Linear(cfg.hidden_size, output_size)

    @property
    def memory_rows(self) -> int:
        """The tape's cells (what `ntm.models.memory_rows` reports)."""
        return self.config.tape_size

    def initial_state(self, batch_size: int, input_lengths: Tensor | None = None) -> TapeRNNState:
        """A zero core state and an all-zero tape, in the model's device and dtype; jump_by =
        input_lengths (B,) (zeros when not given: the jumps then stay)."""
        cfg, like = self.config, self.output.weight
        jump_by = (like.new_zeros(batch_size, dtype=torch.long) if input_lengths is None
                   else input_lengths.to(device=like.device, dtype=torch.long))
        return TapeRNNState(self.core.initial_state(batch_size),
                            like.new_zeros(batch_size, cfg.tape_size, cfg.tape_cell_size), jump_by)

    def step(self, x: Tensor, state: TapeRNNState) -> tuple[Tensor, TapeRNNState]:
        """One time step: x (B, C_in), state -> (logits y (B, C_out), new state)."""
        x = x.to(self.output.weight.dtype)
        h, core = self.core(torch.cat([x, state.m[:, 0]], dim=1), state.core)    # (B, hidden)
        a = torch.softmax(self.actions(h), dim=-1)                               # (B, K)
        m = update_tape(state.m, a, self.write(h), state.jump_by if self.config.jump else None)
        return self.output(h), TapeRNNState(core, m, state.jump_by)

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                output_lengths: Tensor | None = None) -> Tensor:
        """Read inputs (B, T_in, C_in), right-aligned, then T_out steps of zero input; return the
        logits of those steps (B, T_out, C_out). Each sample jumps by its own input length
        (input_lengths[b], else T_in). Padding steps keep each sample's state exactly; output_lengths
        is checked and otherwise unused (the model is causal)."""
        B, T_in = check_inputs(inputs, T_out, input_lengths, self.input_size, output_lengths)
        inputs = inputs.to(self.output.weight.dtype)
        if T_out == 0:
            return inputs.new_zeros(B, 0, self.output_size)
        lengths = input_lengths if input_lengths is not None else torch.full((B,), T_in, dtype=torch.long)
        return unroll(self.step, self.initial_state(B, lengths), inputs, T_out, input_lengths)[0]
