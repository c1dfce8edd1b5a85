"""The exception tree of `turing`.

One base class, `TuringError`. Definition errors are raised while a `Machine` is built
(one class per validation rule, each naming the offending state, symbol or transition);
`FormatError` is raised while a machine file is read and names the file, line and column.
"Did not halt" and "out of tape" are not errors: they are run outcomes (`Status.STEP_LIMIT`,
`Status.CELL_LIMIT`).
"""

from __future__ import annotations

import difflib


class TuringError(Exception):
    """Base class of every error raised by `turing`."""


def did_you_mean(name, known) -> str:
    """`` (did you mean X?)`` for the known name closest to a mistyped one (difflib's ratio, at least
    0.6), else ``""``: the hint every unknown-name error in the project appends (machines, tasks,
    models, sweep grids). ``did_you_mean("cpy", ["copy", "sort"]) == " (did you mean copy?)"``."""
    if not isinstance(name, str):
        return ""
    near = difflib.get_close_matches(name.lower(), [str(k) for k in known], n=1)
    return f" (did you mean {near[0]}?)" if near else ""


# ---------------------------------------------------------------- machine definitions
class MachineDefinitionError(TuringError, ValueError):
    """A machine definition breaks one of the rules checked at construction."""


class EmptyStatesError(MachineDefinitionError):
    """The machine declares no states."""


class UndeclaredStateError(MachineDefinitionError):
    """A start, halting or transition state is not among the declared states."""


class UndeclaredSymbolError(MachineDefinitionError):
    """A symbol read or written by a transition is not in the tape alphabet."""


class AlphabetError(MachineDefinitionError):
    """The alphabets are inconsistent: the blank is missing from the tape alphabet, is part of
    the input alphabet, an input symbol is not a tape symbol, or a symbol is not a non-empty string."""


class InvalidMoveError(MachineDefinitionError):
    """A transition moves a head in a direction other than L, R or S."""


class ConflictingTransitionError(MachineDefinitionError):
    """Two different transitions are given for one (state, symbol) pair."""


class HaltingStateTransitionError(MachineDefinitionError):
    """A halting (accept, reject or halt) state has an outgoing transition, or is in two halting sets."""


class TapeCountError(MachineDefinitionError):
    """A transition reads, writes or moves a number of tapes other than the machine's `tapes`."""


# ---------------------------------------------------------------- inputs
class InputError(TuringError, ValueError):
    """An input word holds a symbol outside the machine's input alphabet (the blank included)."""


# ---------------------------------------------------------------- traces
class TraceLimitError(TuringError, ValueError):
    """A traced batch (`turing.engine.run_batch(..., trace=True)`) would need trace arrays
    larger than its ``max_trace_bytes``: the message gives the size and both ways out (a
    higher limit, fewer steps or a smaller batch)."""


# ---------------------------------------------------------------- files and formats
def one_line(text: str) -> str:
    """`text` with every character that is not printable (newlines, other control characters,
    lone surrogates, …) written as its Python escape (``\\n``, ``\\x0c``, ``\\udcff``), so that a
    message is one line that any terminal can print."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class FormatError(TuringError, ValueError):
    """A machine file or text does not follow its format.

    Attributes: `source` (file name or "<text>"), `line` and `column` (1-based, or None when
    unknown), `message` (what was wrong and what was expected). `source` and `message` are kept
    on one line: characters that are not printable are escaped (see `one_line`), and a message
    quoting a huge value is cut to `MAX_MESSAGE` characters.
    """
    MAX_MESSAGE = 1_000

    def __init__(self, message: str, *, source: str = "<text>", line: int | None = None,
                 column: int | None = None):
        message, source = one_line(str(message)), one_line(str(source))
        if len(message) > self.MAX_MESSAGE:
            message = message[:self.MAX_MESSAGE - 1] + "…"
        self.message, self.source, self.line, self.column = message, source, line, column
        where = source
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class LimitError(FormatError):
    """A machine file exceeds a stated size limit (`turing.formats.Limits`): too large, nested
    too deeply, or with too many states, symbols, tapes or transitions. The message names the
    limit and the keyword that raises it."""


class UnknownMachineError(TuringError, LookupError):
    """A `library:NAME` spec names no machine in the library."""
