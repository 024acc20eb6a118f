"""deeptag: unsupervised motion tracking on cardiac tagging MRI (DeepTag, CVPR 2021)."""
from __future__ import annotations

__version__ = "0.1.0"

from .checkpoint import load_model
from .errors import InputError
from .io import Sequence, read_points, read_sequence
from .track import TrackResult, track_sequence

__all__ = ["InputError", "Sequence", "TrackResult", "load_model", "read_points", "read_sequence",
           "track_sequence", "__version__"]
