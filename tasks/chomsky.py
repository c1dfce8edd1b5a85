"""Symbol tasks in the style of the Chomsky-hierarchy benchmark (Delétang et al. 2023, "Neural
Networks and the Chomsky Hierarchy"): one-hot symbols, per-token accuracy over the masked
output, trained on lengths 1–40 and evaluated on 41–500.

    reverse           ``110 -> 011``            (deterministic context-free: reverse_string)
    duplicate         ``101 -> 101101``         (context-sensitive: duplicate_string)
    binary_addition   ``101+11 -> 1000``        (context-sensitive: binary_addition, MSB first)
    binary_addition_le ``001+01101 -> 01011$``  (the benchmark's form: LSB first, an end token)

Encoding: one input channel per input symbol, one output channel per output symbol, one step
per symbol (T_in = n, the input word's length); no delimiter: the output phase is the first
step with an all-zero input. Targets are what the library's machines write:

- binary addition is MSB first without leading zeros (the library's ``binary_add``), so the
  output length varies with the sum and the mask marks it. The benchmark writes operands and sum
  little-endian and ends the sum with a termination token: that is ``binary_addition_le`` (the
  library's ``binary_add_le``), scored up to and including the token, as the benchmark's mask.
- A length n counts the '+' (as in the benchmark): for n >= 3 both operands are non-empty,
  |a| uniform in 1..n-2 and |b| = n-1-|a|; for n = 1, 2 one operand is empty (the library's
  machine reads an empty operand as 0), so lengths 1–40 all exist. Operand bits are uniform
  (leading zeros included).
"""

from __future__ import annotations

import numpy as np

from turing.library.alphabets import END, PLUS

from . import encoding
from .task import Task, check_range


class SymbolTask(Task):
    """A one-hot symbol task whose machine is ``turing.library.get(*machine)``.

    Args:
        machine: (library name, parameters).
        input_alphabet, output_alphabet: the symbols of the input and output channels, in order.
        train_lengths: the benchmark's 1–40.
        max_length: the longest input accepted (the benchmark evaluates up to 500).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "ce"

    def __init__(self, machine: tuple[str, dict], input_alphabet, output_alphabet, train_lengths,
                 max_length, name):
        self.name = name
        self._use_library(machine[0], **machine[1])
        self.train_lengths = check_range(name, "train_lengths", train_lengths, lowest=self.min_length)
        self.max_length = int(max_length)
        self.input_alphabet, self.output_alphabet = tuple(input_alphabet), tuple(output_alphabet)
        self._names = np.array(self.input_alphabet, dtype=object)
        self._set_tables(encoding.one_hot_table(len(self.input_alphabet)),
                         encoding.one_hot_table(len(self.output_alphabet)), self.output_alphabet)
        self.input_channels = tuple(f"symbol {a!r}" for a in self.input_alphabet)
        self.output_channels = tuple(f"symbol {a!r}" for a in self.output_alphabet)

    def input_length(self, n: int) -> int:
        return n

    def _draw(self, rng, ns):
        # uniform symbols; code i is input_alphabet[i]
        codes = rng.integers(0, len(self.input_alphabet), size=(len(ns), int(ns.max())))
        return encoding.words_from_codes(self._names, codes, ns), codes, ns


class Reverse(SymbolTask):
    """Reverse a word: ``110 -> 011``.

    Machine: library ``reverse``, 2n + 2 steps."""

    def __init__(self, alphabet=("0", "1"), train_lengths=(1, 40), max_length: int = 1000,
                 name: str = "reverse"):
        alphabet = tuple(alphabet)
        super().__init__(("reverse", {"alphabet": alphabet}), alphabet, alphabet,
                         train_lengths, max_length, name)

    def output_length(self, n: int) -> int:
        return n

    def specification(self, word):
        return tuple(word)[::-1]


class Duplicate(SymbolTask):
    """Duplicate a word: ``101 -> 101101``.

    Machine: library ``duplicate``, 3n + 3 steps."""

    def __init__(self, alphabet=("0", "1"), train_lengths=(1, 40), max_length: int = 1000,
                 name: str = "duplicate"):
        alphabet = tuple(alphabet)
        super().__init__(("duplicate", {"alphabet": alphabet}), alphabet, alphabet,
                         train_lengths, max_length, name)

    def output_length(self, n: int) -> int:
        return 2 * n

    def specification(self, word):
        return tuple(word) * 2


class BinaryAddition(SymbolTask):
    """Add two binary numbers, MSB first: ``101+11 -> 1000``.

    Machine: library ``binary_add``, at most 2n + 2 steps. Input symbols 0, 1, +; output symbols
    0, 1; see the module docstring for how a length n is split between the operands."""

    machine_name, output_alphabet = "binary_add", ("0", "1")      # the LSB-first form overrides both

    def __init__(self, train_lengths=(1, 40), max_length: int = 1000, name: str = "binary_addition"):
        super().__init__((self.machine_name, {}), ("0", "1", PLUS), self.output_alphabet,
                         train_lengths, max_length, name)

    def output_length(self, n: int) -> int:
        """max(|a|, |b|) + 1 <= n - 1 digits (1 for n <= 2)."""
        return max(1, n - 1)

    def specification(self, word):
        """int(a, 2) + int(b, 2) in binary, no leading zeros ("0" for zero)."""
        text = "".join(word)
        a, b = text.split(PLUS)
        return tuple(format(int(a or "0", 2) + int(b or "0", 2), "b"))

    def _draw(self, rng, ns):
        B, L = len(ns), int(ns.max())
        # |a|: uniform in 1..n-2 when n >= 3 (both operands non-empty), else in 0..n-1
        lo = np.where(ns >= 3, 1, 0)
        hi = np.where(ns >= 3, ns - 2, ns - 1)
        len_a = lo + (rng.random(B) * (hi - lo + 1)).astype(np.int64)          # (B,)
        codes = rng.integers(0, 2, size=(B, L))                               # bits
        codes[np.arange(B), len_a] = 2                                        # the '+'
        return encoding.words_from_codes(self._names, codes, ns), codes, ns


class BinaryAdditionLE(BinaryAddition):
    """Add two binary numbers, LSB first, and mark the sum's end: ``001+01101 -> 01011$``.

    The Chomsky-hierarchy benchmark's form of the task (Delétang et al. 2023, its
    ``tasks/cs/binary_addition.py``): operands and sum little-endian, the sum without high-order
    zeros, then a termination token ('$' here, its token 2), scored up to and including that token.
    Least significant bit first, each output bit needs only the bits of the same place and the
    carry so far; `BinaryAddition` (MSB first) makes the first output bit depend on a carry from
    the far end of both operands. Machine: library ``binary_add_le``, at most
    2|a| + 2 max(|a|, |b|) + 6 steps. Input symbols 0, 1, +; output symbols 0, 1, $; the length
    split as in `BinaryAddition` (the benchmark's own lengths 1 and 2 have no '+'; here they have
    one and an empty operand, and its operands are drawn nonzero, here their bits are uniform)."""

    machine_name, output_alphabet = "binary_add_le", ("0", "1", END)

    def __init__(self, train_lengths=(1, 40), max_length: int = 1000, name: str = "binary_addition_le"):
        super().__init__(train_lengths, max_length, name)

    def output_length(self, n: int) -> int:
        """max(|a|, |b|) + 1 <= n - 1 digits and the end mark (2 steps for n <= 2)."""
        return max(2, n)

    def specification(self, word):
        """int(a) + int(b), each read LSB first, written LSB first without high zeros, then '$'."""
        a, b = "".join(word).split(PLUS)
        total = int(a[::-1] or "0", 2) + int(b[::-1] or "0", 2)
        return (*format(total, "b")[::-1], END)
