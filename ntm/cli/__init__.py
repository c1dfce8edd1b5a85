"""The `ntm` command line: a thin layer over public functions, one module per command.

``ntm machine`` (`machine`), ``ntm tasks`` (`tasks`), ``ntm train`` (`train`), ``ntm compare``
(`compare`), ``ntm verify`` (`verify`), ``ntm plot`` (`plot`), ``ntm compile`` (`compile`), ``ntm sweep`` (`sweep`), ``ntm claims`` (`claims`). Each
module registers its parser and imports what it runs only when it runs, so ``ntm machine`` never
loads torch. Any error the library raises on bad input becomes one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ntm.errors import NTMError
from tasks.errors import TaskError
from turing.errors import TuringError

COMMANDS = ["machine", "tasks", "train", "compare", "verify", "plot", "compile", "sweep", "claims"]


class UsageError(Exception):
    """A command-line value that makes no sense (the message says which and the fix)."""


class Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported as one line (argparse prints its whole usage first) that
    names the command to ask for help; exit code 2 as before. Subcommands' parsers are of this
    class too (argparse makes them with the parent's class)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ntm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()                 # a closed pipe shows up here, not at exit
        return code
    except BrokenPipeError:                # `ntm ... | head`: the reader left; not an error
        _quiet_stdout()
        return 0
    except (TuringError, TaskError, NTMError, UsageError, OSError) as e:
        msg = str(e) if not isinstance(e, OSError) or not e.filename else f"{e.filename}: {e.strerror}"
        print(f"ntm: error: {' '.join(msg.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ntm: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit does not fail on the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
