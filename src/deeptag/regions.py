"""Regional curves, peaks and error flags of per-point strain, shared by short- and long-axis strain.

``strain.StrainResult`` (short axis) and ``long_axis.LongAxisStrain`` both hold one value per frame and
frame-0 material point and summarise it per region (global, walls, wall layers, AHA segments): the
region's mean curve over the frames, its peak, and the tracking-error estimate of its points
(``quality.error_map``, issue 27), with the threshold above which a frame is flagged. NumPy only, so
that the ``strain`` and ``report`` commands start without PyTorch (issue 26).
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from .fields_numpy import values_at_points

FLAG_PX = 2.0  # a frame, a point or a segment is flagged where its estimate exceeds this (input pixels)


class RegionCurves:
    """Curves and peaks over regions of material points (base of the strain results).

    A subclass is a dataclass holding ``points`` (K, 2), ``positions`` (T, K, 2), ``segment`` (K,) AHA
    numbers, ``depth`` (K,) 0 endo- to 1 epicardial, ``values`` {quantity: (T, K)}, ``myocardium`` (with
    ``segments()``), ``frame_times_ms`` (T,) or None and ``spacing`` (row, column) mm or None; it names the
    curves of a region in ``region_curves`` and may add regions before the layers with ``wall_regions``.
    """

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    def wall_regions(self) -> list[tuple[str, str, str, np.ndarray]]:
        """Regions between the global one and the layers (the walls of a long-axis view); none here."""
        return []

    def regions(self) -> list[tuple[str, str, str, np.ndarray]]:
        """``(region, name, kind, selected points (K,) bool)``: ``global`` first, then ``wall_regions``, the
        three transmural layers (kind ``layer``), then each AHA segment (kind ``segment``)."""
        from .myocardium import LAYERS, layer_index

        out = [("global", "global", "global", np.ones(len(self.points), dtype=bool))] + self.wall_regions()
        layer = layer_index(self.depth)
        for index, (region, name) in enumerate(LAYERS):
            out.append((region, name, "layer", layer == index))
        for segment in self.myocardium.segments():
            out.append((str(segment.number), segment.name, "segment", self.segment == segment.number))
        return out

    def region_curves(self, region: str, selected: np.ndarray) -> dict[str, np.ndarray]:
        """The curves (T,) of a region that its summary gives, by name, in order."""
        raise NotImplementedError

    def region_summaries(self) -> list[dict]:
        """One JSON-able entry per region: region, name, kind, number of points, and each of its
        ``region_curves`` with its peak."""
        out = []
        for region, name, kind, selected in self.regions():
            curves = self.region_curves(region, selected)
            out.append({"region": region, "name": name, "kind": kind, "points": int(selected.sum()),
                        "curves": {key: [json_number(v) for v in curve] for key, curve in curves.items()},
                        "peaks": {key: self.peak(curve) for key, curve in curves.items()}})
        return out

    def frame_axes(self) -> dict:
        """The summary's pixel spacing, frame numbers and frame times (None where unknown)."""
        return {"spacing_mm": None if self.spacing is None else list(self.spacing),
                "frames": list(range(self.num_frames)),
                "time_ms": None if self.frame_times_ms is None else [float(t) for t in self.frame_times_ms]}

    def curve(self, quantity: str, selected: np.ndarray) -> np.ndarray:
        """Mean of ``quantity`` over the selected points, per frame (T,); NaN where none is selected."""
        if not selected.any():
            return np.full(self.num_frames, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.values[quantity][:, selected], axis=1)

    def peak(self, curve: np.ndarray) -> dict:
        """Value of largest magnitude of a curve, its frame and its time in ms (None where unknown)."""
        if np.isnan(curve).all():
            return {"value": None, "frame": None, "time_ms": None}
        frame = int(np.nanargmax(np.abs(curve)))
        time = None if self.frame_times_ms is None else float(self.frame_times_ms[frame])
        return {"value": float(curve[frame]), "frame": frame, "time_ms": time}


def json_number(value: float | None) -> float | None:
    """A curve's value as JSON holds it: rounded to 6 decimals, None where missing or not finite."""
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def write_peaks_csv(path: Path, summary: dict) -> None:
    """``peaks.csv`` of a strain summary: one row per region and quantity, with its unit, frame and time."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region", "name", "quantity", "peak", "unit", "frame", "time_ms"])
        for region in summary["regions"]:
            for quantity, peak in region["peaks"].items():
                writer.writerow([region["region"], region["name"], quantity,
                                 "" if peak["value"] is None else f"{peak['value']:.4f}",
                                 summary["units"][quantity], "" if peak["frame"] is None else peak["frame"],
                                 "" if peak["time_ms"] is None else f"{peak['time_ms']:.3f}"])


def error_at_points(error: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The estimate (T, K) at tracked points: ``error`` (T-1, H, W) of frames 1..T-1 sampled bilinearly at
    ``positions`` (T, K, 2) as (x, y); 0 at frame 0 (the points are given there); NaN outside the region."""
    positions = np.asarray(positions, dtype=np.float32)
    sampled = values_at_points(np.asarray(error, dtype=np.float32)[:, None], positions[1:])[..., 0]
    return np.concatenate([np.zeros((1, positions.shape[1]), dtype=np.float32), sampled])


def region_estimates(result: RegionCurves, error: np.ndarray) -> dict[str, np.ndarray]:
    """The estimate (T,) of each region of a strain result (global, layers, AHA segments): the mean of
    ``error`` (T-1, H, W) at its material points' tracked positions, per frame (0 at frame 0). A region
    is flagged at a frame where this exceeds ``FLAG_PX``."""
    at_points = error_at_points(error, result.positions)
    out = {}
    for region, _, _, selected in result.regions():
        chosen = at_points[:, selected]
        finite = np.isfinite(chosen)
        total = np.where(finite, chosen, 0.0).sum(axis=1)
        count = finite.sum(axis=1)
        out[region] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out
