"""Repeat copy (Graves et al. 2014, §4.2): read a sequence of bit vectors and a repeat count k,
then write the sequence k times and an end marker.

Example (W = 2, k = 2): machine input ``10 01 # * *`` -> machine output ``10 01 10 01 $``.

Encoding: W + 2 input channels, W + 1 output channels. The machine reads k in unary
(``# *^k``); the network, as in the paper, gets it as one scalar on its own channel.

    input step t < n   bits of vector t | delimiter 0 | count 0
    input step n       zeros            | delimiter 1 | count k / count_scale
    output step        bits             | end marker 0    (n·k steps: the copies)
    last output step   zeros            | end marker 1    (T_in = n + 1, T_out = n·k + 1)

Normalisation of the count: the paper normalises it but does not give the formula; we divide
by ``count_scale`` = 10, the largest training count, so training counts lie in (0, 1] and a
count beyond training reads as > 1 (the scale stays fixed when the evaluation range of k
changes, so a trained model sees the same code for the same k).

Machine: ``turing.library.get("repeat_copy", width=W)``, two tapes, k² + 2nk + 4k + n + 2 steps.
"""

from __future__ import annotations

import numpy as np

from turing import library
from turing.library.alphabets import END, SEPARATOR, STAR

from . import encoding
from .task import Task, check_range, check_width


class RepeatCopy(Task):
    """The NTM paper's repeat copy: lengths n 1–10 and repeat counts k 1–10 (W = 8).

    The task's length is n; each sample's k is drawn uniformly from `repeats`.

    Args:
        width: W, bits per vector.
        repeats: (min, max) of k, drawn uniformly per sample (k = 0 is allowed: output ``$``).
        count_scale: the count channel carries k / count_scale (see the module docstring).
        train_lengths: the paper's n = 1–10.
        max_length: the longest n accepted (a bound on batch size: T_out = n·k + 1).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "bce"

    def __init__(self, width: int = 8, repeats=(1, 10), count_scale: float = 10.0,
                 train_lengths=(1, 10), max_length: int = 200, name: str = "repeat_copy"):
        self.name, self.width = name, check_width(name, width)
        self.repeats = check_range(name, "repeats", repeats, lowest=0)
        self.count_scale = float(count_scale)
        self.train_lengths = check_range(name, "train_lengths", train_lengths)
        self.max_length = int(max_length)
        self._use_library("repeat_copy", width=self.width)
        W, V, K = self.width, 2 ** self.width, self.repeats[1]
        # input codes: 0..V-1 data, V + k the final step with count k (k = 0..K)
        self._count0 = V
        self._names = np.array(library.bit_symbols(W) + ("",) * (K + 1), dtype=object)
        bits = encoding.bit_table(W)
        in_table = np.zeros((V + K + 1, W + 2), np.float32)       # (codes, C_in)
        in_table[:V, :W] = bits
        in_table[V:, W] = 1.0
        in_table[V:, W + 1] = np.arange(K + 1) / self.count_scale
        out_table = np.zeros((V + 1, W + 1), np.float32)          # (codes, C_out): data, then '$'
        out_table[:V, :W] = bits
        out_table[V, W] = 1.0
        self._set_tables(in_table, out_table, library.bit_symbols(W) + (END,))
        self.input_channels = tuple(f"bit {i}" for i in range(W)) + ("delimiter", f"count k/{self.count_scale:g}")
        self.output_channels = tuple(f"bit {i}" for i in range(W)) + ("end marker",)

    def input_length(self, n: int) -> int:
        return n + 1

    def output_length(self, n: int) -> int:
        """n·k + 1 for the largest k of `repeats`."""
        return n * self.repeats[1] + 1

    def specification(self, word):
        """``w # *^k`` -> w repeated k times, then ``$``."""
        word = tuple(word)
        sep = word.index(SEPARATOR)
        return word[:sep] * word[sep + 1:].count(STAR) + (END,)

    def _draw(self, rng, ns):
        B, L = len(ns), int(ns.max())
        ks = rng.integers(self.repeats[0], self.repeats[1] + 1, size=B)     # (B,)
        codes = rng.integers(0, 2 ** self.width, size=(B, L + 1))         # (B, L + 1)
        last = np.arange(L + 1)[None, :] >= ns[:, None]
        codes[last] = np.broadcast_to((self._count0 + ks)[:, None], codes.shape)[last]
        words = encoding.words_from_codes(self._names, codes, ns)
        words = [w + (SEPARATOR,) + (STAR,) * k for w, k in zip(words, ks.tolist())]
        return words, codes, ns + 1
