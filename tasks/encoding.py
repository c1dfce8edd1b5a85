"""Symbols to vectors and back: the NTM paper's bit vectors and per-symbol one-hot codes.

A task turns each time step into a *code*, an index into a table whose rows are the step's
vector: row ``table[c]`` is what the network sees (input) or must emit (target) for code c.
Encoding a whole batch is then one gather, ``table[codes]``, and padding is one extra all-zero
row (code ``-1`` reads the last row). This keeps sampling in numpy: no Python loop over steps.

Alignment (the models' interface, ntm/models/inputs.py): inputs are RIGHT-aligned (a short sequence is padded with zero vectors
at the front, so every sample's output phase starts at step T_in), targets LEFT-aligned
(padding after the real output, masked out).

Decoding reverses a target table: bit-vector outputs are thresholded (logit > 0, or probability
> 0.5) and the bit pattern looked up; one-hot outputs take the argmax. A bit pattern that is no
row of the table (e.g. the end marker together with data bits) decodes to its raw bit string
with a ``!`` in front, a string no machine symbol equals, so it always counts as wrong.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .errors import TaskError

PAD = -1  # the code of a padding step: reads the all-zero row appended to every table


# ---------------------------------------------------------------- tables
def bit_table(width: int) -> np.ndarray:
    """(2**width, width) float32: row i is the bits of i, most significant first, matching
    ``turing.library.bit_symbols(width)[i]`` (the W-char string of '0'/'1')."""
    i = np.arange(2 ** width)[:, None]
    return ((i >> np.arange(width - 1, -1, -1)[None, :]) & 1).astype(np.float32)


def one_hot_table(n: int) -> np.ndarray:
    """(n, n) float32 identity: code i is the one-hot vector e_i."""
    return np.eye(n, dtype=np.float32)


def with_pad_row(table: np.ndarray) -> np.ndarray:
    """`table` with an all-zero row appended, so that code ``PAD`` (= -1) encodes as zeros."""
    return np.concatenate([table, np.zeros((1, table.shape[1]), table.dtype)], axis=0)


# ---------------------------------------------------------------- alignment
def pad_codes(seqs: Sequence[Sequence[int]] | np.ndarray, lengths: np.ndarray, T: int,
              right: bool) -> np.ndarray:
    """Code sequences of different lengths as one (B, T) int64 array padded with ``PAD``.

    Args:
        seqs: B code sequences (lists, or a (B, L) array whose row b is valid up to lengths[b]),
            each left-aligned.
        lengths: (B,) the real length of each.
        T: the padded length (>= max(lengths)).
        right: True to right-align (pad at the front: inputs), False to left-align (targets).
    """
    B = len(lengths)
    if isinstance(seqs, np.ndarray):
        src = seqs
    else:
        src = np.full((B, max(1, int(lengths.max(initial=0)))), PAD, np.int64)
        for b, s in enumerate(seqs):
            src[b, :len(s)] = s
    # position of step t inside sample b's own sequence (negative: front padding when right-aligned)
    shift = (T - lengths)[:, None] if right else np.zeros((B, 1), np.int64)
    pos = np.arange(T)[None, :] - shift                                     # (B, T)
    valid = (pos >= 0) & (pos < lengths[:, None])
    out = np.full((B, T), PAD, np.int64)
    rows = np.nonzero(valid)
    out[rows] = src[rows[0], pos[rows]]
    return out


def gather(table_with_pad: np.ndarray, codes: np.ndarray) -> torch.Tensor:
    """``table[codes]`` as a float32 tensor: (B, T) codes -> (B, T, C) vectors (PAD -> zeros)."""
    return torch.from_numpy(np.ascontiguousarray(table_with_pad[codes]))


# ---------------------------------------------------------------- decoding
def bit_pattern_lookup(table: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """An object array of 2**C entries (C = table.shape[1] <= 20): entry p is the name of the
    table row whose bits, read MSB first, equal p, or ``'!' + p's bit string`` when no row does."""
    C = table.shape[1]
    if C > 20:
        raise ValueError(f"bit patterns of {C} channels are too many to tabulate (at most 20)")
    lookup = np.array(["!" + format(p, f"0{C}b") for p in range(2 ** C)], dtype=object)
    weights = 1 << np.arange(C - 1, -1, -1)
    for row, name in zip(table, names):
        lookup[int((row > 0.5).astype(np.int64) @ weights)] = name
    return lookup


def decode_bits(outputs: torch.Tensor, lookup: np.ndarray, mask: torch.Tensor | None,
                probabilities: bool) -> list[tuple[str, ...]]:
    """Bit-vector outputs (B, T, C) -> B symbol tuples (the masked positions of each row).

    Thresholds at 0 for logits, 0.5 for probabilities; targets (0/1) decode either way.
    """
    bits = (outputs > (0.5 if probabilities else 0.0)).detach().cpu().numpy().astype(np.int64)
    C = bits.shape[-1]
    patterns = bits @ (1 << np.arange(C - 1, -1, -1))        # (B, T)
    return _select(lookup[patterns], mask)


def decode_one_hot(outputs: torch.Tensor, names: Sequence[str], mask: torch.Tensor | None
                   ) -> list[tuple[str, ...]]:
    """One-hot (or logit / probability) outputs (B, T, C) -> B symbol tuples via argmax."""
    idx = outputs.detach().argmax(-1).cpu().numpy()           # (B, T)
    return _select(np.asarray(names, dtype=object)[idx], mask)


def _select(symbols: np.ndarray, mask: torch.Tensor | None) -> list[tuple[str, ...]]:
    """Row b of (B, T) `symbols` at the positions where mask[b] is True (all when mask is None)."""
    if mask is None:
        return [tuple(row) for row in symbols.tolist()]
    m = mask.detach().cpu().numpy().astype(bool)
    if m.shape != symbols.shape:
        raise TaskError(f"mask shape {tuple(m.shape)} does not match outputs {tuple(symbols.shape)} (B, T_out)")
    return [tuple(row[mb].tolist()) for row, mb in zip(symbols, m)]


# ---------------------------------------------------------------- words
def words_from_codes(names: np.ndarray, codes: np.ndarray, lengths: np.ndarray) -> list[tuple[str, ...]]:
    """Row b of (B, L) `codes` as a tuple of symbol names (an object array), cut at lengths[b].

    One fancy index for the whole batch, then a list slice per row: the cheapest way to make
    the string words the engine takes."""
    rows = names[codes].tolist()
    return [tuple(r[:n]) for r, n in zip(rows, lengths.tolist())]
