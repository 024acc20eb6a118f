"""The ``deeptag`` command line: a thin layer over the library.

Each subcommand lives in its own module under ``deeptag.commands`` and registers itself. Only the command
being run is imported and registered in full (the others are listed by their one-line help), so
``deeptag --help``, ``--version``, ``report`` and ``strain`` start without importing PyTorch. Bad input
(an ``InputError``) ends the program with exit code 2 and one line that names the file and the problem.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Iterable

from . import __version__
from .commands import COMMANDS, SUMMARIES, load
from .errors import InputError


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default: "(default: X)" is added to an option that takes a value
    and has a default, unless its help text already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.required or action.nargs == 0:
            return text
        if action.default is None or action.default == [] or action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``commands`` are registered with all their arguments (default: every command), the
    others only by name and one-line help (enough for ``deeptag --help``), without importing them."""
    full = set(COMMANDS if commands is None else commands)
    parser = argparse.ArgumentParser(prog="deeptag", description="Motion tracking on cardiac tagging MRI (DeepTag).")
    parser.add_argument("--version", action="version", version=f"deeptag {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if name in full:
            load(name).register(subparsers)
        else:
            subparsers.add_parser(name, help=SUMMARIES[name])
    for subparser in subparsers.choices.values():
        subparser.formatter_class = DefaultsHelpFormatter
    return parser


def requested_command(argv: list[str]) -> str | None:
    """The command named on the command line: the first word that is not an option (the top-level
    options take no value); None when there is none or it is not a command."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in SUMMARIES else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = requested_command(argv)
    args = build_parser([command] if command else []).parse_args(argv)
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
