"""The training loop: a `Trainer` over an explicit `TrainState`; rules decide, one method acts.

The trainer sees a sampler (``sample(rng, B, lengths) -> Batch``: a task's), a curriculum (which
lengths to draw; the adaptive one keeps its position in ``state.curriculum``), a model, an
objective (the loss), an evaluator and callbacks (metrics, TensorBoard, progress, checkpoints). It
knows no task, model or run directory by name: `ntm.training.run` assembles those.

One step: draw lengths from the curriculum, sample a batch (the machine computes the targets; with
``draw_ahead``, during the step before, on a background thread: `BatchSource`), the objective's
loss, backward, clip, optimizer step, update the weights' moving average. A step whose loss or
gradient is NaN/Inf is skipped and counted. Every ``eval_every`` steps the model (and the
moving average) is scored, a metrics row goes to the callbacks, and the rules of
`ntm.training.policies` decide what happens next; `apply` carries each decision out.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import replace

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ntm.errors import DivergenceError
from ntm.models import predict
from ntm.training import policies
from ntm.training.checkpoint import clean_float, optimizer_from_files
from ntm.training.optimizer import FlatOptimizer
from ntm.training.objective import MaskedObjective
from ntm.training.policies import Action, Score
from ntm.training.state import CurriculumState, Phase, TrainState


class MovingAverage(AveragedModel):
    """torch's `AveragedModel` as an exponential moving average (decay per step), its update count
    also kept on the host (`count`): `update_parameters` then reads no tensor (torch's reads
    ``n_averaged`` twice a step: on a GPU two host synchronisations a step) and skips the Python around
    its one `torch._foreach_lerp_` (~0.25 ms a batch-32 step here, 1.2 s of the README's main job:
    bench/README.md, "The fifth pass"). The same operation on the same tensors, so the same bits; the
    state dict and checkpoints as `AveragedModel`'s. Models whose parameters and buffers are not all
    floating point of one dtype and device, or that share a tensor between modules, take torch's update."""

    def __init__(self, model, decay: float, weights: dict | None = None):
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.decay = decay
        if weights is not None:
            self.load_state_dict(weights)
        self.count = int(self.n_averaged)                      # the one host read
        self.submodules = _modules(self.module)                 # the tree is fixed; its tensors are read each step
        tensors = _tensors(self.submodules or [])
        self.fast = (self.submodules is not None and len({(t.device, t.dtype) for t in tensors}) == 1
                     and all(t.is_floating_point() for t in tensors))
        self.theirs = (None, None)                             # (model, its submodules), from the last update

    def update_parameters(self, model) -> None:
        """One step of the average: w_avg <- w on its first update (or after `restart`), else
        w_avg + (1 - decay) (w - w_avg), as `AveragedModel.update_parameters` with
        `get_ema_multi_avg_fn`. The tensors are read from the modules' own dictionaries each step
        (a parameter replaced since is seen; `Module.parameters()` walked the tree again: 57 of the
        update's 98 us here, `bench/README.md` "The seventh pass")."""
        if self.theirs[0] is not model:
            self.theirs = (model, _modules(model))
        if not self.fast or self.theirs[1] is None:
            super().update_parameters(model)
        else:
            with torch.no_grad():
                ours, theirs = _tensors(self.submodules), _tensors(self.theirs[1])
                if self.count == 0:
                    for a, b in zip(ours, theirs, strict=True):
                        a.copy_(b)
                else:
                    torch._foreach_lerp_(ours, theirs, 1 - self.decay)
                self.n_averaged += 1
        self.count += 1

    def restart(self) -> None:
        """The average starts again: its next update copies the weights."""
        self.n_averaged.zero_()
        self.count = 0


def _tensors(modules: list) -> list:
    """The parameters, then the buffers, of `modules` (those of `Module.modules()`), from their dictionaries."""
    return ([p for m in modules for p in m._parameters.values() if p is not None]
            + [b for m in modules for b in m._buffers.values() if b is not None])


def _modules(model) -> list | None:
    """`model.modules()`, if `_tensors` of them are `parameters()` then `buffers()` one by one; None
    where modules share a tensor (`parameters()` gives it once)."""
    modules = list(model.modules())
    tensors, expected = _tensors(modules), list(itertools.chain(model.parameters(), model.buffers()))
    return modules if len(tensors) == len(expected) and all(a is b for a, b in zip(tensors, expected)) else None


def moving_average(cfg, model, weights: dict | None = None) -> MovingAverage | None:
    """The exponential moving average of `model`'s weights (decay `ema_decay` per step; None when
    it is 0), starting from `weights` (a state dict with its count "n_averaged") or, at the next
    update, from the model's weights then."""
    return MovingAverage(model, cfg.ema_decay, weights) if cfg.ema_decay else None


class BatchSource:
    """The trainer's batches, drawn with the run's rng: `take(step, at)` gives the batch of `step` at
    curriculum position `at`. With `ahead`, each call also starts drawing the next step's batch (at
    position (step + 1) / steps, a curriculum that moves with the step count) on a background
    thread, so the machine computes the targets while the model trains (`TrainConfig.draw_ahead`:
    by default on a GPU, where the host would draw while the device computes: 4.4 ms for 1,024 copy
    sequences here, `bench/bench_tasks.py`; not on the CPU: on this 2-core box the main job, whose
    sampler takes ~0.8 ms of a ~9.6 ms step, ran at 0.86-0.97x with it, the thread competing with
    the kernels' for the cores and, the machine's engine holding the GIL, with the main thread's
    Python). The rng draws in the same order, so a run gives the same batches to the bit;
    `rng_state` is the state as if nothing had been drawn ahead (what a checkpoint saves, so a
    resumed run repeats too), and a batch drawn for a step that does not follow (in the trainer:
    the step after the last, when a run stops early) is given back: `close` restores the rng. The
    sampler's errors are raised by the `take` that wanted the batch (tests/test_train.py)."""

    def __init__(self, cfg, curriculum, sample, rng, ahead: bool):
        self.cfg, self.curriculum, self.sample, self.rng, self.ahead = cfg, curriculum, sample, rng, ahead
        self.pending = None                                   # (future, rng state before it, (step, at))
        self.pool = None

    def draw(self, at):
        lengths = self.curriculum.lengths(self.rng, self.cfg.batch_size, at)
        return self.sample(self.rng, self.cfg.batch_size, lengths)

    def take(self, step: int, at):
        """The batch of `step` at position `at` (on the CPU; the trainer moves it)."""
        pending = self.pending
        if pending is not None and pending[2] == (step, at):
            self.pending = None
            batch = pending[0].result()
        else:
            self.settle()
            batch = self.draw(at)
        if self.ahead and step + 1 < self.cfg.steps:
            if self.pool is None:
                from concurrent.futures import ThreadPoolExecutor
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="ntm-batches")
            nxt, state = (step + 1) / self.cfg.steps, self.rng.bit_generator.state   # the state first:
            self.pending = (self.pool.submit(self.draw, nxt), state, (step + 1, nxt))   # the thread draws at once
        return batch

    @property
    def rng_state(self) -> dict:
        """The rng's state as if no batch had been drawn ahead."""
        return self.pending[1] if self.pending is not None else self.rng.bit_generator.state

    def settle(self) -> None:
        """Give back a batch drawn ahead: wait for it, then restore the rng's state from before it."""
        if self.pending is not None:
            future, state, _ = self.pending
            self.pending = None
            future.exception()                                # waits; its error belongs to no step
            self.rng.bit_generator.state = state

    def close(self) -> None:
        """`settle`, then end the background thread (a later `take` starts another)."""
        self.settle()
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


class Callback:
    """What happens around the loop; every hook is optional."""

    def on_start(self, trainer: "Trainer") -> None: ...
    def on_metrics(self, trainer: "Trainer", row: dict) -> None: ...        # an evaluation's row, before the rules
    def on_new_best(self, trainer: "Trainer") -> None: ...                  # trainer.best_weights changed
    def on_evaluated(self, trainer: "Trainer", score: Score) -> None: ...   # after the rules acted
    def on_step_end(self, trainer: "Trainer") -> None: ...
    def on_end(self, trainer: "Trainer") -> None: ...                       # the loop ended normally
    def close(self) -> None: ...                                            # always, last


class Trainer:
    """Train `model` under `cfg` (a `TrainConfig`). Resume by passing the saved `state`,
    `best_weights`, `optimizer_state` ((tensors, meta) from `checkpoint.optimizer_to_files`) and
    `averaged_state`, and the `rng` (numpy Generator) in its saved state.

    make_model: a fresh, randomly initialised model of the same kind (for restarts).
    restarts: whether the restart rule applies (None: to memory models, ``model.has_memory``).
    """

    def __init__(self, cfg, model, *, make_model, sample, curriculum, evaluator, rng, device,
                 objective=None, state: TrainState | None = None, best_weights: dict | None = None,
                 optimizer_state=None, averaged_state: dict | None = None, callbacks=(), log=print,
                 restarts: bool | None = None, unit: str = "bits/seq"):
        self.cfg, self.model, self.make_model = cfg, model, make_model
        self.unit = unit                       # what the evaluator's error counts (`evaluation.error_unit`)
        self.sample, self.curriculum, self.evaluator = sample, curriculum, evaluator
        self.rng, self.device, self.callbacks, self.log = rng, device, list(callbacks), log
        self.objective = objective if objective is not None else MaskedObjective("bce")
        self.state = state if state is not None else TrainState(lr=cfg.lr)
        self.best_weights = best_weights
        self.optimizer = FlatOptimizer(cfg, model.parameters(), self.state.lr)
        if optimizer_state is not None:
            optimizer_from_files(self.optimizer, *optimizer_state)
        self.averaged = moving_average(cfg, model, averaged_state)
        self.adaptive = callable(getattr(curriculum, "advance", None))   # it moves on with mastery
        restarts = getattr(model, "has_memory", False) if restarts is None else restarts
        self.rules = policies.rules(has_memory=restarts)
        self.max_length = None                                            # the curriculum's, last step
        # the next step's batch drawn during this one (`draw_ahead`), where the curriculum's position
        # is known ahead
        ahead = cfg.draw_ahead if cfg.draw_ahead is not None else torch.device(device).type != "cpu"
        self.batches = BatchSource(cfg, curriculum, sample, rng, ahead=ahead and not self.adaptive)

    # ------------------------------------------------------------ the loop

    def run(self) -> TrainState:
        """Train until the step limit, the time budget or the finished phase. Returns the state.

        Raises:
            DivergenceError: NaN/Inf in far more steps than a run recovers from (names the step).
        """
        t_start = time.perf_counter() - self.state.seconds
        self.model.train()
        try:
            for cb in self.callbacks:
                cb.on_start(self)
            while self.state.step < self.cfg.steps and self.state.phase is not Phase.FINISHED:
                if self.cfg.max_seconds is not None and time.perf_counter() - t_start > self.cfg.max_seconds:
                    self.log(f"stopping at the time budget ({self.cfg.max_seconds:g} s)")
                    break
                self.train_step()
                if self.state.step % self.cfg.eval_every == 0 or self.state.step == self.cfg.steps:
                    self.evaluate(t_start)
                for cb in self.callbacks:
                    cb.on_step_end(self)
            self.state.seconds = time.perf_counter() - t_start
            for cb in self.callbacks:
                cb.on_end(self)
        finally:
            self.batches.close()
            for cb in self.callbacks:
                cb.close()
        return self.state

    def train_step(self) -> None:
        """One optimizer step on a fresh batch (skipped, and counted, if the loss or gradient is not finite)."""
        cfg, st = self.cfg, self.state
        at = st.curriculum.progress if self.adaptive else st.step / cfg.steps
        batch = self.batches.take(st.step, at).to(self.device)
        logits = predict(self.model, batch)
        loss = self.objective.loss(logits, batch)
        self.optimizer.zero_grad()
        loss.backward()
        norm = self.optimizer.clip(cfg.clip_value, cfg.clip_norm or None)
        values = [loss.detach(), norm.to(loss.dtype)]
        if self.adaptive:                           # the batch's mean error, for the curriculum below
            values.append(self.objective.errors(logits, batch).float().mean().to(loss.dtype))
        # all in one host synchronisation: on a GPU the step waits once, not once for each value
        # (tests/test_host_sync.py)
        loss_value, norm_value, *error = torch.stack(values).tolist()
        if math.isfinite(loss_value) and math.isfinite(norm_value):
            self.optimizer.step()
            if self.averaged is not None:
                self.averaged.update_parameters(self.model)
            st.loss_sum += loss_value
            st.loss_n += 1
        else:
            st.skipped += 1
            if st.skipped > 100 + st.step // 10:
                raise DivergenceError(f"step {st.step}: loss or gradient is NaN/Inf in {st.skipped} steps; "
                                      "try a lower --lr")
        if self.adaptive:             # the curriculum moves on when the training batches show mastery
            recent = st.curriculum.errors[-self.curriculum.patience:] + error
            progress, rose = self.curriculum.advance(st.curriculum.progress, recent)
            st.curriculum = CurriculumState(progress, [] if rose else recent)
        st.step += 1
        st.sequences += cfg.batch_size
        self.max_length = self.curriculum.bounds(at)[1]

    def score(self) -> Score:
        """Score the weights and their moving average; the better counts (ties: the weights)."""
        polishing = self.state.phase is Phase.POLISHING
        bits, acc = self.evaluator(self.model, polishing)
        if self.averaged is not None and self.averaged.count > 0:
            avg_bits, avg_acc = self.evaluator(self.averaged.module, polishing)
            if avg_bits < bits:
                return Score(avg_bits, avg_acc, averaged=True, unit=self.unit)
        return Score(bits, acc, unit=self.unit)

    def evaluate(self, t_start: float) -> None:
        """Score, log a metrics row, then let each rule decide and carry its action out."""
        st = self.state
        score = self.score()
        st.seconds = time.perf_counter() - t_start
        row = {"step": st.step, "sequences": st.sequences,
               "loss": clean_float(st.loss_sum / max(st.loss_n, 1)), "bits_per_seq": score.bits,
               "seq_accuracy": score.seq_accuracy, "seconds": round(st.seconds, 3), "lr": st.lr,
               "rollbacks": st.rollbacks, "restarts": st.restarts, "skipped": st.skipped,
               "max_length": self.max_length, "averaged": score.averaged,
               "polishing": st.phase is Phase.POLISHING}
        for cb in self.callbacks:
            cb.on_metrics(self, row)
        st.loss_sum, st.loss_n = 0.0, 0
        for rule in self.rules:
            action = rule(self.cfg, self.state, score)
            if action is not None:
                self.apply(action, score)
        for cb in self.callbacks:
            cb.on_evaluated(self, score)

    # ------------------------------------------------------------ the one place that acts

    def apply(self, action: Action, score: Score) -> None:
        """Carry out a rule's action: the only place that loads weights, rebuilds the optimizer and
        restarts the moving average."""
        self.state = action.state
        if action.keep:
            scored = self.averaged.module if score.averaged else self.model
            self.best_weights = {k: v.detach().clone() for k, v in scored.state_dict().items()}
            for cb in self.callbacks:
                cb.on_new_best(self)
        if action.load is not None:
            if action.load == "fresh":     # a restart: seeded by the restart count, so it repeats
                torch.manual_seed(self.cfg.seed + 1_000_003 * self.state.restarts)
                weights, self.best_weights = self.make_model().state_dict(), None
            else:
                weights = self.best_weights
            self.model.load_state_dict(weights)
            if self.averaged is not None:            # the average starts again here: its next
                self.averaged.restart()              # update copies the weights
            self.optimizer = FlatOptimizer(self.cfg, self.model.parameters(), self.state.lr)
        if action.set_lr:
            for group in self.optimizer.param_groups:
                group["lr"] = self.state.lr
        if action.message:
            self.log(action.message)
        if action.name == "polish":
            self._start_polishing()

    def _start_polishing(self) -> None:
        """The best weights, just loaded, are the polishing set's score to beat."""
        cfg, st = self.cfg, self.state
        bits = self.evaluator(self.model, polishing=True)[0]
        self.state = replace(st, best_bits=bits, best_step=st.step)
        steps = min(cfg.polish_steps, cfg.steps - st.step)
        limit = f" (of {cfg.polish_steps:,}: the step limit is {cfg.steps:,})" if steps < cfg.polish_steps else ""
        length, samples = self.evaluator.polish_set[0]
        self.log(f"step {st.step}: converged; polishing {steps:,} steps{limit} at lr {cfg.polish_lr:g}, "
                 f"scored on {samples} sequences of length {length} ({bits:.4f} {self.unit} now)")
