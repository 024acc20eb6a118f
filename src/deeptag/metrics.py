"""The paper's metrics (section 6.5): landmark distances and their RMS error (Eq. 23)."""
from __future__ import annotations

import warnings

import numpy as np


def landmark_distances(tracks: np.ndarray, landmarks: np.ndarray,
                       spacing: tuple[float, float] | None = None) -> np.ndarray:
    """Euclidean distance (T, K) between predicted and expert points (T, K, 2) as (x, y), NaN where
    the expert marked none; in pixels, or in mm when ``spacing`` (row, column) is given."""
    difference = np.asarray(tracks, dtype=np.float64) - np.asarray(landmarks, dtype=np.float64)
    if spacing is not None:
        difference = difference * np.array([spacing[1], spacing[0]])
    return np.sqrt((difference ** 2).sum(axis=-1))


def landmark_summary(tracks: np.ndarray, landmarks: np.ndarray,
                     spacing: tuple[float, float] | None = None, unit: str = "px") -> dict:
    """Mean distance and RMS error (Eq. 23) over frames 1..T-1 and all marked landmarks, and per frame.

    Frame 0 is excluded from the overall figures: there the tracks are the landmarks themselves.
    Keys end in ``_px`` or ``_mm`` as ``unit`` says.
    """
    distances = landmark_distances(tracks, landmarks, spacing)
    later = distances[1:]
    marked = ~np.isnan(later)
    if not marked.any():
        raise ValueError("no landmark is marked after frame 0")
    with warnings.catch_warnings():  # a frame without any marked landmark gives NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        per_frame_mean = np.nanmean(distances, axis=1)
        per_frame_rms = np.sqrt(np.nanmean(distances ** 2, axis=1))
    return {
        f"mean_{unit}": float(later[marked].mean()),
        f"rms_{unit}": float(np.sqrt((later[marked] ** 2).mean())),
        f"per_frame_mean_{unit}": [None if np.isnan(v) else float(v) for v in per_frame_mean],
        f"per_frame_rms_{unit}": [None if np.isnan(v) else float(v) for v in per_frame_rms],
    }
