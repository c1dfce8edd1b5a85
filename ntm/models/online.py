"""Online prediction with the read-then-answer interface: one prediction per input step, each from
the inputs so far (dynamic N-grams, Graves et al. 2014 §4.4; `tasks.Batch.online`).

Every model answers only after reading all its inputs (``forward(inputs, T_out)``), so giving it a
whole sequence would let the prediction of bit t+1 see bits t+1, t+2, ... Instead the prediction at
step t is defined through the interface itself, on the prefix of steps 0..t:

    online_logits(model, x)[:, t] == model(x[:, :t+1], T_out=1)[:, 0]

(read bits 0..t, one step of zero input, answer). `online_logits` computes exactly that, in O(T)
steps wherever the model's state after step t can be shared by all later prefixes:
- the causal recurrent baselines (RNN, GRU, LSTM): one torch.nn pass keeping the state after every
  step, then one zero-input step from all those states at once;
- the models with an explicit step, ``initial_state(B)`` and ``step(x, state)`` (NTM, DNC,
  Stack-RNN, and the Tape-RNN without jumps): one step per input keeping each state, then the
  zero-input answer step from the kept states in batches (`_step_online`);
- every other model (the bidirectional LSTM, the Tape-RNN with jumps, whose jump distance is the
  prefix's length): one model call per prefix (`prefix_logits`, O(T²) steps: correct for every
  model, but slow at the paper's n = 200).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models.baselines import _Recurrent
from ntm.models.dnc import DNC
from ntm.models.inputs import check_inputs, map_states
from ntm.models.ntm import NTM
from ntm.models.stack_rnn import StackRNN
from ntm.models.tape_rnn import TapeRNN

# input steps whose answers `_step_online` takes in one batched step (a bound on the states kept)
STEP_CHUNK = 32


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
    if _steps_alike(model):
        return _step_online(model, inputs)
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


def _steps_alike(model: nn.Module) -> bool:
    """Whether `forward(x, T_out)` is `initial_state(B)`, then `step` over the inputs, then `step` on
    zero input: the NTM, DNC and Stack-RNN, and the Tape-RNN without jumps. (The Tape-RNN's jump
    distance is the input length, t + 1 for the prefix 0..t, so each prefix runs its own tape from
    step 0 and no state is shared between prefixes.)"""
    if isinstance(model, TapeRNN):
        return not model.config.jump
    return isinstance(model, (NTM, DNC, StackRNN))


def _step_online(model: nn.Module, inputs: Tensor, chunk: int = STEP_CHUNK) -> Tensor:
    """`prefix_logits` in O(T) for a model with ``initial_state(B)`` and ``step(x (B, C_in), state)
    -> (y (B, C_out), state)``: one step per input, keeping each state; every `chunk` steps, the
    zero-input answer step from all the kept states at once (batch B·k). Equal to the definition
    because these models' forward is exactly that loop (`_steps_alike`); gradients flow by autograd
    (the NTM runs its per-equation reference step, not the fused episode).

    Why batched answers rather than one answer step after each input (2T step calls): forward +
    backward at n = 200, batch 16, 1 thread, medians of 5 (`bench/bench_online.py`, bench/README.md
    "Dynamic N-grams: the NTM beside the LSTM"), chunks of 32 took 0.52 s against 0.69 s for the
    NTM, 0.61 against 1.07 for the DNC, 0.155 against 0.21 for the Stack-RNN, 0.19 against 0.26 for
    the Tape-RNN; all answers at the end (one chunk) was slower for the NTM (0.58 s) and within 5 %
    for the others. `chunk` also bounds the memory the kept states take without gradients (an
    evaluation batch of 256 at n = 400 would otherwise keep 102,144 NTM memories at once).

    Raises:
        ConfigError: inputs whose channels are not the model's input_size (as its forward would).
    """
    B, T = check_inputs(inputs, 1, None, model.input_size)
    C = inputs.shape[2]
    zero = inputs.new_zeros(B * min(chunk, T), C)
    state, kept, ys = model.initial_state(B), [], []
    for t in range(T):
        state = model.step(inputs[:, t], state)[1]
        kept.append(state)
        if len(kept) == chunk or t == T - 1:
            k = len(kept)
            ys.append(model.step(zero[:B * k], _stack_states(kept))[0].reshape(B, k, -1))   # (B, k, C_out)
            kept = []
    return torch.cat(ys, dim=1)                                                              # (B, T, C_out)


def _stack_states(states: list) -> object:
    """k states of batch B (NamedTuples or tuples of (B, ...) tensors, nested) -> one state of batch
    B·k, sample b's state after its j-th kept step at index b·k + j."""
    return map_states(lambda ts: torch.stack(ts, dim=1).flatten(0, 1), states)   # (B, k, ...) -> (B·k, ...)
