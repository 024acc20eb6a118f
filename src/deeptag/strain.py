"""Myocardial strain from the Lagrangian fields: Green-Lagrange strain, rotation, AHA-segment summaries.

How strain comes out of a pull-back field
-----------------------------------------
``lagrangian[t]`` (the field of frame ``t+1``) lives on the current frame's grid and points into
frame 0: the material point now at ``p`` was at ``X = p + L(p)``. So ``id + L`` is the *inverse* motion
``phi_t^{-1}`` and its gradient at the current position, ``G = I + grad L``, is the inverse of the
deformation gradient: ``F = G^{-1}``, evaluated at ``p = phi_t(X)``. The current positions of the
frame-0 material points ``X`` are found by inverting the field at those points only
(:func:`deeptag.fields_numpy.track_points`), ``grad L`` by central differences (one-sided at the
image border) is sampled there bilinearly, and with the pixel spacing ``S = diag(row, column)`` in mm the
gradient is taken in physical space, ``G = I + S grad L S^{-1}``.

From ``F``: the Green-Lagrange strain ``E = (F^T F - I) / 2``; its radial and circumferential
components ``E_rr = r.E.r`` and ``E_cc = c.E.c`` along the reference-frame (frame 0) directions at
each material point, ``r`` pointing away from the LV centre and ``c`` = ``r`` turned by +90 deg
(counter-clockwise as displayed); and the rotation angle of the polar decomposition ``F = R U``,
which in 2D is ``atan2(F_21 - F_12, F_11 + F_22)``, positive counter-clockwise as displayed (seen from
the apex in the standard short-axis orientation). Strain is reported in percent, rotation in degrees.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fields_numpy
from .myocardium import LAYER_SECTOR_DEG, Myocardium
from .outputs import write_json
from .regions import FLAG_PX, RegionCurves, json_number, write_peaks_csv

QUANTITIES = ("E_rr", "E_cc", "rotation")
UNITS = {"E_rr": "%", "E_cc": "%", "rotation": "deg"}
RATE_QUANTITIES = ("E_rr", "E_cc")
CONVENTIONS = {
    "strain": "Green-Lagrange E = (F^T F - I)/2 with F = (I + grad L)^-1 at the current position of each "
              "frame-0 material point (L: pull-back Lagrangian field); percent",
    "directions": "E_rr radial, E_cc circumferential, along frame-0 directions about the LV centre",
    "rotation": "angle of R in the polar decomposition F = R U, degrees, positive counter-clockwise as "
                "displayed (seen from the apex in the standard short-axis orientation)",
    "regions": "mean over the frame-0 myocardium pixels (global), over each transmural third of the wall "
               "(endo, midwall, epi) and over each AHA segment",
    "layers": "position across the wall (r - r_in) / (r_out - r_in) about the LV centre, r_in and r_out the "
              f"smallest and largest radius of the mask in {LAYER_SECTOR_DEG:g}-degree sectors; thirds of it",
    "segments": "AHA 17-segment model, angles about the LV centre counter-clockwise as displayed; the anterior "
                "RV insertion separates the anterior segment from the anteroseptal one (basal 1-6, mid 7-12, "
                "60 deg each) or lies 15 deg before the septal one (apical 13-16, 90 deg each)",
    "peak": "value of largest magnitude over the frames, with its frame and time",
    "rate": "time derivative by central differences (one-sided at the ends)",
}


@dataclass
class StrainResult(RegionCurves):
    """Strain of every frame at the frame-0 myocardium pixels.

    ``points`` (K, 2) frame-0 positions as (x, y) px; ``positions`` (T, K, 2) their tracked positions;
    ``segment`` (K,) AHA segment numbers; ``depth`` (K,) position across the wall, 0 endocardial to 1
    epicardial (``Myocardium.transmural_depth``); ``values[q]`` (T, K) for q in ``QUANTITIES`` (percent or
    degrees, frame 0 is zero); ``frame_times_ms`` (T,) or None; ``spacing`` (row, column) mm or None.
    Regions, curves and peaks: ``regions.RegionCurves``.
    """

    points: np.ndarray
    positions: np.ndarray
    segment: np.ndarray
    depth: np.ndarray
    values: dict[str, np.ndarray]
    myocardium: Myocardium
    frame_times_ms: np.ndarray | None = None
    spacing: tuple[float, float] | None = None
    error_px: dict[str, np.ndarray] | None = None  # per region (T,): the tracking error estimate (regions.py)

    @property
    def rate_unit(self) -> str:
        return "%/s" if self.frame_times_ms is not None else "%/frame"

    def region_curves(self, region: str, selected: np.ndarray) -> dict[str, np.ndarray]:
        """Each quantity's mean curve over the selected points, E_rr and E_cc each followed by its rate."""
        curves = {}
        for quantity in QUANTITIES:
            curves[quantity] = self.curve(quantity, selected)
            if quantity in RATE_QUANTITIES:
                curves[f"{quantity}_rate"] = self.rate(curves[quantity])
        return curves

    def rate(self, curve: np.ndarray) -> np.ndarray:
        """Time derivative (T,) of a curve: per second when frame times are known, else per frame."""
        if self.frame_times_ms is None:
            return np.gradient(curve)
        return np.gradient(curve, np.asarray(self.frame_times_ms, dtype=np.float64) / 1000.0)


def inverse_gradients(lagrangian: np.ndarray, positions: np.ndarray,
                      spacing: tuple[float, float] | None = None) -> np.ndarray:
    """``G = I + grad L`` of every Lagrangian field at given current positions, in physical space.

    ``lagrangian`` (N, 2, H, W) pull-back fields in pixels; ``positions`` (N, K, 2) as (x, y) on each
    field's grid; returns (N, K, 2, 2) with index order (row, column): ``G[..., i, j] = d X_i / d p_j``.
    """
    gradient = fields_numpy.displacement_gradient(np.asarray(lagrangian, dtype=np.float64))  # (N, 2, 2, H, W)
    frames, height, width = gradient.shape[0], *gradient.shape[-2:]
    sampled = fields_numpy.values_at_points(gradient.reshape(frames, 4, height, width),
                                            np.asarray(positions, dtype=np.float64))  # (N, K, 4)
    gradient = sampled.reshape(*sampled.shape[:2], 2, 2)
    if spacing is not None:
        scale = np.asarray(spacing, dtype=np.float64)
        gradient = gradient * scale[:, None] / scale[None, :]
    return np.eye(2) + gradient


def material_deformation(lagrangian: np.ndarray, shape: tuple[int, int], points: np.ndarray,
                         spacing: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tracked positions (T, K, 2) of frame-0 points (K, 2) (x, y) and their deformation gradients
    ``F = (I + grad L)^-1`` (T, K, 2, 2) in physical space, the identity at frame 0.

    ``lagrangian`` (T-1, 2, H, W) must lie on the grid of the frame-0 myocardium mask of ``shape``
    (H, W); short- and long-axis strain both start here.
    """
    lagrangian = np.asarray(lagrangian)
    if lagrangian.ndim != 4 or lagrangian.shape[1] != 2:
        raise ValueError(f"expected Lagrangian fields of shape (T-1, 2, H, W), got {lagrangian.shape}")
    if lagrangian.shape[2:] != tuple(shape):
        raise ValueError(f"the myocardium mask {tuple(shape)} does not match the fields {lagrangian.shape[2:]}")
    positions = fields_numpy.track_points(np.asarray(lagrangian, dtype=np.float64), points)
    deformation = np.linalg.inv(inverse_gradients(lagrangian, positions[1:], spacing))
    identity = np.broadcast_to(np.eye(2), (1, *deformation.shape[1:]))
    return positions, np.concatenate([identity, deformation])


def frame_times(frame_times_ms: np.ndarray | None, frames: int) -> np.ndarray | None:
    """The frame times (T,) in ms as float64, or None; a ValueError when there are not ``frames`` of them."""
    times = None if frame_times_ms is None else np.asarray(frame_times_ms, dtype=np.float64)
    if times is not None and times.shape != (frames,):
        raise ValueError(f"{times.size} frame times for {frames} frames")
    return times


def green_lagrange_along(deformation: np.ndarray, directions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Green-Lagrange strain ``d.E.d`` in percent along each named unit direction (..., K, 2) from
    deformation gradients (..., K, 2, 2), all in (row, column) order; ``E = (F^T F - I) / 2``."""
    green = 0.5 * (np.swapaxes(deformation, -1, -2) @ deformation - np.eye(2))
    return {name: 100.0 * np.einsum("...ki,...kij,...kj->...k", direction, green, direction)
            for name, direction in directions.items()}


def reference_directions(points: np.ndarray, centre: tuple[float, float],
                         spacing: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit radial and circumferential directions (K, 2) in (row, column) order at frame-0 points (K, 2) (x, y).

    Radial points away from ``centre`` (x, y); circumferential is radial turned counter-clockwise as
    displayed. Directions are in physical space when ``spacing`` is given; NaN at the centre itself.
    """
    offset = np.stack([points[:, 1] - centre[1], points[:, 0] - centre[0]], axis=1)
    if spacing is not None:
        offset = offset * np.asarray(spacing, dtype=np.float64)
    length = np.linalg.norm(offset, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        radial = np.where(length > 0, offset / length, np.nan)
    circumferential = np.stack([-radial[:, 1], radial[:, 0]], axis=1)
    return radial, circumferential


def strain_components(deformation: np.ndarray, radial: np.ndarray, circumferential: np.ndarray) -> dict:
    """``E_rr``, ``E_cc`` (percent) and ``rotation`` (degrees) from deformation gradients (..., K, 2, 2)."""
    rotation = np.degrees(np.arctan2(deformation[..., 1, 0] - deformation[..., 0, 1],
                                     deformation[..., 0, 0] + deformation[..., 1, 1]))
    return green_lagrange_along(deformation, {"E_rr": radial, "E_cc": circumferential}) | {"rotation": rotation}


def compute_strain(lagrangian: np.ndarray, myocardium: Myocardium, spacing: tuple[float, float] | None = None,
                   frame_times_ms: np.ndarray | None = None) -> StrainResult:
    """Strain of frames 0..T-1 at the frame-0 myocardium pixels (see the module docstring for the method).

    Parameters
    ----------
    lagrangian : (T-1, 2, H, W) pull-back fields in pixels; ``lagrangian[t]`` on frame t+1 into frame 0.
    myocardium : the frame-0 myocardium, its centre and segments.
    spacing : (row, column) pixel size in mm, or None for square pixels.
    frame_times_ms : (T,) frame times in ms, or None (rates are then per frame).
    """
    points = myocardium.points()
    positions, deformation = material_deformation(lagrangian, myocardium.mask.shape, points, spacing)
    radial, circumferential = reference_directions(points, myocardium.centre, spacing)
    values = strain_components(deformation, radial[None], circumferential[None])
    times = frame_times(frame_times_ms, positions.shape[0])
    return StrainResult(points, positions, myocardium.segment_of(points), myocardium.transmural_depth(points),
                        values, myocardium, times, spacing)


def strain_summary(result: StrainResult) -> dict:
    """Everything about a strain result as one JSON-able dict: units, conventions, curves and peaks."""
    units = dict(UNITS) | {f"{q}_rate": result.rate_unit for q in RATE_QUANTITIES}
    regions = result.region_summaries()
    for entry in regions:
        if result.error_px is not None and entry["region"] in result.error_px:  # issue 27: where not to trust it
            estimate = result.error_px[entry["region"]]
            entry["curves"]["error_px"] = [json_number(v) for v in estimate]
            entry["unreliable_frames"] = [int(t) for t in np.flatnonzero(np.nan_to_num(estimate) > FLAG_PX)]
    segments = [{"number": s.number, "name": s.name, "start_deg": s.start_deg, "end_deg": s.end_deg}
                for s in result.myocardium.segments()]
    return {
        "units": units,
        "conventions": CONVENTIONS,
        "myocardium": result.myocardium.describe(),
        "segments": segments,
        **result.frame_axes(),
        "regions": regions,
        **({} if result.error_px is None else {"quality": _quality_note()}),
    }


def _quality_note() -> dict:
    """What ``error_px`` and ``unreliable_frames`` of the regions mean (docs/guide/quality.md)."""
    return {"error_px": "mean over the region's points of the estimated tracking error (predicted 90th "
                        "percentile of the end-point error, input pixels) at their tracked positions",
            "unreliable_frames": f"frames where error_px exceeds {FLAG_PX:g} px", "flag_threshold_px": FLAG_PX}


def region_kind(region: dict) -> str:
    """``global``, ``layer`` or ``segment`` for a region of ``strain_summary`` (files written before
    layers existed have no ``kind``: their regions are the global one and segments)."""
    return region.get("kind") or ("global" if region["region"] == "global" else "segment")


def region_label(region: dict) -> str:
    """How tables name a region of ``strain_summary``: its number and name for a segment, else its name."""
    return f"{region['region']} {region['name']}" if region_kind(region) == "segment" else region["name"]


def write_strain(folder: Path, result: StrainResult) -> dict:
    """Write ``strain.json``, ``strain.csv`` (one row per frame and region), ``peaks.csv`` and
    ``strain_points.npz`` (per-point values) into ``folder``; returns the JSON summary."""
    summary = strain_summary(result)
    write_json(folder / "strain.json", summary)
    rate = "pct_per_s" if result.frame_times_ms is not None else "pct_per_frame"
    quantity_columns = {"E_rr": "E_rr_pct", "E_cc": "E_cc_pct", "rotation": "rotation_deg",
                        "E_rr_rate": f"E_rr_rate_{rate}", "E_cc_rate": f"E_cc_rate_{rate}"}
    with open(folder / "strain.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        flagged = result.error_px is not None
        writer.writerow(["frame", "time_ms", "region", "name", *quantity_columns.values()]
                        + (["error_px", "unreliable"] if flagged else []))
        for region in summary["regions"]:
            for t in range(result.num_frames):
                time = "" if summary["time_ms"] is None else f"{summary['time_ms'][t]:.3f}"
                values = [region["curves"][q][t] for q in quantity_columns]
                quality = []
                if flagged:
                    estimate = region["curves"].get("error_px", [None] * result.num_frames)[t]
                    quality = ["" if estimate is None else f"{estimate:.3f}",
                               int(t in region.get("unreliable_frames", []))]
                writer.writerow([t, time, region["region"], region["name"],
                                 *["" if v is None else f"{v:.4f}" for v in values], *quality])
    write_peaks_csv(folder / "peaks.csv", summary)
    np.savez(folder / "strain_points.npz", points_xy_px=result.points.astype(np.float32),
             positions_xy_px=result.positions.astype(np.float32), segment=result.segment.astype(np.int16),
             transmural_depth=result.depth.astype(np.float32),
             **{f"{q}_{'pct' if UNITS[q] == '%' else 'deg'}": v.astype(np.float32) for q, v in result.values.items()})
    return summary
