"""Conventional motion-tracking baselines of the paper's Table 1, behind one interface.

Every baseline is a function ``track_<method>(images, points) -> BaselineResult`` taking the frames
(T, H, W) float32 and frame-0 points (K, 2) as (x, y), so that a benchmark can run them side by side
with DeepTag. ``BASELINES`` maps a method's name to its function.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class BaselineResult:
    """What a baseline produces, on the input's pixel grid.

    ``tracks`` (T, K, 2): point positions as (x, y) in every frame, frame 0 first.
    ``lagrangian`` (T-1, 2, H, W): ``L_1 .. L_{T-1}`` in pixels, ``L_t`` on frame t's grid pointing
    into frame 0 (channel 0 rows, channel 1 columns), or None where the method gives no dense field.
    ``inf_fields`` (T-1, 2, H, W): ``u_t`` on frame t+1's grid pointing into frame t, or None.
    ``seconds``: wall-clock time of the whole call.
    """

    tracks: np.ndarray
    lagrangian: np.ndarray | None
    inf_fields: np.ndarray | None
    seconds: float


def check_inputs(images: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a baseline's inputs: frames (T >= 2, H, W) float32, points (K, 2) float64."""
    images = np.asarray(images, dtype=np.float32)
    points = np.asarray(points, dtype=np.float64)
    if images.ndim != 3 or images.shape[0] < 2:
        raise InputError(f"expected frames of shape (T >= 2, H, W), got {images.shape}")
    if points.ndim != 2 or points.shape[1] != 2:
        raise InputError(f"expected points of shape (K, 2) as (x, y), got {points.shape}")
    return images, points


# The methods import BaselineResult and check_inputs from this module, so they come after them.
from .harp import track_harp  # noqa: E402
from .optical_flow import track_tvl1  # noqa: E402

BASELINES = {"harp": track_harp, "tvl1": track_tvl1}

__all__ = ["BASELINES", "BaselineResult", "check_inputs", "track_harp", "track_tvl1"]
