"""Find the frame-0 LV myocardium of a tagged short-axis sequence from its images and tracked motion.

Why it works: tags fade within a few frames in flowing blood but persist in the myocardium, so in
systole the LV cavity is the bright, tag-free region that the tagged wall encloses and that shrinks
with the tracked motion. Every feature is read in frame-0 (Lagrangian) coordinates: each frame's
smoothed intensity and local tag energy are sampled at the tracked positions of the frame-0 pixels
(``deeptag.fields.track_points``), so a frame-0 pixel of the cavity stays in the cavity in every
frame and the border found is the frame-0 border, consistent with the motion over the cycle.

The method, in order:

1. Tag spacing ``s`` (px): the strongest peak of the frame-0 spectrum with a period of 3-24 px; a
   sequence without such a peak (``TAG_PEAK_RATIO`` over the spectrum's median) is refused.
2. Lagrangian features over the systolic frames (from ``BLOOD_START`` to ``BLOOD_END`` of the cycle):
   mean intensity ``I`` (Gaussian, sigma ``s / 2``) and mean tag energy ``E`` (RMS of the image less its
   smoothed self, same sigma), their ratio the tag modulation ``E / I`` (low in blood), and the mean
   intensity of the last third of the frames (tags faded, so tissue contrast shows).
3. Candidate pools: connected regions of low modulation at several quantile thresholds
   (``THRESHOLD_LEVELS``) inside the tracked region, gaps under half a tag closed and holes filled
   (papillary muscles), of plausible radius and solidity. The LV cavity: the largest one around the
   region that the tracked motion shrinks most that still shrinks ``KEEP_CONTRACTION`` as much.
4. Endocardium: along ``RAYS`` rays from the pool's centre, outward from a tag period inside the pool's
   convex hull (papillary muscles stay in the cavity), where the mean of the scaled modulation and
   late intensity (``ENDO_FEATURES``) crosses half way from the pool's level to the wall's; epicardium:
   where the late intensity, systolic intensity, modulation or the wall's thickening (radial derivative
   of the end-systolic radial displacement: the myocardium thickens, the tissue around it does not)
   first departs by half its largest departure from the inner wall's level, within the plausible
   thickness. Both are fitted by a robust low-order Fourier series in angle (``ENDO_ORDER`` for the
   radius, ``THICKNESS_ORDER`` for the thickness): the smoothness prior.
5. Plausibility (``LIMITS_MM``): cavity radius, wall thickness, their ratio and roundness; outside
   them, no myocardium and a message that says which.

The RV insertion is not searched for: segments use the default anterior insertion of
``deeptag.myocardium`` (120 deg counter-clockwise as displayed, the standard orientation).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.measure import label, regionprops
from skimage.morphology import convex_hull_image, disk

from .errors import InputError
from .myocardium import DEFAULT_RV_ANGLE_DEG, Myocardium, contour_mask

RAYS = 120
TAG_PERIOD_PX = (3.0, 24.0)
TAG_PEAK_RATIO = 30.0
BLOOD_START, BLOOD_END = 0.15, 0.45  # fractions of the frames: tags have washed out of the blood by then
ENDO_ORDER, THICKNESS_ORDER = 5, 3
DEFAULT_TAG_MM = 6.5  # the ruler when the pixel size is unknown: tag spacing is 5-8.5 mm in practice
LIMITS_MM = {"cavity radius": (8.0, 40.0), "wall thickness": (3.0, 20.0)}
THICKNESS_RATIO = (0.12, 1.2)  # mean wall thickness / mean cavity radius
MIN_ROUNDNESS = 0.5  # smallest / largest endocardial radius (chosen: docs/guide/auto_myocardium.md)
MIN_SOLIDITY = 0.8  # pool area / its convex hull's area
MIN_CONTRACTION = 0.04
KEEP_CONTRACTION = 0.8
ENDO_REACH = 1.5  # tag periods outside the pool's edge where the wall's level is read (chosen: docs/guide/auto_myocardium.md)
ENDO_FEATURES = {"modulation": 1.0, "late": -1.0}  # sign: +1 higher in the wall (chosen: docs/guide/auto_myocardium.md)
EPI_FEATURES = ("late", "intensity", "modulation")
THRESHOLD_LEVELS = (0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3)  # quantiles of the tag modulation


class NoMyocardium(InputError):
    """No plausible LV myocardium was found; the message says why."""


@dataclass
class AutoMyocardium:
    """A myocardium found by ``find_myocardium``.

    ``mask`` (H, W) bool; ``endo`` and ``epi`` (RAYS, 2) closed contours as (x, y) px; ``centre`` (x, y);
    ``measures`` the quantities checked against the plausible ranges, for the record.
    """

    mask: np.ndarray
    endo: np.ndarray
    epi: np.ndarray
    centre: tuple[float, float]
    measures: dict = field(default_factory=dict)

    def myocardium(self, level: str = "mid", rv_angle_deg: float = DEFAULT_RV_ANGLE_DEG) -> Myocardium:
        """As ``deeptag strain`` takes a myocardium."""
        return Myocardium(self.mask, self.centre, rv_angle_deg, level, source="automatic (deeptag.auto_myocardium)")


def tag_spacing(frame: np.ndarray) -> float | None:
    """Tag period in px of one frame (strongest spectral peak with a period in ``TAG_PERIOD_PX``), or None
    when no peak stands ``TAG_PEAK_RATIO`` times above the median of that band."""
    frame = np.asarray(frame, dtype=np.float64)
    window = np.outer(np.hanning(frame.shape[0]), np.hanning(frame.shape[1]))
    power = np.abs(np.fft.fft2((frame - frame.mean()) * window)) ** 2
    fy = np.fft.fftfreq(frame.shape[0])[:, None]
    fx = np.fft.fftfreq(frame.shape[1])[None, :]
    frequency = np.hypot(fy, fx)
    band = (frequency >= 1 / TAG_PERIOD_PX[1]) & (frequency <= 1 / TAG_PERIOD_PX[0])
    floor = float(np.median(power[band]))
    peak = int(np.argmax(np.where(band, power, -1.0)))
    if not power.flat[peak] > TAG_PEAK_RATIO * floor:
        return None
    return float(1.0 / frequency.flat[peak])


def material_positions(lagrangian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, H, W, 2) as (x, y) in every frame of each frame-0 pixel, and where the fields are
    known (H, W) bool (outside the tracked region they are NaN; there the pixel is taken as still)."""
    import torch

    from .fields import track_points

    height, width = lagrangian.shape[2:]
    known = np.isfinite(lagrangian).all(axis=(0, 1))
    rows, cols = np.mgrid[0:height, 0:width]
    points = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float64)
    with torch.no_grad():
        tracked = track_points(torch.as_tensor(np.nan_to_num(lagrangian).astype(np.float64)),
                               torch.as_tensor(points)).numpy()
    return tracked.reshape(len(tracked), height, width, 2), known


def _at(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``image`` sampled bilinearly at positions (..., 2) as (x, y)."""
    return ndimage.map_coordinates(image, [positions[..., 1], positions[..., 0]], order=1, mode="nearest")


def lagrangian_features(images: np.ndarray, positions: np.ndarray, spacing_px: float) -> dict[str, np.ndarray]:
    """Frame-0 maps (H, W): systolic mean intensity ``intensity``, tag energy ``tags``, blood score
    ``blood`` = log(intensity / tags), and the mean intensity of the last third of the frames ``late``."""
    frames = np.asarray(images, dtype=np.float64)
    frames = frames / max(float(np.percentile(frames, 98.5)), 1e-12)
    count = len(frames)
    first = min(max(1, int(round(BLOOD_START * count))), count - 1)
    last = max(first + 1, int(round(BLOOD_END * count)))
    sigma = spacing_px / 2
    smooth = [ndimage.gaussian_filter(f, sigma) for f in frames]
    energy = [np.sqrt(ndimage.gaussian_filter((f - s) ** 2, sigma)) for f, s in zip(frames, smooth)]
    intensity = np.mean([_at(smooth[t], positions[t]) for t in range(first, last)], axis=0)
    tags = np.mean([_at(energy[t], positions[t]) for t in range(first, last)], axis=0)
    late = np.mean([_at(smooth[t], positions[t]) for t in range(max(last, 2 * count // 3), count)], axis=0)
    return {"intensity": intensity, "tags": tags, "late": late, "bright": intensity + late,
            "modulation": tags / np.maximum(intensity, 1e-3)}


def contraction(positions: np.ndarray, region: np.ndarray) -> float:
    """1 - smallest / frame-0 mean distance of a frame-0 region's pixels from their centroid over the
    frames: how much the tracked motion shrinks the region (about 0.2-0.45 for an LV cavity)."""
    points = positions[:, region]  # (T, K, 2)
    spread = np.linalg.norm(points - points.mean(axis=1, keepdims=True), axis=2).mean(axis=1)
    return float(1.0 - spread.min() / max(spread[0], 1e-9))


def radial_displacement(positions: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Frame-0 map (H, W) of each pixel's displacement towards (-) or away from (+) the pool's tracked
    centroid at the frame where the pool is smallest (end systole); its radial derivative is the wall's
    thickening, which the tissue around the heart does not share."""
    points = positions[:, pool]
    spread = np.linalg.norm(points - points.mean(axis=1, keepdims=True), axis=2).mean(axis=1)
    systole = int(np.argmin(spread))
    before, after = (np.linalg.norm(positions[t] - positions[t][pool].mean(axis=0), axis=-1) for t in (0, systole))
    return after - before


def wall_thickening(moved: np.ndarray, radii: np.ndarray, endo: np.ndarray, epi: np.ndarray) -> float:
    """Median over the rays of the wall's relative thickening at end systole, (change of the distance
    between epi- and endocardium) / that distance at frame 0, from the radial displacement profiles
    ``moved`` (rays, radii): positive in a contracting LV, about zero in tissue that only moves along."""
    at = [np.array([np.interp(r, radii, row) for r, row in zip(border, moved)]) for border in (endo, epi)]
    return float(np.median((at[1] - at[0]) / np.maximum(epi - endo, 1e-6)))


def _plausible_pools(blood: np.ndarray, known: np.ndarray, radius_px: tuple[float, float],
                     spacing_px: float) -> list[np.ndarray]:
    """Regions (H, W) bool of ``blood`` (holes filled, gaps narrower than half a tag closed) whose
    equivalent radius lies within ``radius_px`` and that are round enough (solidity)."""
    closed = ndimage.binary_closing(blood & known, disk(max(1, int(round(spacing_px / 2)))))
    pools = []
    for region in regionprops(label(ndimage.binary_fill_holes(closed))):
        if radius_px[0] <= np.sqrt(region.area / np.pi) <= radius_px[1] and region.solidity >= MIN_SOLIDITY:
            mask = np.zeros_like(blood)
            mask[tuple(region.coords.T)] = True
            pools.append(mask)
    return pools


def find_pool(modulation: np.ndarray, positions: np.ndarray, known: np.ndarray, radius_px: tuple[float, float],
              spacing_px: float) -> tuple[np.ndarray, float]:
    """The frame-0 LV cavity (H, W) bool (holes filled) and its contraction.

    Regions of low tag modulation of plausible size and shape are taken at ``THRESHOLD_LEVELS``
    quantiles of the modulation (no one threshold suits every contrast); the cavity is the largest of
    those around the one that the motion shrinks most that still shrink ``KEEP_CONTRACTION`` as much
    (a region that takes in wall or surroundings shrinks less).
    """
    levels = np.quantile(modulation[known], THRESHOLD_LEVELS)
    candidates = [(pool, contraction(positions, pool)) for level in levels
                  for pool in _plausible_pools(modulation < level, known, radius_px, spacing_px)]
    if not candidates or max(shrink for _, shrink in candidates) < MIN_CONTRACTION:
        why = (f"the round ones contract by at most {max(s for _, s in candidates):.0%}, less than "
               f"{MIN_CONTRACTION:.0%}" if candidates
               else f"none is round (solidity >= {MIN_SOLIDITY}) with a plausible radius")
        raise NoMyocardium(f"no LV ring found: no bright, tag-free blood pool that the motion shrinks ({why})")
    seed, most = max(candidates, key=lambda candidate: candidate[1])
    row, col = (int(round(v)) for v in ndimage.center_of_mass(seed))
    nested = [(pool, shrink) for pool, shrink in candidates if pool[row, col] and shrink >= KEEP_CONTRACTION * most]
    return max(nested, key=lambda candidate: candidate[0].sum())


def polar_profiles(image: np.ndarray, centre: tuple[float, float], angles: np.ndarray,
                   radii: np.ndarray) -> np.ndarray:
    """``image`` sampled along rays (len(angles), len(radii)) from ``centre`` (x, y); angles in image
    coordinates (radians from +x towards +y)."""
    x = centre[0] + np.cos(angles)[:, None] * radii[None]
    y = centre[1] + np.sin(angles)[:, None] * radii[None]
    return ndimage.map_coordinates(image, [y, x], order=1, mode="nearest")


def fourier_fit(angles: np.ndarray, values: np.ndarray, weights: np.ndarray, order: int,
                iterations: int = 4) -> np.ndarray:
    """A smooth closed curve through noisy ``values`` at ``angles``: weighted least squares on a Fourier
    series of ``order``, reweighted (Tukey, 4.685 robust sigmas) to ignore rays that found the wrong edge."""
    basis = np.concatenate([np.ones((len(angles), 1)), *[np.stack([np.cos(k * angles), np.sin(k * angles)], 1)
                                                         for k in range(1, order + 1)]], axis=1)
    robust = np.ones_like(values)
    for _ in range(iterations):
        w = np.sqrt(weights * robust)
        coefficients = np.linalg.lstsq(basis * w[:, None], values * w, rcond=None)[0]
        residual = values - basis @ coefficients
        sigma = 1.4826 * np.median(np.abs(residual[weights > 0])) + 1e-6
        robust = np.clip(1 - (residual / (4.685 * sigma)) ** 2, 0, None) ** 2
    return basis @ coefficients


def endo_radii(features: dict[str, np.ndarray], pool: np.ndarray, centre: tuple[float, float], angles: np.ndarray,
               radii: np.ndarray, spacing_px: float) -> np.ndarray:
    """Endocardial radius per ray: going outward from a tag period inside the edge of the pool's convex
    hull, where the wall score first reaches one half (or, should it never, where it is highest). The score is the mean over ``ENDO_FEATURES`` of each feature
    scaled 0 at the pool's level (its median over the pool) and 1 at the wall's (the ray's extreme
    within ``ENDO_REACH`` tag periods outside the edge; a wall level taken over a band that includes
    the blurred edge itself would pull the crossing into the cavity)."""
    inside = polar_profiles(convex_hull_image(pool).astype(np.float64), centre, angles, radii) > 0.5
    edge = np.array([radii[np.nonzero(row)[0].max()] if row.any() else 0.0 for row in inside])
    start = edge - spacing_px
    reach = (radii[None] >= start[:, None]) & (radii[None] <= start[:, None] + (1 + ENDO_REACH) * spacing_px)
    score = np.zeros((len(angles), len(radii)))
    for name, sign in ENDO_FEATURES.items():
        profiles = sign * polar_profiles(features[name], centre, angles, radii)
        level = sign * float(np.median(features[name][pool]))
        wall = np.where(reach, profiles, -np.inf).max(axis=1)
        score += (profiles - level) / np.maximum(wall - level, 1e-9)[:, None] / len(ENDO_FEATURES)
    found = np.empty(len(angles))
    for k, profile in enumerate(score):
        above = np.nonzero(reach[k] & (profile >= 0.5))[0]
        i = above.min() if above.size else int(np.argmax(np.where(reach[k], profile, -np.inf)))
        if i > 0 and profile[i] != profile[i - 1]:
            found[k] = radii[i - 1] + (radii[i] - radii[i - 1]) * (0.5 - profile[i - 1]) / (profile[i] - profile[i - 1])
        else:
            found[k] = radii[i]
    return found


def epi_radii(profiles: dict[str, np.ndarray], radii: np.ndarray, endo: np.ndarray,
              thickness_px: tuple[float, float], spacing_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Epicardial radius per ray and its weight.

    ``profiles`` (rays, radii): the ``EPI_FEATURES`` and the thickening along the rays. Along each ray
    the wall's level of every profile is its median over the inner wall (from half a tag period
    outside the endocardium to the thinnest plausible wall); the departure
    from it, scaled by the feature's cavity-to-wall contrast, is taken over the features' largest; the
    epicardium is where it first reaches half its largest value within the plausible thickness (the
    middle of a blurred step), and the weight is that largest value (no clear edge, little weight).
    """
    inner_start, inner_end = endo + spacing_px / 2, endo + max(thickness_px[0], spacing_px / 2 + 1.0)
    inner = (radii[None] >= inner_start[:, None]) & (radii[None] <= inner_end[:, None])
    cavity = (radii[None] <= endo[:, None] - spacing_px / 2)
    departure = np.zeros((len(endo), len(radii)))
    for profile in profiles.values():
        wall = np.array([np.median(p[m]) for p, m in zip(profile, inner)])
        pool = np.median(profile[cavity])
        contrast = max(abs(pool - float(np.median(wall))), 1e-6)
        departure = np.maximum(departure, np.abs(profile - wall[:, None]) / contrast)
    window = (radii[None] >= endo[:, None] + thickness_px[0]) & (radii[None] <= endo[:, None] + thickness_px[1])
    departure = np.where(window, departure, 0.0)
    strength = departure.max(axis=1)
    first = np.argmax(departure >= 0.5 * strength[:, None], axis=1)
    return radii[first], strength


def check_plausible(measures: dict) -> None:
    """A ``NoMyocardium`` naming the first measure outside its plausible range."""
    ranges = {"cavity radius": (measures["cavity radius mm"], "mm", LIMITS_MM["cavity radius"]),
              "wall thickness": (measures["wall thickness mm"], "mm", LIMITS_MM["wall thickness"]),
              "wall thickness / cavity radius": (measures["thickness ratio"], "", THICKNESS_RATIO),
              "roundness (smallest / largest cavity radius)": (measures["roundness"], "", (MIN_ROUNDNESS, 1.0))}
    for name, (value, unit, (low, high)) in ranges.items():
        if not low <= value <= high:
            raise NoMyocardium(f"implausible LV ring: {name} {value:.2f}{unit and ' ' + unit} is outside "
                               f"{low:g}-{high:g}{unit and ' ' + unit} (not a short-axis view of the LV?)")


def find_myocardium(images: np.ndarray, lagrangian: np.ndarray,
                    spacing: tuple[float, float] | None = None) -> AutoMyocardium:
    """The frame-0 LV myocardium of a tagged short-axis sequence (see the module docstring).

    Parameters
    ----------
    images : (T, H, W) frames, any intensity scale.
    lagrangian : (T-1, 2, H, W) pull-back fields as ``deeptag track`` writes them (fields.npz), NaN
        outside the tracked region.
    spacing : (row, column) pixel size in mm, or None (the tag spacing is then the ruler).

    Raises ``NoMyocardium`` (an ``InputError``) with the reason when no plausible ring is found.
    """
    images = np.asarray(images, dtype=np.float64)
    lagrangian = np.asarray(lagrangian, dtype=np.float64)
    if images.ndim != 3 or lagrangian.shape != (len(images) - 1, 2, *images.shape[1:]) or len(images) < 4:
        raise ValueError(f"expected frames (T >= 4, H, W) and fields (T-1, 2, H, W), got {images.shape} "
                         f"and {lagrangian.shape}")
    spacing_px = tag_spacing(images[0])
    if spacing_px is None:
        raise NoMyocardium("no LV ring found: frame 0 shows no tag pattern (no spectral peak with a period of "
                           f"{TAG_PERIOD_PX[0]:g}-{TAG_PERIOD_PX[1]:g} px), so the tag-free blood pool cannot be told apart")
    mm_per_px = float(np.mean(spacing)) if spacing is not None else DEFAULT_TAG_MM / spacing_px
    positions, known = material_positions(lagrangian)
    features = lagrangian_features(images, positions, spacing_px)
    radius_px = tuple(limit / mm_per_px for limit in LIMITS_MM["cavity radius"])
    pool, shrink = find_pool(features["modulation"], positions, known, radius_px, spacing_px)
    row, col = ndimage.center_of_mass(pool)
    centre = (float(col), float(row))
    cavity = np.sqrt(pool.sum() / np.pi)
    low, high = (limit / mm_per_px for limit in LIMITS_MM["wall thickness"])
    angles = np.linspace(0, 2 * np.pi, RAYS, endpoint=False)
    radii = np.arange(0.0, 2 * cavity + high + spacing_px, 0.25)
    endo = fourier_fit(angles, endo_radii(features, pool, centre, angles, radii, spacing_px),
                       np.ones(RAYS), ENDO_ORDER)
    profiles = {name: polar_profiles(features[name], centre, angles, radii) for name in EPI_FEATURES}
    moved = polar_profiles(radial_displacement(positions, pool), centre, angles, radii)
    profiles["thickening"] = np.gradient(moved, radii, axis=1)
    outer, weight = epi_radii(profiles, radii, endo, (low, high), spacing_px)
    thickness = fourier_fit(angles, outer - endo, weight, THICKNESS_ORDER)
    epi = endo + np.maximum(thickness, 1.0)
    measures = {"tag spacing px": spacing_px, "mm per px": mm_per_px, "pool contraction": shrink,
                "cavity radius mm": float(endo.mean() * mm_per_px),
                "wall thickness mm": float(thickness.mean() * mm_per_px),
                "thickness ratio": float(thickness.mean() / endo.mean()),
                "roundness": float(endo.min() / endo.max()),
                "wall thickening": wall_thickening(moved, radii, endo, epi)}
    check_plausible(measures)
    endo_xy, epi_xy = (np.stack([centre[0] + r * np.cos(angles), centre[1] + r * np.sin(angles)], axis=1)
                       for r in (endo, epi))
    mask = contour_mask(endo_xy, epi_xy, images.shape[1:])
    return AutoMyocardium(mask, endo_xy, epi_xy, centre, measures)


def draw(frame0: np.ndarray, found: AutoMyocardium, others: dict[str, tuple[np.ndarray, np.ndarray]] | None = None):
    """A matplotlib Figure of frame 0 with the found endo- and epicardium (yellow) and any other
    ``{name: (endo, epi)}`` contours (x, y) for comparison, cropped around the ring."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 4), dpi=120)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(frame0, cmap="gray")
    styles = iter(("c--", "m:", "g-."))
    for name, contours, style in [("automatic", (found.endo, found.epi), "y-"),
                                  *[(n, c, next(styles)) for n, c in (others or {}).items()]]:
        for k, contour in enumerate(contours):
            closed = np.vstack([contour, contour[:1]])
            axes.plot(closed[:, 0], closed[:, 1], style, lw=1.2, label=name if k == 0 else None)
    reach = 1.6 * float(np.max(np.linalg.norm(found.epi - np.asarray(found.centre), axis=1)))
    axes.set_xlim(found.centre[0] - reach, found.centre[0] + reach)
    axes.set_ylim(found.centre[1] + reach, found.centre[1] - reach)
    axes.legend(loc="lower left", fontsize=7)
    axes.axis("off")
    return figure


def write_found(folder, found: AutoMyocardium, frame0: np.ndarray) -> None:
    """``auto_myocardium.npz`` (mask, endo_xy_px, epi_xy_px, centre_xy_px, measures_json) and
    ``auto_myocardium.png`` (frame 0 with the borders) into ``folder``."""
    import json
    from pathlib import Path

    folder = Path(folder)
    np.savez_compressed(folder / "auto_myocardium.npz", mask=found.mask, endo_xy_px=found.endo.astype(np.float32),
                        epi_xy_px=found.epi.astype(np.float32), centre_xy_px=np.asarray(found.centre),
                        measures_json=np.array(json.dumps(found.measures)))
    draw(frame0, found).savefig(folder / "auto_myocardium.png")
