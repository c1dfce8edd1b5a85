"""`TrainState`: the trainer's state as one value with a phase, saved in every checkpoint.

A run is searching for the algorithm (scored on the task's fixed evaluation set) until its best
error falls below ``target_bits``; then it is converged and polishing (trained on from its best
weights, scored on the polishing set) for ``polish_steps`` steps, and then finished. A restart
sends it back to searching. Everything else here is a count or a record of when something happened.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field

from ntm.errors import CheckpointError


class Phase(str, enum.Enum):
    SEARCHING = "searching"    # scored on the fixed evaluation set, until the error is below target_bits
    POLISHING = "polishing"    # converged: from the best weights at polish_lr, scored on the polishing set
    FINISHED = "finished"      # converged and polished (polish_steps after converging): the loop stops


@dataclass
class CurriculumState:
    """Where the adaptive curriculum is (tasks.curriculum.Adaptive): its position in [0, 1] and the
    training batches' errors (bits or symbols per sequence) seen at that level."""
    progress: float = 0.0
    errors: list = field(default_factory=list)


@dataclass
class TrainState:
    lr: float                              # the learning rate the next steps use
    step: int = 0                          # optimizer steps taken (skipped ones included)
    sequences: int = 0                     # training sequences drawn
    seconds: float = 0.0                   # wall time in the loop, across resumes
    phase: Phase = Phase.SEARCHING
    best_bits: float | None = None         # the best evaluation error of this attempt (bits per sequence)
    best_step: int | None = None           # the step whose weights scored it
    converged_step: int | None = None      # the step whose evaluation first met target_bits
    lr_dropped: bool = False               # the one-time drop below lr_drop_bits has happened
    attempt_start: int = 0                 # the step this attempt (since the last restart) began at
    rollbacks: int = 0
    restarts: int = 0
    skipped: int = 0                       # steps whose loss or gradient was NaN/Inf
    loss_sum: float = 0.0                  # training loss since the last evaluation (nats per sequence)
    loss_n: int = 0
    curriculum: CurriculumState = field(default_factory=CurriculumState)

    @property
    def converged(self) -> bool:
        return self.converged_step is not None

    def to_json(self) -> dict:
        """A JSON object (for checkpoint/state.json)."""
        out = dataclasses.asdict(self)
        out["phase"] = self.phase.value
        return out

    @classmethod
    def from_json(cls, data, source: str = "state.json") -> "TrainState":
        """The state saved by `to_json` (or by the trainer before phases: its ``polishing`` flag
        and ``progress``/``batch_errors`` keys are read too).

        Raises:
            CheckpointError: a field missing, of the wrong type or out of range (names it).
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: not a JSON object")
        data = _upgrade(data)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                values[f.name] = _field(source, f.name, data[f.name])
            elif f.name == "lr":
                raise CheckpointError(f"{source}: no 'lr' (not a checkpoint of `ntm train`?)")
        return cls(**values)


def _upgrade(data: dict) -> dict:
    """A state.json written before phases (polishing flag, flat curriculum keys) in today's form."""
    if "phase" in data:
        return data
    data = dict(data)
    data["phase"] = "polishing" if data.pop("polishing", False) else "searching"
    data["curriculum"] = {"progress": data.pop("progress", 0.0), "errors": data.pop("batch_errors", [])}
    return data


_INTS = ("step", "sequences", "attempt_start", "rollbacks", "restarts", "skipped", "loss_n")
_OPTIONAL_INTS = ("best_step", "converged_step")


def _field(source: str, name: str, value):
    def bad(want):
        return CheckpointError(f"{source}: {name} must be {want}, got {value!r}; the checkpoint is damaged "
                               "(start the run again with a new --out)")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name in _INTS or (name in _OPTIONAL_INTS and value is not None):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise bad("an integer >= 0")
    elif name in ("lr",) and not (number and value > 0 and math.isfinite(value)):
        raise bad("a positive number")
    elif name in ("seconds", "loss_sum") and not (number and math.isfinite(value)):
        raise bad("a finite number")
    elif name == "best_bits" and value is not None and not (number and not math.isnan(value)):
        raise bad("a number")
    elif name == "lr_dropped" and not isinstance(value, bool):
        raise bad("true or false")
    elif name == "phase":
        try:
            return Phase(value)
        except ValueError:
            raise bad(f"one of {', '.join(p.value for p in Phase)}") from None
    elif name == "curriculum":
        ok = (isinstance(value, dict) and isinstance(value.get("progress"), (int, float))
              and isinstance(value.get("errors"), list)
              and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in value["errors"]))
        if not ok:
            raise bad("{progress: number, errors: [numbers]}")
        return CurriculumState(float(value["progress"]), list(value["errors"]))
    return value
