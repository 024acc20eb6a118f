"""Known, analytic heart motion for the tagged-MRI simulator.

The motion is defined backwards: for every frame ``t`` an analytic map ``psi_t`` takes a pixel ``p``
of frame ``t`` to its material (frame-0) position ``X = psi_t(p)``. The Lagrangian ground truth is
then exact, ``L_t(p) = psi_t(p) - p``, and a frame is the reference appearance pulled back through
``psi_t``. ``psi_t`` is the composition, from the current frame inwards, of

1. a slow rigid drift of the whole image (imperfect breath-hold; linear in time, or part of a breath),
2. a rigid shift of the heart, blended smoothly to zero around it,
3. a kinematic LV model in polar coordinates about the frame-0 LV centre (after Arts et al. 1992
   and the tagged-MRI simulator of Waks, Prince and Douglas 1996): the cavity area shrinks by a
   regional fractional area change, the wall keeps its area up to a gain (in-plane thickening from
   through-plane shortening), so endocardium moves more than epicardium; twist with a transmural
   gradient, a regional circumferential shear, an inward motion of the RV free wall, all blended to
   zero over a margin around the heart with C1 joins,
4. a few smooth Gaussian bumps of regional motion.

Every part is a smooth monotone map in its own coordinates; the simulator checks the Jacobian
determinant of ``id + L_t`` on the grid and scales the motion down where it is not positive.
Pixels and angles follow the project's conventions: points (x, y) = (column, row), polar angles
``atan2(y - cy, x - cx)`` in the image (y down).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, NamedTuple

import numpy as np
from scipy.interpolate import PchipInterpolator


def smoothstep(x: np.ndarray) -> np.ndarray:
    """C1 step from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class AngularBasis:
    """cos(k theta), sin(k theta) for k = 1..4 of the polar angle of (dx, dy), without any arctan."""

    def __init__(self, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray) -> None:
        safe = np.where(radius > 1e-9, radius, 1.0)
        cos1 = np.where(radius > 1e-9, dx / safe, 1.0)
        sin1 = np.where(radius > 1e-9, dy / safe, 0.0)
        self.cos = [cos1]
        self.sin = [sin1]
        for _ in range(3):
            self.cos.append(cos1 * self.cos[-1] - sin1 * self.sin[-1])
            self.sin.append(sin1 * self.cos[-2] + cos1 * self.sin[-1])

    def series(self, coefficients: list[list[float]]) -> np.ndarray:
        """sum_k a_k cos(k theta) + b_k sin(k theta) for ``coefficients`` [[a_1, b_1], [a_2, b_2], ...]."""
        total = 0.0
        for k, (a, b) in enumerate(coefficients):
            if a or b:
                total = total + a * self.cos[k] + b * self.sin[k]
        return total

    def cos_from(self, direction: float) -> np.ndarray:
        """cos(theta - direction)."""
        return self.cos[0] * float(np.cos(direction)) + self.sin[0] * float(np.sin(direction))

    def sin_from(self, direction: float) -> np.ndarray:
        """sin(theta - direction)."""
        return self.sin[0] * float(np.cos(direction)) - self.cos[0] * float(np.sin(direction))


def angular_bump(basis: AngularBasis, direction: float, half_width: float) -> np.ndarray:
    """A smooth bump of the polar angle: 1 at ``direction``, 0 beyond ``half_width`` (rad, < pi)."""
    floor = float(np.cos(half_width))
    return np.clip((basis.cos_from(direction) - floor) / (1.0 - floor), 0.0, 1.0)


class HeartRadii(NamedTuple):
    """Boundaries of the heart along some polar angles: LV endocardium and epicardium (px), the RV cavity
    depth relative to ``rv_depth`` (0..1), the RV free-wall thickness factor (0..1, tapering to the
    insertion points) and the outer boundary of the heart including the epicardial fat (px)."""

    endo: np.ndarray
    epi: np.ndarray
    rv: np.ndarray
    taper: np.ndarray
    outer: np.ndarray


@dataclass
class HeartGeometry:
    """Frame-0 (material) shape of the heart in pixels: an LV ring with smooth radius perturbations
    and an RV crescent on its epicardium.

    Shape coefficients are relative Fourier coefficients [[a_1, b_1], [a_2, b_2], ...] of the polar angle.
    """

    centre: tuple[float, float]
    endo_radius: float
    endo_shape: list[list[float]]
    wall_thickness: float
    wall_shape: list[list[float]]
    rv_direction: float
    rv_half_span: float
    rv_depth: float
    rv_wall: float
    fat_thickness: float

    def radii(self, basis: AngularBasis) -> HeartRadii:
        """Every boundary of the heart along the polar angles of ``basis``."""
        endo = self.endo_radius * (1.0 + basis.series(self.endo_shape))
        epi = endo + self.wall_thickness * (1.0 + basis.series(self.wall_shape))
        bump = angular_bump(basis, self.rv_direction, self.rv_half_span)
        rv = bump * (2.0 - bump)
        taper = np.minimum(4.0 * bump, 1.0)
        outer = epi + self.rv_depth * rv + self.rv_wall * taper + self.fat_thickness
        return HeartRadii(endo, epi, rv, taper, outer)


@dataclass
class CardiacTiming:
    """The cardiac cycle and the normalised temporal profiles of the motion (phases in [0, 1] of the cycle).

    Contraction rises from end-diastole (phase 0) to end-systole, stays nearly still through isovolumic
    relaxation, drops during rapid early filling, creeps through diastasis and returns to 0 with the
    atrial kick at phase 1. Profiles are monotone cubic (PCHIP) interpolants, hence C1 and free of overshoot.
    The drift profile is linear in time; with ``breaths`` > 0 it is that part of a breath instead,
    ``(sin(2 pi breaths p + phase) - sin(phase)) / 2`` over the acquired fraction ``p`` (wide preset).
    """

    cycle_ms: float
    frames: int
    acquisition_fraction: float
    end_systole: float
    mid_systole_level: float
    relaxation: float
    relaxation_level: float
    rapid_filling: float
    early_filling_level: float
    atrial_onset: float
    diastasis_level: float
    rotation_lead: float
    untwist_level: float
    breaths: float = field(default=0.0, metadata={"omit_default": True})
    breath_phase: float = field(default=0.0, metadata={"omit_default": True})

    def frame_times(self) -> np.ndarray:
        """Acquisition times of the frames in ms, frame 0 at end-diastole (the trigger)."""
        step = self.cycle_ms * self.acquisition_fraction / self.frames
        return np.arange(self.frames) * step

    def profiles(self, times: np.ndarray) -> dict[str, np.ndarray]:
        """Normalised temporal profiles at ``times`` (ms): contraction, rotation, filling shift, drift."""
        phase = np.asarray(times, dtype=float) / self.cycle_ms
        es = self.end_systole
        filled = es + self.relaxation + self.rapid_filling
        contraction = PchipInterpolator(
            [0.0, 0.04, 0.5 * es, es, es + self.relaxation, filled, self.atrial_onset, 1.0],
            [0.0, 0.02, self.mid_systole_level, 1.0, self.relaxation_level, self.early_filling_level,
             self.diastasis_level, 0.0])
        rotation = PchipInterpolator(
            [0.0, es - self.rotation_lead, es + self.relaxation, filled, self.atrial_onset, 1.0],
            [0.0, 1.0, self.untwist_level, 0.5 * self.early_filling_level, 0.5 * self.diastasis_level, 0.0])
        filling = PchipInterpolator([0.0, es, filled, self.atrial_onset, 1.0], [0.0, 0.0, 1.0, 0.4, 0.0])
        last = max(float(phase[-1]), 1e-9)
        drift = phase / last
        if self.breaths:
            drift = 0.5 * (np.sin(2 * np.pi * self.breaths * drift + self.breath_phase) - np.sin(self.breath_phase))
        return {"contraction": contraction(phase), "rotation": rotation(phase),
                "filling": filling(phase), "drift": drift}


@dataclass
class HeartMotion:
    """Peak amplitudes of the motion, in pixels and radians (see the module docstring).

    ``area_change_floor`` is the lowest regional fractional area change: 0 lets a sector at most stand
    still (akinesis), a negative floor lets a sector whose hypokinesis depth exceeds 1 bulge outwards in
    systole (dyskinesis, wide preset).
    """

    area_change: float
    area_change_shape: list[list[float]]
    hypokinesis_direction: float
    hypokinesis_half_width: float
    hypokinesis_depth: float
    wall_area_gain: float
    rotation_endo: float
    rotation_epi: float
    shear: float
    shear_direction: float
    rv_inward: float
    translation_systole: tuple[float, float]
    translation_filling: tuple[float, float]
    drift: tuple[float, float]
    margin: float
    bumps: list[list[float]] = field(default_factory=list)  # [x, y, sigma, dx, dy] each
    area_change_floor: float = field(default=0.0, metadata={"omit_default": True})

    def scaled(self, factor: float) -> "HeartMotion":
        """The same motion with every amplitude multiplied by ``factor``."""
        return HeartMotion(
            area_change=self.area_change * factor, area_change_shape=self.area_change_shape,
            hypokinesis_direction=self.hypokinesis_direction, hypokinesis_half_width=self.hypokinesis_half_width,
            hypokinesis_depth=self.hypokinesis_depth, wall_area_gain=self.wall_area_gain * factor,
            rotation_endo=self.rotation_endo * factor, rotation_epi=self.rotation_epi * factor,
            shear=self.shear * factor, shear_direction=self.shear_direction, rv_inward=self.rv_inward * factor,
            translation_systole=tuple(v * factor for v in self.translation_systole),
            translation_filling=tuple(v * factor for v in self.translation_filling),
            drift=tuple(v * factor for v in self.drift), margin=self.margin,
            bumps=[[x, y, s, dx * factor, dy * factor] for x, y, s, dx, dy in self.bumps],
            area_change_floor=self.area_change_floor * factor)

    def regional_area_change(self, basis: AngularBasis) -> np.ndarray:
        """Peak fractional area change of the cavity as a function of the polar angle."""
        regional = 1.0 + basis.series(self.area_change_shape)
        regional = regional * (1.0 - self.hypokinesis_depth
                               * smoothstep(angular_bump(basis, self.hypokinesis_direction,
                                                         self.hypokinesis_half_width)))
        return np.clip(self.area_change * regional, self.area_change_floor, 0.85)


def _lv_radial(r, endo, epi, margin, area_change, base_area_change, contraction, gain):
    """The radial part of the LV model: ``R**2 - r**2`` at current radii ``r`` (``R`` the material radius),
    and the current endocardial and epicardial radii.

    The cavity loses ``contraction * area_change`` of its area (``area_change`` varies with the angle);
    the wall keeps its area times ``1 + gain * contraction``. Inside the cavity a quartic in ``r / endo_now``
    joins the wall with C1 and vanishes like ``r**2`` at the centre, where the regional area change is
    blended into ``base_area_change`` so that the map is smooth there too; beyond the epicardium a cubic
    Hermite takes the wall's value and slope down to 0 at ``margin`` pixels further out.
    """
    gain = gain * contraction
    share = gain / (1.0 + gain)

    def current_endo(fractional_change):
        loss = contraction * fractional_change * endo ** 2  # cavity area lost, / pi
        return loss, np.sqrt(endo ** 2 - loss)

    loss, endo_now = current_endo(area_change)
    epi_now = np.sqrt(endo_now ** 2 + (1.0 + gain) * (epi ** 2 - endo ** 2))

    def wall(radius):
        return loss * (1.0 - share) + share * (endo ** 2 - radius ** 2)

    rho2 = np.minimum((r / endo_now) ** 2, 1.0)
    blend = rho2 * (2.0 - rho2)  # 0 at the centre, 1 with zero slope at the endocardium
    cavity_loss, cavity_endo = current_endo(base_area_change + (area_change - base_area_change) * blend)
    rho2 = (r / cavity_endo) ** 2
    cavity = (cavity_loss * (2.0 - rho2) + cavity_endo ** 2 * share * (1.0 - rho2)) * rho2
    s = np.clip((r - epi_now) / margin, 0.0, 1.0)
    outside = (wall(epi_now) * (1.0 + 2.0 * s) - 2.0 * margin * epi_now * share * s) * (1.0 - s) ** 2
    delta = np.where(r < endo_now, cavity, np.where(r <= epi_now, wall(r), outside))
    return delta, endo_now, epi_now


def pullback(geometry: HeartGeometry, motion: HeartMotion, profiles: dict[str, np.ndarray],
             x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Material (frame-0) positions ``psi_t(p)`` of current-frame positions ``p = (x, y)`` in pixels.

    ``profiles`` values and ``x``, ``y`` broadcast together, e.g. profiles of shape (T, 1, 1) with a
    (H, W) grid, or (T, 1) with (T, K) points. Returns ``(X, Y)`` of the broadcast shape.
    """
    contraction = profiles["contraction"]
    cx, cy = geometry.centre
    # 1. whole-image drift
    qx = x - motion.drift[0] * profiles["drift"]
    qy = y - motion.drift[1] * profiles["drift"]

    # 2. rigid shift of the heart, blended to zero over the margin around it
    shift_x = motion.translation_systole[0] * contraction + motion.translation_filling[0] * profiles["filling"]
    shift_y = motion.translation_systole[1] * contraction + motion.translation_filling[1] * profiles["filling"]
    dx, dy = qx - cx - shift_x, qy - cy - shift_y
    r = np.hypot(dx, dy)
    heart = 1.0 - smoothstep((r - geometry.radii(AngularBasis(dx, dy, r)).outer) / motion.margin)
    qx = qx - heart * shift_x
    qy = qy - heart * shift_y

    # 3. LV contraction and thickening, RV free wall, twist and shear, in polar coordinates
    dx, dy = qx - cx, qy - cy
    r = np.hypot(dx, dy)
    basis = AngularBasis(dx, dy, r)
    endo, epi, rv, _, outer = geometry.radii(basis)
    margin = outer - epi + motion.margin
    delta, endo_now, epi_now = _lv_radial(r, endo, epi, margin, motion.regional_area_change(basis),
                                          min(motion.area_change, 0.85), contraction, motion.wall_area_gain)
    radius = np.sqrt(np.maximum(r ** 2 + delta, 0.0))

    rv_ramp = np.maximum(0.8 * geometry.rv_depth * rv, 1.0)  # from the septum into the RV cavity
    rv_end = epi + geometry.rv_depth * rv + geometry.rv_wall + geometry.fat_thickness
    rv_window = smoothstep((r - epi_now) / rv_ramp) * (1.0 - smoothstep((r - rv_end) / motion.margin))
    radius = radius + contraction * motion.rv_inward * rv * rv_window

    transmural = smoothstep((r - endo_now) / (epi_now - endo_now))
    fade = 1.0 - smoothstep((r - epi_now) / margin)
    angle = (profiles["rotation"] * (motion.rotation_endo + (motion.rotation_epi - motion.rotation_endo) * transmural)
             + contraction * motion.shear * basis.sin_from(motion.shear_direction) * smoothstep(r / endo_now)) * fade
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    X = cx + radius * (basis.cos[0] * cos_a + basis.sin[0] * sin_a)
    Y = cy + radius * (basis.sin[0] * cos_a - basis.cos[0] * sin_a)

    # 4. regional bumps
    for bx, by, sigma, bdx, bdy in motion.bumps:
        weight = contraction * np.exp(-((X - bx) ** 2 + (Y - by) ** 2) / (2.0 * sigma ** 2))
        X = X + bdx * weight
        Y = Y + bdy * weight
    return X, Y


def lagrangian_fields(geometry: HeartGeometry, motion: HeartMotion, profiles: dict[str, np.ndarray],
                      height: int, width: int) -> np.ndarray:
    """Exact Lagrangian fields ``L_t = psi_t - id`` of every frame, (T, 2, H, W) float32 in pixels,
    channel 0 along rows (y), channel 1 along columns (x)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    shaped = {name: np.asarray(value, dtype=np.float32)[:, None, None] for name, value in profiles.items()}
    X, Y = pullback(geometry, motion, shaped, cols[None], rows[None])
    fields = np.stack((Y - rows, X - cols), axis=1)
    at_rest = np.all([np.asarray(value) == 0 for value in profiles.values()], axis=0)
    fields[at_rest] = 0.0  # psi_t is the identity there; remove the rounding of the polar round trip
    return fields


PointMap = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""A map of points ``(x, y) -> (X, Y)`` (pixels), elementwise over arrays of any shape."""


def central_jacobian(mapping: PointMap, x: np.ndarray, y: np.ndarray,
                     step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(dX/dx, dY/dx, dX/dy, dY/dy)`` of ``mapping`` at the points (x, y), by central differences of
    half-width ``step``; the simulator's maps are analytic, so this is as exact as their rounding allows."""
    xp, yp = mapping(x + step, y)
    xm, ym = mapping(x - step, y)
    dX_dx, dY_dx = (xp - xm) / (2 * step), (yp - ym) / (2 * step)
    xp, yp = mapping(x, y + step)
    xm, ym = mapping(x, y - step)
    dX_dy, dY_dy = (xp - xm) / (2 * step), (yp - ym) / (2 * step)
    return dX_dx, dY_dx, dX_dy, dY_dy


def invert_map(mapping: PointMap, target_x: np.ndarray, target_y: np.ndarray, x: np.ndarray, y: np.ndarray,
               step: float, tolerance: float, iterations: int,
               min_determinant: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """The points ``(x, y)`` that ``mapping`` takes to ``(target_x, target_y)``, by Newton's method from
    the first guess ``(x, y)`` with the Jacobian of ``central_jacobian``: the simulator's maps are given
    one way and the ground truth needs the other.

    Stops once the largest error is below ``tolerance`` or after ``iterations`` steps and returns the
    points and the largest error at the last evaluation (not below ``tolerance``: not converged).
    ``min_determinant`` replaces Jacobian determinants smaller in magnitude (a guard against near-singular
    steps); None leaves them as they are.
    """
    residual = np.inf
    for _ in range(iterations):
        mapped_x, mapped_y = mapping(x, y)
        error_x, error_y = mapped_x - target_x, mapped_y - target_y
        residual = max(np.abs(error_x).max(), np.abs(error_y).max())
        if residual < tolerance:
            break
        a11, a21, a12, a22 = central_jacobian(mapping, x, y, step)
        determinant = a11 * a22 - a12 * a21
        if min_determinant is not None:
            determinant = np.where(np.abs(determinant) > min_determinant, determinant, min_determinant)
        x = x - (a22 * error_x - a12 * error_y) / determinant
        y = y - (-a21 * error_x + a11 * error_y) / determinant
    return x, y, residual


def track_material_points(geometry: HeartGeometry, motion: HeartMotion, profiles: dict[str, np.ndarray],
                          points: np.ndarray, tolerance: float = 1e-7, iterations: int = 50) -> np.ndarray:
    """Positions in every frame of material points, (T, K, 2) as (x, y), from their frame-0 positions
    ``points`` (K, 2): the ``p`` with ``psi_t(p) = X``, by Newton's method on the analytic map
    (``invert_map``), started at ``X``.
    """
    shaped = {name: np.asarray(value, dtype=float)[:, None] for name, value in profiles.items()}
    frames = len(next(iter(profiles.values())))
    target_x = np.broadcast_to(np.asarray(points[:, 0], dtype=float), (frames, len(points)))
    target_y = np.broadcast_to(np.asarray(points[:, 1], dtype=float), (frames, len(points)))
    px, py, _ = invert_map(partial(pullback, geometry, motion, shaped), target_x, target_y,
                           target_x.copy(), target_y.copy(),
                           step=1e-4, tolerance=tolerance, iterations=iterations)
    return np.stack((px, py), axis=-1)
