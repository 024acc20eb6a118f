"""Pictures: frame counts, sizes, not blank, and the geometry they show (grid motion, bull's-eye layout)."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from deeptag import viz
from deeptag.strain import compute_strain, strain_summary
from test_strain import SHAPE, myocardium, pullback, scaling

FRAMES = 4


@pytest.fixture(scope="module")
def sequence():
    """Tag-like images (T, H, W) translating by 1 px a frame along x, with the matching fields."""
    rows, cols = np.indices(SHAPE)
    images = np.stack([0.5 + 0.25 * np.cos(2 * np.pi * (cols - t) / 8) + 0.25 * np.cos(2 * np.pi * rows / 8)
                       for t in range(FRAMES)]).astype(np.float32)
    shift = np.zeros((FRAMES - 1, 2, *SHAPE), np.float32)
    shift[:, 1] = -1.0  # pull-back: the pixel now at p came from p - 1 along x
    lagrangian = np.cumsum(shift, axis=0)
    return images, shift, -shift, lagrangian


def assert_animation(frames, count):
    assert len(frames) == count
    assert len({frame.shape for frame in frames}) == 1
    assert frames[0].ndim == 3 and frames[0].shape[2] == 3 and frames[0].dtype == np.uint8
    for frame in frames:
        assert frame.std() > 10  # not blank


def test_tag_grid_lines_are_two_families_spaced_as_asked():
    lines = viz.tag_grid_lines(SHAPE, spacing=8.0)
    horizontal = [line for line in lines if np.ptp(line[:, 1]) < 1e-9]
    vertical = [line for line in lines if np.ptp(line[:, 0]) < 1e-9]
    assert len(horizontal) == 8 and len(vertical) == 8 and len(lines) == 16
    assert sorted(round(line[0, 1], 6) for line in horizontal) == [0.0, 8.0, 16.0, 24.0, 32.0, 40.0, 48.0, 56.0]
    shifted = viz.tag_grid_lines(SHAPE, spacing=8.0, offset=(3.0, 5.0))
    assert sorted({round(line[0, 0], 6) for line in shifted if np.ptp(line[:, 0]) < 1e-9})[:2] == [3.0, 11.0]
    turned = viz.tag_grid_lines(SHAPE, spacing=8.0, angle_deg=45.0)
    slopes = {round(float(np.polyfit(l[:, 0], l[:, 1], 1)[0]), 6) for l in turned if np.ptp(l[:, 0]) > 1}
    assert slopes == {-1.0, 1.0}


@pytest.mark.parametrize("angle, spacing, offset", [(20.0, 7.0, (10.3, 12.7)), (-45.0, 5.3, (40.1, 3.2))])
def test_tag_grid_is_aligned_with_the_dark_tag_lines_of_a_noisy_image(angle, spacing, offset):
    rows, cols = np.indices((96, 110))
    radians = np.radians(angle)
    waves = [np.array([np.cos(radians), -np.sin(radians)]) / spacing,
             np.array([np.sin(radians), np.cos(radians)]) / spacing]
    relative = np.stack([cols - offset[0], rows - offset[1]], axis=-1)
    image = np.prod([1 - np.cos(2 * np.pi * relative @ w) for w in waves], axis=0)  # dark lines through offset
    image += np.random.default_rng(0).normal(0.0, 0.3, image.shape)
    found_spacing, found_angle, found_offset = viz.tag_grid_from_image(image)
    assert found_spacing == pytest.approx(spacing, abs=0.02)
    assert (found_angle - angle) % 90.0 == pytest.approx(0.0, abs=0.3) or \
        (found_angle - angle) % 90.0 == pytest.approx(90.0, abs=0.3)
    phases = [(np.subtract(found_offset, offset) @ w + 0.5) % 1.0 - 0.5 for w in waves]
    assert np.allclose(phases, 0.0, atol=0.02)  # the grid passes through a crossing of dark lines


def test_grid_points_follow_the_pull_back_field(sequence):
    _, _, _, lagrangian = sequence
    points = np.array([[10.0, 20.0], [30.0, 31.0]])
    moved = viz.track_frame0_points(lagrangian, points)
    assert moved.shape == (FRAMES, 2, 2)
    assert np.allclose(moved[:, :, 0] - points[:, 0], np.arange(FRAMES)[:, None], atol=1e-3)
    assert np.allclose(moved[:, :, 1], points[:, 1], atol=1e-3)


def test_tag_grid_frames(sequence):
    images, _, _, lagrangian = sequence
    assert_animation(viz.tag_grid_frames(images, lagrangian, spacing=8.0), FRAMES)


def test_landmark_frames_draw_expert_red_and_prediction_green(sequence):
    images = sequence[0]
    predicted = np.tile([[20.0, 20.0], [40.0, 40.0]], (FRAMES, 1, 1))
    expert = predicted + 6.0
    expert[1, 0] = np.nan
    frames = viz.landmark_frames(images, predicted, expert)
    assert_animation(frames, FRAMES)
    red = (frames[0][..., 0] > 200) & (frames[0][..., 1] < 60) & (frames[0][..., 2] < 60)
    green = (frames[0][..., 1] > 200) & (frames[0][..., 0] < 60) & (frames[0][..., 2] < 60)
    assert red.sum() > 10 and green.sum() > 10
    assert_animation(viz.landmark_frames(images, predicted), FRAMES)


def test_field_pictures(sequence):
    images, forward, backward, lagrangian = sequence
    assert_animation(viz.quiver_frames(images, forward, lagrangian), FRAMES - 1)
    assert_animation(viz.field_map_frames(lagrangian, spacing=(1.2, 1.2)), FRAMES - 1)
    assert_animation(viz.registration_frames(images, forward, backward, lagrangian), FRAMES - 1)
    uncertainty = np.abs(np.random.default_rng(0).normal(size=lagrangian.shape)).astype(np.float32)
    assert_animation(viz.uncertainty_frames(images, uncertainty), FRAMES - 1)


def test_gif_and_saved_animation_round_trip(sequence, tmp_path):
    images, _, _, lagrangian = sequence
    frames = viz.field_map_frames(lagrangian)
    decoded = iio.imread(viz.gif_bytes(frames), extension=".gif", index=None)
    assert decoded.shape[0] == FRAMES - 1 and decoded.shape[1:3] == frames[0].shape[:2]
    paths = viz.save_animation(frames, tmp_path / "pictures", "maps")
    assert [p.name for p in paths] == ["maps.gif", "maps_000.png", "maps_001.png", "maps_002.png"]
    assert iio.imread(paths[1]).shape == frames[0].shape


def strain_example(level="mid"):
    lagrangian = np.stack([pullback(scaling(s)) for s in (0.97, 0.94, 0.98)])
    return compute_strain(lagrangian, myocardium(level), frame_times_ms=[0, 40, 80, 120])


def test_strain_curves_and_segments_figures_are_drawn():
    result = strain_example()
    summary = strain_summary(result)
    curves = iio.imread(viz.png_bytes(viz.strain_curves_figure(summary)))
    assert curves.shape[1] > curves.shape[0] > 100 and curves[..., :3].std() > 10
    image = np.random.default_rng(1).random(SHAPE)
    segments = iio.imread(viz.png_bytes(viz.segments_figure(image, result.points, result.segment, summary)))
    assert segments[..., :3].std() > 10


@pytest.mark.parametrize("level, segment, radius", [("mid", 7, 0.5), ("basal", 1, 0.83), ("apical", 13, 0.22)])
def test_bullseye_colours_the_segment_in_its_standard_place(level, segment, radius):
    """A segment with a large positive peak appears red, straight above the centre (anterior is up)."""
    summary = strain_summary(strain_example(level))
    for region in summary["regions"]:
        value = 10.0 if region["region"] == str(segment) else 0.0
        region["peaks"]["E_rr"] = {"value": value, "frame": 1, "time_ms": 40.0}
    figure = viz.bullseye_figure(summary, ("E_rr",))
    pixels = viz.render(figure)
    box = figure.axes[0].get_window_extent()
    height = pixels.shape[0]
    centre_x, centre_y = (box.x0 + box.x1) / 2, height - (box.y0 + box.y1) / 2
    half = min(box.width, box.height) / 2

    def colour(dx, dy):  # offsets as fractions of the outer radius, dy up
        return pixels[int(round(centre_y - dy * half)), int(round(centre_x + dx * half))].astype(int)

    above, below = colour(0.1, radius), colour(0.1, -radius)
    assert above[0] > above[1] + 60 and above[0] > above[2] + 50, above  # (dark) red
    assert abs(below[0] - below[2]) < 30, below  # white or grey: not this segment
