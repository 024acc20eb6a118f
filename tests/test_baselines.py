"""Tests of the conventional baselines (HARP, TV-L1 optical flow) on synthetic tag grids with known
motion, and on the real sequence in ../shared/real when it is there (slow)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deeptag import fields
from deeptag.baselines import BASELINES, BaselineResult, track_harp, track_tvl1
from deeptag.baselines.harp import find_tag_peaks
from deeptag.errors import InputError
from deeptag.metrics import landmark_summary

SIZE = 64
# Wave vectors on exact FFT bins of the 64 grid, (row, column) cycles/pixel: period 64/sqrt(65)
# = 7.94 px, tag planes at 29.7 degrees, and the orthogonal direction.
PEAKS = np.array([[4.0, 7.0], [7.0, -4.0]]) / SIZE
REAL = Path(__file__).parents[1] / ".." / "shared" / "real" / "sax_45_23.npz"


def tag_grid(shift_xy: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A SPAMM-like grid (H, W) float32 in [0, 1] translated by ``shift_xy`` pixels as (x, y)."""
    rows, cols = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    rows, cols = rows - shift_xy[1], cols - shift_xy[0]
    image = np.ones_like(rows)
    for k_row, k_col in PEAKS:
        image *= 0.5 * (1.0 + np.cos(2.0 * np.pi * (k_row * rows + k_col * cols)))
    return image.astype(np.float32)


def translating_sequence(step_xy: tuple[float, float], frames: int = 3) -> np.ndarray:
    """Frames (T, H, W) of the tag grid moving by ``step_xy`` pixels per frame."""
    return np.stack([tag_grid((t * step_xy[0], t * step_xy[1])) for t in range(frames)])


INTERIOR_POINTS = np.array([[20.0, 24.0], [32.5, 31.0], [41.0, 22.5], [27.0, 40.0]])


def expected_tracks(step_xy: tuple[float, float], frames: int) -> np.ndarray:
    """Where ``INTERIOR_POINTS`` are in every frame of ``translating_sequence``, (T, K, 2) as (x, y)."""
    return INTERIOR_POINTS[None] + np.arange(frames)[:, None, None] * np.array(step_xy)


def test_registry_lists_both_methods():
    assert BASELINES == {"harp": track_harp, "tvl1": track_tvl1}


@pytest.mark.parametrize("method", ["harp", "tvl1"])
def test_bad_shapes_are_input_errors(method):
    with pytest.raises(InputError, match="frames"):
        BASELINES[method](np.zeros((1, 8, 8), np.float32), INTERIOR_POINTS)
    with pytest.raises(InputError, match="points"):
        BASELINES[method](translating_sequence((1.0, 0.0)), np.zeros((3, 3)))


def test_harp_finds_the_generated_tag_peaks():
    peaks = find_tag_peaks(tag_grid())
    # Both directions are equally strong, so compare as a set; signs come out with a positive
    # column component, i.e. +k_1 and -k_2 of PEAKS.
    found = sorted(map(tuple, peaks))
    np.testing.assert_allclose(found, sorted(map(tuple, [PEAKS[0], -PEAKS[1]])), atol=1e-12)
    np.testing.assert_allclose(1.0 / np.linalg.norm(peaks, axis=1), SIZE / np.sqrt(65.0))
    angles = sorted(np.degrees(np.arctan2(peaks[:, 0], peaks[:, 1])))
    expected = np.degrees(np.arctan2(4.0, 7.0))
    np.testing.assert_allclose(angles, [expected - 90.0, expected])


def test_harp_peaks_ignore_a_stronger_low_frequency_background():
    rows, cols = np.mgrid[:SIZE, :SIZE]
    background = 3.0 * np.exp(-((rows - 32.0) ** 2 + (cols - 30.0) ** 2) / (2 * 10.0 ** 2))
    peaks = find_tag_peaks(tag_grid() + background.astype(np.float32))
    np.testing.assert_allclose(sorted(map(tuple, peaks)), sorted(map(tuple, [PEAKS[0], -PEAKS[1]])))


def test_harp_tracks_a_shift_below_half_a_tag_period():
    step = (2.5, -1.5)  # 2.9 px per frame, period 7.94 px
    result = track_harp(translating_sequence(step), INTERIOR_POINTS)
    assert isinstance(result, BaselineResult)
    assert result.lagrangian is None and result.inf_fields is None
    assert result.tracks.shape == (3, len(INTERIOR_POINTS), 2)
    np.testing.assert_allclose(result.tracks, expected_tracks(step, 3), atol=0.05)


def test_tvl1_tracks_a_known_shift():
    step = (1.5, -1.0)
    result = track_tvl1(translating_sequence(step), INTERIOR_POINTS)
    assert result.tracks.shape == (3, len(INTERIOR_POINTS), 2)
    np.testing.assert_allclose(result.tracks, expected_tracks(step, 3), atol=0.25)


def test_tvl1_fields_follow_the_pull_back_convention():
    images = translating_sequence((1.5, -1.0))
    result = track_tvl1(images, INTERIOR_POINTS)
    assert result.inf_fields.shape == result.lagrangian.shape == (2, 2, SIZE, SIZE)
    frames = torch.from_numpy(images)[:, None]
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))  # away from content that leaves

    def mean_error(predicted: torch.Tensor, reference: torch.Tensor) -> float:
        return float((predicted - reference)[inner].abs().mean())

    first = frames[:1].expand(2, -1, -1, -1)
    inf_warped = fields.warp(frames[:-1], torch.from_numpy(result.inf_fields))
    lagrangian_warped = fields.warp(first, torch.from_numpy(result.lagrangian))
    assert mean_error(inf_warped, frames[1:]) < 0.2 * mean_error(frames[:-1], frames[1:])
    assert mean_error(lagrangian_warped, frames[1:]) < 0.2 * mean_error(first, frames[1:])
    # The shift is (x, y) = (1.5, -1.0): frame_t(p + u) = frame_{t+1}(p) needs u = -(dy, dx).
    np.testing.assert_allclose(result.inf_fields[:, :, 16:-16, 16:-16].mean(axis=(2, 3)),
                               [[1.0, -1.5]] * 2, atol=0.1)


@pytest.mark.slow
def test_real_sequence_figures():
    if not REAL.exists():
        pytest.skip(f"real reference data not found at {REAL}")
    data = np.load(REAL)
    images, landmarks = data["images"], data["landmarks"]
    tvl1 = landmark_summary(track_tvl1(images, landmarks[0]).tracks, landmarks)["mean_px"]
    harp = landmark_summary(track_harp(images, landmarks[0]).tracks, landmarks)["mean_px"]
    no_motion = landmark_summary(np.broadcast_to(landmarks[:1], landmarks.shape), landmarks)["mean_px"]
    assert tvl1 == pytest.approx(2.09, abs=0.15)
    assert tvl1 < harp < no_motion
