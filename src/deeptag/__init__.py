"""deeptag: unsupervised motion tracking on cardiac tagging MRI (DeepTag, CVPR 2021).

``import deeptag`` is cheap: the names below (and the submodules, e.g. ``deeptag.track``) are imported
on first use, so the command line can start without PyTorch where it needs no network.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .errors import InputError  # noqa: E402  (light: the standard library only)

_LAZY = {"load_model": "checkpoint", "Sequence": "io", "read_points": "io", "read_sequence": "io",
         "TrackResult": "track", "track_sequence": "track"}

__all__ = ["InputError", "Sequence", "TrackResult", "load_model", "read_points", "read_sequence",
           "track_sequence", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f".{name}", __name__)  # a submodule, as before the lazy imports
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
