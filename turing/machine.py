"""`Machine`: a deterministic Turing machine with k tapes, as in Sipser (3rd ed., Def. 3.3).

A machine is the 7-tuple (Q, Σ, Γ, δ, q0, accept, reject) widened in two common ways:
a set of plain *halt* states beside accept/reject (for transducers and busy beavers), and
k ≥ 1 tapes (Sipser §3.2). The head may also stay put (move ``S``), and δ may be partial:
a missing δ(q, a) ends the run with status "no transition".

Symbols and states are non-empty strings. With one tape, δ maps ``(q, a)`` to
``Action(q', b, move)`` where ``a``, ``b`` are symbols and ``move`` is ``"L"``, ``"R"`` or ``"S"``;
with k tapes, ``a``, ``b`` and ``move`` are k-tuples.

The blank belongs to the tape alphabet Γ but never to the input alphabet Σ (Sipser's rule),
so an input word cannot contain a blank: the end of the input is always visible to the machine.

Construction is keyword-only and validated once, by the small ``_check_*`` functions below,
each raising its own error from `turing.errors`. The machine is frozen afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, NamedTuple, Sequence, Union

from . import errors

MOVES = ("L", "R", "S")
#: head displacement of each move
DELTA_HEAD = {"L": -1, "R": 1, "S": 0}

Symbols = Union[str, tuple]  # one symbol (1 tape) or a k-tuple of symbols (k tapes)


class Action(NamedTuple):
    """What δ(q, a) does: go to `next_state`, write `write`, move the head(s) by `move`."""
    next_state: str
    write: Symbols
    move: Symbols


@dataclass(frozen=True, kw_only=True)
class Machine:
    """A validated, immutable deterministic Turing machine.

    Args:
        states: Q, in a fixed order (the order the formats write and the engine numbers them).
        input_alphabet: Σ, the symbols an input word may hold; never contains `blank`.
        tape_alphabet: Γ ⊇ Σ ∪ {blank}, in a fixed order.
        blank: the blank symbol ⊔.
        start: q0.
        delta: δ as a mapping ``(state, read) -> Action`` (or a plain 3-tuple, converted).
        accept, reject, halt: the halting states of each kind (disjoint; no outgoing transitions).
        tapes: k, the number of tapes (default 1).
        name: a label for messages; not part of equality.

    Raises:
        One subclass of `turing.errors.MachineDefinitionError` per broken rule, naming
        the offending state, symbol or transition.
    """

    states: tuple[str, ...]
    input_alphabet: tuple[str, ...]
    tape_alphabet: tuple[str, ...]
    blank: str
    start: str
    delta: Mapping
    accept: frozenset = frozenset()
    reject: frozenset = frozenset()
    halt: frozenset = frozenset()
    tapes: int = 1
    name: str = field(default="", compare=False)

    def __post_init__(self):
        # normalise containers so that equal definitions compare equal, then freeze
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("states", tuple(self.states))
        set_("input_alphabet", tuple(self.input_alphabet))
        set_("tape_alphabet", tuple(self.tape_alphabet))
        for k in ("accept", "reject", "halt"):
            set_(k, frozenset(getattr(self, k)))
        set_("delta", MappingProxyType({key: Action(*act) for key, act in dict(self.delta).items()}))
        for check in _CHECKS:
            check(self)

    # ------------------------------------------------------------ derived views
    @property
    def halting_states(self) -> frozenset:
        """accept ∪ reject ∪ halt."""
        return self.accept | self.reject | self.halt

    def is_halting(self, state: str) -> bool:
        return state in self.accept or state in self.reject or state in self.halt

    def transition(self, state: str, read: Symbols) -> Action | None:
        """δ(state, read), or None when undefined."""
        return self.delta.get((state, read))

    def __hash__(self):
        return hash((self.states, self.tape_alphabet, self.blank, self.start, len(self.delta)))

    def __repr__(self):
        return (f"Machine(name={self.name!r}, states={len(self.states)}, "
                f"tape_alphabet={len(self.tape_alphabet)}, transitions={len(self.delta)}, "
                f"tapes={self.tapes})")


# ---------------------------------------------------------------- validation rules
def _as_tuple(m: Machine, x) -> tuple:
    return (x,) if m.tapes == 1 else tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _check_states(m: Machine):
    if not m.states:
        raise errors.EmptyStatesError("a machine needs at least one state")
    for q in m.states:
        if not isinstance(q, str) or not q:
            raise errors.UndeclaredStateError(f"state {q!r} is not a non-empty string")
    if len(set(m.states)) != len(m.states):
        dup = next(q for q in m.states if m.states.count(q) > 1)
        raise errors.UndeclaredStateError(f"state {dup!r} is declared twice")


def _check_tapes(m: Machine):
    if not isinstance(m.tapes, int) or m.tapes < 1:
        raise errors.TapeCountError(f"tapes must be an integer >= 1, got {m.tapes!r}")


def _check_alphabets(m: Machine):
    for a in m.tape_alphabet:
        if not isinstance(a, str) or not a:
            raise errors.AlphabetError(f"tape symbol {a!r} is not a non-empty string")
    if len(set(m.tape_alphabet)) != len(m.tape_alphabet):
        dup = next(a for a in m.tape_alphabet if m.tape_alphabet.count(a) > 1)
        raise errors.AlphabetError(f"tape symbol {dup!r} is declared twice")
    if m.blank not in m.tape_alphabet:
        raise errors.AlphabetError(f"blank {m.blank!r} is not in the tape alphabet")
    if m.blank in m.input_alphabet:
        raise errors.AlphabetError(f"blank {m.blank!r} may not be an input symbol (Sipser, Def. 3.3)")
    tape = set(m.tape_alphabet)
    for a in m.input_alphabet:
        if a not in tape:
            raise errors.AlphabetError(f"input symbol {a!r} is not in the tape alphabet")


def _check_start(m: Machine):
    if m.start not in m.states:
        raise errors.UndeclaredStateError(f"start state {m.start!r} is not a declared state")


def _check_halting_states(m: Machine):
    seen = set()
    for kind in ("accept", "reject", "halt"):
        for q in getattr(m, kind):
            if q not in m.states:
                raise errors.UndeclaredStateError(f"{kind} state {q!r} is not a declared state")
            if q in seen:
                raise errors.HaltingStateTransitionError(f"state {q!r} is in two halting sets")
            seen.add(q)


def _check_transitions(m: Machine):
    """Each transition in δ's order; the error raised names it and carries it as
    ``err.transition = (state, read)``, so that a file reader can point at its line."""
    symbols, states, halting = set(m.tape_alphabet), set(m.states), m.halting_states
    for (q, read), action in m.delta.items():
        try:
            _check_transition(m, q, read, action, symbols, states, halting)
        except errors.MachineDefinitionError as err:
            err.transition = (q, read)
            raise


def _check_transition(m: Machine, q, read, action, symbols, states, halting):
    q2, write, move = action

    def where():  # built only when raising: δ may have 10^5 entries
        return f"transition δ({q!r}, {read!r}) = ({q2!r}, {write!r}, {move!r})"
    for x in (read, write, move):
        if m.tapes > 1 and (not isinstance(x, tuple) or len(x) != m.tapes):
            raise errors.TapeCountError(f"{where()}: needs a {m.tapes}-tuple for each of read, write, move")
        if m.tapes == 1 and not isinstance(x, str):
            raise errors.TapeCountError(f"{where()}: a 1-tape machine reads, writes and moves single values")
    if q not in states:
        raise errors.UndeclaredStateError(f"{where()}: state {q!r} is not declared")
    if q2 not in states:
        raise errors.UndeclaredStateError(f"{where()}: next state {q2!r} is not declared")
    if q in halting:
        raise errors.HaltingStateTransitionError(f"{where()}: halting state {q!r} may have no transitions")
    for a in _as_tuple(m, read) + _as_tuple(m, write):
        if a not in symbols:
            raise errors.UndeclaredSymbolError(f"{where()}: symbol {a!r} is not in the tape alphabet")
    for d in _as_tuple(m, move):
        if d not in MOVES:
            raise errors.InvalidMoveError(f"{where()}: move {d!r} is not one of L, R, S")


_CHECKS = (_check_states, _check_tapes, _check_alphabets, _check_start, _check_halting_states,
           _check_transitions)


def build_delta(rules: Sequence[tuple]) -> dict:
    """δ from rows ``(state, read, next_state, write, move)``.

    Raises:
        ConflictingTransitionError: two different rows for one (state, read) pair. (A plain dict
        literal cannot catch that, which is why builders and format readers go through here.)
    """
    delta: dict = {}
    for q, read, q2, write, move in rules:
        act = Action(q2, write, move)
        old = delta.get((q, read))
        if old is not None and old != act:
            raise errors.ConflictingTransitionError(
                f"two transitions for δ({q!r}, {read!r}): {tuple(old)} and {tuple(act)}")
        delta[(q, read)] = act
    return delta
