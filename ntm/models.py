"""Every model by name: ``build_model(name, input_size, output_size, **options)``.

The options are the fields of the model's config dataclass (`NTMConfig` for ``ntm``,
`RecurrentConfig` for the baselines), so a saved config rebuilds its model:
``build_model(name, input_size, output_size, **dataclasses.asdict(model.config))``.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ntm.baselines import GRU, LSTM, RNN, BiLSTM, RecurrentConfig
from ntm.errors import ConfigError
from ntm.model import NTM, NTMConfig

# name -> (model class, its config dataclass)
MODELS = {"ntm": (NTM, NTMConfig), "lstm": (LSTM, RecurrentConfig), "gru": (GRU, RecurrentConfig),
          "rnn": (RNN, RecurrentConfig), "bilstm": (BiLSTM, RecurrentConfig)}
MODEL_NAMES = tuple(MODELS)


def build_model(name: str, input_size: int, output_size: int, **options) -> nn.Module:
    """A freshly initialised model. Raises ConfigError for an unknown name, an unknown option (the
    message lists the known ones) or a value out of range."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    model_class, config_class = MODELS[name]
    known = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"model {name} has no option {', '.join(unknown)}; its options are {', '.join(known)}")
    return model_class(input_size, output_size, config_class(**options))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as a constant initial memory do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
