"""The trainer's rules, each a pure function of (config, state, score) that returns an `Action` or None.

At every evaluation the loop asks them in this order and carries out each action at once
(`Trainer.apply`, the one place that loads weights, rebuilds the optimizer and restarts the moving
average), so a later rule sees the state an earlier one left:

1. `keep_best` / `collapse`: a new best (ties go to the later weights, which trained longer) is
   kept; an error ``collapse_bits`` above the best *and* more than ``collapse_ratio`` times it is a
   collapse (NTM training is known to collapse): roll back to the best weights, lr times
   ``rollback_lr_factor``, not below ``min_lr``.
2. `lr_drop`: once the best error is below ``lr_drop_bits``, multiply lr by ``lr_drop_factor``, once.
3. `advance_phase`: below ``target_bits`` the run has converged; it polishes (``polish_steps`` steps
   from its best weights at ``polish_lr``, a fresh optimizer) or, with ``polish_steps = 0``, is
   finished; a polishing run is finished ``polish_steps`` after converging.
4. `restart`: a memory model whose best error is still above ``restart_bits`` ``restart_steps``
   steps into its attempt starts again from new random weights (at most ``max_restarts`` times).

Measured effects of each rule: bench/README.md, "Training to convergence", "Noise", "Polishing".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from ntm.training.config import TrainConfig
from ntm.training.state import CurriculumState, Phase, TrainState


@dataclass(frozen=True)
class Score:
    """One evaluation: the error (bits or symbols per sequence) and sequence accuracy of the weights
    it counts, whether those were the moving average's, and what the error counts, for messages
    (`evaluation.error_unit`)."""
    bits: float
    seq_accuracy: float
    averaged: bool = False
    unit: str = "bits/seq"


@dataclass(frozen=True)
class Action:
    """What a rule decided. `state` is the state after it; `load` says which weights the model
    takes ("best": the best so far, "fresh": new random ones; either way the optimizer is rebuilt
    at state.lr and the moving average starts again); `keep` marks the scored weights as the new
    best; `set_lr` changes the optimizer's learning rate in place."""
    name: str
    state: TrainState
    load: str | None = None
    keep: bool = False
    set_lr: bool = False
    message: str | None = None


def keep_best(cfg: TrainConfig, state: TrainState, score: Score) -> Action | None:
    """A score at or below the best so far: these weights are the new best."""
    if state.best_bits is None or score.bits <= state.best_bits:
        return Action("keep_best", replace(state, best_bits=score.bits, best_step=state.step), keep=True)
    return None


def collapse(cfg: TrainConfig, state: TrainState, score: Score) -> Action | None:
    """An error that rose far above the best: roll back to the best weights, lower the learning rate."""
    best = state.best_bits
    if best is None or not (score.bits > best + cfg.collapse_bits and score.bits > cfg.collapse_ratio * best):
        return None
    lr = max(cfg.min_lr, state.lr * cfg.rollback_lr_factor)
    return Action("rollback", replace(state, lr=lr, rollbacks=state.rollbacks + 1), load="best",
                  message=f"step {state.step}: error rose to {score.bits:.2f} {score.unit} (best {best:.3f}); "
                          f"rolled back to step {state.best_step}, lr {lr:g}")


def lr_drop(cfg: TrainConfig, state: TrainState, score: Score) -> Action | None:
    """Once the best error is below lr_drop_bits: smaller steps to polish the solution (once)."""
    if cfg.lr_drop_bits is None or state.lr_dropped or state.best_bits is None or not state.best_bits < cfg.lr_drop_bits:
        return None
    return Action("drop_lr", replace(state, lr=state.lr * cfg.lr_drop_factor, lr_dropped=True), set_lr=True)


def advance_phase(cfg: TrainConfig, state: TrainState, score: Score) -> Action | None:
    """searching -> polishing (or finished, with polish_steps = 0) once the best error is below
    target_bits; polishing -> finished polish_steps steps after converging."""
    if state.phase is Phase.SEARCHING and state.best_bits is not None and state.best_bits < cfg.target_bits:
        converged = replace(state, converged_step=state.step)
        if cfg.polish_steps == 0:
            return Action("finish", replace(converged, phase=Phase.FINISHED))
        # from the best weights, smaller steps (a fresh optimizer), scored where the fixed set is thin
        return Action("polish", replace(converged, phase=Phase.POLISHING, lr=cfg.polish_lr, lr_dropped=True),
                      load="best")
    if state.phase is Phase.POLISHING and state.step - state.converged_step >= cfg.polish_steps:
        return Action("finish", replace(state, phase=Phase.FINISHED))
    return None


def restart(cfg: TrainConfig, state: TrainState, score: Score, *, has_memory: bool) -> Action | None:
    """A memory model that has not found its algorithm: start again from new random weights."""
    stalled = (has_memory and cfg.restart_steps is not None and state.restarts < cfg.max_restarts
               and state.step - state.attempt_start >= cfg.restart_steps
               and state.best_bits is not None and state.best_bits > cfg.restart_bits)
    if not stalled:
        return None
    n = state.restarts + 1
    fresh = replace(state, restarts=n, attempt_start=state.step, lr=cfg.lr, best_bits=None, best_step=None,
                    curriculum=CurriculumState(), lr_dropped=False, converged_step=None, phase=Phase.SEARCHING)
    return Action("restart", fresh, load="fresh",
                  message=f"step {state.step}: error still {score.bits:.2f} {score.unit} after {cfg.restart_steps} steps; "
                          f"restarting from new random weights (restart {n} of {cfg.max_restarts})")


def best_or_collapse(cfg: TrainConfig, state: TrainState, score: Score) -> Action | None:
    return keep_best(cfg, state, score) or collapse(cfg, state, score)


def rules(has_memory: bool) -> list:
    """The rules in the order the loop asks them, each ``rule(cfg, state, score) -> Action | None``."""
    return [best_or_collapse, lr_drop, advance_phase, functools.partial(restart, has_memory=has_memory)]
