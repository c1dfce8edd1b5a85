"""Recurrent baselines with the NTM's interface: vanilla RNN (tanh), LSTM, GRU and a bidirectional LSTM.

forward(inputs (B, T_in, C_in), T_out, input_lengths=None) -> logits (B, T_out, C_out): the network
reads the T_in input steps, then T_out steps of zero input, and a linear layer maps the hidden state
at those T_out steps to logits. The whole (B, T_in + T_out, C) sequence goes through one call of
torch.nn.RNN / LSTM / GRU (cuDNN or oneDNN kernels where available).

Front padding (input_lengths given and not all T_in) is handled exactly, not approximately: each
sample is shifted left so that it starts at time 0 (one gather), the network runs from its initial
state, and each sample's outputs are read at its own positions len_b .. len_b + T_out - 1 (another
gather). A unidirectional network never sees what comes after, so the padding moved to the end cannot
change its outputs; the bidirectional one gets the true lengths through a packed sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ntm.errors import ConfigError
from ntm.models.inputs import check_inputs, check_sizes


@dataclass
class RecurrentConfig:
    """Size of a recurrent baseline. Defaults: the LSTM baseline of Graves et al. (2014, table 3),
    three layers of 256 units (per direction for the BiLSTM)."""
    hidden_size: int = 256
    layers: int = 3

    def __post_init__(self):
        for name in ("hidden_size", "layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"option {name} must be a positive integer, got {value!r}")


@dataclass
class LSTMConfig(RecurrentConfig):
    """Size of an LSTM baseline, and its forget gates' starting bias (b_ih's forget block; b_hh's is
    0): 1 by default (Gers et al. 2000; Jozefowicz et al. 2015), which saved runs assume when they
    name none; `ntm claims` compares 0, 1 and 2."""
    forget_bias: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        b = self.forget_bias
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
            raise ConfigError(f"option forget_bias must be a finite number, got {b!r}")


class _Recurrent(nn.Module):
    """Shared body: a torch.nn recurrent module over [inputs, zeros], then a linear readout."""

    has_memory = False       # no external memory: the trainer's restart rule is for memory models

    cell: type[nn.RNNBase] = nn.RNN
    config_class: type[RecurrentConfig] = RecurrentConfig
    bidirectional = False

    def __init__(self, input_size: int, output_size: int, config: RecurrentConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else self.config_class()
        check_sizes(type(self).__name__, input_size, output_size)
        self.input_size, self.output_size = input_size, output_size
        self.rnn = self.cell(input_size, config.hidden_size, num_layers=config.layers, batch_first=True,
                             bidirectional=self.bidirectional)
        self.output = nn.Linear(config.hidden_size * (2 if self.bidirectional else 1), output_size)

    def forward(self, inputs: Tensor, T_out: int, input_lengths: Tensor | None = None,
                output_lengths: Tensor | None = None) -> Tensor:
        """inputs (B, T_in, C_in), right-aligned -> logits (B, T_out, C_out). output_lengths (B,):
        sample b's own output steps; only the bidirectional model uses it (the causal ones never look
        ahead), so that a sample's outputs do not depend on its batch-mates. Raises ConfigError."""
        B, T_in = check_inputs(inputs, T_out, input_lengths, self.input_size, output_lengths)
        x = inputs.to(self.output.weight.dtype)
        x = torch.cat([x, x.new_zeros(B, T_out, self.input_size)], dim=1)       # (B, T, C_in)
        T = T_in + T_out
        if T_out == 0 or B == 0:
            return x.new_zeros(B, T_out, self.output_size)
        own = output_lengths if self.bidirectional else None
        if ((input_lengths is None or bool((input_lengths == T_in).all()))
                and (own is None or bool((own == T_out).all()))):
            return self._readout(self._run(x, None), T_in, T_out, None)        # h: (B, T, H)
        lengths = (x.new_full((B,), T_in, dtype=torch.long) if input_lengths is None
                   else input_lengths.to(device=x.device, dtype=torch.long))
        pad = T_in - lengths                                                    # (B,) leading padding
        steps = torch.arange(T, device=x.device)
        # shift left: sample b's step t comes from t + pad[b]; what falls off the end is zeros
        src = (steps.unsqueeze(0) + pad.unsqueeze(1)).clamp(max=T - 1)          # (B, T)
        x = torch.gather(x, 1, src.unsqueeze(2).expand(-1, -1, x.shape[2]))
        x = x * (steps.unsqueeze(0) < T - pad.unsqueeze(1)).unsqueeze(2)        # zero the wrapped tail
        ends = lengths + (T_out if own is None else own.to(device=x.device, dtype=torch.long))
        h = self._run(x, ends.clamp(min=1))                                     # packing needs >= 1 step
        return self._readout(h, T_in, T_out, lengths)

    def _readout(self, h: Tensor, T_in: int, T_out: int, lengths: Tensor | None) -> Tensor:
        """Logits (B, T_out, C_out) from the hidden states h (B, T, H) at each sample's output steps:
        T_in.. (lengths None), else lengths[b].. (the samples shifted to start at step 0)."""
        if lengths is None:
            return self.output(h[:, T_in:])
        at = (lengths.unsqueeze(1) + torch.arange(T_out, device=h.device)).unsqueeze(2)  # (B, T_out, 1)
        return self.output(torch.gather(h, 1, at.expand(-1, -1, h.shape[2])))

    def _run(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        """The recurrent stack over x (B, T, C_in), from a zero state -> hidden states (B, T, H)."""
        return self.rnn(x)[0]


class RNN(_Recurrent):
    """Vanilla (Elman) recurrent network, tanh units."""
    cell = nn.RNN


class LSTM(_Recurrent):
    """LSTM (Hochreiter & Schmidhuber 1997); forget-gate biases start at `LSTMConfig.forget_bias`,
    1 by default (Gers et al. 2000; Jozefowicz et al. 2015), which helps it carry information over
    long gaps."""
    cell = nn.LSTM
    config_class = LSTMConfig

    def __init__(self, input_size: int, output_size: int, config: LSTMConfig | None = None):
        super().__init__(input_size, output_size, config)
        H = self.config.hidden_size
        with torch.no_grad():                            # gates (i, f, g, o); b_ih + b_hh = forget_bias
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    param[H:2 * H] = float(self.config.forget_bias)
                elif name.startswith("bias_hh"):
                    param[H:2 * H] = 0.0


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014)."""
    cell = nn.GRU


@dataclass
class BiLSTMConfig(LSTMConfig):
    """A BiLSTM's size, forget-gate bias and readout: "steps" (default: each output step reads both
    directions' states at that step) or "summary" (every output step reads the same summary, the
    forward direction's state after the last input and the backward direction's after the first:
    the BiRNN sequence classifier of Schuster & Paliwal 1997 and of Keras' ``Bidirectional`` without
    ``return_sequences``; meant for one output step)."""
    readout: str = "steps"

    def __post_init__(self):
        super().__post_init__()
        if self.readout not in ("steps", "summary"):
            raise ConfigError(f"option readout must be 'steps' or 'summary', got {self.readout!r}")


class BiLSTM(LSTM):
    """Bidirectional LSTM (Schuster & Paliwal 1997; Graves & Schmidhuber 2005). Unlike the others it
    reads the WHOLE input, and the zero output-phase steps, in both directions before it answers: the
    output at step t sees every step, including later ones. A reference for how much a task needs
    look-ahead, not a causal model. With the read-then-answer interface its backward direction has
    read only zero output steps when it answers; ``readout="summary"`` (`BiLSTMConfig`) answers from
    the backward direction's state after it has read the inputs back to the first (what `ntm claims`
    compares). Padding is exact: each sample's backward direction starts at its own last step (packed
    sequence): the last input step, or with `output_lengths` the last of its own output steps. Without
    output_lengths every sample reads T_out output steps, so its outputs then depend on the batch's
    longest output."""
    bidirectional = True
    config_class = BiLSTMConfig

    def _readout(self, h: Tensor, T_in: int, T_out: int, lengths: Tensor | None) -> Tensor:
        if self.config.readout == "steps":
            return super()._readout(h, T_in, T_out, lengths)
        H, B = self.config.hidden_size, h.shape[0]
        last = (h.new_full((B,), T_in, dtype=torch.long) if lengths is None else lengths) - 1
        forward_last = h[torch.arange(B, device=h.device), last.clamp(min=0), :H]     # (B, H)
        summary = torch.cat([forward_last, h[:, 0, H:]], dim=1)                       # (B, 2H)
        return self.output(summary).unsqueeze(1).expand(-1, T_out, -1)                # (B, T_out, C_out)

    def _run(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        if lengths is None:
            return self.rnn(x)[0]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]
