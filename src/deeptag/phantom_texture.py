"""Random tissue textures for the wide simulator preset (the ``textures`` lever).

Real tagged images show the tags over tissue that is not flat: coil and partial-volume variation,
vessels, fibrous and fatty strands. Natural images have a power spectrum close to ``1 / f**2``; a
random exponent around it, mixed with Gaussian-smoothed noise of a random scale, gives textures from
blotchy to fine-grained. The texture multiplies the proton density in material coordinates, so it moves
with the tissue and the ground truth stays exact.
"""
from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.ndimage import gaussian_filter

from .phantom_variety import Variety


def power_law_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Random field (H, W) float32 of zero mean and unit standard deviation whose power spectrum falls
    as ``1 / f**beta`` (beta = 2 for natural images)."""
    fy = scipy.fft.fftfreq(shape[0])[:, None]
    fx = scipy.fft.fftfreq(shape[1])[None, :]
    frequency = np.hypot(fy, fx)
    frequency[0, 0] = np.inf  # no mean
    spectrum = scipy.fft.fft2(rng.standard_normal(shape)) * frequency ** (-beta / 2.0)
    field = scipy.fft.ifft2(spectrum).real
    return ((field - field.mean()) / max(float(field.std()), 1e-12)).astype(np.float32)


def texture_field(rng: np.random.Generator, shape: tuple[int, int], variety: Variety,
                  scale: float) -> tuple[np.ndarray, dict]:
    """A unit-variance texture (H, W): a random mix of 1/f**beta noise and Gaussian-smoothed noise.

    ``scale`` is the image side over 192 (smoothing lengths are given at 192 px). Returns the field and
    the drawn values.
    """
    beta = float(rng.uniform(*variety.texture_beta))
    sigma = float(rng.uniform(*variety.texture_sigma_px)) * scale
    weight = float(rng.uniform(0.0, 1.0))
    smooth = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    smooth = smooth / max(float(smooth.std()), 1e-12)
    field = weight * power_law_noise(rng, shape, beta) + (1.0 - weight) * smooth
    field = field / max(float(field.std()), 1e-12)
    return field.astype(np.float32), {"beta": beta, "sigma_px": sigma, "power_law_weight": weight}


def textured_density(density: np.ndarray, myocardium: np.ndarray, rng: np.random.Generator, variety: Variety,
                     scale: float) -> tuple[np.ndarray, dict]:
    """The proton-density map (H, W) times ``1 + a * texture``: amplitude ``a`` drawn for the tissues
    around the heart and a smaller one inside the LV myocardium (``myocardium`` its soft mask).

    The factor is kept within [0.2, 2] so that no tissue changes sign or saturates the display.
    """
    field, record = texture_field(rng, density.shape, variety, scale)
    around = float(rng.uniform(*variety.texture_amplitude))
    wall = float(rng.uniform(*variety.myocardium_texture))
    amplitude = around + (wall - around) * np.clip(myocardium, 0.0, 1.0)
    factor = np.clip(1.0 + amplitude * field, 0.2, 2.0)
    record.update(amplitude=around, myocardium_amplitude=wall)
    return (density * factor).astype(np.float32), record
