"""Synthetic long-axis (2-, 3-, 4-chamber) SPAMM tagging sequences with known motion.

The short-axis simulator (``deeptag.phantom``) draws an LV ring; this module draws the LV as a U-shaped
wall from the base (the mitral annulus) to the apex, cut by the imaging plane of one long-axis view, with
the chambers that the view shows around it, and moves it with a kinematic model of systole and filling.
The imaging physics and the randomised appearance are the short-axis ones, imported from
``deeptag.phantom_imaging`` (tags, fading, blood washout and inflow, shading, k-space blur, Rician noise)
and the acquisition and timing are drawn by ``deeptag.phantom.draw_parameters``; only the pixel size and
the tag spacing are redrawn, for the larger field of view that a long-axis view needs.

Anatomical frame (pixels): ``h`` along the LV long axis from the epicardial apex towards the base, ``w``
across it; wall 1 of the view lies at ``w < 0``, wall 2 at ``w > 0`` (``long_axis.WALLS``: 4CH inferoseptal
and anterolateral, 2CH inferior and anterior, 3CH inferolateral and anteroseptal). The frame is turned by
a random angle (and mirrored in 20 % of the sequences) into the image.

Motion. Unlike the short-axis model this one is defined forwards, material point ``X`` to its place
``phi_t(X) = X + d_t(X)`` in frame t, as the sum of

1. longitudinal shortening: the LV moves towards the apex by ``c(t) eps(w) G(h)`` with ``G' = 1`` above
   the apical cap (so the walls shorten uniformly by the fraction ``eps``, the apex stays still and the
   annulus descends by about ``eps`` times the LV length), ``eps`` blended across the cavity from wall 1 to
   wall 2, fading over the atria above the base and beside the heart;
2. lateral motion at each level: the endocardium moves inwards by ``k`` times the cavity half-width and
   the wall thickens by the fraction ``theta``, fading outside the epicardium;
3. an apical swing (the in-plane trace of apical rotation and rocking), an inward motion of the RV free
   wall (4CH), a rigid shift of the heart in systole and filling, and a slow drift of the whole image.

All parts are smooth (C1). The pull-back map that the ground truth needs, ``psi_t = phi_t^{-1}``, is found
on the pixel grid by Newton's method (to 1e-5 px); the landmarks and the centreline points are moved by
``phi_t`` itself, exactly. The simulator checks the Jacobian determinant of the pull-back on the grid and
scales the motion down where it is not clearly positive, as the short-axis one does.

Parameter ranges (uniform unless said otherwise). Sources: [Lang15] Lang et al., JASE 2015 (chamber
quantification: LV diameters, wall thickness, LA and RV size); [Kawel15] Kawel-Boehm et al., JCMR 2015 (CMR
normal values); [Yingchon14] Yingchoncharoen et al., JASE 2013 (normal GLS, -19.7 %, 95 % CI -20.4 to -18.9);
[Rogers91] Rogers et al., Circulation 1991 (tagged-MRI longitudinal shortening and annulus motion);
[Moore00] Moore et al., Radiology 2000 (normal strains from tagging); [Sutherland94] (mitral annulus
displacement 12-15 mm); short-axis imaging ranges as in ``deeptag.phantom``.

=======================================  ===================================  ==================
quantity                                 range                                source
=======================================  ===================================  ==================
pixel size at 192 px                     1.05-1.7 mm, log-uniform             FOV of a LAX cine
tag spacing                              6-9 mm, kept to 4.8-9.5 px at 192    as short axis
LV endocardial length base to apex (ED)  62-85 mm                             [Lang15, Kawel15]
LV endocardial half-width (ED)           19-28 mm                             [Lang15] LVIDd 38-58 mm
wall thickness / apical cap fraction     6-11 mm / 0.55-0.85 of it            [Lang15]
longitudinal shortening of each wall     0.13-0.21 (75 %), 0.04-0.13 (25 %)    [Yingchon14, Rogers91]
lateral endocardial motion / thickening  0.22-0.38 of half-width / 0.15-0.45  [Lang15] FS 25-43 %
apical swing                             0-3 mm                               in-plane trace
LA length / half-width                   38-55 mm / 16-24 mm                  [Lang15]
RV (4CH) length fraction / width         0.7-0.88 of LV / 14-24 mm; wall 2.5-5 [Lang15]
heart shift (systole / filling), drift   0-4 mm / 0-3 mm, 0-1.5 mm            cine
=======================================  ===================================  ==================

The resulting peak global longitudinal strain (Green-Lagrange, mean over the myocardium) lies around
-12 to -20 % for the normal draws: the engineering shortening of the walls, 13-21 %, is -(1 - (1 - e)^2)/2
in Green-Lagrange terms, -12.2 to -18.8 %.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .phantom import (SimulatedFrames, SimulatedSequence, check_size_and_frames, draw_parameters, ground_truth_fields,
                      json_ready, landmark_sources, read_simulated_file, save_simulated, shrink_until_diffeomorphic)
from .phantom_imaging import Blob, TissueCanvas, canvas_margin, render_sequence, soft_inside
from .phantom_imaging import reference_maps as short_axis_maps
from .phantom_motion import (CardiacTiming, central_jacobian, invert_map, lagrangian_fields, smoothstep,
                             track_material_points)

VIEWS = ("2ch", "3ch", "4ch")
LANDMARK_DEPTHS = (0.2, 0.5, 0.8)  # fractions of the wall thickness, endocardium to epicardium
LANDMARKS_PER_LINE = 16


@dataclass
class LongAxisHeart:
    """Frame-0 shape of the heart in one long-axis view, pixels in the anatomical frame (module docstring),
    placed in the image by ``apex`` (x, y) and the angle ``axis_angle`` (rad, image polar angle of the
    direction from the apex to the base; y down) and ``mirrored`` (wall 1 on the other side)."""

    view: str
    apex: tuple[float, float]
    axis_angle: float
    mirrored: bool
    base_height: float  # epicardial apex to the base plane
    endo_half_width: float
    wall: float
    apical_wall: float
    la: tuple[float, float, float, float]  # centre h, centre w, half length, half width
    rv: tuple[float, float, float, float] | None  # base height of RV apex, w of its centre, half width, free wall
    ra: tuple[float, float, float, float] | None
    aorta: tuple[float, float, float] | None  # w of its axis, radius, tilt (rad)
    fat: float

    # ---- frames
    def to_anatomical(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image points to (h, w)."""
        c, s = np.cos(self.axis_angle), np.sin(self.axis_angle)
        dx, dy = x - self.apex[0], y - self.apex[1]
        h = c * dx + s * dy
        w = -s * dx + c * dy
        return h, (-w if self.mirrored else w)

    def to_image(self, h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(h, w) to image points (x, y)."""
        w = -w if self.mirrored else w
        c, s = np.cos(self.axis_angle), np.sin(self.axis_angle)
        return self.apex[0] + c * h - s * w, self.apex[1] + s * h + c * w

    # ---- shape
    @property
    def endo_length(self) -> float:
        return self.base_height - self.apical_wall

    def endo_width(self, h: np.ndarray) -> np.ndarray:
        """Half-width of the LV cavity at height ``h`` (0 below the endocardial apex, constant above the base)."""
        below = np.clip((self.base_height - h) / self.endo_length, 0.0, 1.0)
        return self.endo_half_width * np.sqrt(np.clip(1.0 - below ** 2, 0.0, 1.0))

    def motion_width(self, h: np.ndarray, soft: float = 0.1) -> np.ndarray:
        """``endo_width`` with a finite slope at the cavity's tip, for the motion: ``B sqrt(q)`` becomes
        ``B (sqrt(q + d^2) - d) / (sqrt(1 + d^2) - d)``, ``q = 1 - ((base - h) / L)^2`` clipped to [0, 1]."""
        below = np.clip((self.base_height - h) / self.endo_length, 0.0, 1.0)
        q = np.clip(1.0 - below ** 2, 0.0, 1.0)
        return self.endo_half_width * (np.sqrt(q + soft ** 2) - soft) / (np.sqrt(1.0 + soft ** 2) - soft)

    def centreline(self) -> np.ndarray:
        """Frame-0 mid-wall apex and the two mid-wall annulus points (walls 1 and 2), (3, 2) as (x, y)."""
        half = self.endo_half_width + 0.5 * self.wall
        h = np.array([0.5 * self.apical_wall, self.base_height, self.base_height])
        w = np.array([0.0, -half, half])
        return np.stack(self.to_image(h, w), axis=1)

    def wall_points(self, depths=LANDMARK_DEPTHS, count: int = LANDMARKS_PER_LINE) -> np.ndarray:
        """Frame-0 material points (K, 2) as (x, y) on lines through the wall at ``depths`` (0 endo, 1 epi),
        evenly spread along each line from the wall-1 annulus over the apex to the wall-2 annulus."""
        out = []
        for depth in depths:
            half_w = self.endo_half_width + depth * self.wall
            half_h = self.endo_length + depth * self.apical_wall
            angles = np.linspace(-0.5 * np.pi, 0.5 * np.pi, count)
            h = self.base_height - half_h * np.cos(angles)
            w = half_w * np.sin(angles)
            out.append(np.stack(self.to_image(h, w), axis=1))
        return np.concatenate(out)


def _ellipse_depth(h, w, ch, cw, ah, aw):
    """First-order signed distance (pixels, positive inside) to the ellipse centred (ch, cw), semi-axes ah, aw."""
    u, v = (h - ch) / ah, (w - cw) / aw
    rho = np.sqrt(u * u + v * v)
    grad = np.sqrt((u / ah) ** 2 + (v / aw) ** 2) / np.maximum(rho, 1e-9)
    return (1.0 - rho) / np.maximum(grad, 1e-9)


@dataclass
class LongAxisMotion:
    """Peak amplitudes (fractions, pixels) of the long-axis motion (module docstring)."""

    shortening: tuple[float, float]
    lateral: float
    thickening: float
    apical_swing: float
    rv_inward: float
    translation_systole: tuple[float, float]
    translation_filling: tuple[float, float]
    drift: tuple[float, float]
    margin: float

    def scaled(self, factor: float) -> "LongAxisMotion":
        return dataclasses.replace(
            self, shortening=tuple(v * factor for v in self.shortening), lateral=self.lateral * factor,
            thickening=self.thickening * factor, apical_swing=self.apical_swing * factor,
            rv_inward=self.rv_inward * factor,
            translation_systole=tuple(v * factor for v in self.translation_systole),
            translation_filling=tuple(v * factor for v in self.translation_filling),
            drift=tuple(v * factor for v in self.drift))


def _ramp_integral(x):
    """Integral of smoothstep from 0 to x (C2 ramp: 0 below 0, slope 1 beyond 1)."""
    x = np.asarray(x)
    inside = np.clip(x, 0.0, 1.0)
    return np.where(x >= 1.0, 0.5 + (x - 1.0), inside ** 3 - 0.5 * inside ** 4)


def displacement(heart: LongAxisHeart, motion: LongAxisMotion, profiles: dict, x, y):
    """The forward displacement ``d_t(X)`` (dx, dy) pixels of material points ``X = (x, y)``; ``profiles``
    and the points broadcast together (e.g. (T, 1, 1) profiles with an (H, W) grid)."""
    c = profiles["contraction"]
    h, w = heart.to_anatomical(x, y)
    a = np.abs(w)
    base, wall = heart.base_height, heart.wall
    outer = heart.endo_half_width + wall + (0.0 if heart.rv is None else 2 * heart.rv[2] + heart.rv[3])
    margin = motion.margin
    beside = 1.0 - smoothstep((a - outer) / margin)
    above = 1.0 - smoothstep((h - base) / (0.6 * base))
    below = smoothstep((h + margin) / margin)
    window = beside * above * below

    # 1. longitudinal shortening towards the apex
    across = smoothstep(0.5 + 0.5 * w / heart.endo_half_width)
    eps = motion.shortening[0] + (motion.shortening[1] - motion.shortening[0]) * across
    cap = max(heart.apical_wall, 1.0)
    dh = -c * eps * cap * _ramp_integral(h / cap) * above * beside

    # 2. lateral: cavity narrows, wall thickens
    endo = heart.motion_width(h)
    tau = smoothstep((a - endo) / wall)
    spared = smoothstep((h - 0.5 * heart.apical_wall) / heart.apical_wall)
    inward_endo = motion.lateral * endo
    linear = motion.lateral * a * smoothstep(endo / (0.5 * wall))  # fades to 0 at the cavity's tip
    inward = linear * (1.0 - tau) + (inward_endo - motion.thickening * spared * wall) * tau
    fade_out = 1.0 - smoothstep((a - endo - wall) / margin)
    dw = -c * np.sign(w) * inward * fade_out * above

    # 3. RV free wall (4CH), apical swing, rigid shift, drift
    if heart.rv is not None:
        rv_apex, rv_centre, rv_half, rv_wall = heart.rv
        free = np.exp(-0.5 * ((w - (rv_centre - rv_half)) / (0.5 * rv_half)) ** 2)
        dw = dw + c * motion.rv_inward * free * smoothstep((h - rv_apex) / (0.3 * base)) * above
    swing = profiles["rotation"] * motion.apical_swing * (1.0 - smoothstep(h / base)) * window
    dw = dw + swing
    if heart.mirrored:
        dw = -dw
    cos_a, sin_a = np.cos(heart.axis_angle), np.sin(heart.axis_angle)
    dx = cos_a * dh - sin_a * dw
    dy = sin_a * dh + cos_a * dw
    heart_window = (1.0 - smoothstep((a - outer - margin) / margin)) * \
        (1.0 - smoothstep((h - 1.6 * base) / margin)) * smoothstep((h + 2 * margin) / margin)
    for vector, profile in ((motion.translation_systole, c), (motion.translation_filling, profiles["filling"])):
        dx = dx + vector[0] * profile * heart_window
        dy = dy + vector[1] * profile * heart_window
    return dx + motion.drift[0] * profiles["drift"], dy + motion.drift[1] * profiles["drift"]


def forward(heart, motion, profiles, x, y):
    """``phi_t(X)``: positions (x, y) in every frame of material points (broadcast as ``displacement``)."""
    dx, dy = displacement(heart, motion, profiles, x, y)
    return x + dx, y + dy


def pullback_fields(heart: LongAxisHeart, motion: LongAxisMotion, profiles: dict, height: int, width: int,
                    tolerance: float = 1e-5, iterations: int = 30) -> np.ndarray:
    """Exact Lagrangian fields ``L_t = psi_t - id`` (T, 2, H, W) float32 pixels (channel 0 rows), with
    ``psi_t = phi_t^{-1}`` solved on the grid by Newton's method (``phantom_motion.invert_map``)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    shaped = {name: np.asarray(value, dtype=np.float64)[:, None, None] for name, value in profiles.items()}
    frames = len(profiles["contraction"])
    px, py = np.broadcast_to(cols, (frames, height, width)), np.broadcast_to(rows, (frames, height, width))
    dx, dy = displacement(heart, motion, shaped, px, py)
    X, Y, residual = invert_map(partial(forward, heart, motion, shaped), px, py, px - dx, py - dy, step=1e-3,
                                tolerance=tolerance, iterations=iterations, min_determinant=1e-6)
    if residual >= tolerance:
        raise RuntimeError(f"the pull-back did not converge (residual {residual:.2g} px)")
    return np.stack((Y - rows, X - cols), axis=1).astype(np.float32)


def deformation_gradient(heart, motion, profiles, points: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """The exact deformation gradient ``F = d phi_t / d X`` (T, K, 2, 2), index order (row, column) as
    ``deeptag.strain``, at frame-0 points (K, 2) as (x, y); by central differences of the analytic map."""
    shaped = {name: np.asarray(value, dtype=np.float64)[:, None] for name, value in profiles.items()}
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    dx_dx, dy_dx, dx_dy, dy_dy = central_jacobian(partial(forward, heart, motion, shaped), x, y, step)
    return np.stack([np.stack([dy_dy, dy_dx], -1), np.stack([dx_dy, dx_dx], -1)], -2)


def reference_maps(heart: LongAxisHeart, tissues: dict, body: dict, height: int, width: int, margin: int,
                   rng: np.random.Generator, edge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The material maps ``MAP_CHANNELS`` on a canvas (C, H + 2 margin, W + 2 margin) and the LV myocardium
    depth (Hc, Wc): pixels with depth > 0 are in the LV wall. Canvas pixel (i, j) is (x, y) = (j - m, i - m).
    ``tissues`` holds the signal densities and T1 (ms) per tissue, ``{"density": {...}, "t1_ms": {...}}``."""
    dens, t1 = tissues["density"], tissues["t1_ms"]
    canvas = TissueCanvas(height, width, margin, rng, dens, t1)
    scale, paint = canvas.scale, canvas.paint
    fine, mid, coarse = canvas.fine, canvas.mid, canvas.coarse

    h, w = heart.to_anatomical(canvas.cols, canvas.rows)
    muscle = dens["myocardium"] * (1 + 0.03 * fine + 0.04 * mid)
    # body, chest wall, lungs, liver below the apex (anatomical frame of the heart)
    trunk = body["trunk"].depth(h, w)
    paint(soft_inside(trunk, edge), dens["soft_tissue"] * (1 + 0.06 * mid + 0.08 * coarse), t1["soft_tissue"])
    paint(soft_inside(trunk, edge) - soft_inside(trunk - body["fat"], edge), dens["fat"] * (1 + 0.04 * mid), t1["fat"])
    for lung in body["lungs"]:
        paint(soft_inside(lung.depth(h, w), edge) * soft_inside(trunk - body["fat"] - 3 * scale, edge),
              dens["lung"] * (1.0 + 3.0 * np.clip(fine - 2.2, 0.0, None) + 0.15 * coarse), t1["lung"])
    if body["liver"] is not None:
        paint(soft_inside(body["liver"].depth(h, w), edge) * soft_inside(trunk - body["fat"], edge),
              dens["liver"] * (1 + 0.07 * fine + 0.06 * mid), t1["liver"])

    base, wall = heart.base_height, heart.wall
    lv_epi = _ellipse_depth(h, w, base, 0.0, base, heart.endo_half_width + wall)
    lv_epi = np.where(h > base, heart.endo_half_width + wall - np.abs(w), lv_epi)
    heart_outline = np.where(h > base, np.minimum(heart.endo_half_width + 0.4 * wall - np.abs(w), heart.la[0] - h),
                             lv_epi)
    la = _ellipse_depth(h, w, heart.la[0], heart.la[1], heart.la[2], heart.la[3])
    heart_outline = np.maximum(heart_outline, la + 2.5 * scale)
    chambers = [("la", la)]
    if heart.rv is not None:
        rv_apex, rv_centre, rv_half, rv_wall = heart.rv
        rv = _ellipse_depth(h, w, base, rv_centre, base - rv_apex, rv_half)
        heart_outline = np.maximum(heart_outline, rv + rv_wall)
        chambers.append(("rv", rv))
    if heart.ra is not None:
        ra = _ellipse_depth(h, w, *heart.ra)
        heart_outline = np.maximum(heart_outline, ra + 2.0 * scale)
        chambers.append(("ra", ra))
    if heart.aorta is not None:
        offset, radius, tilt = heart.aorta
        along = h - base
        aorta = np.minimum(np.minimum(radius - np.abs(w - offset - np.tan(tilt) * along), along + 0.15 * base),
                           0.9 * base - along)
        heart_outline = np.maximum(heart_outline, aorta + 2.0 * scale)
        chambers.append(("aorta", aorta))
    # pericardial fat, then the walls of the chambers, their blood, then the LV
    fat = heart.fat * np.clip(0.8 + 0.6 * coarse, 0.0, 2.0)
    paint(soft_inside(heart_outline + fat, edge) * soft_inside(trunk - body["fat"], edge),
          dens["fat"] * (1 + 0.04 * mid), t1["fat"])
    paint(soft_inside(heart_outline, edge), muscle, t1["myocardium"])
    for name, depth in chambers:
        paint(soft_inside(depth, edge), dens["blood"], t1["blood"], 1.0)
    lv_endo = _ellipse_depth(h, w, base, 0.0, heart.endo_length, heart.endo_half_width)
    lv_endo = np.where(h > base, heart.endo_half_width - np.abs(w), lv_endo)
    lv_wall = np.minimum(np.minimum(lv_epi, -lv_endo), base - h)
    paint(soft_inside(lv_wall, edge), muscle, t1["myocardium"])
    cavity = np.minimum(lv_endo, base + 0.5 * (heart.la[0] - base) - h)
    paint(soft_inside(cavity, edge), dens["blood"], t1["blood"], 1.0)
    return canvas.maps(soft_inside(lv_wall, edge)), lv_wall.astype(np.float32)


@dataclass
class LongAxisSequence(SimulatedFrames):
    """One simulated long-axis sequence and its ground truth.

    The fields of ``deeptag.phantom.SimulatedFrames`` (``myocardium_mask`` the LV wall at frame 0), then
    ``view`` ('2ch', '3ch', '4ch'), ``centreline`` (T, 3, 2): the mid-wall apex and the wall-1 and wall-2
    mid-wall annulus points (x, y) px in every frame, moved by the true motion, and ``params``.
    """

    view: str
    centreline: np.ndarray
    params: dict

    @property
    def lv_centre(self) -> tuple[float, float]:
        """Mid-point of the centreline's three points at frame 0 (for code that expects a centre)."""
        return tuple(float(v) for v in self.centreline[0].mean(axis=0))

    def heart_and_motion(self) -> tuple[LongAxisHeart, LongAxisMotion, dict]:
        """The analytic heart, motion and temporal profiles, rebuilt from ``params``."""
        return heart_from_params(self.params)


def heart_from_params(params: dict) -> tuple[LongAxisHeart, LongAxisMotion, dict]:
    """``(heart, motion, profiles)`` from the ``params`` of a long-axis sequence."""
    heart = LongAxisHeart(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in params["heart"].items()})
    motion = LongAxisMotion(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in params["motion"].items()})
    timing = CardiacTiming(**params["timing"])
    return heart, motion, timing.profiles(timing.frame_times())


def draw_long_axis(rng: np.random.Generator, view: str, size: int, frames: int | None) -> dict:
    """Draw one long-axis sequence's heart, motion, timing, tissues and acquisition (module table)."""
    short_axis = draw_parameters(rng, size, frames)  # timing, tissues, imaging: as the short axis
    u = rng.uniform
    while True:
        pixel_192 = float(np.exp(u(np.log(1.05), np.log(1.7))))
        tag_mm = u(6.0, 9.0)
        if 4.8 <= tag_mm / pixel_192 <= 9.5:
            break
    pixel = pixel_192 * 192.0 / size

    def px(mm):
        return float(mm / pixel)

    endo_length, half_width, wall = px(u(62, 85)), px(u(19, 28)), px(u(6, 11))
    apical_wall = wall * u(0.55, 0.85)
    base = endo_length + apical_wall
    la_half = 0.5 * px(u(38, 55))
    la = (base + px(2.0) + la_half, px(u(-6, 6)), la_half, px(u(16, 24)))
    rv = ra = aorta = None
    rv_span = 0.0
    if view == "4ch":
        rv_half = px(u(14, 24)) * 0.5
        rv_apex = base * (1.0 - u(0.7, 0.88))
        rv = (rv_apex, -(half_width + wall + rv_half), rv_half, px(u(2.5, 5.0)))
        rv_span = 2 * rv_half
        la = (la[0], la[1] + 0.4 * la[3], la[2], la[3])
        ra = (base + px(2.0) + 0.9 * la[2], -(half_width + wall + 0.8 * rv_half) - 0.3 * la[3], 0.9 * la[2], 0.85 * la[3])
    elif view == "3ch":
        aorta = (half_width * u(0.2, 0.6), px(u(11, 15)), float(np.radians(u(5, 30))))  # anteroseptal side
        la = (la[0], la[1] - 0.5 * la[3], la[2], la[3])
    apex_angle = float(u(0, 2 * np.pi))
    mirrored = bool(rng.random() < 0.2)
    # put the middle of the heart (apex to the top of the atria) near the image centre
    middle = 0.5 * (la[0] + la[2])
    jitter = 0.06 * size
    centre = (size / 2 - 0.5 + u(-jitter, jitter), size / 2 - 0.5 + u(-jitter, jitter))
    apex = (centre[0] - middle * np.cos(apex_angle), centre[1] - middle * np.sin(apex_angle))
    heart = LongAxisHeart(view=view, apex=(float(apex[0]), float(apex[1])), axis_angle=apex_angle, mirrored=mirrored,
                          base_height=float(base), endo_half_width=float(half_width), wall=float(wall),
                          apical_wall=float(apical_wall), la=tuple(float(v) for v in la),
                          rv=None if rv is None else tuple(float(v) for v in rv),
                          ra=None if ra is None else tuple(float(v) for v in ra),
                          aorta=None if aorta is None else tuple(float(v) for v in aorta),
                          fat=px(u(0.5, 3.0)) if rng.random() < 0.6 else 0.0)

    normal = rng.random() < 0.75
    shortening = tuple(float(u(0.13, 0.21) if normal else u(0.04, 0.13)) for _ in range(2))

    def vector(max_mm):
        length, direction = px(u(0.0, max_mm)), u(0, 2 * np.pi)
        return (float(length * np.cos(direction)), float(length * np.sin(direction)))

    motion = LongAxisMotion(
        shortening=shortening, lateral=float(u(0.22, 0.38) * (1.0 if normal else 0.6)),
        thickening=float(u(0.15, 0.45) * (1.0 if normal else 0.5)), apical_swing=px(u(0.0, 3.0)) * rng.choice([-1, 1]),
        rv_inward=px(u(2.0, 6.0)) if rv is not None else 0.0, translation_systole=vector(4.0),
        translation_filling=vector(3.0), drift=vector(1.5), margin=max(px(u(12.0, 22.0)), 8.0 * size / 192))

    side = 0.5 * size * pixel  # half the field of view in mm
    body = {"trunk": Blob(centre=(px(u(40, 70)), px(u(-30, 30))), axes=(px(u(150, 190)), px(u(120, 170))),
                          angle=float(u(-0.3, 0.3)), shape=[[float(v) for v in rng.normal(0, 0.03, 2)] for _ in range(3)]),
            "fat": px(u(3, 20)),
            "lungs": [Blob(centre=(px(u(50, 110)), sign * (half_width + wall + rv_span + px(u(45, 70)))),
                           axes=(px(u(70, 110)), px(u(35, 55))), angle=float(u(-0.3, 0.3)), shape=[])
                      for sign in (-1.0, 1.0)],
            "liver": Blob(centre=(px(-u(35, 70)), px(u(-40, 10))), axes=(px(u(35, 60)), px(u(70, 110))),
                          angle=float(u(-0.3, 0.3)), shape=[]) if rng.random() < 0.8 else None,
            "field_of_view_mm": float(2 * side)}
    anatomy = short_axis["anatomy"]
    spacing_px = tag_mm / pixel
    imaging = short_axis["imaging"]
    grid = imaging.tag_grid
    phase_encoding = max(u(0.3, 0.75), min(0.75, 3.2 / spacing_px))
    readout = max(phase_encoding, u(0.5, 0.95))
    imaging = dataclasses.replace(
        imaging, tag_spacing=float(spacing_px), tag_phase=(float(u(0, spacing_px)), float(u(0, spacing_px))),
        tag_angle=float(u(0, np.pi / 2 if grid else np.pi)),
        resolution=(phase_encoding, readout) if rng.random() < 0.5 else (readout, phase_encoding))
    return {"view": view, "pixel_mm": float(pixel), "heart": heart, "motion": motion,
            "timing": short_axis["timing"], "tissues": {"density": anatomy.density, "t1_ms": anatomy.t1_ms},
            "body": body, "imaging": imaging, "normal_function": bool(normal)}


def simulate_long_axis(seed: int, view: str = "4ch", size: int = 192, frames: int | None = None,
                       clean: bool = False) -> LongAxisSequence:
    """Simulate one long-axis tagging sequence with known motion.

    Parameters
    ----------
    seed : the random seed; the same seed and view give identical arrays.
    view : '2ch', '3ch' or '4ch'.
    size, frames, clean : as ``deeptag.phantom.simulate_sequence``.

    Returns
    -------
    LongAxisSequence with images (T, size, size), lagrangian (T, 2, size, size), landmarks (T, 48, 2),
    centreline (T, 3, 2).
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    check_size_and_frames(size, frames)
    rng = np.random.default_rng([seed, VIEWS.index(view) + 2])
    drawn = draw_long_axis(rng, view, size, frames)
    heart, timing = drawn["heart"], drawn["timing"]
    times = timing.frame_times()
    profiles = timing.profiles(times)
    motion, lagrangian, motion_scale, worst = shrink_until_diffeomorphic(
        drawn["motion"], lambda scaled: pullback_fields(heart, scaled, profiles, size, size), f"seed {seed}")
    lagrangian[0] = 0.0  # frame 0 is the reference (contraction and every profile are 0 there)

    margin = canvas_margin(lagrangian)
    tissues = drawn["tissues"]
    maps, _ = reference_maps(heart, tissues, drawn["body"], size, size, margin, rng, edge=max(1.0, size / 192))
    images, mask = render_sequence(maps, margin, lagrangian, times, profiles["contraction"], drawn["imaging"],
                                   tissues["density"]["blood"], rng, clean=clean)

    shaped = {name: np.asarray(value, dtype=np.float64)[:, None] for name, value in profiles.items()}
    sources = heart.wall_points()
    landmarks = np.stack(forward(heart, motion, shaped, sources[:, 0], sources[:, 1]), axis=-1)
    points = heart.centreline()
    centreline = np.stack(forward(heart, motion, shaped, points[:, 0], points[:, 1]), axis=-1)
    body = dict(drawn["body"])
    myocardium_displacement = np.hypot(lagrangian[:, 0], lagrangian[:, 1])[:, mask]
    params = json_ready({"seed": seed, "size": size, "clean": clean, "view": view, "pixel_mm": drawn["pixel_mm"],
                         "heart": heart, "motion": motion, "motion_scale": motion_scale, "timing": timing,
                         "tissues": drawn["tissues"], "body": body, "imaging": drawn["imaging"],
                         "normal_function": drawn["normal_function"], "min_jacobian": worst,
                         "annulus_descent_mm": [float(np.hypot(*(centreline[:, k] - centreline[0, k]).T).max()
                                                      * drawn["pixel_mm"]) for k in (1, 2)],
                         "peak_displacement_px": float(myocardium_displacement.max())}, omit_defaults=False)
    return LongAxisSequence(images=images, lagrangian=lagrangian.astype(np.float32), myocardium_mask=mask,
                            landmarks=landmarks.astype(np.float32), spacing=(drawn["pixel_mm"], drawn["pixel_mm"]),
                            frame_times=times.astype(np.float64), view=view, centreline=centreline.astype(np.float32),
                            params=params)


def save_long_axis(sequence: LongAxisSequence, path: str | Path) -> Path:
    """Write one ``.npz`` that ``deeptag.io.read_sequence`` reads: the keys of a short-axis simulated file
    (``deeptag.phantom.save_simulated``) plus ``view`` (a 0-d string) and ``centreline`` (T, 3, 2)."""
    return save_simulated(sequence, path, extra={"view": np.array(sequence.view),
                                                 "centreline": sequence.centreline.astype(np.float32)})


def load_long_axis(path: str | Path) -> LongAxisSequence:
    """Read a file written by ``save_long_axis`` back, ground truth included."""
    return read_simulated_file(path, lambda data: LongAxisSequence(
        **ground_truth_fields(data), view=str(data["view"]), centreline=data["centreline"].astype(np.float32)),
        "simulated long-axis sequence")


# ------------------------------------------------------------- short-axis slices of the same heart
SLICE_HEIGHTS = {"basal": 5 / 6, "mid": 1 / 2, "apical": 1 / 6}  # of the cavity's length above its tip


def short_axis_of(sequence: LongAxisSequence, level: str = "mid", size: int | None = None):
    """A short-axis slice (``deeptag.phantom.SimulatedSequence``) of the heart of a simulated long-axis
    sequence, at the middle of the basal, mid or apical third of the cavity.

    The slice shares the long-axis sequence's cardiac timing (the same frames and times) and its heart at
    that level: the endocardial radius is the long-axis cavity's half-width there, the wall the same
    thickness, the cavity's fractional area change ``1 - (1 - k)^2`` from the lateral endocardial motion
    ``k`` and the wall's in-plane area gain from its thickening ``theta``,
    ``((r (1 - k) + T (1 + theta))^2 - (r (1 - k))^2) / ((r + T)^2 - r^2) - 1``. Everything else (rotation,
    RV, surroundings, appearance, pixel size within the field of view that the heart needs) is drawn as
    for any short-axis sequence from the long-axis seed and the level, with the short-axis simulator's
    functions; the ground truth is exact as there. ``params['same_heart']`` records the link.
    """
    if level not in SLICE_HEIGHTS:
        raise ValueError(f"level must be one of {tuple(SLICE_HEIGHTS)}, got {level!r}")
    params = sequence.params
    heart, motion, _ = heart_from_params(params)
    size = int(size or params["size"])
    seed = int(params["seed"])
    rng = np.random.default_rng([seed, 20 + list(SLICE_HEIGHTS).index(level)])
    timing = CardiacTiming(**params["timing"])
    drawn = draw_parameters(rng, size, timing.frames)
    h = heart.apical_wall + SLICE_HEIGHTS[level] * heart.endo_length
    la_pixel = float(params["pixel_mm"])
    endo_mm = float(heart.endo_width(np.asarray(h))) * la_pixel
    wall_mm = heart.wall * la_pixel
    k = motion.lateral * float(heart.motion_width(np.asarray(h)) / max(float(heart.endo_width(np.asarray(h))), 1e-9))
    theta = motion.thickening * float(smoothstep((h - 0.5 * heart.apical_wall) / heart.apical_wall))
    before = (endo_mm + wall_mm) ** 2 - endo_mm ** 2
    after = (endo_mm * (1 - k) + wall_mm * (1 + theta)) ** 2 - (endo_mm * (1 - k)) ** 2
    scale = size / 192.0
    pixel = float(np.clip(drawn["pixel_mm"], (endo_mm + wall_mm) / (48.0 * scale), (endo_mm + wall_mm) / (22.0 * scale)))
    geometry = dataclasses.replace(drawn["geometry"], endo_radius=endo_mm / pixel, wall_thickness=wall_mm / pixel)
    short_motion = dataclasses.replace(drawn["motion"], area_change=float(1 - (1 - k) ** 2), hypokinesis_depth=0.0,
                                       wall_area_gain=float(after / before - 1))
    times = timing.frame_times()
    profiles = timing.profiles(times)
    scaled, lagrangian, motion_scale, worst = shrink_until_diffeomorphic(
        short_motion, lambda motion: lagrangian_fields(geometry, motion, profiles, size, size), f"seed {seed} {level}")
    margin = canvas_margin(lagrangian)
    maps = short_axis_maps(geometry, drawn["anatomy"], size, size, margin, rng, edge=max(1.0, size / 192))
    images, mask = render_sequence(maps, margin, lagrangian, times, profiles["contraction"], drawn["imaging"],
                                   drawn["anatomy"].density["blood"], rng)
    sources = landmark_sources(geometry, rng, circular=True)  # circular: the wall's shape aside
    landmarks = track_material_points(geometry, scaled, profiles, sources)
    plain = json_ready({"seed": seed, "size": size, "clean": False, **{k_: v for k_, v in drawn.items()
                                                                        if k_ not in ("timing", "geometry", "motion")},
                        "pixel_mm": pixel, "geometry": geometry, "motion": scaled, "timing": timing,
                        "motion_scale": motion_scale, "min_jacobian": worst,
                        "same_heart": {"long_axis_view": sequence.view, "long_axis_seed": seed, "level": level,
                                       "height_above_apex_mm": float(h * la_pixel), "endo_radius_mm": endo_mm,
                                       "wall_mm": wall_mm, "lateral_motion": float(k), "thickening": float(theta)}},
                       omit_defaults=False)
    return SimulatedSequence(
        images=images, lagrangian=lagrangian.astype(np.float32), myocardium_mask=mask,
        landmarks=landmarks.astype(np.float32), spacing=(pixel, pixel), frame_times=times.astype(np.float64),
        lv_centre=geometry.centre, params=plain)
