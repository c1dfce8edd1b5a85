"""The Stack-RNN: a recurrent network with a differentiable stack (Joulin & Mikolov 2015,
"Inferring algorithmic patterns with stack-augmented recurrent nets", NeurIPS, arXiv:1503.01007),
in the variant of the Chomsky-hierarchy benchmark (Delétang et al. 2023, "Neural networks and the
Chomsky hierarchy", ICLR, arXiv:2207.02098; github.com/google-deepmind/neural_networks_chomsky_hierarchy,
`models/stack_rnn.py`).

Reading order: the stack update (a pure function), the inner core (shared with the Tape-RNN),
state, config, model.

One time step t: the core (a tanh RNN, or an LSTM) reads [x_t, s_{t-1}[0]], the input and the top of
the stack, and emits h_t. From h_t, a linear layer gives the action probabilities
a_t = softmax(A h_t) over (push, pop, no-op) and another the value to push, v_t = D h_t; the new stack
is the mixture of the three stacks those actions would give. The output is a linear function of h_t.
Differences from Joulin & Mikolov, as in Delétang et al.: the core reads only the top cell (they read
the top k), the pushed value has no sigmoid, and a cell is a vector of `stack_cell_size` numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models.inputs import check_inputs, check_int, check_sizes, unroll

ACTIONS = ("push", "pop", "no-op")       # the order of a_t's components


# ---------------------------------------------------------------- the stack (Joulin & Mikolov 2015, section 3.1)

def update_stack(s: Tensor, a: Tensor, v: Tensor) -> Tensor:
    """s_t = a[push] push(s_{t-1}, v) + a[pop] pop(s_{t-1}) + a[no-op] s_{t-1}.

    s (B, D, C) the stack, cell 0 the top, D cells of C numbers; a (B, 3) action probabilities in the
    order of `ACTIONS`; v (B, C) the value pushed -> (B, D, C). Cell by cell (Joulin & Mikolov, eqs.
    for s_t[0] and s_t[i]): s_t[0] = a[push] v + a[pop] s[1] + a[no-op] s[0];
    s_t[i] = a[push] s[i-1] + a[pop] s[i+1] + a[no-op] s[i], with s[D] = 0 (a pop brings up zeros;
    the bottom cell falls off under a push)."""
    pushed = torch.cat([v.unsqueeze(1), s[:, :-1]], dim=1)                       # (B, D, C)
    popped = torch.cat([s[:, 1:], torch.zeros_like(s[:, :1])], dim=1)            # (B, D, C)
    a = a.unsqueeze(-1).unsqueeze(-1)                                            # (B, 3, 1, 1)
    return a[:, 0] * pushed + a[:, 1] * popped + a[:, 2] * s


# ---------------------------------------------------------------- the inner core

CORES = ("rnn", "lstm")


class Core(nn.Module):
    """One recurrent cell: "rnn" h_t = tanh(W x + U h_{t-1} + b) (Elman; the benchmark's
    hk.VanillaRNN) or "lstm" (torch.nn.LSTMCell, forget-gate bias 1 as in the baselines).
    State: (h,) or (h, c), each (B, hidden_size), zeros at first."""

    def __init__(self, kind: str, input_size: int, hidden_size: int):
        super().__init__()
        self.kind, self.hidden_size = kind, hidden_size
        if kind == "rnn":
            self.cell = nn.RNNCell(input_size, hidden_size)
        else:
            self.cell = nn.LSTMCell(input_size, hidden_size)
            with torch.no_grad():                                                # gates (i, f, g, o)
                self.cell.bias_ih[hidden_size:2 * hidden_size] = 1.0
                self.cell.bias_hh[hidden_size:2 * hidden_size] = 0.0

    def initial_state(self, batch_size: int) -> tuple[Tensor, ...]:
        z = self.cell.weight_ih.new_zeros(batch_size, self.hidden_size)
        return (z,) if self.kind == "rnn" else (z, z)

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """x (B, input_size) -> (h_t (B, hidden_size), new state)."""
        if self.kind == "rnn":
            h = self.cell(x, state[0])
            return h, (h,)
        h, c = self.cell(x, state)
        return h, (h, c)


# ---------------------------------------------------------------- state and config

class StackRNNState(NamedTuple):
    """Everything that carries over from one step to the next. Passed in and returned, never mutated."""
    core: tuple[Tensor, ...]   # (h,) or (h, c), each (B, hidden_size)
    s: Tensor                  # (B, stack_size, stack_cell_size) the stack, cell 0 the top


@dataclass
class StackRNNConfig:
    """Hyperparameters of a `StackRNN`. Defaults: Delétang et al. (2023): a tanh RNN of 256 units
    (their example.py's hidden_size), cells of 8 numbers (its memory_cell_size), 30 cells
    (StackRNNCore's default stack_size)."""
    hidden_size: int = 256
    core: str = "rnn"                 # "rnn" (the paper's stack_rnn) or "lstm" (their stack_lstm)
    stack_size: int = 30              # D, the stack's depth in cells
    stack_cell_size: int = 8          # C, the numbers in a cell

    def __post_init__(self):
        for name in ("hidden_size", "stack_size", "stack_cell_size"):
            check_int("Stack-RNN", name, getattr(self, name))
        if self.core not in CORES:
            raise ConfigError(f"Stack-RNN option core must be one of {', '.join(CORES)}, got {self.core!r}")


# ---------------------------------------------------------------- model

class StackRNN(nn.Module):
    """A Stack-RNN with the models' interface.

    forward(inputs (B, T_in, C_in), T_out, input_lengths=None, output_lengths=None) -> logits (B, T_out, C_out)
    step(x (B, C_in), state) -> (logits (B, C_out), state);  initial_state(batch_size) -> StackRNNState
    Raises ConfigError for bad options or inputs that do not fit the model.
    """

    has_memory = True

    def __init__(self, input_size: int, output_size: int, config: StackRNNConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else StackRNNConfig()
        check_sizes("Stack-RNN", input_size, output_size)
        self.input_size, self.output_size = input_size, output_size
        self.core = Core(cfg.core, input_size + cfg.stack_cell_size, cfg.hidden_size)
        self.actions = nn.Linear(cfg.hidden_size, len(ACTIONS))                   # A
        self.push = nn.Linear(cfg.hidden_size, cfg.stack_cell_size)              # D
        self.output = nn.Linear(cfg.hidden_size, output_size)

    @property
    def memory_rows(self) -> int:
        """The stack's cells (what `ntm.models.memory_rows` reports)."""
        return self.config.stack_size

    def initial_state(self, batch_size: int) -> StackRNNState:
        """A zero core state and an empty (all-zero) stack, in the model's device and dtype."""
        cfg = self.config
        return StackRNNState(self.core.initial_state(batch_size),
                             self.output.weight.new_zeros(batch_size, cfg.stack_size, cfg.stack_cell_size))

    def step(self, x: Tensor, state: StackRNNState) -> tuple[Tensor, StackRNNState]:
        """One time step: x (B, C_in), state -> (logits y (B, C_out), new state)."""
        x = x.to(self.output.weight.dtype)
        h, core = self.core(torch.cat([x, state.s[:, 0]], dim=1), state.core)    # (B, hidden)
        a = torch.softmax(self.actions(h), dim=-1)                               # (B, 3)
        s = update_stack(state.s, a, self.push(h))                               # (B, D, C)
        return self.output(h), StackRNNState(core, s)

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                output_lengths: Tensor | None = None) -> Tensor:
        """Read inputs (B, T_in, C_in), right-aligned, then T_out steps of zero input; return the
        logits of those steps (B, T_out, C_out). Padding steps keep each sample's state exactly;
        output_lengths is checked and otherwise unused (the model is causal)."""
        B, _ = check_inputs(inputs, T_out, input_lengths, self.input_size, output_lengths)
        inputs = inputs.to(self.output.weight.dtype)
        if T_out == 0:
            return inputs.new_zeros(B, 0, self.output_size)
        return unroll(self.step, self.initial_state(B), inputs, T_out, input_lengths)[0]
