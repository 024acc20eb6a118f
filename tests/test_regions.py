"""Regional error estimates of strain results (regions.py) against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from deeptag.myocardium import define_myocardium
from deeptag.regions import error_at_points, region_estimates
from deeptag.strain import compute_strain


def test_error_at_points_samples_the_map_bilinearly_and_is_zero_at_frame_0():
    error = np.random.default_rng(0).random((3, 10, 12)).astype(np.float32)
    error[:, :, 0] = np.nan
    positions = np.array([[[4.0, 5.0], [0.0, 2.0], [6.5, 2.25]]] * 4, dtype=np.float32)  # (x, y)
    values = error_at_points(error, positions)
    assert values.shape == (4, 3) and np.all(values[0] == 0)
    assert np.allclose(values[1:, 0], error[:, 5, 4])
    assert np.all(np.isnan(values[1:, 1]))  # on the NaN column (outside the tracked region)
    by_hand = (0.75 * (0.5 * error[:, 2, 6] + 0.5 * error[:, 2, 7]) + 0.25 * (0.5 * error[:, 3, 6] + 0.5 * error[:, 3, 7]))
    assert np.allclose(values[1:, 2], by_hand, atol=1e-6)


def test_region_estimates_are_the_mean_over_each_regions_moved_points():
    """A uniform shift by (dx, dy) = (2, -1) px and an error map a + b x + c y: each region's estimate is
    the map at its points' mean shifted position (a linear map is interpolated exactly)."""
    shape = (64, 64)
    myocardium = define_myocardium(shape, ring="31,33,12,20")
    lagrangian = np.zeros((2, 2, *shape))
    lagrangian[:, 0], lagrangian[:, 1] = 1.0, -2.0  # pull back by (dy, dx) = (1, -2): points move by (2, -1)
    result = compute_strain(lagrangian, myocardium)
    rows, cols = np.indices(shape)
    error = np.stack([0.5 + 0.02 * cols + 0.01 * rows, 1.0 + 0.03 * cols - 0.01 * rows])
    estimates = region_estimates(result, error)
    regions = result.regions()
    assert list(estimates) == [region for region, *_ in regions]
    for region, _, _, selected in regions:
        x, y = result.points[selected].mean(axis=0) + np.array([2.0, -1.0])
        assert estimates[region][0] == 0.0
        assert estimates[region][1] == pytest.approx(0.5 + 0.02 * x + 0.01 * y, abs=1e-5)
        assert estimates[region][2] == pytest.approx(1.0 + 0.03 * x - 0.01 * y, abs=1e-5)
