"""Associative recall (Graves et al. 2014, §4.3): read a list of items, then a query item;
write the item that followed the query in the list.

Example (W = 2, items of 2 vectors): machine input ``# 10 01 # 11 00 # 01 01 ? 11 00 ?``
(three items, query ``11 00``) -> machine output ``01 01`` (the item after ``11 00``).

The paper's setting: items of 3 vectors of 6 bits, 2–6 items, the query drawn among all items
but the last. The task's length n is the number of items. If two items are equal (1 chance in
2^18 per pair), the first match wins: that is what the machine computes, and the specification
says the same.

Encoding: W + 2 input channels, W output channels; one input step per machine symbol.

    '#'   (an item follows)     zeros | item delimiter 1  | query delimiter 0
    '?'   (query starts / ends) zeros | 0                 | query delimiter 1
    a vector                    bits  | 0                 | 0
    output step t < m           bits of vector t of the answer
                                (T_in = n(m + 1) + m + 2, T_out = m, m = vectors per item)

Machine: the library has no associative-recall machine, so `recall_machine` below builds one
(3 tapes, in the library's conventions: tape 0 input, tape 1 work, tape 2 output). It should
move to `turing.library` (see the report that came with it); the task uses it through the same
batched engine as the others.
"""

from __future__ import annotations

import functools

import numpy as np

from turing import Machine, build_delta
from turing.library import bit_symbols

from . import encoding
from .task import Task, check_range, check_width

ITEM, QUERY, BLANK = "#", "?", "_"
HALT = "halt"


# ---------------------------------------------------------------- the machine
def recall_machine(width: int = 6) -> Machine:
    """Associative recall: ``# i_1 # i_2 ... # i_n ? q ?`` -> the item after the first i_j = q.

    Items and the query are words over ``bit_symbols(width)``, of any lengths (the task uses
    items of 3); equal means same length and symbols. When q equals no item but the last, or
    none, the machine halts with an empty output.

    Three tapes, in the library's conventions: tape 0 holds the input, tape 1 a copy of the
    query (work), tape 2 the output. Algorithm:
      ``seek``    tape 0 right to the first '?';
      ``load``    copy q onto tape 1 (both heads right) up to the second '?';
      ``back``    tape 0 left to the blank before the input, then one right (onto the first '#');
      ``rewind``  tape 1 left to the blank before q, then one right (onto q's first symbol);
      ``item``    step over the '#' that opens an item (a '?' there: no item left, halt);
      ``compare`` both heads right while their symbols agree. Tape 0 at the next '#' with tape 1
                  past q is a match: go to ``emit`` ('?' instead: the last item matched, nothing
                  follows, halt). A difference, or one word ending first, goes to ``skip``;
      ``skip``    tape 0 right to the next '#' (then ``rewind``) or '?' (no match: halt);
      ``emit``    copy the next item onto tape 2; halt at the '#' or '?' after it.

    9 states (with halt); 2|Σ|² + 14|Σ| + 16 transitions (9,104 for the 64 symbols of 6 bits),
    most of them in compare and skip, which read a data symbol on each of tapes 0 and 1.
    Steps: linear in the input length |x|: 2|x| + 2|q| + O(1) to load q and come back, at most
    2(|i_j| + |q|) + 3 per item before the match, |answer| + 2 to emit.
    """
    data = bit_symbols(width)
    _, R, L, S = BLANK, "R", "L", "S"
    rows = []
    for a in data + (ITEM,):
        rows.append(("seek", (a, _, _), "seek", (a, _, _), (R, S, S)))
    rows.append(("seek", (QUERY, _, _), "load", (QUERY, _, _), (R, S, S)))
    for a in data:
        rows.append(("load", (a, _, _), "load", (a, a, _), (R, R, S)))
    rows.append(("load", (QUERY, _, _), "back", (QUERY, _, _), (L, S, S)))
    for a in data + (ITEM, QUERY):
        rows.append(("back", (a, _, _), "back", (a, _, _), (L, S, S)))
    rows.append(("back", (_, _, _), "rewind", (_, _, _), (R, L, S)))   # tape 1 onto q's last symbol
    for d in (ITEM, QUERY):   # rewind tape 1 while tape 0 waits on the '#' (or '?': no items)
        rows += [("rewind", (d, b, _), "rewind", (d, b, _), (S, L, S)) for b in data]
        rows.append(("rewind", (d, _, _), "item", (d, _, _), (S, R, S)))
    for b in data + (_,):      # b: tape 1's symbol (the blank once past q)
        rows.append(("item", (ITEM, b, _), "compare", (ITEM, b, _), (R, S, S)))
        rows.append(("item", (QUERY, b, _), HALT, (QUERY, b, _), (S, S, S)))
        rows.append(("skip", (ITEM, b, _), "rewind", (ITEM, b, _), (S, L, S)))
        rows.append(("skip", (QUERY, b, _), HALT, (QUERY, b, _), (S, S, S)))
        for a in data:
            same = a == b
            rows.append(("compare", (a, b, _), "compare" if same else "skip", (a, b, _),
                         (R, R, S) if same else (R, S, S)))
            rows.append(("skip", (a, b, _), "skip", (a, b, _), (R, S, S)))
        if b != _:             # the item ended before q: no match
            rows.append(("compare", (ITEM, b, _), "rewind", (ITEM, b, _), (S, L, S)))
            rows.append(("compare", (QUERY, b, _), HALT, (QUERY, b, _), (S, S, S)))
    rows.append(("compare", (ITEM, _, _), "emit", (ITEM, _, _), (R, S, S)))   # a match
    rows.append(("compare", (QUERY, _, _), HALT, (QUERY, _, _), (S, S, S)))  # the last item matched
    for a in data:
        rows.append(("emit", (a, _, _), "emit", (a, _, a), (R, S, R)))
    rows.append(("emit", (ITEM, _, _), HALT, (ITEM, _, _), (S, S, S)))
    rows.append(("emit", (QUERY, _, _), HALT, (QUERY, _, _), (S, S, S)))
    states = ("seek", "load", "back", "rewind", "item", "compare", "skip", "emit", HALT)
    return Machine(states=states, input_alphabet=data + (ITEM, QUERY),
                   tape_alphabet=data + (ITEM, QUERY, _), blank=_, start="seek",
                   delta=build_delta(rows), halt={HALT}, tapes=3,
                   name=f"recall({len(data)} symbols)")


# ---------------------------------------------------------------- the task
class AssociativeRecall(Task):
    """The NTM paper's associative recall: items of 3 six-bit vectors, 2–6 items.

    Args:
        width: W, bits per vector (the paper's 6).
        item_size: m, vectors per item (the paper's 3).
        train_lengths: numbers of items for training (the paper's 2–6; at least 2, since the
            query is never the last item).
        max_length: the most items accepted (a bound on batch size; the machine is linear).
        name: the registry name (seeds `eval_batch`).
    """
    loss_kind = "bce"
    min_length = 2

    def __init__(self, width: int = 6, item_size: int = 3, train_lengths=(2, 6), max_length: int = 200,
                 name: str = "associative_recall"):
        self.name, self.width, self.item_size = name, check_width(name, width), int(item_size)
        self.train_lengths = check_range(name, "train_lengths", train_lengths, lowest=2)
        self.max_length = int(max_length)
        self._use_machine(f"tasks:recall(width={self.width})", functools.partial(_cached_machine, self.width))
        W, V = self.width, 2 ** self.width
        self._item, self._query = V, V + 1                       # input codes of '#' and '?'
        self._names = np.array(bit_symbols(W) + (ITEM, QUERY), dtype=object)
        bits = encoding.bit_table(W)
        in_table = np.zeros((V + 2, W + 2), np.float32)          # (codes, C_in)
        in_table[:V, :W] = bits
        in_table[V, W] = 1.0
        in_table[V + 1, W + 1] = 1.0
        self._set_tables(in_table, bits, bit_symbols(W))
        self.input_channels = tuple(f"bit {i}" for i in range(W)) + ("item delimiter", "query delimiter")
        self.output_channels = tuple(f"bit {i}" for i in range(W))

    def input_length(self, n: int) -> int:
        return n * (self.item_size + 1) + self.item_size + 2

    def output_length(self, n: int) -> int:
        return self.item_size

    def specification(self, word):
        """Split at '#' and '?', find the first item equal to the query, return the next one."""
        word = tuple(word)
        q0 = word.index(QUERY)
        query = word[q0 + 1:len(word) - 1]
        items, item = [], None
        for a in word[:q0]:
            if a == ITEM:
                item = []
                items.append(item)
            else:
                item.append(a)
        items = [tuple(i) for i in items]
        for j in range(len(items) - 1):
            if items[j] == query:
                return items[j + 1]
        return ()

    def _draw(self, rng, ns):
        B, N, m = len(ns), int(ns.max()), self.item_size
        items = rng.integers(0, 2 ** self.width, size=(B, N, m))          # (B, N, m)
        which = (rng.random(B) * (ns - 1)).astype(np.int64)              # query: one of items 0..n-2
        query = items[np.arange(B), which]                                # (B, m)
        blocks = np.concatenate([np.full((B, N, 1), self._item), items], axis=2).reshape(B, N * (m + 1))
        tail = np.concatenate([np.full((B, 1), self._query), query, np.full((B, 1), self._query)], axis=1)
        steps = ns * (m + 1) + m + 2
        codes = np.concatenate([blocks, np.zeros((B, m + 2), np.int64)], axis=1)  # (B, L)
        # the tail (? q ?) goes right after each sample's own n items
        cols = ns[:, None] * (m + 1) + np.arange(m + 2)[None, :]
        np.put_along_axis(codes, cols, tail, axis=1)
        return encoding.words_from_codes(self._names, codes, steps), codes, steps


_MACHINES: dict = {}


def _cached_machine(width: int) -> Machine:
    """One machine per width: building validates ~9k transitions (~0.1 s)."""
    if width not in _MACHINES:
        _MACHINES[width] = recall_machine(width)
    return _MACHINES[width]
