"""The NumPy field operators against their PyTorch peers in ``deeptag.fields`` (the ones training uses),
against SciPy's bilinear interpolation, and against analytic motions (a uniform stretch, a rotation)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from deeptag import fields, fields_numpy


def smooth_fields(count: int, size: int = 48, amplitude: float = 3.0, seed: int = 0) -> np.ndarray:
    """Diffeomorphic pull-back fields (count, 2, size, size) from smooth random velocities (fields.py)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(count, 2, 5, 5, generator=generator, dtype=torch.float64)
    velocity = amplitude * torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic",
                                                           align_corners=True)
    return fields.integrate_velocity(velocity).numpy()


def test_sampling_matches_grid_sample_and_scipy_inside_at_the_border_and_outside():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 2, 20, 24))
    coords = np.stack([rng.uniform(-2.0, 21.0, (3, 7, 9)), rng.uniform(-2.0, 25.0, (3, 7, 9))], axis=1)
    coords[0, :, 0, 0] = (19.0, 23.0)  # the last pixel centre exactly
    coords[0, :, 0, 1] = (-0.5, 3.0)   # half a pixel outside: half of the edge value
    ours = fields_numpy.sample(values, coords)
    peer = fields.sample(torch.from_numpy(values), torch.from_numpy(coords)).numpy()
    assert ours.shape == (3, 2, 7, 9)
    assert np.allclose(ours, peer, atol=1e-12)
    for b in range(3):
        for c in range(2):
            scipy_values = map_coordinates(values[b, c], coords[b], order=1, mode="grid-constant", cval=0.0)
            assert np.allclose(ours[b, c], scipy_values, atol=1e-12)
    assert ours[0, 0, 0, 1] == pytest.approx(0.5 * values[0, 0, 0, 3])


def test_a_nan_reaches_the_samples_next_to_it_as_in_grid_sample():
    values = np.arange(36, dtype=np.float64).reshape(1, 1, 6, 6)
    values[0, 0, 2, 3] = np.nan
    coords = np.array([[[2.0, 2.5, 1.2, 4.0, np.nan], [3.0, 3.0, 2.9, 1.0, 1.0]]])[..., None]  # (1, 2, 5, 1)
    ours = fields_numpy.sample(values, coords)[0, 0, :, 0]
    peer = fields.sample(torch.from_numpy(values), torch.from_numpy(coords)).numpy()[0, 0, :, 0]
    assert np.array_equal(np.isnan(ours), [True, True, True, False, True])
    assert np.array_equal(np.isnan(ours), np.isnan(peer))
    assert ours[3] == values[0, 0, 4, 1]


def test_warp_matches_the_pytorch_warp_on_smooth_random_fields():
    displacement = smooth_fields(3).astype(np.float32)
    rows, cols = np.indices((48, 48))
    images = np.stack([np.sin(rows / 3.0 + t) * np.cos(cols / 4.0) for t in range(3)])[:, None].astype(np.float32)
    ours = fields_numpy.warp(images, displacement)
    peer = fields.warp(torch.from_numpy(images), torch.from_numpy(displacement)).numpy()
    assert ours.dtype == np.float32
    assert np.abs(ours - peer).max() < 1e-5
    # one image pulled back through every field, as the report's Lagrangian panel does
    once = fields_numpy.warp(images[:1], displacement)
    assert np.abs(once - fields.warp(torch.from_numpy(images[:1]).expand(3, -1, -1, -1),
                                     torch.from_numpy(displacement)).numpy()).max() < 1e-5


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-9), (np.float32, 1e-5)])
def test_tracked_points_match_the_pytorch_tracking_on_smooth_random_fields(dtype, tolerance):
    lagrangian = smooth_fields(4, amplitude=2.0, seed=2).astype(dtype)
    points = np.random.default_rng(3).uniform(10.0, 38.0, (50, 2))
    ours = fields_numpy.track_points(lagrangian, points)
    peer = fields.track_points(torch.from_numpy(lagrangian), torch.from_numpy(points)).numpy()
    assert ours.shape == (5, 50, 2) and ours.dtype == dtype
    assert np.abs(ours - peer).max() < tolerance
    # the definition: p + L(p) is the frame-0 point again (to the iteration's stopping rule)
    back = ours[1:] + fields_numpy.values_at_points(lagrangian, ours[1:])[..., ::-1]
    assert np.abs(back - points).max() < 1e-2


def linear_pullback(matrix: np.ndarray, centre: np.ndarray, size: int = 64) -> np.ndarray:
    """The pull-back field (2, size, size) of X = c + matrix (p - c), p and X as (row, col)."""
    grid = np.indices((size, size), dtype=np.float64)
    offset = grid - centre[:, None, None]
    return np.einsum("ij,jhw->ihw", matrix, offset) + centre[:, None, None] - grid


@pytest.mark.parametrize("motion", ["stretch", "rotation"])
def test_tracking_and_gradients_of_a_uniform_stretch_and_a_rotation(motion):
    """Motion p = c + A (X - c): the field pulls back by A^-1, the tracked point is c + A (X - c) and the
    gradient of the displacement is A^-1 - I everywhere."""
    centre = np.array([31.0, 33.0])  # (row, col)
    angle = np.radians(12.0)
    forward = np.diag([1.1, 1.1]) if motion == "stretch" else \
        np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lagrangian = linear_pullback(np.linalg.inv(forward), centre)[None]
    points = np.array([[20.0, 25.0], [40.5, 37.25], [33.0, 31.0]])  # (x, y)
    tracked = fields_numpy.track_points(lagrangian, points)[1]
    expected = (centre + (points[:, ::-1] - centre) @ forward.T)[:, ::-1]
    assert np.abs(tracked - expected).max() < 1e-4
    gradient = fields_numpy.displacement_gradient(lagrangian)[0]  # (2, 2, H, W)
    assert np.allclose(np.moveaxis(gradient, (0, 1), (-2, -1)), np.linalg.inv(forward) - np.eye(2), atol=1e-12)


def test_displacement_gradient_gives_the_pytorch_jacobian_determinant():
    displacement = smooth_fields(2, seed=4)
    gradient = fields_numpy.displacement_gradient(displacement)
    determinant = np.linalg.det(np.moveaxis(gradient, (1, 2), (-2, -1)) + np.eye(2))
    peer = fields.jacobian_determinant(torch.from_numpy(displacement)).numpy()
    assert np.allclose(determinant, peer, atol=1e-12)
