"""The models, and every model by name: ``build_model(name, input_size, output_size, **options)``.

Rooms: `ntm` (the paper's NTM: config, state, one step, an episode), `memory` (its equations, one
function per equation; `memory_step`: the fused path's step with its gradient by hand), `heads` (the head-output layout, defined once, and the activations),
`controller`; the fast paths `fused` (one autograd node per episode) and `kernels` (numba); the
`baselines` (RNN, LSTM, GRU, BiLSTM); the other memory models `dnc` (Graves et al. 2016),
`stack_rnn` and `tape_rnn` (Delétang et al. 2023); `mlp` (a feed-forward network over a fixed
window: the universal approximator, for `ntm claims`); `trace_ntm` (the NTM whose memory is a machine's
tape, trained on the trace tasks: its ``run(batch)`` replaces ``forward``); `universal_ntm` (tape and
transition table in memory, one model for every machine: the universal task); `inputs` (what every
forward shares).

The options are the fields of the model's config dataclass (`NTMConfig` for ``ntm``,
`DNCConfig`, `StackRNNConfig`, `TapeRNNConfig`, `MLPConfig`, `RecurrentConfig` for the baselines,
`LSTMConfig`, with the forget-gate bias, for the LSTM and `BiLSTMConfig`, with the readout, for the
BiLSTM), so a saved config rebuilds its model:
``build_model(name, input_size, output_size, **dataclasses.asdict(model.config))``.
Every model has ``forward(inputs (B, T_in, C_in), T_out, input_lengths=None, output_lengths=None)
-> logits (B, T_out, C_out)`` and a class attribute ``has_memory``.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn

from ntm.errors import ConfigError
from turing.errors import did_you_mean
from ntm.models.baselines import GRU, LSTM, RNN, BiLSTM, BiLSTMConfig, LSTMConfig, RecurrentConfig
from ntm.models.dnc import DNC, DNCConfig
from ntm.models.mlp import MLP, MLPConfig
from ntm.models.ntm import NTM, NTMConfig
from ntm.models.online import online_logits
from ntm.models.stack_rnn import StackRNN, StackRNNConfig
from ntm.models.tape_rnn import TapeRNN, TapeRNNConfig
from ntm.models.trace_ntm import TraceNTM, TraceNTMConfig
from ntm.models.universal_ntm import UniversalNTM, UniversalNTMConfig

# name -> (model class, its config dataclass)
MODELS = {"ntm": (NTM, NTMConfig), "lstm": (LSTM, LSTMConfig), "gru": (GRU, RecurrentConfig),
          "rnn": (RNN, RecurrentConfig), "bilstm": (BiLSTM, BiLSTMConfig),
          "dnc": (DNC, DNCConfig), "stack_rnn": (StackRNN, StackRNNConfig), "tape_rnn": (TapeRNN, TapeRNNConfig),
          "mlp": (MLP, MLPConfig),
          "trace_ntm": (TraceNTM, TraceNTMConfig), "universal_ntm": (UniversalNTM, UniversalNTMConfig)}
#: the models that train on trace tasks (tasks.trace), and only there
TRACE_MODELS = ("trace_ntm", "universal_ntm")
#: the sequence models: forward(inputs, T_out, ...) on every other task
MODEL_NAMES = tuple(n for n in MODELS if n not in TRACE_MODELS)
# options renamed since runs were first saved (old name -> new), so older run directories still load
RENAMED = {"ntm": {"engine": "backend", "compile": "torch_compile"}}


def build_model(name: str, input_size: int, output_size: int, **options) -> nn.Module:
    """A freshly initialised model.

    Raises:
        ConfigError: an unknown name, an unknown option (the message lists the known ones) or a
            value out of range.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}{did_you_mean(name, MODELS)}; choose one of {', '.join(MODELS)}")
    model_class, config_class = MODELS[name]
    options = {RENAMED.get(name, {}).get(k, k): v for k, v in options.items()}
    known = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        named = ", ".join(u + did_you_mean(u, known) for u in unknown)
        raise ConfigError(f"model {name} has no option {named}; its options are {', '.join(known)}")
    return model_class(input_size, output_size, config_class(**options))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as a constant initial memory do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


#: the model option that sets a memory model's size (rows, or stack/tape cells); with the defaults no
#: weight depends on it, so a run can be compared with a larger memory than it trained with
MEMORY_SIZE = {"ntm": "N", "dnc": "N", "stack_rnn": "stack_size", "tape_rnn": "tape_size"}


def memory_size_option(name: str, what: str) -> str:
    """The option that sets model `name`'s memory size (`MEMORY_SIZE`). Raises ConfigError, starting
    with `what` (the flag or field that asked), for a model without one."""
    if name not in MEMORY_SIZE:
        raise ConfigError(f"{what}: model {name!r} has no memory size to set (models with one: "
                          f"{', '.join(MEMORY_SIZE)}; trace and universal models lay their memory out per input)")
    return MEMORY_SIZE[name]


def memory_rows(model: nn.Module) -> int | None:
    """N, the memory locations of a memory model (None for models without memory): config.N for the
    NTM and the DNC, the stack's or tape's cells for the Stack-RNN and Tape-RNN (their `memory_rows`)."""
    if not getattr(model, "has_memory", False):
        return None
    rows = getattr(model, "memory_rows", None)
    return rows if rows is not None else model.config.N


def predict(model: nn.Module, batch, device=None) -> Tensor:
    """The model's logits (B, T_out, C_out) on a `tasks.Batch` (moved to `device` if given), each
    sample with its own input and output lengths. An online batch (``batch.online``, dynamic
    N-grams) goes through `online_logits`: the prediction at step t sees inputs 0..t only."""
    if device is not None:
        batch = batch.to(device)
    if getattr(batch, "kind", None) == "trace":       # a trace task: every step's logits (TraceOutputs)
        return model.run(batch)
    if getattr(batch, "online", False):
        return online_logits(model, batch.inputs)
    return model(batch.inputs, batch.targets.shape[1], batch.input_lengths, batch.output_lengths)
