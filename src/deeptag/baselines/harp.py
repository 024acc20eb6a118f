"""HARP: harmonic phase tracking of tagged MRI (Osman et al. 1999, 2000; paper section 2.1).

A grid of tags puts first-harmonic peaks in k-space at the tag wave vectors ``±k_1``, ``±k_2``.
Isolating one peak with a band-pass filter and going back to image space gives a complex harmonic
image whose phase (the HARP image) is a material property: it moves with the tissue. A point is
tracked from frame to frame by finding, near its previous position, where both harmonic phases equal
the ones it had at frame 0 (Newton-Raphson on the wrapped phase difference).

Choices, fixed here so that a result can be reproduced:

* Peaks: found once, in frame 0's spectrum (mean removed), and kept for every frame, as in HARP's
  fixed filters. Frequencies below ``1 / max_period_px`` cycles/pixel (the DC region, where the
  anatomy lives) are ignored. The first peak is the strongest bin left; the second the strongest
  whose direction is between 60 and 120 degrees from the first (grid tags). Each peak is the
  integer frequency bin; its sign is chosen with a positive column (else row) component.
* Band-pass: a circular Butterworth window of order 4 centred on the peak, its half-power radius
  ``filter_radius`` times the peak's distance from DC, so it excludes DC, the conjugate peak and
  the other tag direction's peaks. The default 0.25 is the middle of the range (0.2 to 0.3) that
  did best on the real sequence in ``../shared/real`` (docs/baselines.md); wider windows (0.5)
  let noise and anatomy into the phase and cause more slips of one tag period.
* Phase gradients: exact spectral derivatives of the harmonic image,
  ``grad phi = Im(conj(I) grad I) / |I|^2`` (rad/pixel).
* Newton-Raphson, all points at once, from the point's position at the previous frame:
  ``p <- p - G(p)^{-1} wrap(phi(p) - phi_0)``, at most ``iterations`` (10) steps, stopping when no
  point moves more than 1e-3 px. Each step is clipped to a quarter of the shorter tag period so that
  it cannot jump to a neighbouring phase cell. Where the sampled gradient matrix ``G`` is degenerate
  (determinant below a quarter of the nominal one, of the wrong sign, or not finite, as happens where
  tags have faded) the nominal gradient ``2 pi [k_1; k_2]`` of the detected peaks is used instead.
* Motion between two frames must stay below half a tag period (HARP's known limit).
* No dense field: HARP follows points only, so ``lagrangian`` and ``inf_fields`` are None.
"""
from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from . import BaselineResult, check_inputs

BUTTERWORTH_ORDER = 4
MIN_ANGLE_DEGREES = 60.0


def _frequency_grid(height: int, width: int) -> np.ndarray:
    """FFT bin frequencies (2, H, W) in cycles/pixel, channel 0 along rows, channel 1 along columns."""
    return np.stack(np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij"))


def _canonical_sign(peak: np.ndarray) -> np.ndarray:
    """The one of ``±peak`` with a positive column component (positive row if the column is zero)."""
    leading = peak[1] if peak[1] != 0 else peak[0]
    return peak if leading > 0 else -peak


def _frequency_at_max(freqs: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """The frequency (2,) of the largest bin of ``magnitude`` (H, W)."""
    row, col = np.unravel_index(np.argmax(magnitude), magnitude.shape)
    return freqs[:, row, col]


def find_tag_peaks(image: np.ndarray, max_period_px: float = 24.0) -> np.ndarray:
    """Wave vectors of the two tag directions of a grid-tagged ``image`` (H, W).

    Returns (2, 2) in cycles/pixel, one peak per row as (row, column) components: the tag period
    is ``1 / |k|`` pixels and the tag planes are perpendicular to ``k``. Frequencies below
    ``1 / max_period_px`` are ignored.
    """
    image = np.asarray(image, dtype=np.float64)
    magnitude = np.abs(np.fft.fft2(image - image.mean()))
    freqs = _frequency_grid(*image.shape)
    radius = np.hypot(freqs[0], freqs[1])
    magnitude[radius < 1.0 / max_period_px] = 0.0
    first = _frequency_at_max(freqs, magnitude)
    cosine = np.abs(np.tensordot(first, freqs, axes=1)) / (np.linalg.norm(first) * np.maximum(radius, 1e-12))
    magnitude[cosine > np.cos(np.radians(MIN_ANGLE_DEGREES))] = 0.0
    second = _frequency_at_max(freqs, magnitude)
    return np.stack([_canonical_sign(first), _canonical_sign(second)])


def harmonic_images(images: np.ndarray, peaks: np.ndarray, filter_radius: float = 0.25
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Complex harmonic images of ``images`` (T, H, W) for each peak (P, 2) in cycles/pixel.

    Returns ``harmonic`` (P, T, H, W) complex (its angle is the HARP image) and ``phase_gradient``
    (P, T, 2, H, W) in rad/pixel, (row, column) components. The band-pass is a circular Butterworth
    window of order 4 and radius ``filter_radius * |k|`` centred on each peak ``k``.
    """
    spectrum = np.fft.fft2(np.asarray(images, dtype=np.float64))
    freqs = _frequency_grid(*spectrum.shape[-2:])
    harmonic, gradient = [], []
    for peak in peaks:
        distance = np.hypot(freqs[0] - peak[0], freqs[1] - peak[1])
        window = 1.0 / (1.0 + (distance / (filter_radius * np.linalg.norm(peak))) ** (2 * BUTTERWORTH_ORDER))
        filtered = spectrum * window
        values = np.fft.ifft2(filtered)
        derivatives = np.stack([np.fft.ifft2(filtered * (2j * np.pi * freqs[axis])) for axis in (0, 1)], axis=1)
        power = np.maximum(np.abs(values) ** 2, np.finfo(np.float64).tiny)
        harmonic.append(values)
        gradient.append(np.imag(np.conj(values)[:, None] * derivatives) / power[:, None])
    return np.stack(harmonic), np.stack(gradient)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _sample(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``values`` (..., H, W), real or complex, at ``coords`` (K, 2) (row, col)."""
    flat = values.reshape(-1, *values.shape[-2:])

    def at(plane: np.ndarray) -> np.ndarray:
        return ndimage.map_coordinates(plane, coords.T, order=1, mode="nearest")

    if np.iscomplexobj(flat):
        out = np.stack([at(plane.real) + 1j * at(plane.imag) for plane in flat])
    else:
        out = np.stack([at(plane) for plane in flat])
    return out.reshape(*values.shape[:-2], coords.shape[0])


def lock_phase(harmonic: np.ndarray, phase_gradient: np.ndarray, target: np.ndarray, start: np.ndarray,
               nominal_gradient: np.ndarray, step_limit: float, iterations: int = 10,
               tolerance: float = 1e-3) -> np.ndarray:
    """Positions (K, 2) (row, col) near ``start`` where the harmonic phases equal ``target`` (2, K).

    ``harmonic`` (2, H, W) complex and ``phase_gradient`` (2, 2, H, W) belong to one frame;
    ``nominal_gradient`` (2, 2) rad/pixel replaces a degenerate sampled gradient; steps are clipped to
    ``step_limit`` pixels. Newton-Raphson on the wrapped phase difference (Osman et al. 2000).
    """
    coords = start.copy()
    nominal_det = np.linalg.det(nominal_gradient)
    for _ in range(iterations):
        residual = _wrap(np.angle(_sample(harmonic, coords)) - target).T  # (K, 2)
        jacobian = np.moveaxis(_sample(phase_gradient, coords), -1, 0)  # (K, 2 harmonics, 2 axes)
        ratio = np.linalg.det(jacobian) / nominal_det
        degenerate = ~np.isfinite(ratio) | (ratio < 0.25)
        jacobian[degenerate] = nominal_gradient
        step = -np.linalg.solve(jacobian, residual[..., None])[..., 0]
        length = np.linalg.norm(step, axis=1, keepdims=True)
        step *= np.minimum(1.0, step_limit / np.maximum(length, 1e-12))
        coords = coords + step
        if np.abs(step).max(initial=0.0) < tolerance:
            break
    return coords


def track_harp(images: np.ndarray, points: np.ndarray, max_period_px: float = 24.0,
               filter_radius: float = 0.25, iterations: int = 10) -> BaselineResult:
    """Track ``points`` (K, 2) as (x, y) at frame 0 through grid-tagged ``images`` (T, H, W) by HARP.

    Returns tracks (T, K, 2) as (x, y) in pixels and the wall-clock seconds; HARP gives no dense
    field, so ``lagrangian`` and ``inf_fields`` are None. See the module docstring for the choices.
    """
    images, points = check_inputs(images, points)
    started = time.perf_counter()
    peaks = find_tag_peaks(images[0], max_period_px)
    harmonic, gradient = harmonic_images(images, peaks, filter_radius)
    nominal_gradient = 2.0 * np.pi * peaks
    step_limit = 0.25 / np.linalg.norm(peaks, axis=1).max()
    coords = points[:, ::-1].copy()
    target = np.angle(_sample(harmonic[:, 0], coords))
    tracks = [coords]
    for t in range(1, images.shape[0]):
        coords = lock_phase(harmonic[:, t], gradient[:, t], target, coords, nominal_gradient,
                            step_limit, iterations)
        tracks.append(coords)
    return BaselineResult(tracks=np.stack(tracks)[..., ::-1].copy(), lagrangian=None, inf_fields=None,
                          seconds=time.perf_counter() - started)
