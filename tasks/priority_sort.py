"""Priority sort (Graves et al. 2014, §4.5): read bit vectors, each with a priority, and write
them back ordered by priority, highest first.

Example (W = 2, P = 4): machine input ``1:10 3:01 1:11 0:00`` -> machine output
``3:01 1:10 1:11 0:00`` -> target ``01 10 11 00`` (ties keep the input order: 10 before 11).

The paper draws each priority uniformly from [-1, 1]. A finite machine needs a finite
alphabet, so we quantise: the priority is one of P levels p = 0..P-1, drawn uniformly, and the
input channel carries the level's value, the centre of its bin of [-1, 1]:

    value(p) = -1 + (2p + 1) / P          (P = 16: -0.9375, -0.8125, ..., 0.9375)

The machine's symbols are the items ``"p:bits"`` (`turing.library.priority_symbols(W, P)`), and
``turing.library.get("sort", width=W, priorities=P, descending=True)`` sorts them stably by p
alone, highest first: the machine does the sorting, ties keep their input order. The target is
the vector part of each output item (the paper outputs only the vectors). W = 8, P = 16 by
default: P·2^W = 4096 items, (2P + 1)(P·2^W + 2) = 135,234 transitions, built once on first use
(1–3 s on a 2-core box, mostly `Machine`'s validation).

Encoding: W + 2 input channels, W output channels.

    input step t < n    bits of vector t | priority value(p_t) | delimiter 0
    input step n        zeros            | 0                   | delimiter 1
    output step t       bits of the t-th item in the sorted order   (T_in = n + 1, T_out = n)

The paper's variant (registry name ``sort_paper``): 20 inputs, and the target is
the first 16 items of the machine's sorted output (``keep=16``: the 16 highest priorities;
the machine sorts all 20, the task keeps its first 16).

Machine steps: (2d + 1)(n + 1) for d distinct priorities among the n inputs.
"""

from __future__ import annotations

import numpy as np

from turing import library

from . import encoding
from .task import Task, check_range, check_width


def level_values(priorities: int) -> np.ndarray:
    """(P,) float32: the value on the priority channel for each level, the centres of P equal
    bins of [-1, 1] (so a uniform level is the paper's uniform priority, quantised)."""
    return (-1.0 + (2 * np.arange(priorities) + 1) / priorities).astype(np.float32)


class PrioritySort(Task):
    """The NTM paper's priority sort with P quantised priority levels.

    Args:
        width: W, bits per vector (the paper's 8).
        priorities: P, the number of priority levels (the machine has 2P + 2 states).
        keep: keep only the first `keep` items of the sorted output (the paper: 16 of 20);
            None keeps all n.
        train_lengths: lengths n for training (the paper always uses 20).
        max_length: the longest n accepted (a bound on the run: O(n·P) steps).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "bce"

    def __init__(self, width: int = 8, priorities: int = 16, keep: int | None = None,
                 train_lengths=(1, 20), max_length: int = 1000, name: str = "sort"):
        self.name, self.width, self.priorities = name, check_width(name, width), int(priorities)
        self.keep = None if keep is None else int(keep)
        self.train_lengths = check_range(name, "train_lengths", train_lengths)
        self.max_length = int(max_length)
        self._use_library("sort", width=self.width, priorities=self.priorities, descending=True)
        W, V, P = self.width, 2 ** self.width, self.priorities
        # input code c = p * V + v is item (p, bits v), as in priority_symbols; P * V is the delimiter
        items = library.priority_symbols(W, P)
        self._names = np.array(items + ("",), dtype=object)
        self._delimiter = P * V
        in_table = np.zeros((P * V + 1, W + 2), np.float32)      # (codes, C_in)
        in_table[:P * V, :W] = np.tile(encoding.bit_table(W), (P, 1))
        in_table[:P * V, W] = np.repeat(level_values(P), V)
        in_table[P * V, W + 1] = 1.0
        self._set_tables(in_table, encoding.bit_table(W), library.bit_symbols(W))
        self.input_channels = tuple(f"bit {i}" for i in range(W)) + ("priority", "delimiter")
        self.output_channels = tuple(f"bit {i}" for i in range(W))

    def input_length(self, n: int) -> int:
        return n + 1

    def output_length(self, n: int) -> int:
        return n if self.keep is None else min(n, self.keep)

    def specification(self, word):
        """Items ``"p:bits"`` -> their bits, ordered by p descending, ties in input order
        (Python's sort is stable), cut to `keep`."""
        items = sorted(word, key=lambda a: -int(a.split(":")[0]))
        return tuple(a.split(":")[1] for a in items)[:self.keep]

    def _project(self, symbol):
        # the machine sorted the items; the target is their vector part (the text after "p:")
        return symbol[symbol.index(":") + 1:] if ":" in symbol else symbol

    def _draw(self, rng, ns):
        B, L = len(ns), int(ns.max())
        V = 2 ** self.width
        codes = rng.integers(0, self.priorities, size=(B, L + 1)) * V + rng.integers(0, V, size=(B, L + 1))
        codes[np.arange(L + 1)[None, :] >= ns[:, None]] = self._delimiter
        return encoding.words_from_codes(self._names, codes, ns), codes, ns + 1
