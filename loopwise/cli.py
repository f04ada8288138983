"""The ``loopwise`` console script (contract: docs/architecture.md, "The loopwise command").

Bad input gives a clear message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from loopwise.commands import COMMAND_MODULES
from loopwise.errors import OperatorError, Terminated, UsageError, operator_message


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loopwise",
        description="Self-optimizing marketing data pipeline: sense, clean, decide, govern, execute, measure.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as error:
        print(f"loopwise: error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"loopwise: error: file not found: {error.filename or error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("loopwise: interrupted", file=sys.stderr)
        return 130
    except Terminated as terminated:
        print(f"loopwise: terminated (SIGTERM) while {terminated}", file=sys.stderr)
        return 143
    except OperatorError as error:
        print(f"loopwise: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # A read-only home, a full disk, a locked or foreign warehouse file: one line, no traceback.
        # Anything else is a bug and keeps its traceback.
        message = operator_message(error)
        if message is None:
            raise
        print(f"loopwise: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
