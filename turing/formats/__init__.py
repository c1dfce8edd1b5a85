"""Machine files: read and write a `Machine` in four formats, and tell them apart.

=========== ================================ ============== ========================================
format      module                           extensions     what it expresses
=========== ================================ ============== ========================================
"yaml"      `yaml_io` (turingmachine.io)     .yaml .yml     1 tape, 1-character symbols, L/R
"standard"  `standard` (busy-beaver text)    (by content)   1 tape, A–Z, digits, blank 0, L/R, halt
"morphett"  `morphett` (morphett.info)       (by content)   1 tape, 1-character symbols, blank _
"json"      `json_io` (ours)                 .json          every Machine
=========== ================================ ============== ========================================

Each module has ``loads(text, source) -> Machine``, ``dumps(machine, input=()) -> str`` and
``read_input(text, source) -> tuple[str, ...]`` (the example input a file may carry). Every
``dumps`` either raises `FormatError` saying what the format cannot express, or returns a
text that ``loads`` reads back as an equal machine. docs/formats.md describes the mappings.

    m = load("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")       # BB(4), format detected
    m = load("machines/increment.yaml")            # a file, format from its extension
    w = read_input("machines/increment.yaml")      # its example input
    print(dumps(m, "json"))
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence, Union

import yaml

from ..errors import FormatError
from ..machine import Machine
from . import json_io, morphett, standard, yaml_io
from ._common import DEFAULT_LIMITS, Limits, check_json_depth, check_limit, check_text, decode, limits_of  # noqa: F401

MODULES = {"yaml": yaml_io, "standard": standard, "morphett": morphett, "json": json_io}
FORMATS = tuple(MODULES)
#: file extensions that name a format; others (.tm, .txt, …) are told by their content
EXTENSIONS = {ext: name for name, module in MODULES.items() for ext in module.EXTENSIONS}
_PATH_LIKE = re.compile(r"[^\n]*\.(ya?ml|json|tm|txt)\s*", re.IGNORECASE)

PathOrText = Union[str, os.PathLike]


def load(path_or_text: PathOrText, format: str | None = None, *, limits: Limits | None = None,
         **limit_overrides) -> Machine:
    """A machine from a file or a text, its format detected unless given.

    A `Path`, or a str naming an existing file, is read (as UTF-8); its format comes from its
    extension (.yaml/.yml, .json) or else from its content. Any other str is the machine text.

    Args:
        path_or_text: a file path or the text itself.
        format: one of `FORMATS`, or None to detect it.
        limits: the size limits to apply (default `DEFAULT_LIMITS`: see `Limits`);
            keywords such as ``max_transitions=10**6`` change single ones.

    Raises:
        FileNotFoundError: a path (or a one-line str ending in .yaml/.yml/.json/.tm/.txt)
            that names no file.
        FormatError: the content is empty, not Unicode text, of no recognised format, or breaks
            its format's rules (naming the file, line and column where it has them).
        LimitError (a FormatError): the file is larger than ``max_chars`` bytes (checked
            before reading it), or nested, or with states, symbols, tapes or transitions,
            beyond `limits`.
    """
    limits = limits_of(limits, limit_overrides)
    text, source, format = _read(path_or_text, format, limits)
    return loads(text, format, source=source, limits=limits)


def loads(text: str, format: str | None = None, source: str = "<text>", *, limits: Limits | None = None,
          **limit_overrides) -> Machine:
    """A machine from its text in `format` (detected when None, see `detect`).

    Raises:
        FormatError, LimitError: as `load`; also for an unknown format name.
    """
    limits = limits_of(limits, limit_overrides)
    return _module(format or detect(text, source, limits=limits)).loads(text, source, limits)


def read_input(path_or_text: PathOrText, format: str | None = None, *, limits: Limits | None = None,
               **limit_overrides) -> tuple[str, ...]:
    """The example input a machine file carries (YAML `input`, Morphett ``$INITIAL_TAPE``,
    JSON "input"), as a tuple of symbols; () when it has none (always for standard text).

    Raises:
        FileNotFoundError, FormatError, LimitError: as `load`.
    """
    limits = limits_of(limits, limit_overrides)
    text, source, format = _read(path_or_text, format, limits)
    return _module(format or detect(text, source, limits=limits)).read_input(text, source, limits)


def dumps(machine: Machine, format: str, input: Sequence[str] = ()) -> str:
    """The machine's text in `format`, with an optional example input where the format has one.

    Raises:
        FormatError: the format cannot express this machine (the message says why), or an
            unknown format name.
    """
    return _module(format).dumps(machine, input=tuple(input))


def dump(machine: Machine, path: str | os.PathLike, format: str | None = None, input: Sequence[str] = ()) -> None:
    """Write the machine to `path`, in `format` or the one its extension names.

    Raises:
        FormatError: no format given and the extension names none, or `dumps`'s errors.
        OSError: the file cannot be written.
    """
    path = Path(path)
    format = format or EXTENSIONS.get(path.suffix.lower())
    if format is None:
        raise FormatError(f"cannot tell the format from the extension {path.suffix!r}: pass one of "
                          f"{', '.join(FORMATS)}", source=str(path))
    path.write_text(dumps(machine, format, input), encoding="utf-8")


def detect(text: str, source: str = "<text>", *, limits: Limits | None = None) -> str:
    """The format of a machine text: a JSON object ("json"; "yaml" if it has `table`); one word
    of digits, letters, ``-`` and ``_`` ("standard"); lines of 5 tokens, comments after ``;``
    ("morphett"); a YAML mapping with `table`, `blank` or `start state`, or a turingmachine.io
    document ("yaml").

    Raises:
        FormatError: empty, not Unicode text, or none of these (on line 1).
        LimitError: longer than ``limits.max_chars``, or a JSON object nested deeper than
            ``limits.max_depth``.
    """
    limits = limits or DEFAULT_LIMITS
    body = check_text(text, source, "a machine (YAML, standard text, Morphett or JSON)", limits).strip()
    if body.startswith("{"):
        check_json_depth(text, source, limits.max_depth)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None  # perhaps a YAML flow mapping; else JSON's reader will say what is wrong
        if isinstance(doc, dict):  # JSON is YAML too: a turingmachine.io table may be written in it
            return "yaml" if {"table", "source code"} & set(doc) else "json"
    if standard.LOOKS_LIKE.fullmatch(body):
        return "standard"
    lines = [t for t in (line.split(";", 1)[0].split() for line in body.splitlines()) if t]
    if all(len(t) == 5 or len(t) == 6 and t[5] == "!" for t in lines) and (lines or body.startswith(";")):
        return "morphett"  # (a machine without rules is only comments: its directives)
    try:
        node = yaml.compose(body, Loader=yaml_io.SAFE_LOADER)
    except yaml.YAMLError:
        node = None
    if isinstance(node, yaml.MappingNode):
        keys = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        if keys & {"table", "blank", "start state", "source code"}:
            return "yaml"
    if body.startswith("{"):
        return "json"
    raise FormatError("cannot tell the format: expected a turingmachine.io YAML mapping (blank, start state, "
                      "table), busy-beaver standard text (1RB1LB_1LA0LC), Morphett lines (state symbol "
                      "new-symbol direction new-state) or a JSON object; or pass format=", source=source, line=1)


def _module(format: str):
    if format not in MODULES:
        raise FormatError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    return MODULES[format]


def _read(path_or_text: PathOrText, format: str | None, limits: Limits) -> tuple[str, str, str | None]:
    """(text, source, format or None): a file's decoded content (its size checked against
    ``limits.max_chars`` before it is read), or the text itself."""
    if isinstance(path_or_text, os.PathLike) or (
            isinstance(path_or_text, str) and "\n" not in path_or_text and _is_file(path_or_text)):
        path = Path(path_or_text)
        with path.open("rb") as f:  # one open: the size checked is the size read
            size = os.fstat(f.fileno()).st_size
            check_limit("bytes in the file", size, limits.max_chars, "max_chars", source=str(path))
            data = f.read(limits.max_chars + 1)
        check_limit("bytes in the file", len(data), limits.max_chars, "max_chars", source=str(path))
        text = decode(data, str(path))
        return text, str(path), format or EXTENSIONS.get(path.suffix.lower())
    if not isinstance(path_or_text, str):
        raise TypeError(f"expected a path or a machine text, got {type(path_or_text).__name__}")
    if _PATH_LIKE.fullmatch(path_or_text) and not path_or_text.lstrip().startswith("{"):
        raise FileNotFoundError(2, "no such machine file (check the path; or give library:NAME, see "
                                   "`ntm machine list`, or a machine's text)", path_or_text.strip())
    return path_or_text, "<text>", format


def _is_file(name: str) -> bool:
    """os.path.isfile, False for a name the file system cannot hold (a NUL, too long, …)."""
    try:
        return os.path.isfile(name)
    except (ValueError, OSError):
        return False
