"""Hypothesis strategies for Turing machines and their inputs, for our tests and our users'.

    from hypothesis import given, strategies as st
    from turing.strategies import machines, inputs

    @given(st.data())
    def test_something(data):
        m = data.draw(machines(max_states=4, tapes=2))
        w = data.draw(inputs(m, max_length=8))
        ...

`machines` draws any valid `Machine` within the bounds: a random partial δ (each (state, read)
pair has a transition or not), halting states of each kind (accept, reject, halt), moves L/R/S,
k tapes. Names are plain ("q0", "q1", … and "_", "0", "1", …) unless given, so that formats with
naming rules (e.g. the busy-beaver text: states A–Z, symbols digits) can ask for theirs.
Examples shrink towards fewer states and symbols, non-halting states and the first of each choice.
"""

from __future__ import annotations

import itertools
from typing import Sequence

from hypothesis import strategies as st

from .machine import MOVES, Machine, build_delta

_HALTING_KINDS = ("accept", "reject", "halt")


@st.composite
def machines(draw, *, max_states: int = 6, max_symbols: int = 4, tapes: int = 1,
             min_states: int = 1, min_symbols: int = 1,
             state_names: Sequence[str] | None = None, symbol_names: Sequence[str] | None = None,
             blank: str = "_", blank_first: bool = False, all_inputs: bool = False,
             halting: Sequence[str] = ("accept", "reject", "halt"), moves: Sequence[str] = MOVES,
             transition_chance: float = 0.8, name: str = "random") -> Machine:
    """A random valid `Machine`.

    Args:
        max_states, min_states: bounds on |Q|.
        max_symbols, min_symbols: bounds on |Γ|, the blank included (min 1: only the blank).
        tapes: k (an int, or a hypothesis strategy of ints to vary it).
        state_names: names to take states from, in order (default "q0", "q1", …); needs
            at least max_states names.
        symbol_names: names for the non-blank symbols, in order (default "0", "1", …).
        blank: the blank symbol (must not be in symbol_names).
        blank_first: put the blank first in Γ (else anywhere, so that code relying on its place
            gets tested), as formats numbering symbols from the blank need.
        all_inputs: Σ = Γ minus the blank (else a random subset of it, possibly empty).
        halting: the kinds of halting state that may be drawn (any of "accept", "reject",
            "halt"; empty: no halting states, so every run ends by "no transition" or the limit).
        moves: the head moves that transitions may use.
        transition_chance: about how often δ(q, a) is defined, for a non-halting q.
        name: the machine's name.

    The start state is mostly a non-halting one (a halting start state halts at once, in 0 steps).

    Raises:
        ValueError: fewer than max_states state names or max_symbols - 1 symbol names.
    """
    if state_names is not None and len(state_names) < max_states:
        raise ValueError(f"{max_states} states need as many names, got {len(state_names)}")
    if symbol_names is not None and len(symbol_names) < max_symbols - 1:
        raise ValueError(f"{max_symbols} symbols need {max_symbols - 1} names besides the blank, "
                         f"got {len(symbol_names)}")
    k = draw(tapes) if isinstance(tapes, st.SearchStrategy) else tapes
    n_states = draw(st.integers(min_states, max_states))
    n_symbols = draw(st.integers(max(1, min_symbols), max_symbols))
    states = tuple(state_names[:n_states]) if state_names is not None else tuple(f"q{i}" for i in range(n_states))
    names = tuple(symbol_names) if symbol_names is not None else tuple(str(i) for i in range(max_symbols))
    others = names[:n_symbols - 1]
    where = 0 if blank_first else draw(st.integers(0, len(others)))  # the blank's code, to the engine
    tape_alphabet = others[:where] + (blank,) + others[where:]
    input_alphabet = others if all_inputs else tuple(a for a in others if draw(st.booleans()))

    # about two thirds of the states do not halt, else most runs would end at once;
    # "" (not halting) comes first so that examples shrink towards it
    kind = st.sampled_from(("",) * 6 + tuple(x for x in _HALTING_KINDS if x in halting))
    kinds = [draw(kind) for _ in states]
    running = [q for q, x in zip(states, kinds) if not x]
    # mostly a running start state; now and then a halting one (it halts in 0 steps)
    start = draw(st.sampled_from(running if running and draw(st.integers(0, 9)) else states))

    symbol = st.sampled_from(tape_alphabet)
    move = st.sampled_from(tuple(moves))
    present = st.integers(0, 99).map(lambda x: x < 100 * transition_chance)
    reads = list(itertools.product(tape_alphabet, repeat=k))
    rows = []
    for q, kind in zip(states, kinds):
        if kind:
            continue
        for read in reads:
            if not draw(present):
                continue
            write = tuple(draw(symbol) for _ in range(k))
            step = tuple(draw(move) for _ in range(k))
            q2 = draw(st.sampled_from(states))
            rows.append((q, _one(read, k), q2, _one(write, k), _one(step, k)))
    return Machine(states=states, input_alphabet=input_alphabet, tape_alphabet=tape_alphabet,
                   blank=blank, start=start, delta=build_delta(rows), tapes=k, name=name,
                   accept={q for q, x in zip(states, kinds) if x == "accept"},
                   reject={q for q, x in zip(states, kinds) if x == "reject"},
                   halt={q for q, x in zip(states, kinds) if x == "halt"})


def _one(x: tuple, k: int):
    """A 1-tape machine reads, writes and moves single values; a k-tape one k-tuples."""
    return x[0] if k == 1 else x


def inputs(machine: Machine, *, min_length: int = 0, max_length: int = 10) -> st.SearchStrategy:
    """Input words of `machine` (tuples of input symbols), of length in [min_length, max_length].
    With an empty input alphabet only the empty word exists (and none if min_length > 0:
    the strategy is then `hypothesis.strategies.nothing()`)."""
    if not machine.input_alphabet:
        return st.just(()) if min_length == 0 else st.nothing()
    return st.lists(st.sampled_from(machine.input_alphabet), min_size=min_length,
                    max_size=max_length).map(tuple)
