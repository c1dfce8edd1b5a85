"""Exact symbolic Turing machines: definitions, a reference simulator, a fast engine,
file formats, state graphs and a library of machines. Imports no torch."""

from .errors import TuringError, FormatError, LimitError, MachineDefinitionError, InputError, TraceLimitError  # noqa: F401
from .machine import Action, Machine, build_delta  # noqa: F401
from .run import DEFAULT_MAX_CELLS, DEFAULT_MAX_STEPS, Configuration, RunResult, Status, run, trace  # noqa: F401
from .formats import load, loads, dumps  # noqa: F401
