"""OF-TV: TV-L1 optical flow between consecutive frames, composed into Lagrangian fields.

The flow of each consecutive pair comes from scikit-image's ``optical_flow_tvl1`` with its default
parameters. ``optical_flow_tvl1(reference, moving)`` returns ``v`` (2, H, W) in (row, col) order with
``moving(p + v(p)) ≈ reference(p)``; with ``reference = frame_{t+1}`` and ``moving = frame_t`` that is
exactly the project's INF field ``u_t`` (on frame t+1's grid, pointing into frame t).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from skimage.registration import optical_flow_tvl1

from .. import fields
from . import BaselineResult, check_inputs


def tvl1_inf_fields(images: np.ndarray) -> np.ndarray:
    """INF fields ``u_0 .. u_{T-2}`` (T-1, 2, H, W) float32 in pixels of frames (T, H, W) by TV-L1.

    ``u_t`` satisfies ``frame_t ∘ (id + u_t) ≈ frame_{t+1}``; channel 0 along rows, 1 along columns.
    """
    flows = [optical_flow_tvl1(images[t + 1], images[t]) for t in range(images.shape[0] - 1)]
    return np.stack(flows).astype(np.float32)


def track_tvl1(images: np.ndarray, points: np.ndarray) -> BaselineResult:
    """Track ``points`` (K, 2) as (x, y) at frame 0 through ``images`` (T, H, W) with TV-L1 flow.

    The INF fields of consecutive pairs are composed with ``fields.lagrangian_fields`` and the points
    followed with ``fields.track_points``. Returns tracks (T, K, 2), Lagrangian and INF fields
    (T-1, 2, H, W) in pixels, and the wall-clock seconds.
    """
    images, points = check_inputs(images, points)
    started = time.perf_counter()
    inf_fields = tvl1_inf_fields(images)
    with torch.inference_mode():
        lagrangian = fields.lagrangian_fields(torch.from_numpy(inf_fields))
        tracks = fields.track_points(lagrangian, torch.from_numpy(points).float())
    return BaselineResult(tracks=tracks.numpy().astype(np.float64), lagrangian=lagrangian.numpy(),
                          inf_fields=inf_fields, seconds=time.perf_counter() - started)
