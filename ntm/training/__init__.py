"""Training: any model on any task, with evaluation against the machine, checkpoints and recovery.

Rooms, in the order data flows: `config` (TrainConfig and its validation), `state` (TrainState and
its phase), `policies` (the rules, pure functions that return actions), `loop` (the Trainer: one
step, evaluation, the one place that acts), `optimizer` (`make_optimizer`, and `FlatOptimizer`:
the update on one flat tensor), `objective` (the loss), `evaluation` (the evaluation
sets), `callbacks` (metrics, TensorBoard, progress, checkpoints), `checkpoint` (safetensors + JSON,
atomic), `run_dir` (loading a finished run), `run` (`train` and `resume`: assembling a run from
its config, and the final comparison with the machine).
"""

import importlib

# loaded on first use, so that reading a config (`ntm train --help`, `ntm machine ...`) loads no torch
_NAMES = {"TrainConfig": "config", "MaskedObjective": "objective", "masked_loss": "objective",
          "Action": "policies", "Score": "policies", "TrainResult": "run", "resume": "run", "train": "run",
          "Phase": "state", "TrainState": "state", "Trainer": "loop", "Callback": "loop"}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
