"""The library of machines: builders that return `turing.Machine`s, and a registry by name.

    >>> from turing import library, run
    >>> run(library.get("duplicate"), "101").output
    ('1', '0', '1', '1', '0', '1')
    >>> run(library.get("copy"), ["00000001", "11111111"]).output
    ('00000001', '11111111')

Conventions (see `alphabets` for the symbols):
- Transducers leave exactly their output as the non-blank content of the LAST tape
  (`RunResult.output`). Those over a data alphabet (copy, repeat_copy, sort, reverse, duplicate,
  binary_add, binary_add_le) use two tapes: tape 0 is the input and work tape, tape 1 the output tape.
  binary_increment works in place on one tape; palindrome accepts or rejects.
- Data symbols of width W are W-character bit strings (`bit_symbols`); markers are single
  punctuation characters ('#', '*', '.', '$', '+'); the blank is '_' (busy beavers: '0').
- Each builder's docstring gives an example, the number of states and transitions, and the
  step count as a function of the input length, measured and checked by the tests.

`get(name, **params)` builds by name and caches the result (machines are immutable);
`names()` lists the names; `describe(name)` is the first line of the builder's docstring.
"""

from __future__ import annotations

import functools

from ..errors import UnknownMachineError, did_you_mean
from ..machine import Machine
from .alphabets import MARKERS, bit_symbols, priority_of, priority_symbols  # noqa: F401
from .arithmetic import binary_add_le_machine, binary_add_machine, binary_increment_machine
from .beavers import (BUSY_BEAVERS, NON_HALTING, antihydra_machine, bb2_machine,  # noqa: F401
                      bb3_machine, bb4_machine, bb5_machine, busy_beaver, hydra_machine, loop_machine)
from .deciders import palindrome_machine
from .sorting import sort_machine
from .transducers import copy_machine, duplicate_machine, repeat_copy_machine, reverse_machine

#: name -> builder; each builder's keyword arguments are the machine's parameters
BUILDERS = {
    "copy": copy_machine,
    "repeat_copy": repeat_copy_machine,
    "sort": sort_machine,
    "reverse": reverse_machine,
    "duplicate": duplicate_machine,
    "binary_increment": binary_increment_machine,
    "binary_add": binary_add_machine,
    "binary_add_le": binary_add_le_machine,
    "palindrome": palindrome_machine,
    "bb2": bb2_machine,
    "bb3": bb3_machine,
    "bb4": bb4_machine,
    "bb5": bb5_machine,
    "antihydra": antihydra_machine,
    "hydra": hydra_machine,
    "loop": loop_machine,
}


def names() -> list[str]:
    """The names `get` knows, in registry order."""
    return list(BUILDERS)


def _builder(name: str):
    try:
        return BUILDERS[name]
    except (KeyError, TypeError):
        raise UnknownMachineError(f"no machine named {name!r} in the library{did_you_mean(name, BUILDERS)}; "
                                  f"known: {', '.join(BUILDERS)}") from None


def describe(name: str) -> str:
    """The first line of the builder's docstring, e.g. ``"Duplicate: w -> ww."``.

    Raises:
        UnknownMachineError: naming the known names.
    """
    return _builder(name).__doc__.strip().splitlines()[0]


@functools.lru_cache(maxsize=16)  # a full-order sort of 256 symbols holds ~40 MB
def _cached(name: str, params: tuple) -> Machine:
    return _builder(name)(**dict(params))


def get(name: str, **params) -> Machine:
    """The machine `name` built with `params` (the builder's keyword arguments).

    Built once per (name, params) when the params are hashable (lists count as tuples);
    otherwise built on every call.

    Raises:
        UnknownMachineError: no such name (the message lists the known ones).
        TypeError: a parameter the builder does not take. Builder errors (AlphabetError,
            ValueError) pass through.
    """
    builder = _builder(name)
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
    try:
        hash(key)
    except TypeError:
        return builder(**params)
    return _cached(name, key)
