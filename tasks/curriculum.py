"""Length curricula: how the training lengths of each batch are drawn.

A curriculum is separate from the task (as in the Chomsky-hierarchy benchmark): it only knows
the training range [lo, hi] and returns B lengths, which `Task.sample` accepts as is.

    fixed       every sample has length hi (or a given length)
    uniform     each sample uniform in [lo, hi] (the NTM paper: copy 1–20, repeat copy 1–10)
    increasing  each sample uniform in [lo, L(progress)], where L grows linearly from `start`
                (default lo) to hi as progress goes 0 -> 1 (progress = step / total steps)
    adaptive    the same ranges, but L grows by one when the model has mastered [lo, L]: the
                trainer feeds it the bit errors of its training batches (a mastery curriculum, as in
                Zaremba & Sutskever 2014, "Learning to Execute", and Graves et al. 2016's DNC)

``same_length=True`` draws one length per batch (the Chomsky-hierarchy protocol) instead of
one per sample (mixed lengths: inputs right-aligned, targets masked).
"""

from __future__ import annotations

import abc
import math

import numpy as np

from turing.errors import did_you_mean

from .errors import TaskError


class Curriculum(abc.ABC):
    """Draws lengths in [lo, hi] for a batch.

    Args:
        lo, hi: the training range (inclusive), 0 <= lo <= hi (0: the empty input, which trace tasks allow).
        same_length: one length for the whole batch (True) or one per sample (False).
    """
    name: str

    def __init__(self, lo: int, hi: int, *, same_length: bool = False):
        if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)) and 0 <= lo <= hi):
            raise TaskError(f"curriculum range must satisfy 0 <= lo <= hi (ints), got ({lo!r}, {hi!r})")
        self.lo, self.hi, self.same_length = int(lo), int(hi), bool(same_length)

    @abc.abstractmethod
    def bounds(self, progress: float) -> tuple[int, int]:
        """The range [a, b] drawn from at `progress` in [0, 1]."""

    def lengths(self, rng: np.random.Generator, batch_size: int, progress: float = 0.0) -> np.ndarray:
        """(B,) int64 lengths, uniform in `bounds(progress)`.

        Raises:
            TaskError: batch_size < 1 or progress outside [0, 1].
        """
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise TaskError(f"batch size must be an integer >= 1, got {batch_size!r}")
        if not (isinstance(progress, (int, float)) and 0.0 <= progress <= 1.0):
            raise TaskError(f"progress must be in [0, 1], got {progress!r}")
        a, b = self.bounds(float(progress))
        n = rng.integers(a, b + 1, size=1 if self.same_length else batch_size)
        return np.broadcast_to(n, (batch_size,)).astype(np.int64)

    def __repr__(self):
        return f"{type(self).__name__}({self.lo}, {self.hi}, same_length={self.same_length})"


class Fixed(Curriculum):
    """Every sample has one length (default: the top of the range)."""
    name = "fixed"

    def __init__(self, lo: int, hi: int, *, length: int | None = None, same_length: bool = False):
        super().__init__(lo, hi, same_length=same_length)
        self.length = self.hi if length is None else int(length)
        if self.length < 1:
            raise TaskError(f"fixed curriculum length must be >= 1, got {length!r}")

    def bounds(self, progress):
        return self.length, self.length


class Uniform(Curriculum):
    """Each length uniform in [lo, hi], whatever the progress."""
    name = "uniform"

    def bounds(self, progress):
        return self.lo, self.hi


class Increasing(Curriculum):
    """Lengths uniform in [lo, L], L rising linearly from `start` to hi with progress.

    Args:
        start: L at progress 0 (default lo).
    """
    name = "increasing"

    def __init__(self, lo: int, hi: int, *, start: int | None = None, same_length: bool = False):
        super().__init__(lo, hi, same_length=same_length)
        self.start = self.lo if start is None else int(start)
        if not self.lo <= self.start <= self.hi:
            raise TaskError(f"increasing curriculum start must be in [{self.lo}, {self.hi}], got {start!r}")

    def bounds(self, progress):
        top = self.start + math.floor(progress * (self.hi - self.start) + 1e-9)
        return self.lo, min(self.hi, top)


class Adaptive(Increasing):
    """Lengths uniform in [lo, L]; L starts at `start` and rises by one each time the mean error of
    the last `patience` training batches is below `threshold` (bits or symbols per sequence).

    The caller keeps the curriculum's progress (so a resumed run continues where it was) and asks
    `advance(progress, errors)` after each batch. Short sequences first also make the early steps
    cheap: a batch costs as many time steps as its longest sequence.

    Args:
        start: L at the beginning (default: lo + a quarter of the range).
        threshold: mastery means mean errors per sequence below this.
        patience: batches averaged (and the fewest batches spent at each L).
    """
    name = "adaptive"

    def __init__(self, lo: int, hi: int, *, start: int | None = None, threshold: float = 1.0,
                 patience: int = 10, same_length: bool = False):
        if start is None and isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)):
            start = lo + (hi - lo) // 4
        super().__init__(lo, hi, start=start, same_length=same_length)
        if not (threshold > 0 and isinstance(patience, (int, np.integer)) and patience >= 1):
            raise TaskError(f"adaptive curriculum needs threshold > 0 and an integer patience >= 1, "
                            f"got {threshold!r}, {patience!r}")
        self.threshold, self.patience = float(threshold), int(patience)

    def advance(self, progress: float, errors: list[float]) -> tuple[float, bool]:
        """(new progress, whether L rose) given the errors per sequence of the batches drawn at
        `progress` so far (the caller clears the list when L rises)."""
        if self.start == self.hi or len(errors) < self.patience:
            return progress, False
        if sum(errors[-self.patience:]) / self.patience >= self.threshold:
            return progress, False
        top = self.bounds(progress)[1]
        if top >= self.hi:
            return 1.0, False
        return min(1.0, (top + 1 - self.start) / (self.hi - self.start)), True


CURRICULA = {c.name: c for c in (Fixed, Uniform, Increasing, Adaptive)}


def make_curriculum(name: str, train_lengths, **params) -> Curriculum:
    """The curriculum `name` ("fixed", "uniform", "increasing" or "adaptive") over `train_lengths` (lo, hi).

    Raises:
        TaskError: unknown name (listing the known ones) or bad parameters.
    """
    try:
        cls = CURRICULA[name]
    except (KeyError, TypeError):
        raise TaskError(f"no curriculum named {name!r}{did_you_mean(name, CURRICULA)}; known: {', '.join(CURRICULA)}") from None
    try:
        lo, hi = train_lengths
    except (TypeError, ValueError):
        raise TaskError(f"train_lengths must be a pair (lo, hi), got {train_lengths!r}") from None
    try:
        return cls(lo, hi, **params)
    except TypeError as e:
        raise TaskError(f"curriculum {name!r}: {e}") from None
