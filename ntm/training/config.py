"""`TrainConfig`: everything that determines a run, and its validation.

A config comes from keyword arguments, a dict (a run's config.json) or a TOML file; every field is
checked for its type and range before anything is written (`validate`), so a bad value is one
`ConfigError` naming the file, the field and the fix, never a traceback or a half-made run
directory. The fields' comments say why each default is what it is; the measurements behind them
are in bench/README.md.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ntm.device import DEVICES
from ntm.errors import ConfigError
from turing.errors import did_you_mean

@dataclass
class TrainConfig:
    """Everything that determines a run (with the seed, a run is reproducible on the CPU with the
    same thread counts: the NTM's kernels split the batch over `kernel_threads`, default one per CPU,
    and another split rounds a few last bits differently)."""
    task: str = "copy"
    task_params: dict = field(default_factory=dict)
    model: str = "ntm"
    model_params: dict = field(default_factory=dict)
    steps: int = 10_000            # optimizer steps at most; copy usually stops early at target_bits
    batch_size: int = 32           # the NTM literature's batch; see bench/README.md for the throughput
    lr: float = 2e-3               # twice Adam's default (and Collier & Beel's 1e-3): on copy, seeds 2-4
                                   # found the memory algorithm after 16k-22k sequences where 1e-3 took
                                   # 28k-41k or never (bench/README.md "Training"); lr_drop_bits halves it
    optimizer: str = "adam"        # adam | rmsprop (the NTM paper's: lr 1e-4, momentum 0.9) | sgd (plain, with
                                   # momentum: the optimizer of the exploding-gradient studies; `ntm claims`)
    betas: list = field(default_factory=lambda: [0.9, 0.99])  # Adam's beta1, beta2 (Kingma & Ba 2015, alg. 1).
                                   # beta2 0.99, not torch's 0.999: the second moment follows a burst of
                                   # large gradients within ~100 steps, so the burst moves the weights
                                   # less (with ema_decay, copy seeds 0-9 converged 10 of 10, 9 with 0.999)
    momentum: float = 0.9          # RMSprop and SGD only
    clip_norm: float | None = 10.0  # global-norm gradient clipping
    clip_value: float | None = None  # the paper's element-wise clipping (10): off by default
    curriculum: str = "uniform"    # fixed | uniform | increasing | adaptive (see tasks.curriculum)
    curriculum_params: dict = field(default_factory=dict)  # e.g. adaptive: start, threshold, patience
    same_length: bool = True       # one length per batch (the Chomsky-hierarchy protocol; pytorch-ntm's
                                   # batches too): a batch costs as many steps as its longest sequence, so
                                   # per-sample lengths (False) cost copy twice the time per sequence
    eval_every: int = 100          # steps between evaluations on the fixed evaluation set
    eval_samples: int = 256        # sequences in that set (spread over the training lengths)
    eval_lengths: list | None = None  # the lengths of that set (eval_samples split evenly among them);
                                   # None: up to 10 spread over the training range. [20] on copy: a tenth
                                   # of the errors beyond 20, but seed 0 did not converge (bench/README.md
                                   # "Where the total failures come from"). Lengths beyond the training
                                   # range make the final comparison there no longer a held-out test
    target_bits: float = 0.01      # converged: the evaluation error is below this (bits per sequence)
    polish_steps: int = 4000       # steps trained on after converging, from the best weights at polish_lr,
                                   # scored on polish_samples sequences of the longest training length
                                   # (best weights kept, ties to the later); 0: stop at convergence. Copy,
                                   # seeds 0-4: 11 wrong among 20,480 fresh sequences of lengths 30-120
                                   # instead of 359, for 128,000 more sequences (bench/README.md "Polishing")
    polish_lr: float = 2.5e-4      # the learning rate while polishing (a fresh Adam: the moments reset)
    polish_samples: int = 512      # the polishing evaluation set: this many sequences of the longest
                                   # training length, where the fixed set (spread over the range) has few
    checkpoint_every: int = 500    # steps between resume checkpoints
    collapse_bits: float = 5.0     # roll back when the evaluation error exceeds the best by this much
    collapse_ratio: float = 2.0    # ... and is more than this many times the best
    rollback_lr_factor: float = 0.5  # the learning rate after a rollback, times the one before,
    min_lr: float = 1e-4             # but never below this
    restart_steps: int | None = 1200   # an NTM run whose best evaluation error is still above restart_bits
    restart_bits: float = 10.0         # this many steps after its start begins again from new random
    max_restarts: int = 2              # weights (copy finds its memory algorithm by step ~500-750 at the
                                       # default lr, or for some seeds never: bench/README.md "Training").
                                       # Tuned on copy; models without memory never restart,
                                       # nor does any model on an online task (ngrams)
    lr_drop_bits: float | None = 1.0   # once the evaluation error is below this, multiply the learning
    lr_drop_factor: float = 0.5        # rate by lr_drop_factor (once): smaller steps to polish the solution
    ema_decay: float = 0.99            # also score the weights' exponential moving average (decay per step)
                                       # at each evaluation and keep the better; 0: off. Copy, seeds 0-9,
                                       # within 100k sequences: 8 converged without it and beta2 0.99, 10 with
    max_seconds: float | None = None  # wall-clock budget for the training loop (None: no limit)
    seed: int = 0
    device: str = "auto"           # auto | cpu | cuda | mps
    threads: int | None = 1        # torch CPU threads: a batch-32 recurrent step is too small to split
                                   # (and a second thread that waits on a busy core costs 10×); None: torch's
    kernel_threads: int | None = None  # the NTM's numba kernels split each batch over this many threads
                                   # (ntm.models.kernels; None: one per CPU). Results depend on it in the last bits.
    draw_ahead: bool | None = None  # draw the next batch on a background thread while this one trains
                                   # (curricula that move with the step count; the same batches to the bit:
                                   # ntm.training.loop.BatchSource; not with the adaptive curriculum). None: on
                                   # a GPU (the host draws while the device computes; not yet measured there),
                                   # off on the CPU, where the thread competes for the cores and the GIL (the
                                   # main job at 0.86-0.97x on 2 cores: bench/README.md "The fifth pass")
    compare_lengths: list | None = None  # lengths for the final comparison (None: task defaults)
    compare_memory_rows: int | None = None  # the final comparison's memory size (N rows, or stack/tape cells:
                                   # ntm.models.MEMORY_SIZE) when it differs from training's; no weight may
                                   # depend on it (checked before training). `ntm compare RUN` uses it too.
                                   # The Chomsky protocol's NTM: trained with 128 rows, compared with 501
                                   # (ntm.sweep.protocol)
    init_from: str | None = None   # start from these weights (a run directory or a .safetensors file)

    @classmethod
    def from_toml(cls, path) -> "TrainConfig":
        """Read a TOML file whose keys are this dataclass's fields ([task_params], [model_params]).

        Raises:
            ConfigError: unreadable or invalid TOML, an unknown key, or a value of the wrong type
                or out of range (names the file and the key).
        """
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML ({str(e).splitlines()[0]})") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        """A validated config from a dict of its fields.

        Raises:
            ConfigError: not a dict, an unknown key, or a bad value (names `source` and the key).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of options, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        for k in data:
            if k not in names:
                raise ConfigError(f"{source}: unknown option {k!r}{did_you_mean(k, sorted(names))}; known: {', '.join(sorted(names))}")
        cfg = cls(**data)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        """Check every field's type, then its range.

        Raises:
            ConfigError: names `source`, the option and what it must be.
        """
        for f in dataclasses.fields(self):
            _check_type(source, f.name, f.type, getattr(self, f.name))
        for check in _RANGE_CHECKS:
            problem = check(self)
            if problem:
                raise ConfigError(f"{source}: {problem}")


# ---------------------------------------------------------------- the checks

_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "dict": (dict,), "list": (list, tuple)}
_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
          "dict": "a table", "list": "a list"}


def _check_type(source: str, name: str, annotation: str, value) -> None:
    """A field's value against its annotation ("int", "float | None", ...). true/false is no number."""
    kinds = [k.strip() for k in str(annotation).split("|")]
    if value is None and "None" in kinds:
        return
    for kind in kinds:
        if kind == "None":
            continue
        if isinstance(value, bool) and kind != "bool":
            continue
        if isinstance(value, _TYPES[kind]) and not (kind == "float" and not math.isfinite(value)):
            return
    want = " or ".join(_NAMES.get(k, "absent") if k != "None" else "absent" for k in kinds)
    raise ConfigError(f"{source}: {name} must be {want}" + (" (finite)" if "float" in kinds else "")
                      + f", got {value!r}")


def _at_least(name: str, low):
    return lambda c: None if getattr(c, name) is None or getattr(c, name) >= low else \
        f"{name} must be >= {low}, got {getattr(c, name)!r}"


def _positive(name: str):
    return lambda c: None if getattr(c, name) is None or getattr(c, name) > 0 else \
        f"{name} must be a positive number, got {getattr(c, name)!r}"


def _one_of(name: str, allowed):
    return lambda c: None if getattr(c, name) in allowed else \
        f"{name} must be one of {', '.join(allowed)}, got {getattr(c, name)!r}"


def _betas(c):
    ok = len(c.betas) == 2 and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1
                                   for b in c.betas)
    return None if ok else f"betas must be two numbers in [0, 1) (Adam's beta1, beta2), got {c.betas!r}"


def _device(c):
    ok = c.device in DEVICES or c.device.startswith("cuda:")
    return None if ok else f"device must be auto, cpu, cuda or mps, got {c.device!r}"


_RANGE_CHECKS = [
    _at_least("steps", 1), _at_least("batch_size", 1), _positive("lr"), _one_of("optimizer", ("adam", "rmsprop", "sgd")),
    _betas, _device, _at_least("eval_every", 1), _at_least("eval_samples", 1), _at_least("checkpoint_every", 1),
    lambda c: None if 0 <= c.ema_decay < 1 else f"ema_decay must be a number in [0, 1) (0: off), got {c.ema_decay!r}",
    _at_least("polish_steps", 0), _positive("polish_lr"), _at_least("polish_samples", 1),
    _positive("clip_norm"), _positive("clip_value"), _positive("rollback_lr_factor"), _positive("min_lr"),
    _at_least("restart_steps", 1), _at_least("max_restarts", 0), _positive("lr_drop_factor"),
    _positive("max_seconds"), _at_least("threads", 1), _at_least("kernel_threads", 1),
    _at_least("compare_memory_rows", 1),
]
