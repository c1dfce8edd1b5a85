"""The `ntm` command line: a thin layer over public functions.

Each area registers its subcommands from its own module (``ntm/cli_*.py``). Any error the library
raises on bad input becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from turing.errors import TuringError
from tasks.errors import TaskError
from ntm.errors import NTMError

# (module, description) of each command group; imported lazily so `ntm machine` never loads torch
_GROUPS = ["ntm.cli_machine", "ntm.cli_tasks", "ntm.cli_train", "ntm.cli_compare", "ntm.cli_compile"]


def build_parser() -> argparse.ArgumentParser:
    import importlib
    parser = argparse.ArgumentParser(prog="ntm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _GROUPS:
        importlib.import_module(name).register(sub)
    return parser


class UsageError(Exception):
    """A command-line value that makes no sense (the message says which and the fix)."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        raise
    except (TuringError, TaskError, NTMError, UsageError, OSError) as e:
        msg = str(e) if not isinstance(e, OSError) or not e.filename else f"{e.filename}: {e.strerror}"
        print(f"ntm: error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ntm ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("ntm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
