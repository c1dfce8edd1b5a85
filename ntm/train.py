"""Training: any model on any task, with evaluation against the machine, checkpoints and recovery.

The trainer knows tasks and models only through their interfaces (DESIGN.md): a task's
``sample(rng, B, lengths) -> Batch`` and a model's ``forward(inputs, T_out, input_lengths) -> logits``.

One step: draw lengths from the curriculum, sample a batch (the machine computes the targets),
masked loss (binary cross-entropy for bit-vector tasks, cross-entropy for symbol tasks, summed over
the output and averaged over sequences: nats per sequence), backward, clip, optimizer step.
Every ``eval_every`` steps the model is scored on the task's fixed evaluation set (bits per
sequence against the machine's output); the best weights are kept.

Reliability (NTM training is known to collapse — see the models issue): a step whose loss or
gradient is NaN/Inf is skipped and counted; when the evaluation error rises ``collapse_bits`` above
the best seen and to more than ``collapse_ratio`` times it, the model rolls back to the best weights,
the learning rate is multiplied by ``rollback_lr_factor`` (not below ``min_lr``) and the optimizer's
moments are reset. ``lr_drop_bits`` lowers the learning rate once when the error first falls below
it. With ``ema_decay`` (on by default), an exponential moving average of the weights (Polyak averaging, kept by
`torch.optim.swa_utils.AveragedModel`) is scored too, and the better of the two counts: the
average smooths the step-to-step noise that keeps a found algorithm from being exact. Training
converges at ``target_bits``, then polishes: ``polish_steps`` more steps from the best weights at
``polish_lr``, scored on ``polish_samples`` sequences of the longest training length (the best
weights by that score kept).
Measured effects of each option: bench/README.md, "Training".

Curricula (tasks.curriculum): lengths per sample or, with ``same_length``, one length per batch;
the ``adaptive`` curriculum is fed the training batches' errors (`evaluate.sequence_errors`) and widens
the range when they show mastery; its position is part of the resumable state.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from . import kernels
from .errors import ConfigError, DivergenceError
from .evaluate import compare, format_table, memory_rows, sequence_errors


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
    optimizer: str = "adam"        # adam | rmsprop (the NTM paper's: lr 1e-4, momentum 0.9)
    betas: list = field(default_factory=lambda: [0.9, 0.99])  # Adam's beta1, beta2 (Kingma & Ba 2015, alg. 1).
                                   # beta2 0.99, not torch's 0.999: the second moment follows a burst of
                                   # large gradients within ~100 steps, so the burst moves the weights
                                   # less (with ema_decay, copy seeds 0-9 converged 10 of 10, 9 with 0.999)
    momentum: float = 0.9          # RMSprop only
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
                                       # Tuned on copy; models without memory never restart
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
                                   # (ntm.kernels; None: one per CPU). Results depend on it in the last bits.
    compare_lengths: list | None = None  # lengths for the final comparison (None: task defaults)
    init_from: str | None = None   # start from these weights (a run directory or a .safetensors file)

    @classmethod
    def from_toml(cls, path) -> "TrainConfig":
        """Read a TOML file whose keys are this dataclass's fields ([task_params], [model_params]).

        Raises:
            ConfigError: unknown key or unreadable TOML (names the file and the key).
        """
        try:
            data = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        for k in data:
            if k not in names:
                raise ConfigError(f"{source}: unknown option {k!r}; known: {', '.join(sorted(names))}")
        return cls(**data)

    def validate(self) -> None:
        """Raises ConfigError naming the option and the fix."""
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ConfigError(f"optimizer must be adam or rmsprop, got {self.optimizer!r}")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        if self.eval_every < 1 or self.checkpoint_every < 1:
            raise ConfigError("eval_every and checkpoint_every must be >= 1")
        if not (isinstance(self.betas, (list, tuple)) and len(self.betas) == 2
                and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas)):
            raise ConfigError(f"betas must be two numbers in [0, 1) (Adam's beta1, beta2), got {self.betas!r}")
        if not (isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1):
            raise ConfigError(f"ema_decay must be a number in [0, 1) (0: off), got {self.ema_decay!r}")
        if isinstance(self.polish_steps, bool) or not isinstance(self.polish_steps, int) or self.polish_steps < 0:
            raise ConfigError(f"polish_steps must be an integer >= 0, got {self.polish_steps!r}")
        if (isinstance(self.polish_lr, bool) or not isinstance(self.polish_lr, (int, float))
                or not (self.polish_lr > 0 and math.isfinite(self.polish_lr))):
            raise ConfigError(f"polish_lr must be a positive finite number, got {self.polish_lr!r}")
        if isinstance(self.polish_samples, bool) or not isinstance(self.polish_samples, int) or self.polish_samples < 1:
            raise ConfigError(f"polish_samples must be an integer >= 1, got {self.polish_samples!r}")
        for name in ("threads", "kernel_threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be an integer >= 1 or absent, got {value!r}")


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA, then MPS, then CPU. Raises ConfigError if the asked device is missing."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device mps asked for, but it is not available; use --device cpu or auto")
    return torch.device(name)


def masked_loss(logits, targets, mask, loss_kind: str) -> torch.Tensor:
    """Loss in nats per sequence: summed over the masked output positions, averaged over the batch.

    logits, targets: (B, T_out, C_out); mask: (B, T_out).
    """
    m = mask.to(logits.dtype)
    if loss_kind == "bce":
        per_pos = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
    else:
        per_pos = F.cross_entropy(logits.transpose(1, 2), targets.argmax(-1), reduction="none")
    return (per_pos * m).sum() / logits.shape[0]


def default_compare_lengths(task) -> list[int]:
    """The training range (its ends and middle) and 1.5×, 2.5×, 4× and 6× its maximum, within what
    the task can encode. For copy (1–20): 1, 10, 20, 30, 50, 80, 120."""
    lo, hi = task.train_lengths
    cands = {lo, max(lo, hi // 2), hi, int(1.5 * hi), int(2.5 * hi), 4 * hi, 6 * hi}
    return sorted(n for n in cands if n <= task.max_length)


def _eval_lengths(task, samples: int, lengths: list | None = None) -> list[tuple[int, int]]:
    """The training-time evaluation set: `lengths`, or up to 10 lengths spread over the training
    range (every length of a range of 10 or fewer), `samples` sequences in all.

    Raises:
        ConfigError: a length the task cannot encode.
    """
    lo, hi = task.train_lengths
    if lengths is None:
        lengths = sorted({int(round(x)) for x in np.linspace(lo, hi, min(10, hi - lo + 1))})
    else:
        ok = lambda n: not isinstance(n, bool) and isinstance(n, int) and task.min_length <= n <= task.max_length  # noqa: E731
        if not isinstance(lengths, (list, tuple)) or not lengths or not all(ok(n) for n in lengths):
            raise ConfigError(f"eval_lengths must be a non-empty list of integers in [{task.min_length}, {task.max_length}] "
                              f"(task {task.name}), got {lengths!r}")
        lengths = sorted(set(lengths))
    per = max(1, samples // len(lengths))
    return [(n, per) for n in lengths]


def evaluate_bits(model, task, eval_set, device) -> tuple[float, float]:
    """Bits (or symbols) wrong per sequence and sequence accuracy on the fixed evaluation set
    (`evaluate.compare` at each of its lengths, averaged over all its sequences)."""
    per = eval_set[0][1]                                   # every length has the same count
    rows = compare(model, task, [n for n, _ in eval_set], samples=per, device=device)
    model.train()
    return (sum(r["bit_errors_per_seq"] for r in rows) / len(rows),
            sum(r["seq_accuracy"] for r in rows) / len(rows))


# ---------------------------------------------------------------- the loop
@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    sequences: int
    seconds: float
    best_bits: float
    converged: bool
    rollbacks: int
    skipped: int
    comparison: list
    restarts: int = 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _converged(cfg: TrainConfig, state: dict) -> tuple[bool, bool]:
    """(converged, finished): the best evaluation error has been below target_bits (the step that
    first met it is state["converged_step"]), and polish_steps steps have passed since."""
    if state["converged_step"] is None and state["best_bits"] is not None and state["best_bits"] < cfg.target_bits:
        state["converged_step"] = state["step"]
    converged = state["converged_step"] is not None
    return converged, converged and state["step"] - state["converged_step"] >= cfg.polish_steps


def _make_optimizer(cfg: TrainConfig, params, lr: float):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas))
    return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum)


def _averaged(cfg: TrainConfig, model, weights: dict | None = None):
    """The moving average of `model`'s weights (None if ema_decay is 0), starting from `weights`
    (a state dict, with its count of averaged steps under "n_averaged") or, at the next step, from
    the model's weights then."""
    if not cfg.ema_decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
    if weights is not None:
        averaged.load_state_dict(weights)
    return averaged


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: JSONL metrics only
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def train(cfg: TrainConfig, run_dir, *, resume: bool = False, progress: bool = True,
          log=print) -> TrainResult:
    """Train `cfg.model` on `cfg.task`, writing the run directory, then compare with the machine.

    Args:
        cfg: the configuration (ignored on resume except `steps` and `max_seconds`: the run's
            own config.json is used).
        run_dir: the run directory (created; must not hold a run unless `resume`).
        resume: continue the run in `run_dir` from its checkpoint, exactly.
        progress: show a progress bar (sequences/s, current bits per sequence).
        log: where one-line messages go.

    Returns:
        A `TrainResult`; the comparison rows are also written to RUN/comparison.json.

    Raises:
        ConfigError, CheckpointError, tasks.errors.TaskError: bad options or run directory.
        DivergenceError: NaN/Inf that rollback could not cure (names the step).
    """
    from tasks.curriculum import Adaptive, make_curriculum
    from tasks.registry import get_task

    from .models import build_model, count_parameters

    run_dir = Path(run_dir)
    if resume:
        saved = ckpt.read_json(run_dir / "config.json")
        steps, max_seconds = cfg.steps, cfg.max_seconds
        cfg = TrainConfig.from_dict(saved["train"], source=str(run_dir / "config.json"))
        cfg.steps, cfg.max_seconds = max(steps, cfg.steps) if steps else cfg.steps, max_seconds
    elif (run_dir / "config.json").exists():
        raise ConfigError(f"{run_dir} already holds a run; use --resume to continue it or --out for a new one")
    cfg.validate()
    device = pick_device(cfg.device)
    if cfg.threads is not None and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    kernels.set_threads(cfg.kernel_threads)

    task = get_task(cfg.task, **cfg.task_params)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, task.input_size, task.output_size, **cfg.model_params).to(device)
    if cfg.init_from and not resume:  # fine-tuning: the same architecture, weights from elsewhere
        src = Path(cfg.init_from)
        model.load_state_dict(ckpt.load_tensors(src / "weights.safetensors" if src.is_dir() else src, device))
    has_memory = memory_rows(model) is not None    # restarts are for memory models (see TrainConfig)
    curriculum = make_curriculum(cfg.curriculum, task.train_lengths, same_length=cfg.same_length,
                                 **cfg.curriculum_params)
    adaptive = isinstance(curriculum, Adaptive)
    rng = np.random.default_rng(cfg.seed)
    fixed_set = _eval_lengths(task, cfg.eval_samples, cfg.eval_lengths)
    polish_set = [(task.train_lengths[1], cfg.polish_samples)]    # after converging: the longest length

    state = {"step": 0, "sequences": 0, "seconds": 0.0, "lr": cfg.lr, "best_bits": None,
             "best_step": None, "rollbacks": 0, "skipped": 0,
             "loss_sum": 0.0, "loss_n": 0,   # training loss since the last evaluation
             "progress": 0.0, "batch_errors": [],  # adaptive curriculum: where it is, errors at that level
             "lr_dropped": False, "restarts": 0, "attempt_start": 0,
             "converged_step": None,     # the step whose evaluation first met target_bits
             "polishing": False}         # after converging: scored on polish_set
    best_weights = None
    opt = _make_optimizer(cfg, model.parameters(), cfg.lr)
    averaged = _averaged(cfg, model)
    if resume:
        c = ckpt.load_checkpoint(run_dir, device)
        model.load_state_dict(c["model"])
        state.update({k: v for k, v in c["state"].items() if k in state})
        opt = _make_optimizer(cfg, model.parameters(), state["lr"])
        ckpt.optimizer_from_flat(opt, c["optimizer"], c["state"]["optimizer"])
        rng.bit_generator.state = c["state"]["rng"]
        best_weights = c["best"]
        averaged = _averaged(cfg, model, c["averaged"])
        log(f"resumed {run_dir} at step {state['step']}")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.write_json(run_dir / "config.json", {
            "train": dataclasses.asdict(cfg), "task": {"name": cfg.task, **cfg.task_params},
            "model": {"name": cfg.model, "input_size": task.input_size, "output_size": task.output_size,
                      **dataclasses.asdict(model.config)},
        })
    n_params = count_parameters(model)
    log(f"task {cfg.task} | model {cfg.model}: {n_params:,} parameters | device {device} | "
        f"batch {cfg.batch_size} | lr {state['lr']:g} | seed {cfg.seed} | run {run_dir}")

    tb = _tensorboard(run_dir)
    if resume:  # drop metrics logged after the checkpoint, so the file equals an uninterrupted run's
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        keep = [ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= state["step"]]
        (run_dir / "metrics.jsonl").write_text("".join(ln + "\n" for ln in keep))
    metrics = open(run_dir / "metrics.jsonl", "a")

    def save():
        ckpt.save_checkpoint(run_dir, model=model, best_weights=best_weights, optimizer=opt,
                             averaged=None if averaged is None else averaged.state_dict(),
                             state={**state, "rng": rng.bit_generator.state})

    bar = _progress(progress, cfg.steps, state["step"])
    converged, finished = _converged(cfg, state)
    if resume and (finished or state["step"] >= cfg.steps):
        log(f"nothing to train: the run had already converged at step {state['converged_step']}" if finished else
            f"nothing to train: the run is at its step limit ({cfg.steps}); pass a higher --steps to go on")
    t_start = time.perf_counter() - state["seconds"]
    model.train()
    try:
        while state["step"] < cfg.steps and not finished:
            if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
                log(f"stopping at the time budget ({cfg.max_seconds:g} s)")
                break
            at = state["progress"] if adaptive else state["step"] / cfg.steps
            lengths = curriculum.lengths(rng, cfg.batch_size, at)
            batch = task.sample(rng, cfg.batch_size, lengths).to(device)
            logits = model(batch.inputs, batch.targets.shape[1], batch.input_lengths)
            loss = masked_loss(logits, batch.targets, batch.mask, task.loss_kind)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_value is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.clip_value)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm or float("inf"))
            if torch.isfinite(loss) and torch.isfinite(norm):
                opt.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                state["loss_sum"] += loss.item()
                state["loss_n"] += 1
            else:  # NaN guard: skip the update, count it
                state["skipped"] += 1
                if state["skipped"] > 100 + state["step"] // 10:
                    raise DivergenceError(f"step {state['step']}: loss or gradient is NaN/Inf in "
                                          f"{state['skipped']} steps; try a lower --lr")
            if adaptive:  # the curriculum moves on when the training batches show mastery
                errors = sequence_errors(logits, batch.targets, batch.mask, task.loss_kind)[0]
                state["batch_errors"] = state["batch_errors"][-curriculum.patience:] + [errors.float().mean().item()]
                state["progress"], rose = curriculum.advance(state["progress"], state["batch_errors"])
                if rose:
                    state["batch_errors"] = []
            state["step"] += 1
            state["sequences"] += cfg.batch_size

            if state["step"] % cfg.eval_every == 0 or state["step"] == cfg.steps:
                eval_set = polish_set if state["polishing"] else fixed_set
                bits, seq_acc = evaluate_bits(model, task, eval_set, device)
                scored = model                                   # the weights the evaluation counts
                if averaged is not None and averaged.n_averaged > 0:
                    avg_bits, avg_acc = evaluate_bits(averaged.module, task, eval_set, device)
                    if avg_bits < bits:
                        bits, seq_acc, scored = avg_bits, avg_acc, averaged.module
                state["seconds"] = time.perf_counter() - t_start
                row = {"step": state["step"], "sequences": state["sequences"],
                       "loss": ckpt.clean_float(state["loss_sum"] / max(state["loss_n"], 1)), "bits_per_seq": bits,
                       "seq_accuracy": seq_acc, "seconds": round(state["seconds"], 3), "lr": state["lr"],
                       "rollbacks": state["rollbacks"], "restarts": state["restarts"], "skipped": state["skipped"],
                       "max_length": curriculum.bounds(at)[1], "averaged": scored is not model,
                       "polishing": state["polishing"]}
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()
                if tb is not None:
                    for k in ("loss", "bits_per_seq", "seq_accuracy", "lr"):
                        if row[k] is not None:
                            tb.add_scalar(k, row[k], state["sequences"])
                state["loss_sum"], state["loss_n"] = 0.0, 0
                best = state["best_bits"]
                if best is None or bits <= best:  # ties: the later weights (trained longer) win
                    state["best_bits"], state["best_step"] = bits, state["step"]
                    best_weights = {k: v.detach().clone() for k, v in scored.state_dict().items()}
                    ckpt.save_tensors(run_dir / "weights.safetensors", best_weights)
                elif bits > best + cfg.collapse_bits and bits > cfg.collapse_ratio * best:
                    # collapse: roll back to the best weights, lower the learning rate
                    model.load_state_dict(best_weights)
                    if averaged is not None:                     # the average starts again there:
                        averaged.n_averaged.zero_()              # its next update copies the weights
                    state["lr"] = max(cfg.min_lr, state["lr"] * cfg.rollback_lr_factor)
                    state["rollbacks"] += 1
                    opt = _make_optimizer(cfg, model.parameters(), state["lr"])
                    log(f"step {state['step']}: error rose to {bits:.2f} bits/seq (best {best:.3f}); "
                        f"rolled back to step {state['best_step']}, lr {state['lr']:g}")
                if cfg.lr_drop_bits is not None and not state["lr_dropped"] and state["best_bits"] < cfg.lr_drop_bits:
                    state["lr"], state["lr_dropped"] = state["lr"] * cfg.lr_drop_factor, True
                    for group in opt.param_groups:
                        group["lr"] = state["lr"]
                converged, finished = _converged(cfg, state)
                if converged and not finished and not state["polishing"]:
                    # polish: from the best weights, smaller steps (a fresh optimizer), and scored where
                    # the fixed set is thin: many sequences of the longest training length. Errors there
                    # went with errors beyond it (bench/README.md "Polishing")
                    state["polishing"], state["lr"], state["lr_dropped"] = True, cfg.polish_lr, True
                    model.load_state_dict(best_weights)
                    opt = _make_optimizer(cfg, model.parameters(), state["lr"])
                    if averaged is not None:
                        averaged.n_averaged.zero_()
                    state["best_bits"] = evaluate_bits(model, task, polish_set, device)[0]
                    state["best_step"] = state["step"]
                    log(f"step {state['step']}: converged; polishing {cfg.polish_steps:,} steps at lr {cfg.polish_lr:g}, "
                        f"scored on {cfg.polish_samples} sequences of length {polish_set[0][0]} "
                        f"({state['best_bits']:.4f} bits/seq now)")
                stalled = (has_memory and cfg.restart_steps is not None and state["restarts"] < cfg.max_restarts
                           and state["step"] - state["attempt_start"] >= cfg.restart_steps
                           and state["best_bits"] > cfg.restart_bits)
                if stalled:  # the memory algorithm was not found: start again from new random weights
                    state["restarts"] += 1
                    torch.manual_seed(cfg.seed + 1_000_003 * state["restarts"])
                    fresh = build_model(cfg.model, task.input_size, task.output_size, **cfg.model_params)
                    model.load_state_dict(fresh.state_dict())
                    if averaged is not None:
                        averaged.n_averaged.zero_()
                    state.update(attempt_start=state["step"], lr=cfg.lr, best_bits=None, best_step=None,
                                 progress=0.0, batch_errors=[], lr_dropped=False, converged_step=None,
                                 polishing=False)
                    best_weights = None
                    opt = _make_optimizer(cfg, model.parameters(), cfg.lr)
                    log(f"step {state['step']}: error still {bits:.2f} bits/seq after {cfg.restart_steps} steps; "
                        f"restarting from new random weights (restart {state['restarts']} of {cfg.max_restarts})")
                bar.update(state, bits)
            if state["step"] % cfg.checkpoint_every == 0 or finished:
                save()
        state["seconds"] = time.perf_counter() - t_start
        save()
    finally:
        bar.close()
        metrics.close()
        if tb is not None:
            tb.close()

    # ------------------------------------------------------------ compare with the machine
    if best_weights is not None:
        model.load_state_dict(best_weights)
    lengths = cfg.compare_lengths or default_compare_lengths(task)
    rows = compare(model, task, lengths, samples=256, device=device)
    ckpt.write_json(run_dir / "comparison.json", {"lengths": rows})
    verdict = "did not reach the target:"
    if converged:
        first = state["converged_step"]
        verdict = (f"converged at step {first} ({first * cfg.batch_size:,} sequences)"
                   + (f", then polished {state['step'] - first:,} steps" if state["step"] > first else "")
                   + ";")
    best = "n/a" if state["best_bits"] is None else f"{state['best_bits']:.4f}"
    where = " on the polishing set" if state["polishing"] else ""
    log(f"{verdict} best {best} bits/seq{where} at step {state['best_step']} after "
        f"{state['sequences']:,} sequences, {state['seconds']:.0f} s ({state['sequences'] / max(state['seconds'], 1e-9):.0f} seq/s), "
        f"{_count(state['rollbacks'], 'rollback')}, {_count(state['restarts'], 'restart')}, "
        f"{_count(state['skipped'], 'skipped step')}")
    log(f"comparison with the machine ({task.name}, 256 fixed sequences per length):")
    log(format_table(rows))
    return TrainResult(run_dir, state["step"], state["sequences"], state["seconds"], state["best_bits"],
                       converged, state["rollbacks"], state["skipped"], rows, state["restarts"])


class _progress:
    """A rich progress bar showing sequences/s and the current bits per sequence (no-op if off)."""

    def __init__(self, enabled: bool, total: int, done: int):
        self.p = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.p = Progress(TextColumn("steps"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                              TextColumn("{task.fields[info]}"), transient=False)
            self.p.start()
            self.t = self.p.add_task("train", total=total, completed=done, info="")

    def update(self, state, bits):
        if self.p is not None:
            rate = state["sequences"] / max(state["seconds"], 1e-9)
            self.p.update(self.t, completed=state["step"],
                          info=f"{rate:,.0f} seq/s | {bits:.3f} bits/seq | best {bits if state['best_bits'] is None else state['best_bits']:.3f}")

    def close(self):
        if self.p is not None:
            self.p.stop()
