"""Where tracking is wrong: a per-pixel, per-frame estimate of the tracking error, and scan-level checks.

The VAE's standard deviation says little about where tracking fails (it is set by the prior, not by
the image). This module measures, from what ``track`` already has on the network grid, signals that do:

* ``inverse_consistency``: ``|u_f(p) + u_b(p + u_f(p))|`` of each INF pair, accumulated along the
  Lagrangian path of each pixel back to frame 0 (``accumulate_along_path``);
* ``ncc_residual``: ``1 - NCC^2`` of frame t against frame 0 warped by the Lagrangian field, in local
  windows (``local_ncc_map``; where a point has locked onto the neighbouring tag the two disagree);
* ``structure``: the eigenvalues of the local structure tensor of frame t: the smaller one is low where
  the tags have faded or where only one set of tag lines shows (motion along a line is invisible);
* the size of each inter-frame step against the tag period (steps near half a period are ambiguous).

``error_map`` combines them into the predicted 90th percentile of the end-point error (pixels) by a
linear quantile regression on their logarithms, fitted on simulated validation sequences (the
coefficients below; docs/guide/quality.md says how they were fitted and how well they predict on test
sequences). ``scan_checks`` looks at a sequence before tracking: no tag pattern, faded tags, the heart
outside the region, frames out of order.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import fields
from .losses import box_sums, local_ncc_map
from .regions import FLAG_PX

NCC_WINDOW = 9  # the training loss's window (losses.LossConfig.ncc_window)
SMOOTHING = 9  # box size of the signals' spatial smoothing, network pixels
EPS = 1e-3


def box_mean(values: torch.Tensor, window: int = SMOOTHING) -> torch.Tensor:
    """Mean of (B, H, W) maps over a ``window`` box, normalised at the border (no zero bias)."""
    ones = torch.ones_like(values[:1, None])
    return (box_sums(values[:, None], window) / box_sums(ones, window))[:, 0]


def inverse_consistency(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """``|u_f(p) + u_b(p + u_f(p))|`` (N, H, W) of INF pairs (N, 2, H, W): zero for exact inverses.

    ``forward[t]`` lives on frame t+1 and points into frame t, ``backward[t]`` lives on frame t and
    points into frame t+1: going forth and back must return to ``p``.
    """
    loop = fields.compose(forward, backward)
    return torch.linalg.vector_norm(loop, dim=1)


def accumulate_along_path(values: torch.Tensor, forward: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Per-pair maps (N, H, W) (``values[t]`` on frame t+1's grid) accumulated along each pixel's path
    back to frame 0 through the INF fields (N, 2, H, W): ``A_0 = v_0``, ``A_t = v_t (+ or max) A_{t-1}(p + u_t(p))``,
    as ``fields.lagrangian_fields`` composes the displacements. Returns (N, H, W)."""
    current = values[:1]
    out = [current]
    for t in range(1, values.shape[0]):
        earlier = fields.warp(current[:, None], forward[t:t + 1])[:, 0]
        current = values[t:t + 1] + earlier if reduce == "sum" else torch.maximum(values[t:t + 1], earlier)
        out.append(current)
    return torch.cat(out)


def ncc_residual(frames: torch.Tensor, lagrangian: torch.Tensor, window: int = NCC_WINDOW) -> torch.Tensor:
    """``1 - NCC^2`` (N, H, W) of frame t+1 against frame 0 warped by ``lagrangian[t]``; frames (N+1, 1, H, W)."""
    warped = fields.warp(frames[:1].expand(lagrangian.shape[0], -1, -1, -1), lagrangian)
    return (1.0 - local_ncc_map(frames[1:], warped, window))[:, 0].clamp(0.0, 1.0)


def structure_eigenvalues(frames: torch.Tensor, window: int = 2 * NCC_WINDOW + 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The smaller and larger eigenvalue (B, H, W) of the local structure tensor of frames (B, 1, H, W)."""
    d_rows = torch.gradient(frames[:, 0], dim=-2)[0]
    d_cols = torch.gradient(frames[:, 0], dim=-1)[0]
    size = float(window ** 2)
    j = box_sums(torch.stack([d_rows * d_rows, d_cols * d_cols, d_rows * d_cols], dim=1), window) / size
    half_trace = 0.5 * (j[:, 0] + j[:, 1])
    root = torch.sqrt(0.25 * (j[:, 0] - j[:, 1]) ** 2 + j[:, 2] ** 2)
    return (half_trace - root).clamp(min=0.0), half_trace + root


# The error model: log q90(error, network pixels) = INTERCEPT + sum_k COEFFICIENTS[k] * log(max(signal_k, FLOORS[k])),
# a linear quantile regression fitted on 30 simulated validation sequences (seeds 50000-50029), network
# alone; docs/guide/quality.md ("How the model was fitted") gives the command and its figures.
SIGNALS = ("ncc_residual", "structure_min", "structure_max", "inverse_consistency", "displacement", "coherence_0")
FLOORS = {"ncc_residual": 1e-3, "structure_min": 1e-6, "structure_max": 1e-6, "inverse_consistency": 1e-4,
          "displacement": 0.05, "coherence_0": 1e-4}
INTERCEPT = -0.1680
COEFFICIENTS = {"ncc_residual": 0.3283, "structure_min": -0.3439, "structure_max": 0.0813,
                "inverse_consistency": 0.2564, "displacement": 0.2241, "coherence_0": -0.2510}
QUANTILE = 0.9  # the estimate is the predicted 90th percentile of the end-point error


def error_signals(frames: torch.Tensor, forward: torch.Tensor, backward: torch.Tensor,
                  lagrangian: torch.Tensor) -> dict[str, torch.Tensor]:
    """The signals of ``SIGNALS``, each (N, S, S) on the network grid, for frames (N+1, 1, S, S) and the
    INF and Lagrangian fields (N, 2, S, S) in network pixels; map t belongs to frame t+1.

    ``ncc_residual``: 1 - local NCC^2 of frame t+1 against frame 0 warped, box-smoothed;
    ``structure_min``/``_max``: eigenvalues of the structure tensor of frame t+1 (faded tags, one set of
    tag lines); ``inverse_consistency``: summed along the path back to frame 0; ``displacement``:
    ``|L_t|`` (network pixels); ``coherence_0``: ``structure_min / structure_max`` of frame 0 at the
    material point (near 0 where only one set of tag lines shows: motion along them is invisible).
    """
    smallest, largest = structure_eigenvalues(frames)
    ratio = (smallest / (largest + 1e-12))[:1, None].expand(lagrangian.shape[0], -1, -1, -1)
    return {
        "ncc_residual": box_mean(ncc_residual(frames, lagrangian)),
        "structure_min": smallest[1:],
        "structure_max": largest[1:],
        "inverse_consistency": accumulate_along_path(inverse_consistency(forward, backward), forward),
        "displacement": torch.linalg.vector_norm(lagrangian, dim=1),
        "coherence_0": fields.warp(ratio, lagrangian)[:, 0],
    }


def combine(signals: dict[str, torch.Tensor]) -> torch.Tensor:
    """The predicted 90th percentile of the end-point error (network pixels) from ``error_signals``."""
    log_error = torch.full_like(signals[SIGNALS[0]], INTERCEPT)
    for name in SIGNALS:
        log_error = log_error + COEFFICIENTS[name] * torch.log(signals[name].clamp(min=FLOORS[name]))
    return torch.exp(log_error)


def error_map(frames: torch.Tensor, network: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, S, S) estimated error (predicted 90th percentile, network pixels) of the Lagrangian field of
    each frame 1..N, from the network frames (N+1, 1, S, S) and ``TrackResult.network``."""
    return combine(error_signals(frames, network["inf_forward"], network["inf_backward"], network["lagrangian"]))


def error_map_on_input(frames: torch.Tensor, network: dict[str, torch.Tensor], mapping, height: int,
                       width: int) -> np.ndarray:
    """``error_map`` on the input grid (N, H, W) in input pixels (NaN outside the tracked region): sampled
    as ``GridMapping.scalar_from_network`` and divided by the network pixels per input pixel."""
    estimate = error_map(frames.to(network["lagrangian"].device, network["lagrangian"].dtype), network)
    sy, sx = mapping.scale
    return mapping.scalar_from_network(estimate.cpu(), height, width) / float(np.sqrt(sy * sx))


# ---------------------------------------------------------------------------------------------------------
# Scan-level checks before tracking (docs/guide/quality.md, "Checks before tracking")

TAG_PERIODS_PX = (3.0, 24.0)  # tag periods looked for, network pixels (the simulator's: 4.8-9.5)
MAX_ENLARGED_PERIOD_PX = 48.0  # longest period looked for in an enlarged region (beyond: anatomy, not tags)
TAG_PEAK_MIN = 0.5  # per mille of a frame's power in its strongest tag frequency, below which it shows no tags
FADED_FRACTION = 0.5  # tags count as fully faded when more than this fraction of the frames shows none
HEART_INSIDE_MIN = 0.5  # the fraction of the moving heart's box that must lie inside the region
REVERSED_TAGS = 2.0  # tags this many times stronger in the last quarter of the frames than in the first: reversed
ORDER_SWAP_GAIN = 1.0  # frames t, t+1 look swapped when swapping them would shorten the path (frame_order_gains)


def tag_peaks(frames: np.ndarray, periods: tuple[float, float] = TAG_PERIODS_PX) -> np.ndarray:
    """(T,) how strongly each frame (T, S, S) shows a periodic (tag) pattern: the largest excess, over
    spatial frequencies with a period within ``periods`` pixels, of the power spectrum above the median
    power at the same frequency magnitude, per mille of the frame's whole (windowed, mean-free) power.
    A tag pattern puts tens per mille into one frequency; anatomy alone, a smooth falling spectrum,
    next to nothing."""
    frames = np.asarray(frames, dtype=np.float64)
    size = frames.shape[-1]
    window = np.outer(np.hanning(frames.shape[-2]), np.hanning(size))
    centred = frames - frames.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.rfft2(centred * window)) ** 2
    power[..., 1:-1] *= 2.0  # the half spectrum stands for both halves
    total = np.maximum(power.sum(axis=(-2, -1)), 1e-30)
    fy = np.fft.fftfreq(frames.shape[-2])[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fy, fx)
    rings = np.round(radius * size).astype(int)
    band = (radius >= 1.0 / periods[1]) & (radius <= 1.0 / periods[0])
    out = np.zeros(len(frames))
    for ring in np.unique(rings[band]):
        values = power[:, band & (rings == ring)]
        out = np.maximum(out, (values.max(axis=1) - np.median(values, axis=1)) / total)
    return 1000.0 * out


def frame_order_gains(frames: np.ndarray) -> np.ndarray:
    """(T-1,) for each pair of neighbours t, t+1: how much shorter the path through the frames would be
    with the two swapped, ``(d(t-1, t) + d(t+1, t+2)) / (d(t-1, t+1) + d(t, t+2))`` with ``d`` the RMS
    difference of two frames (terms beyond the ends left out). In acquisition order a frame is closer to
    its neighbours than to the frames two steps away (motion is smooth, tags fade steadily), so every
    gain stays below 1 (at most 0.94 on 30 simulated validation sequences); a swapped pair gives more
    than 1 (at least 1.09 on the same sequences, one random pair swapped in each)."""
    flat = np.asarray(frames, dtype=np.float64).reshape(len(frames), -1)
    squared = (flat ** 2).sum(axis=1)
    distance = np.sqrt(np.maximum((squared[:, None] + squared[None, :] - 2.0 * flat @ flat.T) / flat.shape[1], 0.0))
    count = len(frames)
    gains = np.zeros(max(count - 1, 0))
    for t in range(count - 1):
        before = (distance[t - 1, t] if t > 0 else 0.0) + (distance[t + 1, t + 2] if t + 2 < count else 0.0)
        after = (distance[t - 1, t + 1] if t > 0 else 0.0) + (distance[t, t + 2] if t + 2 < count else 0.0)
        gains[t] = before / after if after > 0 else 0.0
    return gains


def frame_order_jumps(frames: np.ndarray, limit: float = ORDER_SWAP_GAIN) -> list[int]:
    """Frames t that look swapped with frame t+1 (``frame_order_gains`` above ``limit``)."""
    return [int(t) for t in np.flatnonzero(frame_order_gains(frames) > limit)]


def scan_checks(images: np.ndarray, roi: tuple[int, int, int, int], frame_times: np.ndarray | None = None,
                network_size: int = 192) -> list[str]:
    """What about a sequence makes tracking unreliable, one sentence each (empty when nothing is found):
    no tag pattern, tags faded in most frames, the moving heart outside the region of interest ``roi``
    (x0, y0, x1, y1), frames out of order (trigger times that do not increase, or frame differences
    that jump). ``images`` (T, H, W), any intensity scale. The region is looked at on the network grid;
    where the grid enlarges a small region, the longest tag period looked for grows with it (up to
    ``MAX_ENLARGED_PERIOD_PX``), so the region's tags are still found."""
    from .preprocess import GridMapping, find_heart_roi, normalise_sequence

    warnings = []
    mapping = GridMapping(tuple(roi), network_size)
    frames = mapping.images_to_network(normalise_sequence(images))[:, 0].numpy()
    longest = min(TAG_PERIODS_PX[1] * max(1.0, min(mapping.scale)), max(TAG_PERIODS_PX[1], MAX_ENLARGED_PERIOD_PX))
    peaks = tag_peaks(frames, (TAG_PERIODS_PX[0], longest))
    tagged = peaks >= TAG_PEAK_MIN
    if len(images) >= 2 and not tagged[:max(1, len(tagged) // 4)].any():
        warnings.append(f"no tag pattern found in the first frames (strongest periodic pattern {peaks[0]:.1f} per mille of the power, "
                        f"tags give {TAG_PEAK_MIN:g} or more): is this an untagged cine or a localiser?")
    elif (~tagged).mean() > FADED_FRACTION:
        first = int(np.flatnonzero(~tagged)[0])
        warnings.append(f"the tags have fully faded in {int((~tagged).sum())} of {len(tagged)} frames (first in "
                        f"frame {first}): tracking there follows little more than the anatomy")
    if frame_times is not None and len(frame_times) == len(images) and np.any(np.diff(frame_times) <= 0):
        t = int(np.flatnonzero(np.diff(frame_times) <= 0)[0])
        warnings.append(f"frame times do not increase (frame {t + 1} at {frame_times[t + 1]:g} ms after frame "
                        f"{t} at {frame_times[t]:g} ms): frames are out of order")
    quarter = max(1, len(peaks) // 4)
    if len(peaks) >= 4 and np.median(peaks[-quarter:]) > REVERSED_TAGS * np.median(peaks[:quarter]):
        warnings.append("the tags are stronger in the last frames than in the first (they fade after the tagging "
                        "pulse): are the frames in reverse order?")
    jumps = frame_order_jumps(frames)
    if jumps:
        pairs = ", ".join(f"{t} and {t + 1}" for t in jumps[:4])
        warnings.append(f"frames look out of order: frames {pairs} would follow on more smoothly swapped")
    height, width = images.shape[1:]
    if tuple(roi) != (0, 0, width, height):
        heart = find_heart_roi(images)
        if heart is not None:
            x0, y0, x1, y1 = roi
            hx0, hy0, hx1, hy1 = heart
            overlap = max(0, min(x1, hx1) - max(x0, hx0)) * max(0, min(y1, hy1) - max(y0, hy0))
            if overlap < HEART_INSIDE_MIN * (hx1 - hx0) * (hy1 - hy0):
                warnings.append(f"the moving heart (about {hx0},{hy0},{hx1},{hy1}) lies mostly outside the region "
                                f"of interest {x0},{y0},{x1},{y1}: is the region on the heart?")
    return warnings


# ---------------------------------------------------------------------------------------------------------
# Summaries and flags of the error map (docs/guide/quality.md, "Flags")

def moving_mask(mask: np.ndarray, lagrangian: np.ndarray) -> np.ndarray:
    """(T-1, H, W): the pixels of frames 1..T-1 whose material point ``p + L_t(p)`` lies in the frame-0
    ``mask`` (H, W) (bilinear, >= 0.5)."""
    field = torch.as_tensor(np.nan_to_num(np.asarray(lagrangian, dtype=np.float32), nan=1e6))
    image = torch.as_tensor(mask, dtype=torch.float32)[None, None].expand(len(field), -1, -1, -1)
    return (fields.warp(image, field)[:, 0] >= 0.5).numpy()


def summarise_error(error: np.ndarray, region: np.ndarray | None = None, threshold: float = FLAG_PX) -> dict:
    """``summary.json``'s ``quality``: the estimate over ``region`` (T-1, H, W) bool (the myocardium as it
    moves), or over the whole tracked region: its median, its largest per-frame median and that frame,
    the frames whose median exceeds ``threshold`` (frame numbers from 0, as in tracks.csv)."""
    finite = np.isfinite(error)
    selected = finite if region is None else finite & region
    per_frame = [float(np.median(frame[chosen])) if chosen.any() else None for frame, chosen in zip(error, selected)]
    known = [(value, t + 1) for t, value in enumerate(per_frame) if value is not None]
    values = error[selected]
    worst = max(known) if known else (None, None)
    return {
        "estimate": "predicted 90th percentile of the end-point error of the Lagrangian field (quality.error_map)",
        "units": "input pixels",
        "over": "tracked region" if region is None else "myocardium",
        "median_px": round(float(np.median(values)), 4) if values.size else None,
        "worst_frame_median_px": None if worst[0] is None else round(worst[0], 4),
        "worst_frame": worst[1],
        "flag_threshold_px": threshold,
        "frames_flagged": [t for value, t in known if value > threshold],
        "per_frame_median_px": [0.0] + [None if v is None else round(v, 4) for v in per_frame],
    }
