"""NumPy twins of the field operators that strain and pictures need, so that they run without PyTorch.

``deeptag strain`` and ``deeptag report`` read fields from disk and only sample, warp and invert them;
importing PyTorch for that costs about a second of start-up (issue 26). These functions follow
:mod:`deeptag.fields` exactly (its docstring gives the conventions): displacements ``(B, 2, H, W)`` in
pixels, channel 0 along rows (y), channel 1 along columns (x); points ``(x, y)``; bilinear sampling with
pixel centres at integer coordinates and zeros outside the image, as ``grid_sample(...,
padding_mode="zeros", align_corners=True)`` (a NaN value or coordinate gives NaN); warping pulls back.
Training and tracking keep the differentiable PyTorch versions in ``fields.py``.
"""
from __future__ import annotations

import numpy as np


def sample(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinearly sample ``values`` (B, C, H, W) at pixel coordinates ``coords`` (B, 2, ...) as (row, col).

    Returns (B, C, ...); zeros outside the image, each of the four neighbours outside counting as zero.
    ``values`` with B = 1 is sampled for every batch entry of ``coords``.
    """
    coords = np.asarray(coords)
    count = len(coords)
    out = _sample_padded(_pad(values), coords[:, 0].reshape(count, -1), coords[:, 1].reshape(count, -1))
    return np.moveaxis(out, 0, 1).reshape(count, len(out), *coords.shape[2:])


def _pad(values: np.ndarray) -> np.ndarray:
    """``values`` (B, C, H, W) with a border of zeros one pixel wide, channels first: (C, B, H + 2, W + 2)."""
    return np.pad(np.moveaxis(np.asarray(values), 1, 0), ((0, 0), (0, 0), (1, 1), (1, 1)))


def _sample_padded(padded: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``sample`` on values padded by ``_pad``, at coordinates ``rows``, ``cols`` (B, N); returns (C, B, N).

    The zero border stands for every neighbour outside the image; a point farther out than one pixel
    gives zero, a NaN coordinate NaN.
    """
    channels, batch, height, width = padded.shape[0], padded.shape[1], padded.shape[2] - 2, padded.shape[3] - 2
    if batch not in (1, len(rows)):
        raise ValueError(f"{batch} fields or images for {len(rows)} sets of coordinates")
    dtype = np.result_type(padded.dtype, rows.dtype, np.float32)
    rows, cols = np.asarray(rows, dtype=dtype), np.asarray(cols, dtype=dtype)
    near = (rows >= -1) & (rows <= height) & (cols >= -1) & (cols <= width)
    everywhere = near.all()
    top = np.clip(np.floor(rows if everywhere else np.where(near, rows, 0)), -1, height - 1)
    left = np.clip(np.floor(cols if everywhere else np.where(near, cols, 0)), -1, width - 1)
    down, right = rows - top, cols - left  # in [0, 1] near the image
    weights = ((1 - down) * (1 - right), (1 - down) * right, down * (1 - right), down * right)
    index = (top.astype(np.intp) + 1) * (width + 2) + left.astype(np.intp) + 1
    if batch > 1:
        index += np.arange(len(rows))[:, None] * ((height + 2) * (width + 2))
    neighbours = [index + shift for shift in (0, 1, width + 2, width + 3)]  # in the flattened padded frames
    out = np.empty((channels, *rows.shape), dtype)
    for channel, flat in enumerate(padded.reshape(channels, -1)):
        out[channel] = sum(np.take(flat, where) * weight for where, weight in zip(neighbours, weights))
    if not everywhere:
        out = np.where(near, out, np.where(np.isnan(rows) | np.isnan(cols), dtype.type(np.nan), dtype.type(0.0)))
    return out


def warp(image: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """Pull ``image`` (B or 1, C, H, W) back through ``displacement`` (B, 2, H, W): ``image(p + u(p))``."""
    displacement = np.asarray(displacement)
    grid = np.indices(displacement.shape[-2:], dtype=displacement.dtype)[None]
    return sample(image, grid + displacement)


def values_at_points(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Values of ``values`` (B, C, H, W) at ``points`` (B, K, 2) given as (x, y); returns (B, K, C)."""
    points = np.asarray(points)
    return np.moveaxis(_sample_padded(_pad(values), points[..., 1], points[..., 0]), 0, -1)


def track_points(lagrangian: np.ndarray, points: np.ndarray, iterations: int = 30,
                 tolerance: float = 1e-4) -> np.ndarray:
    """Positions (N + 1, K, 2) in every frame of frame-0 points (K, 2), both (x, y), frame 0 first.

    ``lagrangian`` (N, 2, H, W) holds the pull-back fields ``L_1 .. L_N``; a point ``p0`` is at the
    ``p`` with ``p + L_t(p) = p0``, found by the fixed-point iteration ``p <- p0 - L_t(p)`` of
    ``fields.track_points`` (same stopping rule).
    """
    lagrangian = np.asarray(lagrangian)
    points = np.asarray(points, dtype=lagrangian.dtype)
    padded = _pad(lagrangian)
    start_x = np.broadcast_to(points[:, 0], (lagrangian.shape[0], len(points)))
    start_y = np.broadcast_to(points[:, 1], start_x.shape)
    x, y = start_x, start_y
    for _ in range(iterations):
        d_y, d_x = _sample_padded(padded, y, x)  # each (N, K)
        new_x, new_y = start_x - d_x, start_y - d_y
        change = np.maximum(np.abs(new_x - x).max(), np.abs(new_y - y).max()) if new_x.size else 0.0
        x, y = new_x, new_y
        if change < tolerance:
            break
    return np.concatenate([points[None], np.stack([x, y], axis=-1)])


def displacement_gradient(displacement: np.ndarray) -> np.ndarray:
    """``d u_i / d p_j`` of displacements (B, 2, H, W) as (B, 2, 2, H, W), indices in (row, column) order.

    Central differences inside the image and one-sided ones at its border (``numpy.gradient``), as
    ``fields.jacobian_determinant`` takes them.
    """
    d_rows, d_cols = np.gradient(np.asarray(displacement), axis=(-2, -1))
    return np.stack([d_rows, d_cols], axis=2)
