"""Shrink a universal counterexample's machine, not only its input.

`ntm.analysis.verify.search` shrinks the (length, seed) pair that stands for one random machine and
its input (`ntm.analysis.universal_compare.check_universal_example`), so the machine it reports is
whatever that pair draws: often with entries and states its run never reaches. `shrink_machine`
takes a machine and an input on which the model leaves the machine and makes them smaller, one
candidate at a time, keeping a candidate only if the model, running free, still leaves the machine
on it, at the same (state, symbol) entry and in one of the decisions that differed on the original
(so it follows one fault of the model, not whichever it meets first), and it is no larger in any
measure (`Size`; a candidate that keeps nothing smaller is never made). The oracle is the library's engine: every
candidate is run by `tasks.universal.machine_batch` (the engine's traced run, as in training) and
compared step by step by `ntm.analysis.trace_compare.free_run`. The candidates, in this order:

1. a shorter input (the shorter prefixes, shortest first, then the words one symbol shorter);
2. the table entries the run does not use up to the first diverging step (inclusive: the entry
   exercised there) made undefined: all at once, then one at a time (a model's lookup reads every
   row a little, so some can go where all cannot). An undefined entry runs as its
   completion (`tasks.universal.complete`: write what was read, stay, halt), so the model still
   reads a row for it, a halting one; the machine's run up to the divergence is unchanged;
3. the states no longer reachable from the start through the defined entries removed, with their
   rows (the machine's run does not change at all): all at once, then one at a time.

The passes repeat until none finds a smaller machine, or `max_calls` model runs are spent. States
keep their names and their codes (a learned model's decisions can depend on the codes, so a shrunk
machine under other codes need not exercise the same disagreement), and the report
(`ShrunkCounterexample`) prints them, so the counterexample can be rerun exactly. Deterministic: the
candidates' order is fixed and the codes given, so no random number is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ntm.analysis.trace_compare import free_run
from ntm.analysis.universal_compare import first_disagreement, table_text
from ntm.errors import ConfigError

#: model runs a shrink may spend by default (each one is a free run of one machine to its bound)
MAX_CALLS = 64


class Size(NamedTuple):
    """What a shrink makes smaller: the machine's non-halting states, its defined table entries, the
    entries its run uses up to the first diverging step, the input's length."""
    states: int
    entries: int
    used: int
    input_length: int


@dataclass(frozen=True)
class ShrunkCounterexample:
    """A machine and an input on which the model leaves the machine, shrunk (module docstring).

    Attributes:
        machine: the shrunk `turing.Machine` (partial: its undefined entries halt, `complete`).
        input_symbols: the input word.
        codes: state name -> the code the model was given for it (halting states: 0).
        step: the first diverging step (None: every decision agreed, the final tape did not).
        what: the decisions that differ there ("stop", "state", "write", "move"; or "tape").
        machine_step, model_step: both configurations and transitions at `step` (or both final tapes).
        used: the (state, symbol) entries the run uses up to `step` (inclusive), sorted.
        undefined: the (state, symbol) entries left undefined, sorted.
        size, original: the shrunk and the original `Size`.
        calls: model runs spent (the original's included).
    """
    machine: object
    input_symbols: tuple
    codes: dict
    step: int | None
    what: tuple
    machine_step: dict
    model_step: dict
    used: tuple
    undefined: tuple
    size: Size
    original: Size
    calls: int

    def __str__(self) -> str:
        where = f"step {self.step}" if self.step is not None else "the final tape"
        sizes = ", ".join(f"{k.replace('_', ' ')} {a} -> {b}"
                          for k, a, b in zip(Size._fields, self.original, self.size))
        used = set(self.used)
        rows = [line + ("   (used)" if (q, a) in used else "")
                for line, (q, a) in zip(table_text(self.machine).split("\n"), sorted(self.machine.delta))]
        live = [q for q in self.machine.states if not self.machine.is_halting(q)]
        lines = [f"shrunk machine ({sizes}; {self.calls} model runs): the model leaves it at {where} "
                 f"({', '.join(self.what)})",
                 f"  input:   {' '.join(self.input_symbols) or '(empty)'}"]
        lines += [f"  {who + ':':8s} " + "  ".join(f"{k} {v}" for k, v in c.items())
                  for who, c in (("machine", self.machine_step), ("model", self.model_step))]
        lines += [f"  table (state read -> write move next; start {self.machine.start}):", *rows]
        if self.undefined:
            lines.append("  undefined (write what is read, stay, halt): "
                         + ", ".join(f"{q} {a}" for q, a in self.undefined))
        lines.append("  state codes: " + ", ".join(f"{q} {self.codes[q]}" for q in live))
        return "\n".join(lines)


# ---------------------------------------------------------------- one candidate
class _Run(NamedTuple):
    """A candidate and what the oracle said about it."""
    machine: object
    word: tuple
    batch: object             # its `UniversalBatch` of one
    run: object               # the model's `FreeRun` on it (recorded)
    disagrees: bool
    what: tuple               # the decisions that differ at the first divergence (`first_disagreement`)
    used: frozenset           # the (state, symbol) entries used up to the divergence
    entry: tuple | None       # the entry at the first diverging step (None: a stop or tape disagreement)


def _run(model, machine, word: tuple, codes: dict, max_steps: int, code_bits: int) -> _Run:
    """Run the machine (the engine) and the model (free) on `word`, the states given `codes`."""
    from tasks.universal import HALT_CODE, machine_batch
    given = [HALT_CODE if machine.is_halting(q) else codes[q] for q in machine.states]
    batch = machine_batch([machine], [tuple(word)], np.random.default_rng(0), max_steps, "trace", code_bits,
                          codes=[given])              # the given codes overwrite the rng's draw: it decides nothing
    r = free_run(model, batch, record=True)
    found = first_disagreement(batch, r)
    used, entry = _entries(batch, int(r.first_divergence[0]))
    return _Run(machine, tuple(word), batch, r, found is not None, () if found is None else found[1], used, entry)


def _entries(batch, first: int) -> tuple[frozenset, tuple | None]:
    """(the (state, symbol) entries sample 0's run uses at steps 0..first, all its steps if first < 0;
    the entry at step first, None if first < 0 or first is the machine's last configuration, its stop)."""
    m = batch.machines[0]
    names = {int(c): q for q, c in zip(m.states, batch.codes[0]) if c >= 0 and not m.is_halting(q)}
    symbols = (m.blank,) + tuple(a for a in m.tape_alphabet if a != m.blank)    # cell class -> symbol
    steps = int(batch.steps[0])
    entry = lambda t: (names[int(batch.state[0, t])], symbols[int(batch.read[0, t, 0])])  # noqa: E731
    end = steps if first < 0 else min(first + 1, steps)
    return frozenset(entry(t) for t in range(end)), entry(first) if 0 <= first < steps else None


def _size(c: _Run) -> Size:
    live = sum(not c.machine.is_halting(q) for q in c.machine.states)
    return Size(live, len(c.machine.delta), len(c.used), len(c.word))


# ---------------------------------------------------------------- the candidates
def _shorter_words(c: _Run):
    """Shorter prefixes, shortest first, then the words one symbol shorter (no word twice)."""
    seen = set()
    for w in [c.word[:k] for k in range(len(c.word))] + [c.word[:i] + c.word[i + 1:] for i in range(len(c.word))]:
        if w not in seen:
            seen.add(w)
            yield c.machine, w


def _without_unused(c: _Run):
    """The machine with the entries the run does not use undefined: all at once, then one at a time."""
    unused = sorted(set(c.machine.delta) - c.used)
    if len(unused) > 1:
        yield _drop_entries(c.machine, unused), c.word
    for e in unused:
        yield _drop_entries(c.machine, [e]), c.word


def _without_unreachable(c: _Run):
    """The machine without the states the start cannot reach through its defined entries: all at
    once, then one at a time."""
    m = c.machine
    seen, todo = {m.start}, [m.start]
    while todo:
        q = todo.pop()
        for (p, _), act in m.delta.items():
            if p == q and act.next_state not in seen:
                seen.add(act.next_state)
                todo.append(act.next_state)
    gone = [q for q in m.states if q not in seen and not m.is_halting(q)]
    if len(gone) > 1:
        yield _drop_states(m, gone), c.word
    for q in gone:
        yield _drop_states(m, [q]), c.word


def _drop_entries(m, entries) -> object:
    """`m` with `entries` undefined (a partial machine: `tasks.universal.complete` halts them)."""
    return _rebuilt(m, m.states, {k: v for k, v in m.delta.items() if k not in set(entries)})


def _drop_states(m, states) -> object:
    """`m` without the unreachable `states`, their entries and the entries that go to them (those of
    other unreachable states, made undefined: the run never reaches them either)."""
    gone = set(states)
    return _rebuilt(m, tuple(q for q in m.states if q not in gone),
                    {k: v for k, v in m.delta.items() if k[0] not in gone and v.next_state not in gone})


def _rebuilt(m, states: tuple, delta: dict) -> object:
    from turing import Machine
    return Machine(states=states, input_alphabet=m.input_alphabet, tape_alphabet=m.tape_alphabet, blank=m.blank,
                   start=m.start, delta={k: (v.next_state, v.write, v.move) for k, v in delta.items()},
                   accept=m.accept, reject=m.reject, halt=m.halt, name=m.name)


_PASSES = (_shorter_words, _without_unused, _without_unreachable)


# ---------------------------------------------------------------- the shrink
def shrink_machine(model, machine, word, codes: dict, max_steps: int, code_bits: int | None = None,
                   max_calls: int = MAX_CALLS) -> ShrunkCounterexample:
    """Shrink a machine and input on which `model` leaves the machine (module docstring).

    Args:
        model: a universal model (`ntm.models.universal_ntm.UniversalNTM` or one like it).
        machine: a `turing.Machine` of one tape and 2 symbols (`tasks.universal.check_machine`).
        word: its input, a sequence of symbols.
        codes: state name -> code for each of its non-halting states (distinct, 1..2^code_bits - 1),
            e.g. a `UniversalBatch`'s ``codes`` row by ``machine.states``.
        max_steps: the step bound of every run (the task's ``max_steps``).
        code_bits: the codes' width (default: the model's).
        max_calls: the most model runs to spend, the original's included (>= 1).

    Returns:
        A `ShrunkCounterexample`: the model leaves its machine on its input, and its `Size` is no
        larger than the original's in any measure.

    Raises:
        ConfigError: max_calls < 1, codes missing, repeated or out of range for a non-halting state,
            or the model does not leave the machine on the input (nothing to shrink).
        tasks.errors.TaskError: a machine the universal task cannot run (`machine_batch`).
    """
    if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
        raise ConfigError(f"max_calls must be an integer >= 1, got {max_calls!r}")
    bits = model.config.code_bits if code_bits is None else code_bits
    _check_codes(machine, codes, bits)
    best = _run(model, machine, tuple(word), codes, max_steps, bits)
    if not best.disagrees:
        raise ConfigError(f"the model agrees with machine {machine.name or '?'} on input "
                          f"{' '.join(word) or '(empty)'}: nothing to shrink")
    original, original_what, calls, changed = _size(best), set(best.what), 1, True
    while changed and calls < max_calls:
        changed = False
        for candidates in _PASSES:
            for m, w in candidates(best):
                if calls >= max_calls:
                    break
                c = _run(model, m, w, codes, max_steps, bits)
                calls += 1
                if _keeps(c, best, original_what):
                    best, changed = c, True
                    break                        # the pass's candidates came from the old machine
    return _report(best, codes, original, calls)


def _check_codes(machine, codes: dict, bits: int) -> None:
    """Every non-halting state has its own code in 1..2^bits - 1 (code 0 is the halt state's), else ConfigError."""
    live = [q for q in machine.states if not machine.is_halting(q)]
    missing = [q for q in live if q not in codes]
    if missing:
        raise ConfigError(f"codes: no code for state(s) {', '.join(map(str, missing))}")
    bad = [q for q in live if isinstance(codes[q], bool) or not isinstance(codes[q], (int, np.integer))
           or not 1 <= codes[q] < 2 ** bits]
    if bad or len({int(codes[q]) for q in live}) < len(live):
        raise ConfigError(f"codes must give the states distinct integers in 1..{2 ** bits - 1}, got "
                          f"{ {q: codes[q] for q in live} }")


def _keeps(c: _Run, best: _Run, what: set) -> bool:
    """Whether candidate `c` replaces `best`: the model still leaves the machine, at the same entry
    and in at least one of the decisions `what` that differed on the original (so the shrink follows
    one fault of the model, not whichever it meets first), and `c` is no larger in any measure (a
    shorter input or a changed table can move the divergence later, past more entries)."""
    return (c.disagrees and c.entry == best.entry and bool(what & set(c.what))
            and all(a <= b for a, b in zip(_size(c), _size(best))))


def _report(c: _Run, codes: dict, original: Size, calls: int) -> ShrunkCounterexample:
    """`c` as a `ShrunkCounterexample` (the configurations as `check_universal_example` prints them)."""
    m = c.machine
    live = [q for q in m.states if not m.is_halting(q)]
    undefined = tuple(sorted((q, a) for q in live for a in m.tape_alphabet if (q, a) not in m.delta))
    step, what, mine, theirs = first_disagreement(c.batch, c.run)
    return ShrunkCounterexample(m, c.word, {q: int(codes[q]) for q in live}, step, what, mine, theirs,
                                tuple(sorted(c.used)), undefined, _size(c), original, calls)


def shrink_counterexample(model, task, example, max_calls: int = MAX_CALLS) -> ShrunkCounterexample:
    """Shrink the machine of a `check_universal_example` counterexample: the random machine, input
    and codes its (length, seed) draw (``task.sample(default_rng(seed), 1, length)``). Arguments
    and errors as in `shrink_machine`."""
    batch = task.sample(np.random.default_rng(example.seed), 1, int(example.length))
    m = batch.machines[0]
    codes = {q: int(k) for q, k in zip(m.states, batch.codes[0]) if k >= 0 and not m.is_halting(q)}
    return shrink_machine(model, m, batch.input_symbols[0], codes, task.max_steps, task.code_bits, max_calls)
