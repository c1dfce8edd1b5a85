"""Copy (Graves et al. 2014, "Neural Turing Machines", §4.1): read a sequence of bit vectors,
then write it back.

Example (W = 3): machine input ``101 011`` -> machine output ``101 011``.

Encoding (the paper's): W + 1 input channels, W output channels.

    input step t < n   bits of vector t              | delimiter 0
    input step n       zeros                         | delimiter 1      (the end of the input)
    output step t < n  bits of vector t                               (T_in = n + 1, T_out = n)

Machine: ``turing.library.get("copy", width=W)``, two tapes, n + 1 steps.
"""

from __future__ import annotations

import numpy as np

from turing import library

from . import encoding
from .task import Task, check_range, check_width


class Copy(Task):
    """The NTM paper's copy task: W-bit vectors (default 8), trained on lengths 1–20.

    Args:
        width: W, bits per vector (2**W data symbols).
        train_lengths: the paper's 1–20.
        max_length: the longest sequence accepted. The encoding has no limit; this bound keeps
            a batch's tensors and runs small (the paper evaluates up to 120).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "bce"

    def __init__(self, width: int = 8, train_lengths=(1, 20), max_length: int = 1000, name: str = "copy"):
        self.name, self.width = name, check_width(name, width)
        self.train_lengths = check_range(name, "train_lengths", train_lengths)
        self.max_length = int(max_length)
        self._use_library("copy", width=self.width)
        W, V = self.width, 2 ** self.width
        self._delimiter = V                                       # the input code of the delimiter step
        # input code -> machine symbol; the delimiter step has none (it is cut off the word)
        self._names = np.array(library.bit_symbols(W) + ("",), dtype=object)
        bits = encoding.bit_table(W)
        in_table = np.zeros((V + 1, W + 1), np.float32)           # (codes, C_in)
        in_table[:V, :W] = bits
        in_table[V, W] = 1.0
        self._set_tables(in_table, bits, library.bit_symbols(W))
        self.input_channels = tuple(f"bit {i}" for i in range(W)) + ("delimiter",)
        self.output_channels = tuple(f"bit {i}" for i in range(W))

    def input_length(self, n: int) -> int:
        return n + 1

    def output_length(self, n: int) -> int:
        return n

    def specification(self, word):
        return tuple(word)

    def _draw(self, rng, ns):
        L = int(ns.max())
        codes = rng.integers(0, 2 ** self.width, size=(len(ns), L + 1))   # (B, L + 1)
        codes[np.arange(L + 1)[None, :] >= ns[:, None]] = self._delimiter  # step n is the delimiter
        return encoding.words_from_codes(self._names, codes, ns), codes, ns + 1
