"""What every model's `forward` shares: argument checks, padding masks, and small tensor helpers.

Every model takes ``forward(inputs (B, T_in, C_in), T_out, input_lengths=None, output_lengths=None)``:
inputs right-aligned (a sample's first ``T_in - input_lengths[b]`` steps are padding), then T_out
output steps. ``output_lengths`` (B,) says how many of those steps are sample b's own; causal models
ignore it (their output at step t never depends on later steps), a bidirectional one needs it so that a
sample's outputs do not depend on its batch-mates.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ntm.errors import ConfigError


def check_int(model: str, name: str, value, low: int = 1) -> None:
    """Raise ConfigError unless an option is an integer >= low (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{model} option {name} must be an integer >= {low}, got {value!r}")


def check_sizes(model: str, input_size, output_size) -> None:
    """Raise ConfigError unless both sizes a model is built with are positive integers."""
    for name, value in (("input_size", input_size), ("output_size", output_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{model} {name} must be a positive integer, got {value!r}")


def check_inputs(inputs: Tensor, T_out: int, input_lengths: Tensor | None, input_size: int,
                 output_lengths: Tensor | None = None) -> tuple[int, int]:
    """Validate forward's arguments; return (B, T_in).

    Raises:
        ConfigError: a shape, type or length that does not fit (names the argument).
    """
    if not isinstance(inputs, Tensor) or inputs.dim() != 3 or inputs.shape[2] != input_size:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ConfigError(f"inputs must be a tensor (batch, time, {input_size}), got {shape}")
    if isinstance(T_out, bool) or not isinstance(T_out, int) or T_out < 0:
        raise ConfigError(f"T_out must be an integer >= 0, got {T_out!r}")
    B, T_in = inputs.shape[0], inputs.shape[1]
    for name, lengths, most in (("input_lengths", input_lengths, T_in), ("output_lengths", output_lengths, T_out)):
        if lengths is None:
            continue
        if not isinstance(lengths, Tensor) or lengths.shape != (B,):
            raise ConfigError(f"{name} must be a tensor of shape ({B},)")
        if B:
            lo, hi = torch.stack([lengths.min(), lengths.max()]).tolist()   # one host read, not two
            if lo < 0 or hi > most:
                raise ConfigError(f"{name} must lie in 0..{most}")
    return B, T_in


def keep_masks(T_in: int, input_lengths: Tensor | None) -> list[Tensor]:
    """For each leading step where some sample is padding, a (B,) bool mask of those samples
    (True: state kept). Empty when there is no padding (then no step pays for torch.where)."""
    if input_lengths is None or input_lengths.numel() == 0:
        return []
    pad = T_in - input_lengths.to(torch.long)                                     # (B,)
    steps = int(pad.max())
    return list((torch.arange(steps, device=pad.device).unsqueeze(1) < pad).unbind(0))


def where(keep: Tensor, old: Tensor, new: Tensor) -> Tensor:
    """old where keep[b] else new, broadcasting keep (B,) over the other dimensions."""
    return torch.where(keep.view(-1, *([1] * (old.dim() - 1))), old, new)


def cat(xs: list[Tensor], dim: int) -> Tensor:
    """torch.cat(xs, dim), without a copy when there is one part."""
    return xs[0] if len(xs) == 1 else torch.cat(xs, dim=dim)


def array(t: Tensor) -> np.ndarray:
    """A CPU tensor as a C-contiguous numpy array (no copy when it already is one)."""
    return t.detach().contiguous().numpy()


def stack_steps(xs: list[Tensor]) -> Tensor:
    """torch.stack(xs), without a copy when there is one step (the eager loop's case)."""
    return xs[0].unsqueeze(0) if len(xs) == 1 else torch.stack(xs)


def stack(xs: list[Tensor], B: int, width: int, like: Tensor) -> Tensor:
    """Stack per-step (B, ...) tensors into (T, B, width); (0, B, width) when there are none."""
    if not xs:
        return like.new_zeros(0, B, width)
    return torch.stack(xs).reshape(len(xs), B, width)


def map_states(fn, states: list):
    """Apply ``fn(list of tensors) -> tensor`` leaf by leaf over states of one structure (tensors, or
    NamedTuples / tuples of them, nested); returns that structure. `keep_state` and online
    prediction's stacking of kept states (`ntm.models.online`) are both this."""
    first = states[0]
    if isinstance(first, Tensor):
        return fn(states)
    parts = [map_states(fn, list(p)) for p in zip(*states)]
    return type(first)(*parts) if hasattr(first, "_fields") else tuple(parts)


def keep_state(keep: Tensor, old, new):
    """`where` over a whole recurrent state (a NamedTuple or tuple of tensors, nested tuples allowed):
    sample b keeps its old state where keep[b]. Returns the same structure as `new`."""
    return map_states(lambda pair: where(keep, pair[0], pair[1]), [old, new])


def unroll(step, state, inputs: Tensor, T_out: int, input_lengths: Tensor | None):
    """Run ``step(x (B, C_in), state) -> (y (B, C_out), state)`` over the T_in right-aligned input
    steps, then T_out steps of zero input; return (the T_out outputs (B, T_out, C_out), final state).

    At a sample's padding steps (t < T_in - input_lengths[b]) its state is kept exactly (`keep_state`),
    so a batch gives the same outputs as its samples one by one. The reference loop of the models
    without a fused path (DNC, Stack-RNN, Tape-RNN); differentiated by autograd.
    """
    B, T_in = inputs.shape[0], inputs.shape[1]
    keep = keep_masks(T_in, input_lengths)
    zero = inputs.new_zeros(B, inputs.shape[2])
    ys = []
    for t in range(T_in + T_out):
        y, new = step(inputs[:, t] if t < T_in else zero, state)
        state = keep_state(keep[t], state, new) if t < len(keep) else new
        if t >= T_in:
            ys.append(y)
    return torch.stack(ys, dim=1), state                                          # (B, T_out, C_out)
