"""The wide preset's draws: each function takes a classic draw and, where its lever is on, replaces it
by a draw from the lever's own generator (``deeptag.phantom_variety.Widening``).

``deeptag.phantom.draw_parameters`` calls these at fixed points, after its own draws, so the classic
random stream is never touched. Lengths come in mm and leave in pixels (``pixel`` mm per pixel at the
simulated size); ranges and sources are in ``Variety`` and docs/simulator.md.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .phantom_imaging import Anatomy, ImagingParameters
from .phantom_motion import CardiacTiming, HeartGeometry, HeartMotion
from .phantom_variety import Widening


def _angle(angle: float, orientation: float, mirrored: bool) -> float:
    """Image polar angle of a direction given in the anatomical frame (as ``phantom._anatomical_angle``)."""
    return orientation + (np.pi - angle if mirrored else angle)


def widen_scale(wide: Widening, tag_mm: float, pixel_192: float, heart_mm: float) -> tuple[float, float]:
    """Tag spacing (``tags``: 5-9 mm) and displayed pixel size at 192 px (``zoom``: 0.6-1.8 mm), drawn so
    that the tags span ``tag_px`` and the LV epicardial radius ``heart_px`` pixels at 192 px."""
    v = wide.variety
    if wide.on("tags"):
        tag_mm = wide.uniform("tags", v.tag_mm)
        if not wide.on("zoom"):
            tag_mm = float(np.clip(tag_mm, v.tag_px[0] * pixel_192, v.tag_px[1] * pixel_192))
    if wide.on("zoom"):
        for _ in range(200):
            candidate = wide.log_uniform("zoom", v.pixel_mm)
            if (v.tag_px[0] <= tag_mm / candidate <= v.tag_px[1]
                    and v.heart_px[0] <= heart_mm / candidate <= v.heart_px[1]):
                pixel_192 = candidate
                break
    wide.record.update(tag_mm=tag_mm, pixel_192_mm=pixel_192)
    return tag_mm, pixel_192


def widen_centre(wide: Widening, centre: tuple[float, float], size: int, reach: float) -> tuple[float, float]:
    """An off-centre LV (``anatomy``): up to ``centre_offset`` of the side from the middle, heart kept in view."""
    if not wide.on("anatomy"):
        return centre
    limit = min(wide.variety.centre_offset * size, max(reach, 0.0))
    return tuple(float(size / 2 - 0.5 + wide.uniform("anatomy", (-1.0, 1.0)) * limit) for _ in range(2))


def widen_geometry(wide: Widening, geometry: HeartGeometry, pixel: float, orientation: float,
                   mirrored: bool) -> HeartGeometry:
    """A non-circular LV (elliptic 2nd harmonic up to ``ellipticity``) and a wider range of RV shapes."""
    if not wide.on("anatomy"):
        return geometry
    v, rng = wide.variety, wide.rng("anatomy")
    second = np.clip(rng.normal(0, v.ellipticity / 2, 2), -v.ellipticity, v.ellipticity)
    shape = [[0.0, 0.0], [float(x) for x in second]]
    shape += [[float(x) for x in np.clip(rng.normal(0, 0.03, 2), -0.06, 0.06)] for _ in range(2)]
    return replace(
        geometry, endo_shape=shape,
        rv_direction=float(_angle(np.pi + np.radians(rng.uniform(-20, 60)), orientation, mirrored)),
        rv_half_span=float(np.radians(rng.uniform(*v.rv_half_span_deg))),
        rv_depth=float(rng.uniform(*v.rv_depth_mm) / pixel), rv_wall=float(rng.uniform(*v.rv_wall_mm) / pixel))


def widen_chest_wall(wide: Widening, subcutaneous_fat: float, chest_muscle: float) -> tuple[float, float]:
    """Subcutaneous fat and chest-wall muscle thickness in mm (``anatomy``): lean to obese."""
    if not wide.on("anatomy"):
        return subcutaneous_fat, chest_muscle
    v = wide.variety
    return wide.uniform("anatomy", v.subcutaneous_fat_mm), wide.uniform("anatomy", v.chest_muscle_mm)


def widen_anatomy(wide: Widening, anatomy: Anatomy, geometry: HeartGeometry, pixel: float) -> Anatomy:
    """Papillary muscles and trabeculae (``anatomy``), tissue signal (``textures``) and T1 (``fading``)."""
    v = wide.variety
    if wide.on("anatomy"):
        rng = wide.rng("anatomy")
        papillary = []
        if rng.random() < 0.9:
            for direction in (-45.0, 110.0):
                angle = _angle(np.radians(direction + rng.normal(0, 20)), anatomy.orientation, anatomy.mirrored)
                papillary.append([float(angle), float(rng.uniform(0.55, 0.85)),
                                  float(rng.uniform(*v.papillary_mm) / pixel)])
        for _ in range(int(rng.integers(v.trabeculae[0], v.trabeculae[1] + 1))):
            papillary.append([float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.82, 0.98)),
                              float(rng.uniform(*v.trabecula_mm) / pixel)])
        anatomy = replace(anatomy, papillary=papillary)
    density, t1 = dict(anatomy.density), dict(anatomy.t1_ms)
    if wide.on("textures"):
        u = wide.rng("textures").uniform
        density.update(blood=u(0.6, 1.6), fat=u(0.8, 2.0), muscle=u(0.6, 1.2), soft_tissue=u(0.4, 1.4),
                       liver=u(0.4, 1.1))
    if wide.on("fading"):
        u = wide.rng("fading").uniform
        t1.update(myocardium=u(*v.myocardium_t1_ms), blood=u(*v.blood_t1_ms), fat=u(*v.fat_t1_ms),
                  liver=u(*v.liver_t1_ms), muscle=u(900, 1200))
    return replace(anatomy, density={key: float(x) for key, x in density.items()},
                   t1_ms={key: float(x) for key, x in t1.items()})


def widen_motion(wide: Widening, motion: HeartMotion, pixel: float) -> HeartMotion:
    """Hypokinetic, akinetic or dyskinetic sectors and a wider twist (``motion``); a larger whole-image
    drift (``breathing``)."""
    v = wide.variety
    if wide.on("motion"):
        rng = wide.rng("motion")
        kind, depth_hypo, depth_dys = rng.random(), rng.uniform(*v.hypokinesis_depth), rng.uniform(*v.dyskinesis_depth)
        depth, floor = 0.0, 0.0
        if kind < v.dyskinesis_fraction:
            depth, floor = depth_dys, v.dyskinesis_floor
        elif kind < v.dyskinesis_fraction + v.hypokinesis_fraction:
            depth = depth_hypo
        rotation = np.radians(rng.uniform(*v.rotation_deg)) * rng.choice([-1.0, 1.0])
        motion = replace(motion, hypokinesis_direction=float(rng.uniform(0, 2 * np.pi)),
                         hypokinesis_half_width=float(np.radians(rng.uniform(30, 90))),
                         hypokinesis_depth=float(depth), area_change_floor=float(floor),
                         rotation_endo=float(rotation), rotation_epi=float(rotation * rng.uniform(*v.rotation_epi)))
    if wide.on("breathing"):
        rng = wide.rng("breathing")
        length, direction = rng.uniform(*v.drift_mm) / pixel, rng.uniform(0, 2 * np.pi)
        motion = replace(motion, drift=(float(length * np.cos(direction)), float(length * np.sin(direction))))
    return motion


def widen_timing(wide: Widening, timing: CardiacTiming, frames: int | None) -> CardiacTiming:
    """16-40 frames over 80-100 % of the cycle (``frames``; the cycle length is drawn by the caller) and
    half the sequences drifting along part of a breath rather than linearly (``breathing``)."""
    v = wide.variety
    if wide.on("frames"):
        rng = wide.rng("frames")
        drawn = int(rng.integers(v.frames[0], v.frames[1] + 1))
        timing = replace(timing, frames=int(frames if frames is not None else drawn),
                         acquisition_fraction=float(rng.uniform(*v.acquisition_fraction)))
    if wide.on("breathing"):
        rng = wide.rng("breathing")
        breathing, breaths, phase = rng.random() < 0.5, rng.uniform(*v.breaths_per_sequence), rng.uniform(0, 2 * np.pi)
        if breathing:
            timing = replace(timing, breaths=float(breaths), breath_phase=float(phase))
    return timing


def widen_imaging(wide: Widening, imaging: ImagingParameters, tag_mm: float, pixel: float) -> ImagingParameters:
    """Tag profile, pattern and depth (``tags``), flip-angle schedule (``fading``), SNR (``snr``), acquired
    resolution and window (``resolution``), through-plane change (``through_plane``) and the display
    curve (``display``)."""
    v, record = wide.variety, wide.record
    if wide.on("tags"):
        rng = wide.rng("tags")
        profile = str(rng.choice(v.tag_profiles))
        grid = bool(rng.random() < v.grid_fraction)
        angle = rng.uniform(0, np.pi / 2 if grid else np.pi)
        sharpness, depth = rng.uniform(1.0, 3.0), rng.uniform(*v.tag_depth)
        cspamm_depletion = rng.uniform(1.0, 3.0)
        imaging = replace(imaging, tag_profile=profile, tag_grid=grid, tag_angle=float(angle),
                          tag_sharpness=float(sharpness), tag_depth=float(depth))
        if profile == "cspamm":  # flip-angle ramps slow the fading of the tag component
            imaging = replace(imaging, rf_depletion=float(cspamm_depletion))
    if wide.on("fading"):
        rng = wide.rng("fading")
        constant, flip, tr, ramp = (rng.random() < v.constant_flip_fraction, rng.uniform(*v.flip_deg),
                                    rng.uniform(*v.tr_ms), rng.uniform(0.8, 1.0))
        recovery = rng.uniform(*v.recovery_ms)
        constant = constant and imaging.tag_profile != "cspamm"  # CSPAMM comes with ramped flip angles
        record.update(flip_schedule="constant" if constant else "ramp")
        if constant:
            record.update(flip_deg=float(flip), tr_ms=float(tr))
            rate = -np.log(np.cos(np.radians(flip))) / tr
            imaging = replace(imaging, rf_rate=float(rate), recovery_ms=float(recovery), rf_depletion=1.0)
        elif imaging.tag_profile != "cspamm":
            imaging = replace(imaging, rf_depletion=float(ramp))
    if wide.on("snr"):
        snr = wide.log_uniform("snr", v.snr)
        record.update(snr=snr)
        # ``noise`` is the deviation of the complex noise, sqrt(2) times that of each channel, which is what
        # the magnitude image shows at these SNRs: SNR = mean / standard deviation in a flat region
        imaging = replace(imaging, noise=float(np.sqrt(2.0) / snr))
    if wide.on("resolution"):
        rng = wide.rng("resolution")
        readout, factor = rng.uniform(*v.acquired_mm), rng.uniform(*v.phase_encoding_factor)
        taper = rng.uniform(*v.taper)
        finest = 0.425 * tag_mm * (1.0 - taper / 2)  # the tag frequency stays well inside the window
        readout_mm, phase_mm = min(readout, finest), min(readout * factor, finest)
        fractions = (min(1.0, pixel / phase_mm), min(1.0, pixel / readout_mm))  # (phase encoding, readout)
        resolution = fractions if rng.random() < 0.5 else fractions[::-1]
        record.update(acquired_mm=[float(phase_mm), float(readout_mm)])
        imaging = replace(imaging, resolution=(float(resolution[0]), float(resolution[1])),
                          resolution_taper=float(taper))
    if wide.on("through_plane"):
        rng = wide.rng("through_plane")
        imaging = replace(imaging, through_plane_signal=float(rng.uniform(*v.through_plane_signal)),
                          through_plane_tags=float(rng.uniform(*v.through_plane_tags)))
    if wide.on("display"):
        imaging = replace(imaging, display_gamma=wide.log_uniform("display", v.display_gamma))
    return imaging
