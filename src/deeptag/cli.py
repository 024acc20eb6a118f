"""The ``deeptag`` command line: a thin layer over the library.

Each subcommand lives in its own module under ``deeptag.commands`` and registers itself. Bad input
(an ``InputError``) ends the program with exit code 2 and one line that names the file and the problem.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .commands import COMMANDS
from .errors import InputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deeptag", description="Motion tracking on cardiac tagging MRI (DeepTag).")
    parser.add_argument("--version", action="version", version=f"deeptag {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except InputError as error:
        print(f"deeptag: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deeptag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at interpreter exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
