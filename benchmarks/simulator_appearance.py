"""Domain gap of the simulator's looks: simple appearance statistics of classic and wide simulated
sequences beside the real validation scan, so that one sees whether the wide preset covers it.

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/simulator_appearance.py --n 40 [--view full]

What is compared is what the network sees: by default (``--view roi``) each simulated sequence's heart box
(``roi``, the crop of the paper's pre-processing) resampled to the 192 grid, beside the real scan, which is
already such a heart-centred crop (resized from 192 to 231 for display; back to 192 here). ``--view full``
takes the whole simulated frames instead. Intensities are those the network gets
(``deeptag.preprocess.prepare_intensity``: the sequence divided by its 98.5 % quantile, clipped). Per sequence:

* tag spacing (px): the period of the strongest peak of frame 0's spectrum at periods of 3-20 px;
* tag share at frame 0: spectral power within 0.8-1.25 times that frequency over all non-DC power, and
  at the last frame as a fraction of frame 0's (tag fading);
* noise: Immerkaer's estimate of the noise standard deviation of frame 0 in display units, made robust
  with the median (the 3x3 mask also answers a little to fine tags and edges, alike in every column);
* intensity quantiles 10 / 50 / 90 % over all frames;
* spectral slope: the exponent of the radially averaged power spectrum of frame 0 between 1/64 and 1/12
  cycles per pixel (below the tags: anatomy and texture), and the high-frequency power share beyond
  1.5 times the tag frequency (noise, sharp edges and sharp tag profiles).

For each statistic it prints the median and the 5-95 % range of N classic and N wide sequences
(validation seeds, so no training seed is looked at) and the real scan's value, with whether the real
value falls inside each range. Appearance only: nothing is trained or tracked.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve
from skimage.transform import resize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_data import REAL_SEQUENCE, VALIDATION_SEED  # noqa: E402

from deeptag.io import read_sequence  # noqa: E402
from deeptag.phantom import simulate_sequence  # noqa: E402
from deeptag.preprocess import prepare_intensity  # noqa: E402

GRID = 192
STATISTICS = ("frames", "tag spacing (px)", "tag share, frame 0", "tag share, last / first", "noise sigma",
              "intensity q10", "intensity q50", "intensity q90", "spectral slope", "high-frequency share")


def _spectrum(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of a Hann-windowed, mean-removed frame and the radial frequency (cycles/px) of each bin."""
    window = np.outer(np.hanning(frame.shape[0]), np.hanning(frame.shape[1]))
    power = np.abs(np.fft.fft2((frame - frame.mean()) * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(frame.shape[0]), np.fft.fftfreq(frame.shape[1]), indexing="ij")
    return power, np.hypot(fy, fx)


def noise_sigma(frame: np.ndarray) -> float:
    """Noise standard deviation: the median absolute response to Immerkaer's 3x3 mask (CVIU 1996), whose
    response to white noise of unit deviation has deviation 6, scaled as a Gaussian's median."""
    mask = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    response = convolve(frame, mask, mode="reflect")[1:-1, 1:-1]
    return float(np.median(np.abs(response)) / (0.6745 * 6.0))


def tag_frequency(frame: np.ndarray) -> float:
    """Radial frequency (cycles/px) of the strongest spectral peak at periods of 3-20 px."""
    power, radius = _spectrum(frame)
    band = (radius >= 1 / 20) & (radius <= 1 / 3)
    return float(radius[band][np.argmax(power[band])])


def tag_share(frame: np.ndarray, frequency: float) -> float:
    """Share of the non-DC spectral power within 0.8-1.25 times the tag frequency."""
    power, radius = _spectrum(frame)
    ring = (radius >= 0.8 * frequency) & (radius <= 1.25 * frequency)
    return float(power[ring].sum() / max(power[radius > 0].sum(), 1e-12))


def spectral_slope(frame: np.ndarray) -> float:
    """Exponent beta of a ``1 / f**beta`` fit to the radially averaged power at 1/64-1/12 cycles/px."""
    power, radius = _spectrum(frame)
    edges = np.geomspace(1 / 64, 1 / 12, 9)
    centres, means = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        ring = (radius >= low) & (radius < high)
        if ring.any():
            centres.append(np.sqrt(low * high))
            means.append(power[ring].mean())
    return float(-np.polyfit(np.log(centres), np.log(np.maximum(means, 1e-20)), 1)[0])


def statistics(images: np.ndarray) -> dict[str, float]:
    """The appearance statistics of one sequence (T, H, W) in [0, 1], resampled to the 192 grid."""
    if images.shape[1:] != (GRID, GRID):
        images = np.stack([resize(frame, (GRID, GRID), order=1, anti_aliasing=True) for frame in images])
    images = prepare_intensity(images).astype(np.float64)
    first, last = images[0], images[-1]
    frequency = tag_frequency(first)
    share = tag_share(first, frequency)
    power, radius = _spectrum(first)
    quantiles = np.percentile(images, [10, 50, 90])
    return {"frames": float(len(images)), "tag spacing (px)": 1.0 / frequency, "tag share, frame 0": share,
            "tag share, last / first": tag_share(last, frequency) / max(share, 1e-12),
            "noise sigma": noise_sigma(first), "intensity q10": float(quantiles[0]),
            "intensity q50": float(quantiles[1]), "intensity q90": float(quantiles[2]),
            "spectral slope": spectral_slope(first),
            "high-frequency share": float(power[radius > 1.5 * frequency].sum() / power[radius > 0].sum())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="simulated sequences per preset (default 40)")
    parser.add_argument("--seed", type=int, default=VALIDATION_SEED, help="first seed (default: validation seeds)")
    parser.add_argument("--view", choices=("roi", "full"), default="roi",
                        help="simulated frames: the heart box resampled to 192 (default) or the whole frame")
    args = parser.parse_args()

    rows = {}
    for preset in ("classic", "wide"):
        values = []
        for i in range(args.n):
            sequence = simulate_sequence(args.seed + i, variety=preset)
            x0, y0, x1, y1 = sequence.roi if args.view == "roi" else (0, 0, GRID, GRID)
            values.append(statistics(sequence.images[:, y0:y1, x0:x1]))
        rows[preset] = {name: np.array([v[name] for v in values]) for name in STATISTICS}
    real = None
    if REAL_SEQUENCE.is_file():
        real = statistics(read_sequence(REAL_SEQUENCE).images)
    else:
        print(f"(the real scan {REAL_SEQUENCE} is absent: its column is left out)")

    print(f"appearance statistics, {args.n} sequences per preset (seeds {args.seed}-{args.seed + args.n - 1}, "
          f"view {args.view}), median [5-95 %]; 'in' when the real value lies inside the range")
    header = f"{'statistic':26s} {'classic':>24s} {'wide':>24s}"
    print(header + (f" {'sax_45_23':>10s}  in classic / wide" if real else ""))
    for name in STATISTICS:
        cells = []
        inside = []
        for preset in ("classic", "wide"):
            low, mid, high = np.percentile(rows[preset][name], [5, 50, 95])
            cells.append(f"{mid:8.3g} [{low:6.3g}-{high:6.3g}]")
            if real:
                inside.append("in" if low <= real[name] <= high else "out")
        line = f"{name:26s} {cells[0]:>24s} {cells[1]:>24s}"
        if real:
            line += f" {real[name]:10.3g}  {inside[0]:>3s} / {inside[1]}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
