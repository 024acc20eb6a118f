"""The subcommands of the ``deeptag`` command line, one module each; each module has ``register``.

Nothing here imports a command's module: ``deeptag --help`` lists the commands from ``SUMMARIES`` alone,
and the command line imports (``load``) and registers in full only the command that is run, so that
commands which need no network (``report``, ``strain``, ``--help``, ``--version``) never import PyTorch.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# name -> the one-line help shown by ``deeptag --help``; each module's ``register`` uses the same line
SUMMARIES = {
    "track": "track the motion of one sequence",
    "evaluate": "landmark errors against expert landmarks",
    "strain": "myocardial strain per AHA segment from a track result",
    "report": "one HTML report of a track result: pictures, strain, settings",
    "train": "train a model on your own unlabelled sequences",
    "simulate": "synthetic tagging sequences with known motion",
    "benchmark": "the paper's Tables 1 and 2 and Figures 8 and 10 on your sequences",
    "batch": "track every slice of many scans (resumable, on Dask) into one table",
    "bullseye": "one AHA bull's-eye of peak strain from several views or slices (e.g. GLS of 2/3/4-chamber)",
}
COMMANDS = tuple(SUMMARIES)
QUIET_HELP = "no progress bar or messages: print nothing but warnings, errors and the results asked for"


def load(name: str) -> ModuleType:
    """The module of command ``name`` (imported on first use)."""
    if name not in SUMMARIES:
        raise KeyError(f"no deeptag command '{name}'")
    return importlib.import_module(f"{__name__}.{name}")
