"""The one error type that the command line turns into a clean one-line message (exit code 2)."""
from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input from the user: a file that is missing, unreadable or holds the wrong thing.

    The message always names the file (when there is one) and the problem, so that the command line
    can print it as a single line without a traceback.
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)
