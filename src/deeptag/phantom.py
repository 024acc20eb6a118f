"""Synthetic short-axis SPAMM tagging sequences with known dense motion (``deeptag simulate``).

No public tagged-MRI training set with dense ground truth exists, so deeptag makes its own: each seed
draws an anatomy, a motion and an acquisition, and gives frames, the exact Lagrangian fields, the LV
myocardium at frame 0 and tracked landmarks. The motion is defined by analytic pull-back maps
(``deeptag.phantom_motion``), the appearance and the imaging physics in ``deeptag.phantom_imaging``.

Parameter ranges (drawn uniformly unless said otherwise; lengths in mm are turned into pixels by the
drawn pixel size; 1.5 T values). Sources, abbreviated (full references in docs/simulator.md):
[Axel89] Axel & Dougherty, Radiology 1989 (SPAMM); [Ibra11] Ibrahim, JCMR 2011 (tagging review: spacing,
fading, flip-angle ramps); [Moore00] Moore et al., Radiology 2000 (normal strains from tagging);
[Buch90] Buchalter et al., Circulation 1990 (LV rotation); [Lorenz99] Lorenz et al., JCMR 1999 (LV/RV
dimensions); [Mess07] Messroghli et al., MRM 2007 (myocardial T1); [deBaz04] de Bazelaire et al.,
Radiology 2004 (body T1); [Gud95] Gudbjartsson & Patz, MRM 1995 (Rician noise).

======================================  =====================================  ====================
quantity                                range                                  source
======================================  =====================================  ====================
pixel size at 192 px                    0.65-1.6 mm, log-uniform               native FOV to ROI crop
tag spacing                             5-8.5 mm, kept to 4.8-9.5 px at 192    [Axel89, Ibra11]
tag angle / sharpness / depth A0        any / gamma 1-2.5 / 0.7-1.0            [Ibra11]
two orthogonal line sets                85 % (else one set)                    [Axel89]
frames / cycle / acquired fraction      16-25 / 700-1100 ms / 86-100 %         cine tagging
end-systole                             30-40 % of the cycle                   physiology
isovolumic relaxation / rapid filling   50-100 ms / 110-200 ms                 physiology
LV endo radius / wall at ED (mid)       17-30 mm / 6-12 mm                     [Lorenz99]
RV cavity depth / free wall             8-22 mm / 2.5-5 mm                     [Lorenz99]
cavity fractional area change           0.42-0.70 (75 %), 0.18-0.42 (25 %)     normal / reduced
hypokinetic sector                      20 %: 50-90 deg half width, 40-80 %    regional dysfunction
in-plane wall-area gain                 0-30 %                                 [Moore00]
rotation at endocardium (mid slice)     1-9 deg either sign, epi 40-85 % of it [Buch90, Moore00]
heart shift (systole / filling), drift  0-5 mm / 0-3 mm, 0-1.5 mm              cine
myocardium / liver / fat / muscle T1    850-1100 / 520-650 / 250-350 / 850-1050 ms  [Mess07, deBaz04]
RF depletion: T1_app = f T1             f = 0.45-1.0                           [Ibra11]
blood tag washout / inflow time         30-100 ms / 150-600 ms                 flow
blood signal at start / after inflow    0.8-1.2 / 1.15-1.8 x myocardium        bright-blood cine
complex noise (SNR = sqrt 2 / noise)    0.015-0.07 x myocardium                [Gud95]
acquired k-space fraction (PE / RO)     0.3-0.75 (>= 3.2 / tag px) / <= 0.95   typical matrices
Nyquist ghost / 8-bit quantisation      30 %: 1-6 % amplitude / 50 %           exported data
======================================  =====================================  ====================

These are the ``classic`` preset, the default. ``variety="wide"`` widens them through the levers of
``deeptag.phantom_variety`` (textures, anatomy, tag profiles, fading, SNR, resolution, zoom, frames,
motion, through-plane change, breathing); docs/simulator.md lists the wide ranges and their sources.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple, TypeVar

import numpy as np
import torch

from .errors import InputError
from .fields import jacobian_determinant
from .io import Sequence
from .myocardium import Myocardium
from .phantom_imaging import (MAP_CHANNELS, Anatomy, Blob, ImagingParameters, canvas_margin, omitted_defaults,
                              reference_maps, render_sequence)
from .phantom_motion import (AngularBasis, CardiacTiming, HeartGeometry, HeartMotion, lagrangian_fields,
                             track_material_points)
from .phantom_texture import textured_density
from .phantom_variety import Variety, Widening, variety as resolve_variety
from .phantom_widen import (widen_anatomy, widen_centre, widen_chest_wall, widen_geometry, widen_imaging,
                            widen_motion, widen_scale, widen_timing)
from .preprocess import heart_box

RESERVED_SEEDS = 900_000  # seeds from here on are kept out of training: examples and held-out tests
EXAMPLE_SEED = 900_024  # the shipped example: a grid-tagged, heart-centred view like the DeepTag data
LANDMARK_RINGS = (0.2, 0.5, 0.8)  # fractions of the wall thickness, endocardium to epicardium
LANDMARKS_PER_RING = 16
MIN_JACOBIAN = 0.1
Loaded = TypeVar("Loaded")
Motion = TypeVar("Motion")


@dataclass
class SimulatedFrames:
    """The frames and ground truth that every simulated sequence has, short- or long-axis view.

    ``images`` (T, H, W) float32 in [0, 1]; ``lagrangian`` (T, 2, H, W) float32 pixels, ``L_t`` on frame
    t's grid pointing into frame 0 (channel 0 rows, 1 columns; ``L_0 = 0``); ``myocardium_mask`` (H, W)
    bool, the LV myocardium at frame 0; ``landmarks`` (T, K, 2) float32 (x, y) pixels of material points
    of the LV wall; ``spacing`` (row, column) mm; ``frame_times`` (T,) ms. Each view's class adds its own
    fields and ``params``, every drawn parameter (JSON-serialisable).
    """

    images: np.ndarray
    lagrangian: np.ndarray
    myocardium_mask: np.ndarray
    landmarks: np.ndarray
    spacing: tuple[float, float]
    frame_times: np.ndarray

    @property
    def roi(self) -> tuple[int, int, int, int]:
        """The box covering the heart that the paper's pre-processing would crop (``heart_box``)."""
        return heart_box(self.myocardium_mask)


@dataclass
class SimulatedSequence(SimulatedFrames):
    """One simulated short-axis sequence and its ground truth: the fields of ``SimulatedFrames``, then
    ``lv_centre`` (x, y) pixels at frame 0 and ``params``, every drawn parameter (JSON-serialisable).
    """

    lv_centre: tuple[float, float]
    params: dict

    @property
    def tag_pattern(self) -> str:
        """``grid`` or ``lines`` (one set of tag lines, which shows no motion along itself)."""
        return "grid" if self.params["imaging"]["tag_grid"] else "lines"

    def myocardium(self, source: str = "simulator") -> Myocardium:
        """The true frame-0 myocardium and LV centre, as ``deeptag strain`` takes a myocardium."""
        return Myocardium(self.myocardium_mask, (float(self.lv_centre[0]), float(self.lv_centre[1])), source=source)

    def as_sequence(self, source: str) -> Sequence:
        """The images as ``track`` reads them from a saved file: spacing, times, landmarks and ROI."""
        return Sequence(images=self.images, source=source, spacing=self.spacing, frame_times=self.frame_times,
                        landmarks=self.landmarks, roi=self.roi)


def _coefficients(rng: np.random.Generator, first: int, last: int, spread: float, limit: float) -> list[list[float]]:
    """Fourier coefficients [[a_k, b_k]] for k = 1..last, zero below ``first``, N(0, spread) clipped."""
    return [[0.0, 0.0] if k < first else [float(v) for v in np.clip(rng.normal(0, spread, 2), -limit, limit)]
            for k in range(1, last + 1)]


def _anatomical_angle(angle: float, orientation: float, mirrored: bool) -> float:
    """Image polar angle of a direction given in the anatomical frame."""
    return orientation + (np.pi - angle if mirrored else angle)


def draw_parameters(rng: np.random.Generator, size: int, frames: int | None, wide: Widening | None = None) -> dict:
    """Draw one sequence's geometry, motion, timing, anatomy and acquisition (see the module table).

    ``wide`` widens the draws of its levers (``deeptag.phantom_widen``); the draws from ``rng`` are the
    same with or without it, so every classic sequence is unchanged.
    """
    u = rng.uniform
    while True:  # pixel size, tag spacing and heart size drawn jointly so that all stay plausible
        pixel_192 = float(np.exp(u(np.log(0.65), np.log(1.6))))
        tag_mm, endo_mm, wall_mm = u(5.0, 8.5), u(17.0, 30.0), u(6.0, 12.0)
        if 4.8 <= tag_mm / pixel_192 <= 9.5 and 20.0 <= (endo_mm + wall_mm) / pixel_192 <= 52.0:
            break
    if wide is not None:
        tag_mm, pixel_192 = widen_scale(wide, tag_mm, pixel_192, endo_mm + wall_mm)
    pixel = pixel_192 * 192.0 / size

    def px(mm):
        return float(mm / pixel)

    orientation, mirrored = float(np.radians(u(-35, 35))), bool(rng.random() < 0.2)
    reach = size / 2 - px(endo_mm + wall_mm) - 6 * size / 192
    centre = tuple(float(size / 2 - 0.5 + u(-1, 1) * min(0.12 * size, max(reach, 0.0))) for _ in range(2))
    if wide is not None:
        centre = widen_centre(wide, centre, size, reach)
    rv_depth_mm = u(8.0, 22.0)
    geometry = HeartGeometry(
        centre=centre, endo_radius=px(endo_mm), endo_shape=_coefficients(rng, 2, 4, 0.03, 0.06),
        wall_thickness=px(wall_mm), wall_shape=_coefficients(rng, 1, 3, 0.08, 0.15),
        rv_direction=float(_anatomical_angle(np.pi + np.radians(u(-5, 40)), orientation, mirrored)),
        rv_half_span=float(np.radians(u(50, 85))), rv_depth=px(rv_depth_mm), rv_wall=px(u(2.5, 5.0)),
        fat_thickness=px(u(0.5, 3.0)) if rng.random() < 0.6 else 0.0)
    if wide is not None:
        geometry = widen_geometry(wide, geometry, pixel, orientation, mirrored)
        rv_depth_mm = geometry.rv_depth * pixel

    area_change = u(0.42, 0.70) if rng.random() < 0.75 else u(0.18, 0.42)
    hypokinetic = rng.random() < 0.2
    rotation = np.radians(u(1.0, 9.0)) * rng.choice([-1.0, 1.0])
    rv_inward = px(min(u(2.0, 8.0), 0.5 * rv_depth_mm))

    def vector(max_mm):
        length, direction = px(u(0.0, max_mm)), u(0, 2 * np.pi)
        return (float(length * np.cos(direction)), float(length * np.sin(direction)))

    translation_systole, translation_filling, drift = vector(5.0), vector(3.0), vector(1.5)
    margin = max(px(u(8.0, 20.0)), 0.9 * geometry.endo_radius, 2.5 * rv_inward, 8.0 * size / 192,
                 3.0 * np.hypot(*translation_systole), 3.0 * np.hypot(*translation_filling))
    bumps = []
    for _ in range(int(rng.integers(0, 4))):
        sigma = px(u(6.0, 15.0))
        where, direction = u(0, 1) * (geometry.endo_radius + geometry.wall_thickness + geometry.rv_depth), u(0, 2 * np.pi)
        amplitude, heading = min(px(u(0.0, 1.5)), 0.15 * sigma), u(0, 2 * np.pi)
        bumps.append([centre[0] + where * np.cos(direction), centre[1] + where * np.sin(direction), sigma,
                      amplitude * np.cos(heading), amplitude * np.sin(heading)])
    motion = HeartMotion(
        area_change=float(area_change), area_change_shape=_coefficients(rng, 1, 2, 0.07, 0.12),
        hypokinesis_direction=float(u(0, 2 * np.pi)), hypokinesis_half_width=float(np.radians(u(50, 90))),
        hypokinesis_depth=float(u(0.4, 0.8)) if hypokinetic else 0.0, wall_area_gain=float(u(0.0, 0.3)),
        rotation_endo=float(rotation), rotation_epi=float(rotation * u(0.4, 0.85)),
        shear=float(u(0.0, 0.05)), shear_direction=float(u(0, 2 * np.pi)), rv_inward=rv_inward,
        translation_systole=translation_systole, translation_filling=translation_filling, drift=drift,
        margin=float(margin), bumps=[[float(v) for v in bump] for bump in bumps])
    if wide is not None:
        motion = widen_motion(wide, motion, pixel)

    cycle = u(700.0, 1100.0)
    if wide is not None and wide.on("frames"):
        cycle = wide.uniform("frames", wide.variety.cycle_ms)
    end_systole, relaxation, rapid = u(0.30, 0.40), u(50.0, 100.0) / cycle, u(110.0, 200.0) / cycle
    filled = end_systole + relaxation + rapid
    early = u(0.12, 0.35)
    timing = CardiacTiming(
        cycle_ms=float(cycle), frames=int(frames if frames is not None else rng.integers(16, 26)),
        acquisition_fraction=float(u(0.86, 1.0)), end_systole=float(end_systole),
        mid_systole_level=float(u(0.45, 0.65)), relaxation=float(relaxation),
        relaxation_level=float(u(0.88, 0.98)), rapid_filling=float(rapid), early_filling_level=float(early),
        atrial_onset=float(min(max(u(0.76, 0.88), filled + 0.06), 0.94)),
        diastasis_level=float(early * u(0.35, 0.85)), rotation_lead=float(u(0.0, 0.04)),
        untwist_level=float(u(0.35, 0.8)))
    if wide is not None:
        timing = widen_timing(wide, timing, frames)

    def blob(cx, cy, a, b, angle):
        return Blob(centre=(px(cx), px(cy)), axes=(px(a), px(b)), angle=float(angle),
                    shape=_coefficients(rng, 2, 4, 0.03, 0.06))

    subcutaneous_fat, chest_muscle = u(3, 25), u(6, 18)
    if wide is not None:
        subcutaneous_fat, chest_muscle = widen_chest_wall(wide, subcutaneous_fat, chest_muscle)
    front = endo_mm + wall_mm + 0.5 * rv_depth_mm + subcutaneous_fat + chest_muscle + u(0, 25)
    depth_ap = u(95.0, 130.0)
    body = blob(u(-60, -15), depth_ap - front, u(130, 180), depth_ap, u(-0.1, 0.1))
    lungs = [blob(u(55, 95), u(0, 40), u(35, 55), u(55, 90), u(-0.3, 0.3)),
             blob(u(-150, -105), u(0, 40), u(35, 55), u(55, 90), u(-0.3, 0.3))]
    liver = blob(u(-80, -20), u(70, 115), u(70, 110), u(40, 70), u(-0.4, 0.2)) if rng.random() < 0.85 else None
    heart_reach = endo_mm + wall_mm + 4.0
    aorta = None
    if rng.random() < 0.8:
        x, y, radius = u(10, 45), u(50, 80), u(9, 14)
        push = max(1.0, (heart_reach + radius) / np.hypot(x, y))
        aorta = [px(x * push), px(y * push), px(radius)]
    spine = [px(u(-25, 10)), px(u(95, 125)), px(u(14, 20))] if rng.random() < 0.8 else None
    structures = [[px(u(-120, 90)), px(u(-60, 110)), px(u(4, 25)), px(u(4, 25)), float(u(0, np.pi)),
                   float(u(0.3, 1.6)), float(u(500, 1300))] for _ in range(int(rng.integers(3, 13)))]
    papillary = []
    if rng.random() < 0.75:
        for direction in (-45.0, 110.0):
            angle = _anatomical_angle(np.radians(direction + rng.normal(0, 15)), orientation, mirrored)
            papillary.append([float(angle), float(u(0.6, 0.85)), px(u(2.0, 4.0))])
    for _ in range(int(rng.integers(0, 7))):  # trabeculae along the endocardium
        papillary.append([float(u(0, 2 * np.pi)), float(u(0.88, 0.97)), px(u(0.8, 2.0))])
    anatomy = Anatomy(
        orientation=orientation, mirrored=mirrored, body=body, subcutaneous_fat=px(subcutaneous_fat),
        chest_muscle=px(chest_muscle), lungs=lungs, lung_gap=px(u(1, 6)), liver=liver, aorta=aorta, spine=spine,
        structures=structures, papillary=papillary, fat_shape=_coefficients(rng, 1, 4, 0.7, 1.2),
        density={"myocardium": 1.0, "blood": u(0.8, 1.2), "fat": u(1.1, 1.7), "muscle": u(0.75, 1.1),
                 "soft_tissue": u(0.6, 1.2), "liver": u(0.55, 1.0), "lung": u(0.05, 0.2), "air": u(0.0, 0.03),
                 "bone": u(0.35, 0.8)},
        t1_ms={"myocardium": u(850, 1100), "blood": 1500.0, "fat": u(250, 350), "muscle": u(850, 1050),
               "soft_tissue": u(600, 1200), "liver": u(520, 650), "lung": u(1100, 1300), "air": 1000.0,
               "bone": u(350, 700)})
    if wide is not None:
        anatomy = widen_anatomy(wide, anatomy, geometry, pixel)

    spacing_px = tag_mm / pixel
    grid = bool(rng.random() < 0.85)
    phase_encoding = max(u(0.3, 0.75), min(0.75, 3.2 / spacing_px))  # keep the tags resolved
    readout = max(phase_encoding, u(0.5, 0.95))
    resolution = (phase_encoding, readout) if rng.random() < 0.5 else (readout, phase_encoding)
    imaging = ImagingParameters(
        tag_spacing=float(spacing_px), tag_angle=float(u(0, np.pi / 2 if grid else np.pi)),
        tag_phase=(float(u(0, spacing_px)), float(u(0, spacing_px))), tag_sharpness=float(u(1.0, 2.5)),
        tag_grid=grid, tag_depth=float(u(0.7, 1.0)), rf_depletion=float(u(0.45, 1.0)),
        blood_washout_ms=float(u(30, 100)), blood_inflow_ms=float(u(150, 600)),
        blood_inflow_level=float(u(1.15, 1.8)), flow_texture=float(u(0.02, 0.07)),
        through_plane_signal=float(u(0.0, 0.15)), through_plane_tags=float(u(0.0, 0.2)),
        shading=[float(v) for v in rng.uniform(-0.2, 0.2, 5)],
        resolution=(float(resolution[0]), float(resolution[1])), resolution_taper=float(u(0.1, 0.4)),
        noise=float(u(0.015, 0.07)), ghost=float(u(0.01, 0.06)) if rng.random() < 0.3 else 0.0,
        saturated_fraction=float(u(0.005, 0.025)), bit_depth=8 if rng.random() < 0.5 else 0)
    if wide is not None:
        imaging = widen_imaging(wide, imaging, tag_mm, pixel)
    return {"pixel_mm": float(pixel), "geometry": geometry, "motion": motion, "timing": timing,
            "anatomy": anatomy, "imaging": imaging}


def landmark_sources(geometry: HeartGeometry, rng: np.random.Generator, circular: bool = False) -> np.ndarray:
    """Frame-0 positions (K, 2) as (x, y) of landmarks on rings through the LV wall, at the fractions
    ``LANDMARK_RINGS`` of its thickness; ``circular`` puts them on circles of radius ``endo_radius + f
    wall_thickness``, the wall's shape aside (the short-axis slices of a long-axis heart)."""
    angles = rng.uniform(0, 2 * np.pi) + np.arange(LANDMARKS_PER_RING) * 2 * np.pi / LANDMARKS_PER_RING
    dx, dy = np.cos(angles), np.sin(angles)
    if circular:
        rings = [geometry.endo_radius + f * geometry.wall_thickness for f in LANDMARK_RINGS]
    else:
        endo, epi = geometry.radii(AngularBasis(dx, dy, np.ones_like(dx)))[:2]
        rings = [endo + f * (epi - endo) for f in LANDMARK_RINGS]
    return np.concatenate([np.stack((geometry.centre[0] + r * dx, geometry.centre[1] + r * dy), axis=1)
                           for r in rings])


def json_ready(value: object, omit_defaults: bool = True) -> object:
    """Dataclasses, tuples and NumPy scalars to JSON-ready Python values, for a sequence's ``params``.

    ``omit_defaults`` leaves out the fields of a dataclass marked ``omit_default`` while at their default,
    so that the params of classic sequences stay as they were; the long-axis simulator keeps them all.
    """
    if hasattr(value, "__dataclass_fields__"):
        omitted = omitted_defaults(value) if omit_defaults else set()
        return {key: json_ready(item, omit_defaults) for key, item in asdict(value).items() if key not in omitted}
    if isinstance(value, dict):
        return {key: json_ready(item, omit_defaults) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item, omit_defaults) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class DiffeomorphicMotion(NamedTuple):
    """A motion scaled down until its map is clearly diffeomorphic on the grid (``shrink_until_diffeomorphic``)."""

    motion: Motion
    lagrangian: np.ndarray
    scale: float
    min_jacobian: float


def shrink_until_diffeomorphic(motion: Motion, fields_of: Callable[[Motion], np.ndarray], label: str,
                               min_jacobian: float = MIN_JACOBIAN) -> DiffeomorphicMotion:
    """Scale ``motion`` (anything with ``scaled(factor)``) by 0.8 at a time until the Jacobian determinant
    of its Lagrangian fields ``fields_of(motion)`` exceeds ``min_jacobian`` on the whole grid, so that the
    ground truth is a clean diffeomorphism. Eight tries at most: a failure is a bug in a motion model, not
    bad luck, and raises a RuntimeError that names ``label`` (the seed).
    """
    scale = 1.0
    for _ in range(8):
        scaled = motion.scaled(scale)
        lagrangian = fields_of(scaled)
        worst = float(jacobian_determinant(torch.from_numpy(lagrangian)).min())
        if worst > min_jacobian:
            return DiffeomorphicMotion(scaled, lagrangian, scale, worst)
        scale *= 0.8
    raise RuntimeError(f"{label}: the motion is not diffeomorphic even scaled by {scale:.2f}")


def check_size_and_frames(size: int, frames: int | None) -> None:
    """Refuse, with a ValueError, a frame side below 32 pixels or fewer than 2 frames."""
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if frames is not None and frames < 2:
        raise ValueError(f"a sequence needs at least 2 frames, got {frames}")


def simulate_sequence(seed: int, size: int = 192, frames: int | None = None, clean: bool = False,
                      variety: str | Variety = "classic") -> SimulatedSequence:
    """Simulate one short-axis tagging sequence with known motion.

    Parameters
    ----------
    seed : the random seed; the same seed (and variety) gives identical arrays.
    size : frame side in pixels (frames are square); pixel quantities scale with ``size / 192``.
    frames : number of frames T, or None to draw it (16..25; 16..40 with the ``frames`` lever).
    clean : switch off the effects that break ``frame_t = frame_0 ∘ (id + L_t)`` (tag fading, blood
        washout and inflow, through-plane changes, coil shading, ghosting, noise, quantisation); for
        tests of the ground truth.
    variety : ``"classic"`` (the default, the original distribution), ``"wide"`` (every lever of
        ``deeptag.phantom_variety`` on) or a ``Variety`` with some levers on, e.g.
        ``variety("wide", levers=["textures", "snr"])``. The ground truth is exact in every preset.

    Returns
    -------
    SimulatedSequence with images (T, size, size), lagrangian (T, 2, size, size), landmarks (T, 48, 2).
    """
    check_size_and_frames(size, frames)
    rng = np.random.default_rng(seed)
    chosen = resolve_variety(variety)
    wide = Widening(chosen, seed) if chosen.levers else None
    drawn = draw_parameters(rng, size, frames, wide)
    geometry, timing = drawn["geometry"], drawn["timing"]
    times = timing.frame_times()
    profiles = timing.profiles(times)

    motion, lagrangian, motion_scale, worst = shrink_until_diffeomorphic(
        drawn["motion"], lambda scaled: lagrangian_fields(geometry, scaled, profiles, size, size), f"seed {seed}")
    margin = canvas_margin(lagrangian)
    maps = reference_maps(geometry, drawn["anatomy"], size, size, margin, rng, edge=max(1.0, size / 192))
    if wide is not None and wide.on("textures"):  # in material coordinates: the ground truth stays exact
        maps[0], wide.record["texture"] = textured_density(maps[0], maps[MAP_CHANNELS.index("myocardium")],
                                                           wide.rng("textures"), chosen, size / 192)
    images, mask = render_sequence(maps, margin, lagrangian, times, profiles["contraction"], drawn["imaging"],
                                   drawn["anatomy"].density["blood"], rng, clean=clean)

    sources = landmark_sources(geometry, rng)
    landmarks = track_material_points(geometry, motion, profiles, sources)
    displacement = np.hypot(lagrangian[:, 0], lagrangian[:, 1])[:, mask]
    steps = np.hypot(*np.diff(landmarks, axis=0).transpose(2, 0, 1))
    params = json_ready({"seed": seed, "size": size, "clean": clean, **drawn, "motion": motion,
                         "motion_scale": motion_scale, "min_jacobian": worst,
                         "peak_displacement_px": float(displacement.max()),
                         "peak_interframe_landmark_px": float(steps.max())})
    if wide is not None:
        params["variety"] = json_ready({"name": chosen.name, "levers": sorted(chosen.levers), "drawn": wide.record})
    return SimulatedSequence(
        images=images, lagrangian=lagrangian.astype(np.float32), myocardium_mask=mask,
        landmarks=landmarks.astype(np.float32), spacing=(drawn["pixel_mm"], drawn["pixel_mm"]),
        frame_times=times.astype(np.float64), lv_centre=geometry.centre, params=params)


def save_simulated(sequence: SimulatedFrames, path: str | Path, compact: bool = False,
                   extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write one ``.npz`` that ``deeptag.io.read_sequence`` reads, with the ground truth alongside; the
    sequence has ``lv_centre`` and ``params`` besides its ``SimulatedFrames`` fields.

    Keys: ``images``, ``landmarks``, ``spacing``, ``frame_times``, ``roi``, ``gt_lagrangian``,
    ``myocardium_mask``, ``lv_centre`` and ``params_json`` (a 0-d string array); no pickled objects. ``compact`` stores images
    rounded to 1/1024 and fields to 1/128 px, as float16 in a compressed file, for shipping. ``extra`` adds
    arrays of other kinds of simulated sequence (the long-axis ``view`` and ``centreline``) under their keys.
    """
    path = Path(path)
    images, lagrangian = sequence.images, sequence.lagrangian
    if compact:
        images = (np.round(images * 1024) / 1024).astype(np.float16)
        lagrangian = (np.round(lagrangian * 128) / 128).astype(np.float16)
    arrays = {"images": images, "landmarks": sequence.landmarks.astype(np.float32),
              "spacing": np.asarray(sequence.spacing, dtype=np.float64),
              "frame_times": np.asarray(sequence.frame_times, dtype=np.float64),
              "roi": np.asarray(sequence.roi, dtype=np.int64),
              "gt_lagrangian": lagrangian,
              "myocardium_mask": sequence.myocardium_mask.astype(bool),
              "lv_centre": np.asarray(sequence.lv_centre, dtype=np.float64),
              **(extra or {}),
              "params_json": np.array(json.dumps(sequence.params))}
    (np.savez_compressed if compact else np.savez)(path, **arrays)
    return path


def ground_truth_fields(data: np.lib.npyio.NpzFile) -> dict:
    """The fields that every kind of simulated sequence shares (images, ground truth, spacing, times,
    params), as keyword arguments of its class, from an open file written by ``save_simulated``."""
    return {"images": data["images"].astype(np.float32), "lagrangian": data["gt_lagrangian"].astype(np.float32),
            "myocardium_mask": data["myocardium_mask"].astype(bool), "landmarks": data["landmarks"].astype(np.float32),
            "spacing": tuple(float(v) for v in data["spacing"]), "frame_times": data["frame_times"],
            "params": json.loads(str(data["params_json"]))}


def read_simulated_file(path: str | Path, build: Callable[[np.lib.npyio.NpzFile], Loaded], kind: str) -> Loaded:
    """``build(data)`` of the open ``.npz`` at ``path``; a missing or unreadable file or key is an
    ``InputError`` saying the file is not a ``kind``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return build(data)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"not a {kind} ({error})", path) from None


def load_simulated(path: str | Path) -> SimulatedSequence:
    """Read a file written by ``save_simulated`` back, ground truth included."""
    return read_simulated_file(path, lambda data: SimulatedSequence(
        **ground_truth_fields(data), lv_centre=tuple(float(v) for v in data["lv_centre"])), "simulated sequence")


def example_path() -> Path:
    """The shipped example sequence (seed ``EXAMPLE_SEED``), with its ground truth."""
    return Path(__file__).resolve().parent / "examples" / "simulated_example.npz"
