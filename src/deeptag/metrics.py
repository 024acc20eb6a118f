"""The paper's metrics (section 6.5): landmark distances and their RMS error (Eq. 23); and, where the
true motion is known (simulated sequences), the end-point error of the Lagrangian fields in the myocardium."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage


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


def myocardium_epe(lagrangian: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                   spacing: tuple[float, float] | None = None) -> float | None:
    """Mean end-point error of predicted Lagrangian fields inside the moving myocardium.

    ``lagrangian`` (T-1, 2, H, W) holds the predicted ``L_1 .. L_{T-1}``, ``truth`` (T, 2, H, W) the true
    ``L_0 .. L_{T-1}`` (pull-back fields into frame 0, pixels); ``mask`` (H, W) the myocardium at frame 0.
    At frame t the myocardium is the set of pixels p whose material point ``p + L_t(p)`` falls in the
    mask (bilinearly interpolated, >= 0.5); the error is ``|L_pred_t(p) - L_t(p)|``, in mm when
    ``spacing`` (row, column) is given, else pixels, averaged over all those pixels of frames 1..T-1.
    Returns None where no pixel qualifies.
    """
    height, width = mask.shape
    grid = np.mgrid[0:height, 0:width].astype(np.float64)
    scale = np.ones(2) if spacing is None else np.asarray(spacing, dtype=np.float64)
    errors = []
    for t in range(1, truth.shape[0]):
        material = grid + truth[t]
        inside = ndimage.map_coordinates(mask.astype(np.float64), material, order=1, mode="constant") >= 0.5
        difference = (lagrangian[t - 1] - truth[t]) * scale[:, None, None]
        errors.append(np.hypot(difference[0], difference[1])[inside])
    errors = np.concatenate(errors)
    errors = errors[np.isfinite(errors)]
    return float(errors.mean()) if errors.size else None
