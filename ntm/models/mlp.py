"""A feed-forward network over a fixed window: the universal approximator of the textbooks, given the
models' interface so that it trains, compares and saves like the others.

The universal approximation theorem (Cybenko 1989; Hornik 1991; Leshno et al. 1993 for any
non-polynomial activation) says one hidden layer of enough units approximates any continuous
function on a compact set of a FIXED input size: the tutorials' "three-layer network" (input,
hidden, output). An algorithm such as copy is a function of inputs of every length, so the network
gets a window: it sees `max_T_in` input steps, flattened into one vector, and produces `max_T_out`
output steps at once. `ntm claims --only mlp_vs_ntm` measures what that means beyond the window:

- a longer input is cut to the window: its first `max_T_in` steps (``align="start"``, the default)
  or its last ones (``align="end"``); the rest falls outside what it sees;
- output steps beyond `max_T_out` are logits 0 (probability 1/2 for each bit: chance): it has no
  weights that could produce them.

``align="start"`` puts each sample's first step at the window's first step (zeros after a shorter
sample), so copy is the identity from window to output, the easiest function for the network;
``align="end"`` puts its last step (the delimiter) at the window's last step, which suits tasks that
answer from the end, such as reverse. Either way a sample's padding is never read, so its answer does
not depend on its batch-mates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ntm.errors import ConfigError
from ntm.models.inputs import check_inputs, check_int, check_sizes


@dataclass
class MLPConfig:
    """The network's size and window. Defaults: one hidden layer (the theorem's network) of 512
    ReLU units; a window that fits the copy task's training lengths 1–20 (20 inputs and the
    delimiter in, 20 steps out)."""
    hidden_size: int = 512
    hidden_layers: int = 1
    max_T_in: int = 21          # input steps it sees (the last ones of a longer input)
    max_T_out: int = 20         # output steps it answers (beyond: logits 0)
    align: str = "start"        # the window holds a sample's first steps ("start") or its last ("end")

    def __post_init__(self):
        for name in ("hidden_size", "hidden_layers", "max_T_in", "max_T_out"):
            check_int("mlp", name, getattr(self, name))
        if self.align not in ("start", "end"):
            raise ConfigError(f"mlp option align must be 'start' or 'end', got {self.align!r}")


class MLP(nn.Module):
    """inputs (B, T_in, C_in) -> logits (B, T_out, C_out) through Linear-ReLU layers over the
    flattened window (B, max_T_in · C_in) -> (B, max_T_out · C_out) (module docstring)."""

    has_memory = False

    def __init__(self, input_size: int, output_size: int, config: MLPConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else MLPConfig()
        check_sizes("MLP", input_size, output_size)
        self.input_size, self.output_size = input_size, output_size
        sizes = [config.max_T_in * input_size] + [config.hidden_size] * config.hidden_layers
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], config.max_T_out * output_size))

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                output_lengths: Tensor | None = None) -> Tensor:
        """inputs (B, T_in, C_in), right-aligned -> logits (B, T_out, C_out). A sample's padding
        steps (the first T_in - input_lengths[b]) are never read, whatever they hold; output_lengths
        is checked, not needed (each output step has its own weights). Raises ConfigError for
        arguments that do not fit."""
        B, T_in = check_inputs(inputs, T_out, input_lengths, self.input_size, output_lengths)
        x = self._window(inputs.to(self.net[0].weight.dtype), input_lengths)          # (B, W_in, C_in)
        W_out = self.config.max_T_out
        y = self.net(x.reshape(B, x.shape[1] * x.shape[2])).view(B, W_out, self.output_size)   # (B, W_out, C_out)
        if T_out <= W_out:
            return y[:, :T_out]
        return torch.cat([y, y.new_zeros(B, T_out - W_out, self.output_size)], dim=1)  # no weights beyond

    def _window(self, x: Tensor, input_lengths: Tensor | None) -> Tensor:
        """The (B, max_T_in, C_in) window over right-aligned inputs x (B, T_in, C_in): each sample's
        first max_T_in steps from step 0 ("start"), or its last ones ending at the last step ("end");
        zeros wherever the sample has no step (its padding is never read)."""
        B, T_in, C = x.shape
        W = self.config.max_T_in
        lengths = (torch.full((B,), T_in, dtype=torch.long, device=x.device) if input_lengths is None
                   else input_lengths.to(device=x.device, dtype=torch.long))
        steps = torch.arange(W, device=x.device).unsqueeze(0)                         # (1, W)
        if self.config.align == "start":
            src = steps + (T_in - lengths).unsqueeze(1)                               # (B, W) step read
            real = steps < lengths.unsqueeze(1)
        else:
            src = steps + T_in - W                                                    # the last W steps
            real = src >= (T_in - lengths).unsqueeze(1)
        if T_in == 0:
            return x.new_zeros(B, W, C)
        picked = torch.gather(x, 1, src.clamp(0, T_in - 1).unsqueeze(2).expand(-1, -1, C))
        return picked * (real & (src >= 0) & (src < T_in)).unsqueeze(2)
