"""Online prediction with the read-then-answer interface: one prediction per input step, each from
the inputs so far (dynamic N-grams, Graves et al. 2014 §4.4; `tasks.Batch.online`).

Every model answers only after reading all its inputs (``forward(inputs, T_out)``), so giving it a
whole sequence would let the prediction of bit t+1 see bits t+1, t+2, ... Instead the prediction at
step t is defined through the interface itself, on the prefix of steps 0..t:

    online_logits(model, x)[:, t] == model(x[:, :t+1], T_out=1)[:, 0]

(read bits 0..t, one step of zero input, answer). `online_logits` computes exactly that: in one
recurrent pass for the causal recurrent baselines (RNN, GRU, LSTM: their state after step t, then
one zero-input step from every such state at once), else by calling the model on each prefix
(O(T²) steps: correct for every model, the bidirectional one included, but slow; memory models need a
per-step output path to train on this task at the paper's n = 200).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models.baselines import _Recurrent


def online_logits(model: nn.Module, inputs: Tensor) -> Tensor:
    """Predictions at every step from the steps so far: inputs (B, T, C_in), left-aligned (a shorter
    sample's tail is padding whose predictions the task masks) -> logits (B, T, C_out), entry t from
    inputs[:, :t+1] only (module docstring).

    Raises:
        ConfigError: inputs that are not (B, T, C_in) with T >= 1.
    """
    if not isinstance(inputs, Tensor) or inputs.dim() != 3 or inputs.shape[1] < 1:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ConfigError(f"online inputs must be a tensor (batch, time >= 1, channels), got {shape}")
    if isinstance(model, _Recurrent) and not model.bidirectional:
        return _recurrent_online(model, inputs)
    return prefix_logits(model, inputs)


def prefix_logits(model: nn.Module, inputs: Tensor) -> Tensor:
    """The definition, one model call per prefix: (B, T, C_in) -> (B, T, C_out)."""
    return torch.cat([model(inputs[:, :t + 1], 1) for t in range(inputs.shape[1])], dim=1)


def _recurrent_online(model: _Recurrent, inputs: Tensor) -> Tensor:
    """`prefix_logits` for a unidirectional torch.nn RNN/GRU/LSTM stack in O(T): run the stack one
    step at a time keeping every layer's state after each step, then take the zero-input step from
    all B·T states in one call (batch B·T)."""
    B, T, C = inputs.shape
    x = inputs.to(model.output.weight.dtype)
    state, states = None, []
    for t in range(T):
        _, state = model.rnn(x[:, t:t + 1], state)             # h (or (h, c)): (layers, B, H)
        states.append(state)
    if isinstance(state, tuple):                                # LSTM: (h, c)
        both = [torch.stack([s[i] for s in states], 2) for i in range(2)]   # (layers, B, T, H)
        start = tuple(s.reshape(s.shape[0], B * T, -1) for s in both)
    else:
        start = torch.stack(states, 2).reshape(states[0].shape[0], B * T, -1)
    h = model.rnn(x.new_zeros(B * T, 1, C), start)[0]            # (B·T, 1, H)
    return model.output(h).reshape(B, T, -1)                   # (B, T, C_out)
