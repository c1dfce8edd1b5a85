"""What every claim experiment shares: the verdicts, one result row, torch's threads, and a quiet
training run by the project's trainer.

A claim module measures figures (plain numbers in a dict), then a small pure function of those
figures (its ``verdict``) returns one of `VERDICTS` and the reason, following the rule the module
states in ``RULE``. Nothing here knows any claim; `ntm.analysis.claims` (the package) holds the
registry and the runner.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

HOLDS = "holds"
CAVEAT = "holds with a caveat"
FAILS = "does not hold"
NOT_TESTED = "not tested here"
VERDICTS = (HOLDS, CAVEAT, FAILS, NOT_TESTED)


@dataclass
class ClaimResult:
    """One row of the claims table.

    name: the claim's row name (``parameters.lstm_4x``); claim: the claim as tutorials state it;
    experiment: what was run, in one sentence; measured: the key figures, in one line; rule: how the
    verdict follows from the figures; verdict: one of `VERDICTS`; reason: the verdict's why, with
    numbers; figures: every number the verdict and the figure depend on (JSON-able); figure: the
    PNG's file name inside the output directory, or None.
    """
    name: str
    claim: str
    experiment: str
    measured: str
    rule: str
    verdict: str
    reason: str
    figures: dict = field(default_factory=dict)
    figure: str | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def torch_threads(n: int):
    """Run the block with torch on `n` CPU threads, then restore the count. Tiny matrices (H = 64)
    gain nothing from more threads, and on a busy machine the thread pool's waiting costs 10-30×."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_briefly(cfg, *, objective=None, evaluator=None) -> dict:
    """Train by `ntm.training.train` (the project's one trainer) under `cfg`, a `TrainConfig`, in a
    temporary run directory, quietly (no progress bar, no log lines).

    Returns {"rows": every evaluation's metrics row (step, loss, bits_per_seq, skipped, ...),
    "result": the `TrainResult` (its ``comparison``: `ntm.analysis.compare.compare` at
    cfg.compare_lengths on the best weights) or None when the run stopped on NaN/Inf,
    "divergence": the `DivergenceError`'s message or None}.
    """
    from ntm.errors import DivergenceError
    from ntm.training import Callback, train

    class Rows(Callback):
        def __init__(self):
            self.rows = []

        def on_metrics(self, trainer, row):
            self.rows.append(dict(row))

    rows = Rows()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = train(cfg, f"{tmp}/run", progress=False, log=lambda *a, **k: None, objective=objective,
                           evaluator=evaluator, callbacks=(rows,))
            return {"rows": rows.rows, "result": result, "divergence": None}
        except DivergenceError as e:
            return {"rows": rows.rows, "result": None, "divergence": str(e)}
