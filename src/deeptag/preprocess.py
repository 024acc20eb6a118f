"""Pre-processing of section 4.1 and its exact inverse.

A region of interest of the input frames is resampled to the square network grid, and every result
(points, fields, Jacobian maps) is mapped back to the input's pixel grid with the same map that
resampled the frames (pixel centres: ``x_net = (x - x0 + 0.5) * S / w - 0.5``), so image content and
coordinates agree (``GridMapping``). Intensities are normalised so that the same scan gives the same
result whatever scale or type it was stored in (``prepare_intensity``).

Region of interest: the full frame by default; a box given by the user; or ``"auto"``, found around
the heart by ``find_heart_roi`` (the frames' motion energy, smoothed, thresholded at half its peak,
the most energetic component's box enlarged by a margin and made square; the full frame when unsure).

Time: training pads sequences shorter than ``NETWORK_FRAMES`` by repeating the last frame. Inference
registers each consecutive pair on its own, so it pads nothing: every output has exactly the input's
frames (T - 1 fields, T tracked positions).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from . import fields
from .errors import InputError
from .roi import MIN_ROI_SIDE, check_roi

NETWORK_SIZE = 192
NETWORK_FRAMES = 25  # training pads shorter sequences to this length by repeating the last frame


def normalise_intensity(images: np.ndarray) -> np.ndarray:
    """Divide each frame by twice its median intensity and clip to [0, 1] (section 4.1).

    Where more than half of a frame is zero (a dark, padded frame), the median of its non-zero pixels
    is used instead, so the frame is not blown up.
    """
    images = np.asarray(images, dtype=np.float32)
    out = np.empty_like(images)
    for t, frame in enumerate(images):
        median = float(np.median(frame))
        if median <= 0:
            positive = frame[frame > 0]
            median = float(np.median(positive)) if positive.size else 1.0
        out[t] = np.clip(frame / (2.0 * median), 0.0, 1.0)
    return out


SATURATED_FRACTION = 0.015  # the middle of the simulator's display range (0.005-0.025; docs/simulator.md)


def normalise_sequence(images: np.ndarray, saturated_fraction: float = SATURATED_FRACTION) -> np.ndarray:
    """Divide the whole sequence by its ``1 - saturated_fraction`` quantile and clip to [0, 1].

    The brightest ``saturated_fraction`` of the pixels saturates at 1, as in tagged sequences exported
    for display and in the simulator's sequences, so the network sees the same range whatever the scale
    or type the file was stored in; one factor for all frames keeps the fading of the tags over the cycle.
    A sequence whose quantile is not positive is scaled by its maximum (all zero stays zero).
    """
    images = np.asarray(images, dtype=np.float32)
    top = float(np.quantile(images, 1.0 - saturated_fraction))
    if top <= 0:
        top = float(images.max())
    if top <= 0:
        return np.zeros_like(images)
    return np.clip(images / top, 0.0, 1.0)


INTENSITY_MODES = ("sequence", "median", "none")


def prepare_intensity(images: np.ndarray, mode: str = "sequence") -> np.ndarray:
    """Intensities as the network expects them, in [0, 1], the same for any positive scale and type.

    ``"sequence"`` (the project's models): ``normalise_sequence``; ``"median"``: section 4.1's per-frame
    normalisation; ``"none"``: the frames as they are, which must then lie in [0, 1] already (frames
    normalised by hand, or the published example exactly as the authors fed it).
    """
    if mode not in INTENSITY_MODES:
        raise ValueError(f"intensity mode must be one of {INTENSITY_MODES}, got {mode!r}")
    if mode == "none":
        low, high = float(np.min(images)), float(np.max(images))
        if low < 0.0 or high > 1.0:
            raise InputError(f"--intensity none needs frames in [0, 1], these span [{low:g}, {high:g}]; "
                             "leave --intensity out to normalise them")
        return np.asarray(images, dtype=np.float32)
    return normalise_intensity(images) if mode == "median" else normalise_sequence(images)


def resampling_matrix(n_in: int, n_out: int, align_corners: bool = False) -> np.ndarray:
    """(n_out, n_in) weights that resample one image axis.

    Shrinking averages the input pixels over each output pixel's footprint, weighted by overlap
    (exact area interpolation, as OpenCV's INTER_AREA; the published model was fed this way): output
    pixel i covers input pixels [i n_in / n_out, (i + 1) n_in / n_out), so pixel centres map as
    ``(x + 0.5) n_out / n_in - 0.5``. Enlarging interpolates linearly at those centres (clamped at the
    border), or, with ``align_corners``, between pixel centres with the corner pixels aligned.
    """
    weights = np.zeros((n_out, n_in))
    if n_out <= n_in:
        step = n_in / n_out
        for i in range(n_out):
            start, stop = i * step, (i + 1) * step
            for j in range(int(np.floor(start)), min(int(np.ceil(stop)), n_in)):
                weights[i, j] = min(stop, j + 1) - max(start, j)
    else:
        if align_corners:
            positions = np.arange(n_out) * (n_in - 1) / (n_out - 1)
        else:
            positions = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lower = np.minimum(np.floor(positions).astype(int), n_in - 2)
        frac = positions - lower
        weights[np.arange(n_out), lower] = 1 - frac
        weights[np.arange(n_out), lower + 1] += frac
    return weights / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class GridMapping:
    """The map between a region of the input frames and the network grid.

    ``roi`` = (x0, y0, x1, y1): columns x0..x1-1 and rows y0..y1-1 of the input frames. Coordinates map
    as the frames are resampled (``resampling_matrix``): pixel centres, ``x_net = (x - x0 + 0.5) S / w
    - 0.5``. ``align_corners`` maps the centres of the region's corner pixels onto the network grid's,
    ``x_net = (x - x0) (S - 1) / (w - 1)``: the convention the authors' published tracks were made with
    (their frames were area-averaged all the same), kept for their weights only.
    """

    roi: tuple[int, int, int, int]
    size: int = NETWORK_SIZE
    align_corners: bool = False

    @classmethod
    def full_frame(cls, height: int, width: int, size: int = NETWORK_SIZE,
                   align_corners: bool = False) -> "GridMapping":
        return cls((0, 0, width, height), size, align_corners)

    @classmethod
    def box_or_full_frame(cls, roi: tuple[int, int, int, int] | None, height: int, width: int,
                          size: int = NETWORK_SIZE, align_corners: bool = False) -> "GridMapping":
        """The box ``roi`` when there is one (a sequence's stored heart box), else the full frame."""
        return cls(roi, size, align_corners) if roi else cls.full_frame(height, width, size, align_corners)

    @property
    def scale(self) -> tuple[float, float]:
        """Network pixels per input pixel, along (rows, columns)."""
        x0, y0, x1, y1 = self.roi
        if self.align_corners:
            return (self.size - 1) / (y1 - y0 - 1), (self.size - 1) / (x1 - x0 - 1)
        return self.size / (y1 - y0), self.size / (x1 - x0)

    @property
    def _offsets(self) -> tuple[float, float]:
        """``o`` in ``x_net = (x - o) * scale`` along (rows, columns)."""
        x0, y0, _, _ = self.roi
        if self.align_corners:
            return float(y0), float(x0)
        sy, sx = self.scale
        return y0 - 0.5 + 0.5 / sy, x0 - 0.5 + 0.5 / sx

    def images_to_network(self, images: np.ndarray) -> torch.Tensor:
        """(T, H, W) input frames to (T, 1, S, S) network frames (see ``resampling_matrix``)."""
        x0, y0, x1, y1 = self.roi
        crop = torch.as_tensor(np.ascontiguousarray(images[:, y0:y1, x0:x1]), dtype=torch.float32)
        rows = torch.as_tensor(resampling_matrix(y1 - y0, self.size, self.align_corners), dtype=torch.float32)
        cols = torch.as_tensor(resampling_matrix(x1 - x0, self.size, self.align_corners), dtype=torch.float32)
        return (rows @ crop @ cols.T)[:, None]

    def points_to_network(self, points: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(..., 2) input points as (x, y) to network-grid points."""
        oy, ox = self._offsets
        sy, sx = self.scale
        points = torch.as_tensor(points, dtype=torch.float32)
        return (points - torch.tensor([ox, oy], dtype=torch.float32)) * torch.tensor([sx, sy])

    def points_from_network(self, points: torch.Tensor) -> np.ndarray:
        """(..., 2) network-grid points as (x, y) back to input pixels."""
        oy, ox = self._offsets
        sy, sx = self.scale
        out = points / torch.tensor([sx, sy], dtype=points.dtype) + torch.tensor([ox, oy], dtype=points.dtype)
        return out.cpu().numpy()

    def _input_pixels_on_network(self, count: int, dtype: torch.dtype) -> torch.Tensor:
        """(count, 2, h, w) network positions (row, column) of the region's input pixels; those of the
        outer half network pixel, beyond the grid's corner centres, take the nearest border value."""
        x0, y0, x1, y1 = self.roi
        oy, ox = self._offsets
        sy, sx = self.scale
        rows = ((torch.arange(y0, y1, dtype=dtype) - oy) * sy).clamp(0, self.size - 1)
        cols = ((torch.arange(x0, x1, dtype=dtype) - ox) * sx).clamp(0, self.size - 1)
        return torch.stack(torch.meshgrid(rows, cols, indexing="ij"))[None].expand(count, -1, -1, -1)

    def field_from_network(self, field: torch.Tensor, height: int, width: int) -> np.ndarray:
        """(N, 2, S, S) displacements in network pixels to (N, 2, H, W) in input pixels.

        Each input pixel inside the region takes the bilinearly interpolated network displacement at
        its network position, divided by the scale; pixels outside the region are NaN (not tracked).
        """
        x0, y0, x1, y1 = self.roi
        sy, sx = self.scale
        values = fields.sample(field, self._input_pixels_on_network(field.shape[0], field.dtype))
        values = values / torch.tensor([sy, sx], dtype=field.dtype)[None, :, None, None]
        out = np.full((field.shape[0], 2, height, width), np.nan, dtype=np.float32)
        out[:, :, y0:y1, x0:x1] = values.cpu().numpy()
        return out

    def scalar_from_network(self, values: torch.Tensor, height: int, width: int) -> np.ndarray:
        """(N, S, S) scalar maps on the network grid (e.g. Jacobian determinants) to (N, H, W) on the
        input grid, bilinearly sampled at each input pixel's network position; NaN outside the region.

        A Jacobian determinant needs no rescaling: the axis scales cancel in ``det(S^-1 J S)``.
        """
        x0, y0, x1, y1 = self.roi
        coords = self._input_pixels_on_network(values.shape[0], values.dtype)
        sampled = fields.sample(values[:, None], coords)[:, 0]
        out = np.full((values.shape[0], height, width), np.nan, dtype=np.float32)
        out[:, y0:y1, x0:x1] = sampled.cpu().numpy()
        return out

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(K,) whether each (x, y) point of (K, 2) lies within the region (between its corner pixel centres)."""
        x0, y0, x1, y1 = self.roi
        points = np.asarray(points, dtype=float)
        return ((points[:, 0] >= x0) & (points[:, 0] <= x1 - 1) & (points[:, 1] >= y0) & (points[:, 1] <= y1 - 1))


def find_heart_roi(images: np.ndarray, margin: float = 0.25, smoothing: float = 1 / 32,
                   max_fraction: float = 0.9) -> tuple[int, int, int, int] | None:
    """A square box around the moving heart, or ``None`` when unsure (then use the full frame).

    Tags fade slowly everywhere, but only moving tissue changes much from one frame to the next. The
    rule: normalise each frame by twice its median; motion energy = mean over t of
    ``(frame[t+1] - frame[t])**2``; Gaussian smoothing with sigma = ``smoothing`` x the larger frame side
    (wider than a tag period, so the tag pattern disappears); threshold at half way between the minimum
    and the peak; keep the connected component with the most energy; enlarge its bounding box by
    ``margin`` x its larger side on every side; make it square and shift it inside the frame.
    ``None`` when the frames do not move, when the peak is less than twice the median energy (motion
    spread everywhere), or when the box would cover more than ``max_fraction`` of a frame side.

    Parameters
    ----------
    images : (T, H, W) frames, any intensity scale, T >= 2.

    Returns
    -------
    (x0, y0, x1, y1) in pixels, x1 and y1 exclusive, or None.
    """
    frames = normalise_intensity(images)
    height, width = frames.shape[1:]
    motion = np.mean(np.diff(frames, axis=0) ** 2, axis=0)
    energy = ndimage.gaussian_filter(motion.astype(np.float64), smoothing * max(height, width))
    peak, floor = float(energy.max()), float(energy.min())
    if peak <= 0 or peak < 2 * float(np.median(energy)):
        return None
    labels, count = ndimage.label(energy > floor + 0.5 * (peak - floor))
    strongest = int(np.argmax(ndimage.sum(energy, labels, range(1, count + 1))))
    rows, cols = ndimage.find_objects(labels)[strongest]
    side = max(rows.stop - rows.start, cols.stop - cols.start)
    side = int(np.ceil(side * (1 + 2 * margin)))
    if side > max_fraction * min(height, width):
        return None
    side = max(side, MIN_ROI_SIDE)
    return square_inside((rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2, side, height, width)


def square_inside(centre_y: float, centre_x: float, side: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The ``side`` x ``side`` box centred at (``centre_y``, ``centre_x``), shifted to lie inside an H x W
    frame (``side`` must fit): (x0, y0, x1, y1), x1 and y1 exclusive."""
    y0 = int(np.clip(round(centre_y - side / 2), 0, height - side))
    x0 = int(np.clip(round(centre_x - side / 2), 0, width - side))
    return x0, y0, x0 + side, y0 + side


HEART_FILL = 0.5  # the LV myocardium's extent as a fraction of the ROI side (sax_45_23's landmarks span ~0.48)


def heart_box(mask: np.ndarray, fill: float = HEART_FILL) -> tuple[int, int, int, int]:
    """The square region of interest of section 4.1 ("extracted to cover the heart") around a
    myocardium ``mask`` (H, W): centred on the mask, its side the mask's larger extent / ``fill``,
    shifted (and if need be shrunk) to lie inside the frame. (x0, y0, x1, y1), x1 and y1 exclusive.

    The simulator stores it with every sequence (``roi``), so that training and tracking see the heart
    as large on the network grid as in the paper's pre-processed scans: in a whole simulated frame the
    myocardium spans about a fifth of the side, so the 96 grid held only a few pixels across the wall
    (peak E_cc error of adapted tracking: 1.90 percentage points on the whole frame, 1.39 in this box;
    docs/results/index.md, "Strain").
    """
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("the myocardium mask is empty")
    height, width = mask.shape
    extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    side = int(min(max(round(extent / fill), MIN_ROI_SIDE), height, width))
    return square_inside((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2, side, height, width)


def choose_mapping(images: np.ndarray, roi: str | tuple[int, int, int, int] | None = None,
                   stored: tuple[int, int, int, int] | None = None) -> GridMapping:
    """The network mapping for ``images`` (T, H, W): a checked box, or ``"auto"`` (``find_heart_roi``,
    full frame when it is unsure); for ``None``, the box ``stored`` with the sequence, else full frame."""
    height, width = images.shape[1:]
    if roi is None:
        return GridMapping.box_or_full_frame(stored, height, width)
    if roi == "auto":
        found = find_heart_roi(images)
        return GridMapping(found) if found else GridMapping.full_frame(height, width)
    return GridMapping(check_roi(roi, height, width))


def parse_roi(text: str) -> str | tuple[int, int, int, int]:
    """``"auto"`` or ``"x0,y0,x1,y1"`` (integers, pixels) as given on the command line."""
    if text.strip().lower() == "auto":
        return "auto"
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(f"--roi must be 'auto' or four integers x0,y0,x1,y1 (pixels), got '{text}'")
    return values
