"""Dynamic N-grams (Graves, Wayne & Danihelka 2014, "Neural Turing Machines", §4.4): predict the
next bit of a sequence drawn from a 6-gram distribution that is new for every sequence.

Each sequence draws its own lookup table of 2**5 = 32 probabilities, one per context of 5 previous
bits, each from Beta(1/2, 1/2); the first 5 bits are uniform, and every later bit is 1 with the
probability its context's entry gives. A model that predicts well must count, per context, the ones
and zeros it has seen in THIS sequence: the paper's test of memory used as a set of counters.

Example (5-bit contexts, n = 8): bits ``01101001`` -> targets ``1101001`` (bit t + 1 after bit t).

Reference: NOT a Turing machine. The reference is the Bayes-optimal estimator (the paper's
analytic predictor, §4.4): with N0 zeros and N1 ones seen so far after the current context,
P(next bit = 1) = (N1 + 1/2) / (N0 + N1 + 1). `optimal_probabilities` computes it, `optimal_cost`
its cross-entropy in bits per sequence; `ntm compare` reports the model's cost above it.

Encoding (online prediction; `online` is True): one input channel, one output channel, and the input
and target steps are ALIGNED (not the read-then-answer layout of the other tasks):

    input step t   bit t          (t = 0 .. n-2; LEFT-aligned, mask after a shorter sample)
    target step t  bit t + 1      (T_in = T_out = n - 1)

The models read all their inputs before answering, so a batch of this task is never given to
``model(inputs, T_out)`` whole (the model would see the future): `ntm.models.online_logits`
makes the prediction at step t from the prefix of bits 0..t only (the model reads it, then one
step of zero input, and answers once), in O(n) steps for every model but the BiLSTM and the
Tape-RNN with jumps (which take one call per prefix). Predictions of bits 1..4 are scored too; the
estimator gives them 1/2 (they are uniform), so they cost 1 bit each to both.
"""

from __future__ import annotations

import numpy as np
import torch

from . import encoding
from .errors import TaskError
from .task import Batch, Task

BITS = ("0", "1")


# ---------------------------------------------------------------- the generating process
def draw_tables(rng: np.random.Generator, batch: int, context: int = 5) -> np.ndarray:
    """(B, 2**context) float64: P(bit = 1 | context), each entry from Beta(1/2, 1/2) (§4.4).
    Context index: the previous `context` bits read as a binary number, the oldest bit first."""
    return rng.beta(0.5, 0.5, size=(batch, 2 ** context))


def context_index(bits: np.ndarray, context: int = 5) -> np.ndarray:
    """bits (B, n) 0/1 -> (B, n) int64: entry t is the context of bit t (bits t-context .. t-1,
    oldest first), -1 for t < context (no full context yet)."""
    B, n = bits.shape
    idx = np.full((B, n), -1, np.int64)
    if n > context:
        windows = np.lib.stride_tricks.sliding_window_view(bits[:, :-1].astype(np.int64), context, axis=1)
        idx[:, context:] = windows @ (1 << np.arange(context - 1, -1, -1))   # (B, n - context)
    return idx


def generate(rng: np.random.Generator, tables: np.ndarray, n: int, context: int = 5) -> np.ndarray:
    """(B, n) int64 bits: the first `context` uniform, then bit t is 1 with probability
    tables[b, context of bit t]. Vectorised over the batch, one step at a time (bit t needs t - 1)."""
    B = tables.shape[0]
    bits = np.zeros((B, n), np.int64)
    bits[:, :context] = rng.integers(0, 2, size=(B, min(context, n)))
    u = rng.random((B, max(0, n - context)))                                  # one uniform per bit
    weights = 1 << np.arange(context - 1, -1, -1)
    rows = np.arange(B)
    for t in range(context, n):
        ctx = bits[:, t - context:t] @ weights                                 # (B,)
        bits[:, t] = u[:, t - context] < tables[rows, ctx]
    return bits


# ---------------------------------------------------------------- the Bayes-optimal estimator
def optimal_probabilities(bits: np.ndarray, context: int = 5) -> np.ndarray:
    """The Bayes-optimal prediction (§4.4) of every next bit: bits (B, n) -> (B, n - 1) float64,
    entry t = P(bit t+1 = 1 | bits 0..t) = (N1 + 1/2) / (N0 + N1 + 1), where N0 / N1 count the zeros
    / ones that followed the context of bit t+1 earlier in the same sequence (Beta(1/2, 1/2) prior);
    1/2 while bit t+1 has no full context (the first bits are uniform).

    No loop over steps, and O(B·n) memory whatever the context: a stable sort groups the steps by
    (sequence, context) in time order, and counts within each group are cumulative sums."""
    bits = np.asarray(bits, np.int64)
    B, n = bits.shape
    idx = context_index(bits, context)                                        # (B, n)
    key = np.where(idx >= 0, np.arange(B)[:, None] * 2 ** context + idx, -1).ravel()
    order = np.argsort(key, kind="stable")                                    # groups, in time order
    k, b = key[order], bits.ravel()[order]
    pos = np.arange(k.size)
    start = np.maximum.accumulate(np.where(np.r_[True, k[1:] != k[:-1]], pos, 0))   # group's first
    ones = np.cumsum(b) - b                                                    # ones before, globally
    n1, total = np.empty(k.size), np.empty(k.size)
    n1[order], total[order] = ones - ones[start], pos - start                  # within the group
    p = np.where(idx >= 0, (n1.reshape(B, n) + 0.5) / (total.reshape(B, n) + 1.0), 0.5)   # for bit t
    return p[:, 1:]


def cross_entropy_bits(p_one: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cross-entropy in bits per sequence (B,): -sum over masked t of log2 P(targets[b, t]),
    with p_one (B, T) the predicted P(1) and targets, mask (B, T)."""
    p = np.where(np.asarray(targets) > 0.5, p_one, 1.0 - p_one)
    return -(np.log2(np.clip(p, 1e-300, 1.0)) * np.asarray(mask, bool)).sum(1)


def optimal_cost(batch: Batch, context: int = 5) -> np.ndarray:
    """The Bayes-optimal estimator's cost on a batch of this task: (B,) bits per sequence, the
    cross-entropy in bits summed over each sequence's predicted bits (its n - 1 targets)."""
    first = batch.inputs[:, :1, 0].cpu().numpy()                              # (B, 1) bit 0
    targets = batch.targets[:, :, 0].cpu().numpy()                             # (B, T) bits 1..
    bits = np.concatenate([first, targets], 1).round().astype(np.int64)        # (B, T + 1)
    return cross_entropy_bits(optimal_probabilities(bits, context), targets, batch.mask.cpu().numpy())


# ---------------------------------------------------------------- the task
class Ngrams(Task):
    """Dynamic N-grams (NTM paper §4.4): predict each next bit; reference: the Bayes-optimal estimator.

    The length n is the number of bits (the paper's 200); T_in = T_out = n - 1 aligned steps,
    predicted online (module docstring). The target is no machine's output: `machine_label` says
    "Bayes-optimal estimator" and `optimal_cost` gives its bits per sequence.

    Args:
        length: n, the training length (the paper's 200): train_lengths is (length, length).
        context: bits of context (5: a 6-gram, the paper's), 1..10.
        max_length: the longest n accepted (a bound on batch size).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "bce"
    online = True
    machine_label = "none: Bayes-optimal estimator (NTM paper §4.4)"
    input_channels = ("bit t",)
    output_channels = ("bit t+1",)

    def __init__(self, length: int = 200, context: int = 5, max_length: int = 1000, name: str = "ngrams"):
        self.name = name
        for what, value, lo in (("context", context, 1), ("max_length", max_length, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise TaskError(f"{name}: {what} must be an integer >= {lo}, got {value!r}")
        if context > 10:
            raise TaskError(f"{name}: context must be at most 10 (2**context table entries), got {context}")
        self.context, self.max_length, self.min_length = context, max_length, context + 1
        if isinstance(length, bool) or not isinstance(length, int) or not self.min_length <= length <= max_length:
            raise TaskError(f"{name}: length must be an integer in {self.min_length}..{max_length} "
                            f"(bits per sequence, more than the context), got {length!r}")
        self.train_lengths = (length, length)
        table = np.array([[0.0], [1.0]], np.float32)
        self._set_tables(table, table, BITS)

    def input_length(self, n: int) -> int:
        return n - 1

    def output_length(self, n: int) -> int:
        return n - 1

    def specification(self, word):
        """The next bit after each but the last: ``0110 -> 110``."""
        return tuple(word[1:])

    def _draw(self, rng, ns):
        """Tables, then bits (B, max n); sample b keeps its first ns[b] bits."""
        bits = generate(rng, draw_tables(rng, len(ns), self.context), int(ns.max()), self.context)
        words = encoding.words_from_codes(np.array(BITS, dtype=object), bits, ns)
        return words, bits, ns - 1

    def sample(self, rng, batch_size, lengths, *, with_trace=False) -> Batch:
        """A batch (shapes in the module docstring): inputs (B, n-1, 1) bit t, targets (B, n-1, 1)
        bit t+1, both left-aligned and aligned step by step; mask (B, n-1). No machine, no trace."""
        if not isinstance(rng, np.random.Generator):
            raise TaskError(f"{self.name}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        ns = self.check_lengths(batch_size, lengths)
        words, bits, steps = self._draw(rng, ns)
        T = int(steps.max())
        mask = np.arange(T)[None, :] < steps[:, None]                         # (B, T)
        inputs = encoding.gather(self._in_table, np.where(mask, bits[:, :T], encoding.PAD))
        targets = encoding.gather(self._out_table, np.where(mask, bits[:, 1:T + 1], encoding.PAD))
        return Batch(inputs=inputs, input_lengths=torch.from_numpy(steps.astype(np.int64)),
                     targets=targets, mask=torch.from_numpy(mask), lengths=torch.from_numpy(ns),
                     input_symbols=words, output_symbols=[self.specification(w) for w in words],
                     machine_steps=torch.zeros(len(ns), dtype=torch.int64), online=True)

    def describe(self) -> dict:
        """`Task.describe`, plus the reference the targets are scored against."""
        return {**super().describe(), "reference": "Bayes-optimal estimator"}

    def optimal_cost(self, batch: Batch) -> np.ndarray:
        """(B,) bits per sequence of the Bayes-optimal estimator on `batch` (`optimal_cost`)."""
        return optimal_cost(batch, self.context)
