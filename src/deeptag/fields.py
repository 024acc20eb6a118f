"""Pure, differentiable operators on displacement fields (no learning here).

Conventions, used everywhere in the project:

* A displacement field ``u`` has shape ``(B, 2, H, W)`` in pixels; channel 0 is the displacement
  along rows (y), channel 1 along columns (x), the index order of ``scipy.ndimage`` and VoxelMorph.
* Warping pulls back: ``warp(image, u)(p) = image(p + u(p))``, bilinear, ``align_corners=True``
  (pixel centres at integer coordinates), zeros outside the image.
* Points are ``(x, y) = (column, row)`` in pixels, origin at the centre of the top-left pixel.
* Inter-frame (INF) field ``u_t`` lives on the grid of frame ``t+1`` and points into frame ``t``:
  ``frame_t ∘ (id + u_t) ≈ frame_{t+1}``. The Lagrangian field ``L_t`` on frame ``t``'s grid points
  into frame 0: ``frame_0 ∘ (id + L_t) ≈ frame_t``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_GRIDS: dict[tuple, torch.Tensor] = {}


def identity_grid(height: int, width: int, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel coordinates of a grid, shape ``(1, 2, H, W)``: channel 0 the row, channel 1 the column."""
    key = (height, width, str(device), dtype)
    if key not in _GRIDS:
        rows = torch.arange(height, device=device, dtype=dtype)
        cols = torch.arange(width, device=device, dtype=dtype)
        _GRIDS[key] = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))[None]
    return _GRIDS[key]


def _normalised_sampling_grid(coords: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Turn pixel coordinates ``(B, 2, ...)`` (row, col) into the ``(B, ..., 2)`` (x, y) grid of grid_sample."""
    y = coords[:, 0] * (2.0 / max(height - 1, 1)) - 1.0
    x = coords[:, 1] * (2.0 / max(width - 1, 1)) - 1.0
    return torch.stack((x, y), dim=-1)


def sample(values: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample ``values`` (B, C, H, W) at pixel coordinates ``coords`` (B, 2, h, w), zeros outside."""
    height, width = values.shape[-2:]
    grid = _normalised_sampling_grid(coords, height, width)
    return F.grid_sample(values, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def warp(image: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Pull ``image`` (B, C, H, W) back through ``displacement`` (B, 2, H, W): ``image(p + u(p))``."""
    height, width = displacement.shape[-2:]
    grid = identity_grid(height, width, displacement.device, displacement.dtype)
    return sample(image, grid + displacement)


def integrate_velocity(velocity: torch.Tensor, steps: int = 7) -> torch.Tensor:
    """Displacement of the diffeomorphism ``exp(v)`` by scaling and squaring (section 3.3).

    ``u = v / 2**steps``, then ``steps`` times ``u <- u + u ∘ (id + u)``. The inverse field is
    ``integrate_velocity(-v)``.
    """
    displacement = velocity / (2 ** steps)
    for _ in range(steps):
        displacement = displacement + warp(displacement, displacement)
    return displacement


def compose(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Displacement of the pull-back composition: ``u(p) = first(p) + second(p + first(p))``.

    Warping by the result equals warping by ``second`` and then by ``first``:
    ``image ∘ (id + second) ∘ (id + first)``.
    """
    return first + warp(second, first)


def lagrangian_fields(inf_fields: torch.Tensor, initial: torch.Tensor | None = None) -> torch.Tensor:
    """The composition layer (section 3.4, Algorithm 1): INF fields to Lagrangian fields.

    ``inf_fields`` (N, 2, H, W) holds ``u_0 .. u_{N-1}`` of one sequence; returns (N, 2, H, W) holding
    ``L_1 .. L_N`` with ``L_1 = u_0`` and ``L_{t+1}(p) = u_t(p) + L_t(p + u_t(p))``. Differentiable,
    so the global Lagrangian loss reaches every INF field. ``initial`` (1, 2, H, W), when given, is
    ``L_0``, the Lagrangian field of the first frame of a window that starts later in the sequence:
    then ``L_1 = u_0 + L_0(p + u_0(p))``.
    """
    current = inf_fields[:1] if initial is None else compose(inf_fields[:1], initial)
    out = [current]
    for t in range(1, inf_fields.shape[0]):
        current = compose(inf_fields[t:t + 1], current)
        out.append(current)
    return torch.cat(out)


def jacobian_determinant(displacement: torch.Tensor) -> torch.Tensor:
    """Determinant of the Jacobian of ``p -> p + u(p)`` (Eq. 24), shape (B, H, W).

    Derivatives by central differences inside the image and one-sided ones at its border, as
    ``numpy.gradient``.
    """
    d_rows = torch.gradient(displacement, dim=-2)[0]
    d_cols = torch.gradient(displacement, dim=-1)[0]
    dy_dy = 1.0 + d_rows[:, 0]
    dy_dx = d_cols[:, 0]
    dx_dy = d_rows[:, 1]
    dx_dx = 1.0 + d_cols[:, 1]
    return dy_dy * dx_dx - dy_dx * dx_dy


def count_nonpositive_jacobians(displacement: torch.Tensor) -> int:
    """Number of pixels where the Jacobian determinant of ``id + u`` is <= 0, over the whole batch."""
    return int((jacobian_determinant(displacement) <= 0).sum())


def points_to_coords(points: torch.Tensor) -> torch.Tensor:
    """Points (..., K, 2) as (x, y) to field-channel order (..., K, 2) as (row, col), and back."""
    return points.flip(-1)


coords_to_points = points_to_coords


def sample_at_points(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Values of ``field`` (B, 2, H, W) at ``points`` (B, K, 2) given as (x, y); returns (B, K, 2) as (x, y)."""
    coords = points_to_coords(points).permute(0, 2, 1)[..., None]  # (B, 2, K, 1) as (row, col)
    values = sample(field, coords)[..., 0]  # (B, 2, K) as (dy, dx)
    return coords_to_points(values.permute(0, 2, 1))


def track_points(lagrangian: torch.Tensor, points: torch.Tensor, iterations: int = 30,
                 tolerance: float = 1e-4) -> torch.Tensor:
    """Positions in every frame of material points given at frame 0.

    ``lagrangian`` (N, 2, H, W) holds ``L_1 .. L_N`` (pull-back fields into frame 0); ``points`` (K, 2)
    holds frame-0 positions as (x, y). Returns (N + 1, K, 2), frame 0 first. A point ``p0`` is at the
    ``p`` with ``p + L_t(p) = p0``, found by fixed-point iteration ``p <- p0 - L_t(p)`` from ``p0``,
    all frames at once (the pull-back field is inverted at the points only, which is cheap).
    """
    frames = lagrangian.shape[0]
    start = points.to(lagrangian.dtype)[None].expand(frames, -1, -1)
    current = start.clone()
    for _ in range(iterations):
        updated = start - sample_at_points(lagrangian, current)
        change = (updated - current).abs().max() if updated.numel() else torch.tensor(0.0)
        current = updated
        if change < tolerance:
            break
    return torch.cat([points.to(lagrangian.dtype)[None], current])
