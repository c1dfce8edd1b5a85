"""Evaluation protocols a sweep can apply to every cell's config.

``chomsky``: the Chomsky-hierarchy benchmark's (Delétang et al. 2023, "Neural Networks and the
Chomsky Hierarchy", §4): training lengths 1–40 drawn uniformly, Adam, global-norm gradient
clipping 1, and per-token accuracy at lengths 41–500 averaged over lengths. The paper scores
every length 41–500 with 512 sequences each after 1,000,000 steps of batch 128; to fit a CPU this
preset scores lengths `CHOMSKY_EVAL_LENGTHS` with `ntm.training`'s fixed comparison set of
`COMPARE_SAMPLES` sequences per length, and the step budget is the sweep's (`--steps`), stated
beside every table and figure. Only the one-hot symbol tasks take it. The Stack-RNN's stack and
the Tape-RNN's tape get a cell for every symbol of the longest evaluated input (`MEMORY_CELLS`;
none of their weights depends on it): DeepMind's code sets the sizes per experiment (its example:
a tape of 40 cells), and a 40-cell circular tape cannot hold an input of 500. The NTM trains with
its own N (128 rows hold every training input) and is *compared* with that many rows
(`COMPARE_ROWS`: ``compare_memory_rows``): trained with 501 rows from the start, a reverse run
converged 2.8x later (5,300 steps against 1,900) and scored 75.2 % per token against 92.0 % for the
same seed trained with 128 and compared with 501 (bench/results/ntm_chomsky_goal.json; one seed:
docs/sweeps.md). The DNC keeps its recipe's N: its link matrix is N x N per sample and step,
251,001 values at N = 501, too large to train with here; beyond its N the comparison marks the
lengths "exceeds memory".
"""

from __future__ import annotations

from ntm.errors import ConfigError

CHOMSKY_TASKS = ("reverse", "duplicate", "binary_addition", "binary_addition_le")
CHOMSKY_TRAIN_LENGTHS = [1, 40]
CHOMSKY_EVAL_LENGTHS = [41, 60, 100, 200, 300, 500]
COMPARE_SAMPLES = 256          # sequences per length in every run's final comparison (ntm.training.run)
PROTOCOLS = ("chomsky",)
#: the memory models whose memory is a fixed number of cells (no weight depends on it with the
#: NTM's default constant M_0 and one-hot w_0): under the protocol they get one cell per symbol of
#: the longest evaluated input, so that a stack or tape of the defaults' 30 or 40 cells, or the
#: NTM's 128 rows, does not wrap or overflow beyond length 40 (which would score them on their
#: memory size rather than on what they learned); a recipe's own size wins
MEMORY_CELLS = {"stack_rnn": "stack_size", "tape_rnn": "tape_size"}   # ntm.models.MEMORY_SIZE's
                                                                      # (that module loads torch)
#: the memory models trained with their own memory size and compared with one row per symbol of the
#: longest evaluated input (TrainConfig.compare_memory_rows); a recipe's own setting wins
COMPARE_ROWS = ("ntm",)


def check_protocol(protocol: str, task: str) -> None:
    """Raises ConfigError when `task` cannot be scored under `protocol`."""
    if protocol == "chomsky" and task not in CHOMSKY_TASKS:
        raise ConfigError(f"--protocol chomsky takes only the one-hot symbol tasks "
                          f"({', '.join(CHOMSKY_TASKS)}), not {task!r}")


def apply_protocol(cfg, protocol: str) -> None:
    """Set the protocol's fields on `cfg` (a TrainConfig), over the recipe's. The comparison also
    scores the longest training length (40), for the table's errors-per-sequence column."""
    check_protocol(protocol, cfg.task)
    cfg.task_params = {**cfg.task_params, "train_lengths": list(CHOMSKY_TRAIN_LENGTHS)}
    cfg.curriculum, cfg.optimizer, cfg.clip_norm = "uniform", "adam", 1.0
    cfg.compare_lengths = [CHOMSKY_TRAIN_LENGTHS[1], *CHOMSKY_EVAL_LENGTHS]
    cells = max(CHOMSKY_EVAL_LENGTHS) + 1
    if cfg.model in MEMORY_CELLS:
        cfg.model_params = {MEMORY_CELLS[cfg.model]: cells, **cfg.model_params}
    if cfg.model in COMPARE_ROWS and cfg.compare_memory_rows is None:
        cfg.compare_memory_rows = cells


def score_name(protocol: str | None) -> str:
    """The comparison column a protocol scores: per-token accuracy for chomsky, else sequence accuracy."""
    return "symbol_accuracy" if protocol == "chomsky" else "seq_accuracy"
