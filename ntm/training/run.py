"""A run: assemble task, model, curriculum and evaluator from a config, train, and compare with the machine.

`train(cfg, RUN)` starts a run in a new directory; `resume(RUN)` continues one from its checkpoint,
exactly, under the run's own config (only a higher step limit or a time budget can be given). Both
check everything before they write anything; both end with the comparison with the machine at the
training lengths and beyond (RUN/comparison.json, and a table in the log).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ntm.analysis.compare import compare, default_compare_lengths, format_table
from ntm.device import pick_device
from ntm.errors import CheckpointError, ConfigError
from ntm.models import TRACE_MODELS, build_model, count_parameters, kernels
from ntm.training import checkpoint as ckpt
from ntm.training.callbacks import Checkpointer, MetricsLog, ProgressBar, TensorBoardLog
from ntm.training.config import TrainConfig
from ntm.training.evaluation import Evaluator, error_unit, evaluator_for
from ntm.training.loop import Trainer
from ntm.training.objective import objective_for
from ntm.training.run_dir import buildable
from ntm.training.state import Phase, TrainState


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    sequences: int
    seconds: float
    best_bits: float | None
    converged: bool
    rollbacks: int
    skipped: int
    comparison: list
    restarts: int = 0


@dataclass
class _Parts:
    """What a run is assembled from (every look-up by name happens here, before anything is written)."""
    device: torch.device
    task: object
    model: torch.nn.Module
    curriculum: object
    evaluator: Evaluator
    compare_model: torch.nn.Module | None = None   # the final comparison's (compare_memory_rows), else model


def _assemble(cfg: TrainConfig, source: str = "config") -> _Parts:
    """Build the task, model, curriculum and evaluator a config names.

    Raises:
        ConfigError: a bad name or option (the registry's message, after `source`: the file the
            config came from).
    """
    from tasks.curriculum import make_curriculum
    from tasks.registry import get_task

    cfg.validate(source)
    device = pick_device(cfg.device)
    with buildable(source, ConfigError):
        task = get_task(cfg.task, **cfg.task_params)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, task.input_size, task.output_size, **model_options(cfg, task)).to(device)
        curriculum = make_curriculum(cfg.curriculum, task.train_lengths, same_length=cfg.same_length,
                                     **cfg.curriculum_params)
        evaluator = evaluator_for(task, cfg, device)
        compare_model = _compare_model(cfg, task, model, device)
    return _Parts(device, task, model, curriculum, evaluator, compare_model)


def _compare_model(cfg: TrainConfig, task, model, device):
    """With ``compare_memory_rows``: the model built again with that memory size, for the final
    comparison (None without it). Built without touching torch's random state, so the run trains
    as it would without the option.

    Raises:
        ConfigError: the model has no memory size, or a weight's shape depends on it (a learned
            M_0, say: names the tensor).
    """
    if cfg.compare_memory_rows is None:
        return None
    from ntm.models import memory_size_option
    options = {**model_options(cfg, task),
               memory_size_option(cfg.model, "compare_memory_rows"): cfg.compare_memory_rows}
    with torch.random.fork_rng(devices=[]):
        other = build_model(cfg.model, task.input_size, task.output_size, **options).to(device)
    ours, theirs = model.state_dict(), other.state_dict()
    bad = [k for k in ours if k not in theirs or theirs[k].shape != ours[k].shape]
    if bad:
        raise ConfigError(f"compare_memory_rows: the {cfg.model}'s weights depend on its memory size "
                          f"({', '.join(bad[:3])}); keep the training size or use the defaults' memory init")
    return other


def model_options(cfg: TrainConfig, task) -> dict:
    """The model's options: the config's, after the sizes a trace task takes from its machine.

    Raises:
        ConfigError: a trace task with a model that cannot run traces, or the other way round.
    """
    trace_task, trace_model = task.loss_kind == "trace", cfg.model in TRACE_MODELS
    if trace_task != trace_model:
        raise ConfigError(f"task {cfg.task} trains " + ("the trace model: --model trace_ntm" if trace_task else
                          "a sequence model (ntm, lstm, ...); trace_ntm runs on trace:MACHINE tasks only"))
    return {**(task.model_options() if trace_task else {}), **cfg.model_params}


def _threads(cfg: TrainConfig, device: torch.device, task=None) -> None:
    """torch's CPU threads and the NTM kernels' batch split, as the config says (results depend on
    the kernels' split in the last bits). A trace task defaults to one torch thread: its steps are
    many small tensor operations, which a second thread slows (palindrome's comparison at length
    128: 6.8 s on one thread, 209 s on two with the other core busy; docs/traces.md)."""
    threads = cfg.threads if cfg.threads is not None or task is None or task.loss_kind != "trace" else 1
    if threads is not None and device.type == "cpu":
        torch.set_num_threads(threads)
    kernels.set_threads(cfg.kernel_threads)


# mallopt's parameters (glibc's malloc.h) and the values set: allocations up to 32 MiB (glibc's
# largest mmap threshold on 64-bit) come from the heap, and up to 1 GiB of free heap is kept.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 << 20, 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep the memory this process frees for the next allocation instead of
    giving it back to the OS (`mallopt`: no mmap below 32 MiB, no trimming below 1 GiB of free heap).

    Why: a training step allocates the same large arrays every batch (the episode's activations,
    gradients and saved values: the numba kernels' through malloc, torch's through posix_memalign),
    and memory fresh from the OS costs a page fault per 4 KiB at its first write: on the 2-core box
    ~290 page faults a batch at batch 32 and ~2,000 at batch 128 on one kernel thread, 0-20 a batch
    with this (on two kernel threads some remain: their own malloc arenas still map part of their
    arrays); training steps ran 0-16 % faster (bench/README.md, "Models", the third pass). The
    price: memory freed between batches is not given back to the OS, so the resident memory does
    not shrink below its peak (the peak itself did not grow: the README's main job peaked at 812 MB
    with this, 896 without). The setting holds for the rest of the process; a second call does
    nothing. `train` and `resume` call it.

    Returns True if glibc took both settings; False where there is no glibc (macOS, Windows, musl):
    nothing changes there.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def train(cfg: TrainConfig, run_dir, *, progress: bool = True, log=print, evaluator=None,
          objective=None, callbacks=(), source: str = "config") -> TrainResult:
    """Train `cfg.model` on `cfg.task` in a new run directory, then compare it with the machine.

    Args:
        cfg: the configuration (validated here, before anything is written).
        run_dir: the run directory (created; must not hold a run).
        progress: show a progress bar (sequences/s, current bits per sequence).
        log: where one-line messages go.
        evaluator: ``(model, polishing) -> (bits, seq_accuracy)`` with a ``polish_set``; default
            `Evaluator` (the task's fixed set, the polishing set).
        objective: the loss (default `MaskedObjective` of the task's kind).
        callbacks: more `ntm.training.loop.Callback`s, after the run directory's own (metrics,
            checkpoints, TensorBoard, progress).
        source: where `cfg` came from (a TOML file, say), named in error messages.

    Returns:
        A `TrainResult`; the comparison rows are also written to RUN/comparison.json.

    Raises:
        ConfigError, CheckpointError, tasks.errors.TaskError: bad options, an occupied run_dir, or
            unusable init_from weights (nothing is written then).
        DivergenceError: NaN/Inf that rollback could not cure (names the step).
    """
    run_dir = Path(run_dir)
    if (run_dir / "config.json").exists():
        raise ConfigError(f"{run_dir} already holds a run; use --resume to continue it or --out for a new one")
    parts = _assemble(cfg, source)
    definition = getattr(parts.task, "machine_definition", lambda: None)()
    if definition is not None:         # a machine file: the run keeps the machine, not the path
        cfg.task_params = {**cfg.task_params, "definition": definition}
    if cfg.init_from:                  # fine-tuning: the same architecture, weights from elsewhere
        src = Path(cfg.init_from)
        src = src / "weights.safetensors" if src.is_dir() else src
        if not src.exists():
            raise ConfigError(f"{source}: init_from {cfg.init_from!r}: no such weights file or run directory")
        _load_weights(parts.model, src, parts.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.write_json(run_dir / "config.json", {
        "train": dataclasses.asdict(cfg), "task": {"name": cfg.task, **cfg.task_params},
        "model": {"name": cfg.model, "input_size": parts.task.input_size, "output_size": parts.task.output_size,
                  **dataclasses.asdict(parts.model.config)}})
    return _run(cfg, run_dir, parts, None, progress=progress, log=log, evaluator=evaluator, objective=objective,
                extra=callbacks)


def resume(run_dir, *, steps: int | None = None, max_seconds: float | None = None, progress: bool = True,
           log=print) -> TrainResult:
    """Continue the run in `run_dir` from its checkpoint, exactly (on the CPU with the same thread
    counts: the same curve as a run without the stop), under the run's own config.

    A directory that holds a config but no checkpoint yet (killed before its first) starts over from
    step 0, which is the same run.

    Args:
        steps: a new step limit, at least the run's own (None: keep the run's).
        max_seconds: a wall-clock budget for this session (None: none).

    Raises:
        ConfigError: `steps` below the run's own limit; a bad saved config.
        CheckpointError: no run there, or a damaged checkpoint (names the file).
    """
    run_dir = Path(run_dir)
    saved = ckpt.read_json(run_dir / "config.json")
    if not isinstance(saved, dict) or not isinstance(saved.get("train"), dict):
        raise CheckpointError(f"{run_dir / 'config.json'}: no 'train' section (not made by `ntm train`?)")
    cfg = TrainConfig.from_dict(saved["train"], source=str(run_dir / "config.json"))
    if steps is not None and steps < cfg.steps:
        raise ConfigError(f"--steps {steps} is below the run's own limit ({cfg.steps}); a resume can only raise it")
    cfg.max_seconds = max_seconds
    parts = _assemble(cfg, str(run_dir / "config.json"))
    if steps is not None and steps > cfg.steps:        # the run's own limit from now on
        cfg.steps = steps
        ckpt.write_json(run_dir / "config.json", {**saved, "train": {**saved["train"], "steps": steps}})
    if not (run_dir / "checkpoint").exists() and not (run_dir / "checkpoint.old").exists():
        log(f"{run_dir}: no checkpoint yet (stopped before its first); starting the run over from step 0")
        return _run(cfg, run_dir, parts, None, progress=progress, log=log)
    c = ckpt.load_checkpoint(run_dir, parts.device)
    state = TrainState.from_json(c["state"], source=str(run_dir / "checkpoint" / "state.json"))
    state = _settle_old_state(cfg, c["state"], state)
    _check_checkpoint(c, parts.model, run_dir / "checkpoint")
    parts.model.load_state_dict(c["model"])
    log(f"resumed {run_dir} at step {state.step}")
    return _run(cfg, run_dir, parts, (state, c), progress=progress, log=log)


def _settle_old_state(cfg: TrainConfig, raw: dict, state: TrainState) -> TrainState:
    """A checkpoint from before phases says "polishing" even when its run had finished: derive it."""
    if "phase" not in raw and state.converged and state.step - state.converged_step >= cfg.polish_steps:
        return dataclasses.replace(state, phase=Phase.FINISHED)
    return state


def _run(cfg, run_dir, parts: _Parts, resumed, *, progress, log, evaluator=None, objective=None,
         extra=()) -> TrainResult:
    """Train (from scratch, or from `resumed` = (state, checkpoint)), then compare with the machine."""
    _threads(cfg, parts.device, parts.task)
    keep_freed_memory()
    task, model = parts.task, parts.model
    rng = np.random.default_rng(cfg.seed)
    state, c = resumed if resumed is not None else (None, None)
    if c is not None:
        rng.bit_generator.state = _rng_state(c["state"].get("rng"), run_dir)
    log(f"task {cfg.task} | model {cfg.model}: {count_parameters(model):,} parameters | device {parts.device} | "
        f"batch {cfg.batch_size} | lr {(state.lr if state else cfg.lr):g} | seed {cfg.seed} | run {run_dir}")
    idle = state is not None and (state.phase is Phase.FINISHED or state.step >= cfg.steps)
    if idle:
        log(f"nothing to train: the run had already converged at step {state.converged_step}"
            if state.phase is Phase.FINISHED else
            f"nothing to train: the run is at its step limit ({cfg.steps}); pass a higher --steps to go on")
    elif _uses_kernels(model, parts.device) and not kernels.cached():
        log("compiling the NTM's numba kernels (the first run on this machine, ~30 s; cached after)")

    def make_model():
        return build_model(cfg.model, task.input_size, task.output_size, **model_options(cfg, task))
    callbacks = [MetricsLog(run_dir, state.step if state else 0), Checkpointer(run_dir, cfg.checkpoint_every)]
    tb = TensorBoardLog.create(run_dir)
    callbacks += [tb] if tb is not None else []
    callbacks += [ProgressBar(cfg.steps, state.step if state else 0)] if progress and not idle else []
    callbacks += list(extra)
    trainer = Trainer(cfg, model, make_model=make_model, sample=task.sample, curriculum=parts.curriculum,
                      evaluator=evaluator or parts.evaluator, rng=rng, device=parts.device,
                      objective=objective or objective_for(task), state=state,
                      best_weights=None if c is None else c["best"],
                      optimizer_state=None if c is None else (c["optimizer"], c["state"].get("optimizer")),
                      averaged_state=None if c is None else c["averaged"], callbacks=callbacks, log=log,
                      # an online task's error is bits above the optimal estimator (ngrams), which stays
                      # above restart_bits (tuned on copy's wrong bits) for thousands of steps: no restarts
                      restarts=False if getattr(task, "online", False) else None, unit=error_unit(task))
    state = trainer.run()
    return _finish(cfg, run_dir, parts, trainer, log)


def _finish(cfg, run_dir, parts: _Parts, trainer: Trainer, log) -> TrainResult:
    """The comparison with the machine (best weights) and the one-line verdict."""
    st, task, model = trainer.state, parts.task, parts.model
    if trainer.best_weights is not None:
        model.load_state_dict(trainer.best_weights)
    if parts.compare_model is not None:                   # compare_memory_rows: the same weights, another memory
        parts.compare_model.load_state_dict(model.state_dict())
        model = parts.compare_model
    rows, table = comparison(model, task, cfg.compare_lengths, parts.device)
    ckpt.write_json(run_dir / "comparison.json", {"lengths": rows})
    verdict = "did not reach the target:"
    if st.converged:
        first = st.converged_step
        verdict = (f"converged at step {first} ({first * cfg.batch_size:,} sequences)"
                   + (f", then polished {st.step - first:,} steps" if st.step > first else "") + ";")
    best = "n/a" if st.best_bits is None else f"{st.best_bits:.4f} {trainer.unit}"
    polished = st.phase is Phase.POLISHING or (st.phase is Phase.FINISHED and cfg.polish_steps > 0)
    where = " on the polishing set" if polished else ""
    log(f"{verdict} best {best}{where} at step {st.best_step}; {st.sequences:,} sequences in all, "
        f"{st.seconds:.0f} s ({st.sequences / max(st.seconds, 1e-9):.0f} seq/s), {_count(st.rollbacks, 'rollback')}, "
        f"{_count(st.restarts, 'restart')}, {_count(st.skipped, 'skipped step')}")
    reference = "the Bayes-optimal estimator" if hasattr(task, "optimal_cost") else "the machine"
    how = ", step by step, the model running free" if task.loss_kind == "trace" else ""
    log(f"comparison with {reference} ({task.name}, 256 fixed sequences per length{how}):")
    log(table)
    return TrainResult(run_dir, st.step, st.sequences, st.seconds, st.best_bits, st.converged, st.rollbacks,
                       st.skipped, rows, st.restarts)


def comparison(model, task, lengths, device) -> tuple[list[dict], str]:
    """The comparison with the machine at `lengths` (None: the task's defaults), 256 fixed sequences
    a length: rows and their table. A trace task is compared step by step
    (`ntm.analysis.trace_compare`)."""
    if task.loss_kind == "trace":
        from ntm.analysis.trace_compare import compare_trace, format_trace_table
        rows = compare_trace(model, task, lengths, samples=256, device=device)
        return rows, format_trace_table(rows)
    rows = compare(model, task, lengths or default_compare_lengths(task), samples=256, device=device)
    return rows, format_table(rows, task.loss_kind)


def _uses_kernels(model, device) -> bool:
    """Whether the model trains through the numba kernels here (an NTM with the numba backend)."""
    from ntm.models import fused
    from ntm.models.ntm import NTM
    return isinstance(model, NTM) and fused.numba_applies(model, torch.zeros(1, device=device, dtype=model.r_bias.dtype))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _rng_state(saved, run_dir):
    """The sampler's saved numpy RNG state, checked. Raises CheckpointError if it is not one."""
    probe = np.random.default_rng(0)
    try:
        probe.bit_generator.state = saved
    except (TypeError, ValueError, KeyError):
        raise CheckpointError(f"{run_dir / 'checkpoint' / 'state.json'}: 'rng' is not a numpy generator state; "
                              "the checkpoint is damaged (start the run again with a new --out)") from None
    return saved


def _load_weights(model, path: Path, device) -> None:
    """Load weights into `model`. Raises CheckpointError naming the file when they do not fit."""
    tensors = ckpt.load_tensors(path, device)
    ckpt.check_tensors(tensors, model.state_dict(), path)
    model.load_state_dict(tensors)


def _check_checkpoint(c: dict, model, where: Path) -> None:
    """Every tensor of a resume checkpoint against the model: names, shapes, dtypes, finite values;
    the optimizer's moments shaped like their parameters.

    Raises:
        CheckpointError: names the file and the tensor.
    """
    want = model.state_dict()
    ckpt.check_tensors(c["model"], want, where / "model.safetensors")
    if c["best"] is not None:
        ckpt.check_tensors(c["best"], want, where / "best.safetensors")
    if c["averaged"] is not None:
        n = c["averaged"].get("n_averaged")
        ckpt.check_tensors(c["averaged"], {**{f"module.{k}": v for k, v in want.items()},
                                          **({"n_averaged": n} if n is not None and n.dim() == 0 else {})},
                           where / "averaged.safetensors")
    shapes = [p.shape for p in model.parameters()]
    for key, t in c["optimizer"].items():
        pid, _, name = key.partition(".")
        ok = pid.isdigit() and int(pid) < len(shapes) and (t.dim() == 0 or t.shape == shapes[int(pid)])
        if not ok or (t.is_floating_point() and not torch.isfinite(t).all()):
            raise CheckpointError(f"{where / 'optimizer.safetensors'}: tensor {key!r} does not fit the model's "
                                  "parameters or is not finite; the checkpoint is damaged")
