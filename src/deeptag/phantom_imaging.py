"""Reference anatomy and the imaging physics of the tagged-MRI simulator.

The anatomy is drawn once, in material (frame-0) coordinates, on a canvas a margin larger than the
image: proton-density-like signal with tissue textures, the longitudinal relaxation rate 1/T1 of each
tissue, a blood fraction and the LV myocardium. A frame samples these maps at the material positions
``psi_t(p)`` of its pixels and applies the time-dependent imaging effects:

* SPAMM tags in material coordinates: per line set ``1 - ((1 + cos(2 pi u / s)) / 2) ** gamma`` (1-cos
  for gamma = 1, narrower dark lines for larger gamma), two orthogonal sets multiplied, or one set; the
  wide preset adds binomial 1-1 and 1-2-1 SPAMM profiles and a CSPAMM-like magnitude profile
  (``TAG_PROFILES``);
* tag fading by T1 recovery, ``Mz = rho (1 - A(t) (1 - M))`` with ``A(t) = A0 exp(-t / T1_app)``, the
  apparent T1 shortened by the imaging RF pulses (``T1_app = f T1``, f <= 1); or (wide preset) a constant
  flip angle alpha every TR, an extra relaxation rate ``r = -ln(cos alpha) / TR`` that also pulls the
  untagged signal down to its steady state ``R1 / (R1 + r)``;
* blood: the pool of the current frame loses its tags within a few frames (washout by flow) and
  brightens with the inflow of fresh, unsaturated blood; flow adds a faint, frame-to-frame varying texture;
* through-plane motion: slow, smooth changes of intensity and tag contrast following the contraction;
* coil shading: a smooth multiplicative bias field fixed in the image;
* finite k-space resolution (a tapered box filter, lower along the phase-encoding axis) applied to the
  complex signal plus white complex Gaussian noise, then the magnitude: Rician noise, correlated as in
  zero-filled reconstructions;
* a faint Nyquist ghost along the phase-encoding axis in some acquisitions;
* display normalisation: the sequence is scaled so that a small fraction of pixels saturates at 1, passed
  through a display gamma (wide preset), and optionally quantised to 8 bits.

Parameter ranges and their sources are in the docstring of ``deeptag.phantom`` and in docs/simulator.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import scipy.fft
import torch
from scipy.ndimage import gaussian_filter

from .fields import sample
from .phantom_motion import AngularBasis, HeartGeometry

TAG_PROFILES = ("classic", "spamm11", "spamm121", "cspamm")
MAP_CHANNELS = ("density", "relaxation_rate", "blood", "myocardium", "through_plane_signal", "through_plane_tags")


@dataclass
class Blob:
    """A smooth closed region in the anatomical frame (pixels): an ellipse with relative Fourier
    perturbations [[a_1, b_1], ...] of its radius."""

    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    shape: list[list[float]] = field(default_factory=list)

    def depth(self, ax: np.ndarray, ay: np.ndarray) -> np.ndarray:
        """Approximate signed distance to the boundary in pixels, positive inside."""
        u = (ax - self.centre[0]) * np.cos(self.angle) + (ay - self.centre[1]) * np.sin(self.angle)
        v = -(ax - self.centre[0]) * np.sin(self.angle) + (ay - self.centre[1]) * np.cos(self.angle)
        r = np.hypot(u, v)
        basis = AngularBasis(u, v, r)
        a, b = self.axes
        boundary = a * b / np.sqrt((b * basis.cos[0]) ** 2 + (a * basis.sin[0]) ** 2)
        return boundary * (1.0 + basis.series(self.shape)) - r


@dataclass
class Anatomy:
    """The surroundings of the heart in an anatomical frame centred on the LV (pixels, x to the patient's
    left, y posterior-inferior), turned by ``orientation`` (rad) and optionally mirrored into the image;
    ``structures`` are other vessels and organs as [x, y, semi-axis a, semi-axis b, angle, density, T1 ms];
    papillary muscles and trabeculae as [image angle, fraction of the endocardial radius, radius px]; signal densities
    relative to myocardium and T1 (ms) per tissue."""

    orientation: float
    mirrored: bool
    body: Blob
    subcutaneous_fat: float
    chest_muscle: float
    lungs: list[Blob]
    lung_gap: float
    liver: Blob | None
    aorta: list[float] | None
    spine: list[float] | None
    structures: list[list[float]]
    papillary: list[list[float]]
    fat_shape: list[list[float]]
    density: dict[str, float]
    t1_ms: dict[str, float]

    def to_anatomical(self, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image offsets from the LV centre to anatomical-frame coordinates."""
        c, s = np.cos(self.orientation), np.sin(self.orientation)
        ax, ay = c * dx + s * dy, -s * dx + c * dy
        return (-ax if self.mirrored else ax), ay


@dataclass
class ImagingParameters:
    """Tags, fading, blood, through-plane, shading, resolution and noise of one simulated acquisition.

    ``noise`` is the standard deviation of the complex image noise relative to myocardium (each channel has
    ``noise / sqrt(2)``, so a flat region of the magnitude image has SNR ``sqrt(2) / noise``).
    ``ghost`` is the amplitude of a Nyquist ghost (a copy shifted by half the field of view along the
    phase-encoding axis, the axis of lower resolution); ``bit_depth`` 8 quantises the displayed
    frames as 8-bit exports do, 0 keeps them continuous. ``tag_profile`` is one of ``TAG_PROFILES`` (see
    ``tag_modulation``); ``rf_rate`` (1/ms) the extra relaxation rate of a constant-flip-angle train, 0 for
    the classic model (``rf_depletion`` only); ``display_gamma`` the exponent of the display curve applied
    after the normalisation (1: linear, as in the classic preset); ``recovery_ms`` the time without imaging
    pulses before the tagging pulses (the unacquired end of the previous cycle and the trigger delay),
    None for a magnetisation fully recovered to M0. Fields marked ``omit_default`` are left out of a
    sequence's ``params`` while at their default, so classic sequences record what they always did.
    """

    tag_spacing: float
    tag_angle: float
    tag_phase: tuple[float, float]
    tag_sharpness: float
    tag_grid: bool
    tag_depth: float
    rf_depletion: float
    blood_washout_ms: float
    blood_inflow_ms: float
    blood_inflow_level: float
    flow_texture: float
    through_plane_signal: float
    through_plane_tags: float
    shading: list[float]
    resolution: tuple[float, float]
    resolution_taper: float
    noise: float
    ghost: float
    saturated_fraction: float
    bit_depth: int
    tag_profile: str = field(default="classic", metadata={"omit_default": True})
    rf_rate: float = field(default=0.0, metadata={"omit_default": True})
    display_gamma: float = field(default=1.0, metadata={"omit_default": True})
    recovery_ms: float | None = field(default=None, metadata={"omit_default": True})


def omitted_defaults(value: object) -> set[str]:
    """Names of the fields of dataclass ``value`` marked ``omit_default`` that hold their default."""
    return {item.name for item in fields(value)
            if item.metadata.get("omit_default") and getattr(value, item.name) == item.default}


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float | tuple[float, ...]) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    noise = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return noise / max(float(noise.std()), 1e-8)


def soft_inside(depth: np.ndarray, edge: float) -> np.ndarray:
    """Anti-aliased inside-mask from a signed depth (pixels, positive inside)."""
    return np.clip(0.5 + depth / edge, 0.0, 1.0)


class TissueCanvas:
    """The material maps of an anatomy while it is painted, tissue over tissue: signal density, relaxation
    rate 1/T1 and blood fraction on a canvas a margin larger than the image, air at first, with the smooth
    noise fields that texture the tissues. The short- and long-axis anatomies are painted on it.

    Canvas pixel (i, j) is the material point (x, y) = (``cols[i, j]``, ``rows[i, j]``) = (j - margin, i - margin).
    """

    def __init__(self, height: int, width: int, margin: int, rng: np.random.Generator,
                 density: dict[str, float], t1_ms: dict[str, float]) -> None:
        self.rows, self.cols = np.mgrid[0:height + 2 * margin, 0:width + 2 * margin].astype(np.float32) - margin
        shape = self.rows.shape
        self.scale = max(height, width) / 192.0
        self.fine, self.mid, self.coarse = (smooth_noise(rng, shape, s * self.scale) for s in (0.8, 2.5, 8.0))
        self.slow_signal, self.slow_tags = (smooth_noise(rng, shape, 24.0 * self.scale) for _ in range(2))
        self.density = np.full(shape, density["air"], np.float32)
        self.rate = np.full(shape, 1.0 / t1_ms["air"], np.float32)
        self.blood = np.zeros(shape, np.float32)

    def paint(self, mask: np.ndarray, value: np.ndarray | float, tissue_t1: float, is_blood: float = 0.0) -> None:
        """Lay a tissue of signal density ``value`` and T1 ``tissue_t1`` (ms) over what is there, by its
        (soft) mask; ``is_blood`` 1 marks blood, whose signal the imaging treats apart."""
        self.density = self.density + mask * (value - self.density)
        self.rate = self.rate + mask * (1.0 / tissue_t1 - self.rate)
        self.blood = self.blood + mask * (is_blood - self.blood)

    def maps(self, myocardium: np.ndarray) -> np.ndarray:
        """The finished maps ``MAP_CHANNELS`` (C, Hc, Wc) float32, with the LV myocardium's soft mask."""
        return np.stack((self.density, self.rate, self.blood, myocardium, self.slow_signal,
                         self.slow_tags)).astype(np.float32)


def canvas_margin(lagrangian: np.ndarray) -> int:
    """Margin (pixels) of a material canvas that holds every position ``p + L_t(p)`` of the Lagrangian
    fields (T, 2, H, W) with room for the bilinear sampling: the largest displacement plus 4."""
    return int(np.ceil(np.abs(lagrangian).max())) + 4


def reference_maps(geometry: HeartGeometry, anatomy: Anatomy, height: int, width: int, margin: int,
                   rng: np.random.Generator, edge: float = 1.0) -> np.ndarray:
    """The material maps ``MAP_CHANNELS`` on a canvas (C, H + 2 margin, W + 2 margin), float32.

    Canvas pixel (i, j) is the material point (x, y) = (j - margin, i - margin).
    """
    canvas = TissueCanvas(height, width, margin, rng, anatomy.density, anatomy.t1_ms)
    rows, cols, scale, paint = canvas.rows, canvas.cols, canvas.scale, canvas.paint
    fine, mid, coarse = canvas.fine, canvas.mid, canvas.coarse
    dens, t1 = anatomy.density, anatomy.t1_ms

    cx, cy = geometry.centre
    dx, dy = cols - cx, rows - cy
    ax, ay = anatomy.to_anatomical(dx, dy)
    body = anatomy.body.depth(ax, ay)
    paint(soft_inside(body, edge), dens["soft_tissue"] * (1 + 0.06 * mid + 0.08 * coarse), t1["soft_tissue"])
    paint(soft_inside(body, edge) - soft_inside(body - anatomy.subcutaneous_fat, edge),
          dens["fat"] * (1 + 0.04 * mid), t1["fat"])
    inner = body - anatomy.subcutaneous_fat - anatomy.chest_muscle
    paint(soft_inside(body - anatomy.subcutaneous_fat, edge) - soft_inside(inner, edge),
          dens["muscle"] * (1 + 0.05 * fine + 0.05 * mid), t1["muscle"])

    r = np.hypot(dx, dy)
    basis = AngularBasis(dx, dy, r)
    endo, epi, rv, taper, outer = geometry.radii(basis)
    outer = outer - geometry.fat_thickness
    fat = geometry.fat_thickness * np.clip(0.8 + basis.series(anatomy.fat_shape), 0.0, 2.0)  # patchy
    clear_of_heart = soft_inside(r - outer - fat - anatomy.lung_gap, edge)
    if anatomy.liver is not None:
        paint(soft_inside(anatomy.liver.depth(ax, ay), edge) * soft_inside(body - anatomy.subcutaneous_fat, edge)
              * clear_of_heart,
              dens["liver"] * (1 + 0.07 * fine + 0.06 * mid + 0.25 * np.exp(-(mid / 0.12) ** 2)), t1["liver"])
    vessels = 1.0 + 3.0 * np.clip(fine - 2.2, 0.0, None) + 0.15 * coarse
    for lung in anatomy.lungs:
        paint(soft_inside(lung.depth(ax, ay), edge) * soft_inside(inner, edge) * clear_of_heart,
              dens["lung"] * vessels, t1["lung"])
    for x, y, a, b, angle, value, structure_t1 in anatomy.structures:
        paint(soft_inside(Blob((x, y), (a, b), angle).depth(ax, ay), edge) * soft_inside(body, edge) * clear_of_heart,
              value * (1 + 0.05 * mid), structure_t1)
    if anatomy.spine is not None:
        x, y, radius = anatomy.spine
        depth = radius - np.hypot(ax - x, ay - y)
        cortex = 1 - 0.6 * soft_inside(2.0 * scale - depth, edge)  # darker rim
        paint(soft_inside(depth, edge), dens["bone"] * (1 + 0.1 * fine + 0.1 * mid) * cortex, t1["bone"])
    if anatomy.aorta is not None:
        x, y, radius = anatomy.aorta
        paint(soft_inside(radius - np.hypot(ax - x, ay - y), edge), dens["blood"], t1["blood"], 1.0)

    paint(soft_inside(outer + fat - r, edge), dens["fat"] * (1 + 0.04 * mid), t1["fat"])
    rv_cavity = epi + geometry.rv_depth * rv
    paint(soft_inside(rv_cavity + geometry.rv_wall * taper - r, edge),
          dens["myocardium"] * (1 + 0.03 * fine + 0.04 * mid), t1["myocardium"])
    paint(soft_inside(rv_cavity - r, edge) * soft_inside(r - epi, edge), dens["blood"], t1["blood"], 1.0)
    myocardium = soft_inside(epi - r, edge) - soft_inside(endo - r, edge)  # the LV wall, papillary muscles excluded
    paint(soft_inside(epi - r, edge), dens["myocardium"] * (1 + 0.03 * fine + 0.04 * mid), t1["myocardium"])
    paint(soft_inside(endo - r, edge), dens["blood"], t1["blood"], 1.0)
    for angle, fraction, radius in anatomy.papillary:
        direction = AngularBasis(np.cos(angle), np.sin(angle), 1.0)
        endo_here = float(geometry.radii(direction).endo)
        px = cx + fraction * endo_here * np.cos(angle)
        py = cy + fraction * endo_here * np.sin(angle)
        paint(soft_inside(radius - np.hypot(cols - px, rows - py), edge), dens["myocardium"] * (1 + 0.04 * mid),
              t1["myocardium"])
    return canvas.maps(myocardium)


def sample_maps(maps: np.ndarray, margin: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of the canvas ``maps`` (C, Hc, Wc) at material positions (T, H, W): (T, C, H, W)."""
    frames = x.shape[0]
    coords = torch.from_numpy(np.stack((y + margin, x + margin), axis=1).astype(np.float32))
    values = torch.from_numpy(maps)[None].expand(frames, -1, -1, -1)
    return sample(values, coords).numpy()


def tag_modulation(x: np.ndarray, y: np.ndarray, imaging: ImagingParameters) -> np.ndarray:
    """The SPAMM pattern M in [0, 1] at material positions: 0 on the tag lines, 1 between them.

    Per line set, with ``u`` the position across the lines and ``s`` the line spacing:

    * ``classic``: ``1 - ((1 + cos(2 pi u / s)) / 2) ** gamma``;
    * ``spamm11``, ``spamm121``: the longitudinal magnetisation after a binomial 1-1 or 1-2-1 SPAMM train of
      90 degrees in all, ``cos(pi / 2 |cos(pi u / s)| ** n)`` with n = 1 or 2 (small-tip profile of the
      train), whose lines get narrower with the order;
    * ``cspamm``: the magnitude of a complementary-SPAMM difference ``|sin(pi u / s)|`` (modulation period
      2 s), V-shaped lines sharper than any SPAMM profile.
    """
    c, s = np.cos(imaging.tag_angle), np.sin(imaging.tag_angle)
    k = np.float32(2.0 * np.pi / imaging.tag_spacing)
    half = np.float32(np.pi / imaging.tag_spacing)
    profile = imaging.tag_profile
    if profile not in TAG_PROFILES:
        raise ValueError(f"unknown tag profile {profile!r}; known: {', '.join(TAG_PROFILES)}")

    def line_set(u):
        if profile == "spamm11":
            return np.cos(np.float32(np.pi / 2) * np.abs(np.cos(half * u))).astype(np.float32)
        if profile == "spamm121":
            return np.cos(np.float32(np.pi / 2) * np.cos(half * u) ** 2).astype(np.float32)
        if profile == "cspamm":
            return np.abs(np.sin(half * u)).astype(np.float32)
        darkness = (0.5 + 0.5 * np.cos(k * u)).astype(np.float32)
        return 1.0 - darkness ** np.float32(imaging.tag_sharpness)

    pattern = line_set(c * x + s * y + imaging.tag_phase[0])
    if imaging.tag_grid:
        pattern = pattern * line_set(-s * x + c * y + imaging.tag_phase[1])
    return pattern


def resolution_window(height: int, width: int, imaging: ImagingParameters) -> np.ndarray:
    """Tapered k-space box filter (H, W) for FFT-ordered frequencies: the acquired fraction of each axis."""
    def axis(n, fraction):
        k = np.abs(np.fft.fftfreq(n)) / (0.5 * fraction)  # 1 at the acquired edge
        start = 1.0 - imaging.resolution_taper
        ramp = np.clip((k - start) / imaging.resolution_taper, 0.0, 1.0)
        return 0.5 + 0.5 * np.cos(np.pi * ramp)

    return np.outer(axis(height, imaging.resolution[0]), axis(width, imaging.resolution[1])).astype(np.float32)


def shading_field(height: int, width: int, coefficients: list[float]) -> np.ndarray:
    """Smooth multiplicative coil sensitivity, exp of a quadratic in normalised image coordinates."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = cols / max(width - 1, 1) * 2 - 1, rows / max(height - 1, 1) * 2 - 1
    a, b, c, d, e = coefficients
    return np.exp(a * u + b * v + c * u * u + d * v * v + e * u * v).astype(np.float32)


def _tissue_signal(density: np.ndarray, rate: np.ndarray, t: np.ndarray, c: np.ndarray, slow_signal: np.ndarray,
                   slow_tags: np.ndarray, untagged: np.ndarray, imaging: ImagingParameters) -> np.ndarray:
    """Tissue signal (T, H, W) under the wide preset's fading models.

    Constant flip angle (``rf_rate`` r > 0): Mz relaxes at ``R1 + r`` towards the untagged steady state
    ``ss = R1 / (R1 + r)`` and the tag contrast decays at the same rate, ``rho (b(t) - b0 A(t) (1 - M))``
    with ``A(t) = A0 exp(-(R1 + r) t)`` and ``b(t) = ss + (b0 - ss) exp(-(R1 + r) t)``, where ``b0`` is Mz
    at the tagging pulses: 1 when fully recovered, else ``ss`` recovered by T1 alone for ``recovery_ms``
    (the imaging pulses of the previous cycle left it at ``ss``). The frames darken and lose their tags
    together. CSPAMM: the subtraction cancels the recovering untagged magnetisation, the
    image is the tag component alone, ``rho exp(-(R1 / f + r) t) (1 - A0 (1 - M))``, f > 1 where a
    flip-angle ramp compensates part of the decay.
    """
    through = 1.0 + imaging.through_plane_signal * c * slow_signal
    depth = np.clip(np.float32(imaging.tag_depth) * (1.0 + imaging.through_plane_tags * c * slow_tags), 0.0, 1.0)
    if imaging.tag_profile == "cspamm":
        decay = np.exp(-t * (rate / imaging.rf_depletion + imaging.rf_rate))
        return density * through * decay * (1.0 - depth * untagged)
    total = rate / imaging.rf_depletion + imaging.rf_rate
    decay = np.exp(-t * total)
    steady = rate / total
    start = 1.0  # Mz at the tagging pulses
    if imaging.recovery_ms is not None:
        start = steady + (1.0 - steady) * (1.0 - np.exp(-rate * imaging.recovery_ms))
    return density * through * (steady + (start - steady) * decay - depth * start * decay * untagged)


def render_frames(samples: np.ndarray, x: np.ndarray, y: np.ndarray, times: np.ndarray,
                  contraction: np.ndarray, imaging: ImagingParameters, blood_density: float,
                  rng: np.random.Generator, clean: bool = False) -> np.ndarray:
    """The frames (T, H, W) float32 in [0, 1] from the sampled maps (T, C, H, W) and material positions;
    ``blood_density`` is the blood's signal relative to myocardium before inflow (``Anatomy.density``).

    ``clean`` switches off every effect that changes the appearance of material over time or breaks the
    pull-back relation: tag fading, blood washout and inflow, flow texture, through-plane changes, coil
    shading, ghosting, noise and quantisation. Only the k-space blur and the display normalisation remain.
    """
    density, rate, blood, _, slow_signal, slow_tags = (samples[:, i] for i in range(len(MAP_CHANNELS)))
    frames, height, width = x.shape
    t = np.asarray(times, np.float32)[:, None, None]
    c = np.asarray(contraction, np.float32)[:, None, None]
    untagged = 1.0 - tag_modulation(x, y, imaging)
    depth0 = np.float32(imaging.tag_depth)
    blood_start = blood_density
    if clean:
        tissue = density * (1.0 - depth0 * untagged)
        pool = blood_start * (1.0 - depth0 * untagged)
    elif imaging.tag_profile == "cspamm" or imaging.rf_rate > 0:
        tissue = _tissue_signal(density, rate, t, c, slow_signal, slow_tags, untagged, imaging)
    else:
        tag_depth = np.clip(depth0 * np.exp(-t * rate / imaging.rf_depletion)
                            * (1.0 + imaging.through_plane_tags * c * slow_tags), 0.0, 1.0)
        tissue = density * (1.0 + imaging.through_plane_signal * c * slow_signal) * (1.0 - tag_depth * untagged)
    if not clean:
        inflow = 1.0 - np.exp(-t / imaging.blood_inflow_ms)
        level = blood_start + (imaging.blood_inflow_level - blood_start) * inflow
        flow = 1.0 + imaging.flow_texture * inflow * smooth_noise(
            rng, (frames, height, width), (0.7, 1.5 * height / 192, 1.5 * width / 192))
        pool = level * flow * (1.0 - depth0 * np.exp(-t / imaging.blood_washout_ms) * untagged)
        if imaging.tag_profile == "cspamm":  # fresh blood carries no tag component: the subtraction cancels it
            pool = blood_start * flow * np.exp(-t / imaging.blood_washout_ms) * (1.0 - depth0 * untagged)
    signal = tissue + blood * (pool - tissue)
    if not clean:
        signal = signal * shading_field(height, width, imaging.shading)
        phase_axis = -2 if imaging.resolution[0] <= imaging.resolution[1] else -1
        signal = signal + imaging.ghost * np.roll(signal, signal.shape[phase_axis] // 2, axis=phase_axis)
    window = resolution_window(height, width, imaging)
    spectrum = scipy.fft.fft2(signal.astype(np.complex64), axes=(-2, -1))
    if not clean and imaging.noise > 0:
        sigma = imaging.noise / np.sqrt(np.mean(window ** 2)) * np.sqrt(height * width)
        spectrum += (sigma * np.sqrt(0.5)) * (rng.standard_normal(spectrum.shape, np.float32)
                                              + 1j * rng.standard_normal(spectrum.shape, np.float32))
    image = np.abs(scipy.fft.ifft2(spectrum * window, axes=(-2, -1))).astype(np.float32)
    top = np.percentile(image, 100.0 * (1.0 - imaging.saturated_fraction))
    image = np.clip(image / max(float(top), 1e-6), 0.0, 1.0)
    if imaging.display_gamma != 1.0:
        image = image ** np.float32(imaging.display_gamma)
    if imaging.bit_depth and not clean:
        levels = 2 ** imaging.bit_depth - 1
        image = np.round(image * levels) / levels
    return image.astype(np.float32)


def render_sequence(maps: np.ndarray, margin: int, lagrangian: np.ndarray, times: np.ndarray,
                    contraction: np.ndarray, imaging: ImagingParameters, blood_density: float,
                    rng: np.random.Generator, clean: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The frames (T, H, W) of the material ``maps`` (``reference_maps``, canvas ``margin``) seen through
    the Lagrangian fields (T, 2, H, W): frame t samples the maps at ``p + L_t(p)`` and ``render_frames``
    images them. Also returns the LV myocardium at frame 0 (H, W) bool, the mask of the ground truth.
    """
    height, width = lagrangian.shape[-2:]
    rows, cols = np.mgrid[0:height, 0:width]
    material_x = (cols[None] + lagrangian[:, 1]).astype(np.float32)
    material_y = (rows[None] + lagrangian[:, 0]).astype(np.float32)
    samples = sample_maps(maps, margin, material_x, material_y)
    images = render_frames(samples, material_x, material_y, times, contraction, imaging, blood_density, rng,
                           clean=clean)
    return images, samples[0, MAP_CHANNELS.index("myocardium")] > 0.5
