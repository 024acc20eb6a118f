"""Section 4.1 pre-processing: the region of interest and the exact way back to the input grid."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deeptag import fields
from deeptag.errors import InputError
from deeptag.preprocess import (HEART_FILL, GridMapping, check_roi, choose_mapping, find_heart_roi, heart_box,
                                parse_roi)

REAL = Path(__file__).parents[1] / ".." / "shared" / "real"
MAPPINGS = [GridMapping.full_frame(64, 80, size=48), GridMapping((10, 5, 50, 45), size=48),
            GridMapping((3, 7, 70, 40), size=48)]  # full frame, square ROI, non-square ROI


@pytest.mark.parametrize("mapping", MAPPINGS, ids=["full", "square-roi", "oblong-roi"])
def test_points_go_to_the_network_grid_and_back_exactly(mapping):
    x0, y0, x1, y1 = mapping.roi
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(x0, x1 - 1, 50), rng.uniform(y0, y1 - 1, 50)], axis=1)
    network = mapping.points_to_network(points)
    assert float(network.min()) >= -0.5 and float(network.max()) <= mapping.size - 0.5
    np.testing.assert_allclose(mapping.points_from_network(network), points, atol=1e-4)


def test_region_edges_land_on_network_edges():
    """Pixel centres: the outer edges of the region's corner pixels are those of the network grid's."""
    mapping = GridMapping((10, 5, 50, 45), size=48)
    edges = mapping.points_to_network(np.array([[9.5, 4.5], [49.5, 44.5]]))
    np.testing.assert_allclose(edges.numpy(), [[-0.5, -0.5], [47.5, 47.5]], atol=1e-5)
    corners = GridMapping((10, 5, 50, 45), size=48, align_corners=True).points_to_network(
        np.array([[10.0, 5.0], [49.0, 44.0]]))  # the published weights' convention
    np.testing.assert_allclose(corners.numpy(), [[0, 0], [47, 47]], atol=1e-5)


def blob(height, width, x, y, sigma=3.0):
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma ** 2))


def centroid(image):
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float64)
    return np.array([(cols * image).sum() / image.sum(), (rows * image).sum() / image.sum()])


@pytest.mark.parametrize("roi, size", [((0, 0, 96, 96), 48), ((8, 4, 80, 76), 48), ((10, 6, 34, 30), 48)],
                         ids=["halve", "shrink-1.5", "enlarge-2"])
@pytest.mark.parametrize("x, y", [(40.3, 37.8), (45.75, 41.2)])
def test_resampled_frames_and_mapped_points_agree(roi, size, x, y):
    """A blob at a known sub-pixel position: its centre found on the network grid and mapped back with
    the points' map lands where it was drawn (the old corner-aligned map was up to 0.5 (w/S - 1) off)."""
    x0, y0, x1, y1 = roi
    x, y = min(x, (x0 + x1) / 2 + 3), min(y, (y0 + y1) / 2 + 3)  # well inside every region
    frame = blob(100, 100, x, y, sigma=3.0 if x1 - x0 > 30 else 1.5)
    mapping = GridMapping(roi, size=size)
    on_network = mapping.images_to_network(frame[None].astype(np.float32))[0, 0].double().numpy()
    found = mapping.points_from_network(torch.as_tensor(centroid(on_network))[None])[0]
    np.testing.assert_allclose(found, [x, y], atol=0.02)


@pytest.mark.parametrize("mapping", MAPPINGS, ids=["full", "square-roi", "oblong-roi"])
def test_an_affine_field_maps_back_to_the_same_motion_in_input_pixels(mapping):
    """u_net(p) = A p + b on the network grid is, in input pixels, u(q) = S^-1 (A S (q - o) + b)."""
    size = mapping.size
    a = torch.tensor([[0.03, -0.02], [0.01, 0.05]])  # (row, col) x (row, col)
    b = torch.tensor([1.5, -0.75])
    grid = fields.identity_grid(size, size)[0]  # (2, S, S) as (row, col)
    net_field = (torch.einsum("ij,jhw->ihw", a, grid) + b[:, None, None])[None]
    height, width = 64, 80
    out = mapping.field_from_network(net_field, height, width)[0]
    x0, y0, x1, y1 = mapping.roi
    sy, sx = mapping.scale
    rows, cols = np.mgrid[y0:y1, x0:x1].astype(float)
    net_coords = np.stack([(rows - y0 + 0.5) * sy - 0.5, (cols - x0 + 0.5) * sx - 0.5])  # pixel centres
    expected = np.einsum("ij,jhw->ihw", a.numpy(), net_coords) + b.numpy()[:, None, None]
    expected /= np.array([sy, sx])[:, None, None]
    on_grid = ((net_coords >= 0) & (net_coords <= size - 1)).all(axis=0)  # beyond: the border's value
    np.testing.assert_allclose(out[:, y0:y1, x0:x1][:, on_grid], expected[:, on_grid], atol=1e-4)
    assert np.isfinite(out[:, y0:y1, x0:x1]).all()
    outside = np.ones((height, width), bool)
    outside[y0:y1, x0:x1] = False
    assert np.isnan(out[:, outside]).all()


@pytest.mark.parametrize("mapping", MAPPINGS, ids=["full", "square-roi", "oblong-roi"])
def test_jacobian_of_a_uniform_stretch_is_the_same_on_both_grids(mapping):
    """A Jacobian determinant does not depend on the grid's scale, so the sampled map is exact."""
    size = mapping.size
    grid = fields.identity_grid(size, size)
    net_field = 0.1 * (grid - (size - 1) / 2)  # id + u scales by 1.1 along both axes
    jacobian = mapping.scalar_from_network(fields.jacobian_determinant(net_field), 64, 80)[0]
    x0, y0, x1, y1 = mapping.roi
    np.testing.assert_allclose(jacobian[y0 + 1:y1 - 1, x0 + 1:x1 - 1], 1.21, atol=1e-4)
    input_field = mapping.field_from_network(net_field, 64, 80)
    direct = fields.jacobian_determinant(torch.as_tensor(input_field[:, :, y0:y1, x0:x1]))[0].numpy()
    np.testing.assert_allclose(direct[2:-2, 2:-2], 1.21, atol=1e-4)  # the outer half network pixel: border values


def test_roi_text_and_checks():
    assert parse_roi("auto") == "auto"
    assert parse_roi("10, 20,74,84") == (10, 20, 74, 84)
    for bad in ("10,20,30", "a,b,c,d", "1.5,2,30,40"):
        with pytest.raises(InputError, match="--roi"):
            parse_roi(bad)
    assert check_roi((0, 0, 64, 48), 48, 64) == (0, 0, 64, 48)
    with pytest.raises(InputError, match="x1, y1 exclusive"):
        check_roi((0, 0, 65, 48), 48, 64)
    with pytest.raises(InputError, match="x1, y1 exclusive"):
        check_roi((30, 0, 20, 48), 48, 64)
    with pytest.raises(InputError, match="at least 16"):
        check_roi((0, 0, 10, 48), 48, 64)


def moving_disc_scene(height: int = 128, width: int = 160, centre=(44, 100), frames: int = 8) -> np.ndarray:
    """Static tags that fade everywhere, plus a tagged disc (radius 14) that beats at ``centre`` (row, col)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    scene = []
    for t in range(frames):
        phase = np.sin(2 * np.pi * t / frames)
        radius = np.hypot(rows - centre[0], cols - centre[1])
        squeeze = 1 + 0.15 * phase * (radius < 14)
        y = centre[0] + (rows - centre[0]) * squeeze
        x = centre[1] + (cols - centre[1]) * squeeze
        tags = (1 + np.cos(2 * np.pi * x / 8)) * (1 + np.cos(2 * np.pi * y / 8))
        scene.append(100 + 60 * tags * (1 - 0.04 * t))
    return np.stack(scene).astype(np.float32)


def test_auto_roi_finds_the_moving_disc_and_is_square():
    x0, y0, x1, y1 = find_heart_roi(moving_disc_scene())
    assert x1 - x0 == y1 - y0
    assert x0 <= 100 - 14 and x1 - 1 >= 100 + 14 and y0 <= 44 - 14 and y1 - 1 >= 44 + 14
    assert x1 - x0 < 100  # much smaller than the 128x160 frame
    assert 0 <= x0 and x1 <= 160 and 0 <= y0 and y1 <= 128


def test_auto_roi_is_unsure_about_still_frames_and_falls_back_to_the_full_frame():
    still = np.repeat(moving_disc_scene()[:1], 5, axis=0)
    assert find_heart_roi(still) is None
    assert choose_mapping(still, "auto").roi == (0, 0, 160, 128)
    noise = np.random.default_rng(0).uniform(50, 150, (6, 64, 64)).astype(np.float32)
    assert find_heart_roi(noise) is None  # motion everywhere: no heart to find


def test_auto_roi_near_the_border_stays_inside_the_frame():
    x0, y0, x1, y1 = find_heart_roi(moving_disc_scene(centre=(16, 146)))
    assert 0 <= x0 and x1 <= 160 and 0 <= y0 and y1 <= 128
    assert x1 - 1 >= 146 + 13 and y0 <= 16 - 13


def test_auto_roi_holds_every_expert_landmark_of_the_real_sequence():
    if not (REAL / "sax_45_23.npz").is_file():
        pytest.skip("the real reference data (../shared/real) is not on this machine")
    with np.load(REAL / "sax_45_23.npz") as data:
        images, landmarks = data["images"], data["landmarks"]
    roi = find_heart_roi(images)
    assert roi is not None
    mapping = GridMapping(roi)
    present = landmarks[~np.isnan(landmarks).any(axis=-1)]
    assert mapping.contains(present).all()


def ring_mask(height: int, width: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    distance = np.hypot(rows - centre[0], cols - centre[1])
    return (distance > 0.6 * radius) & (distance <= radius)


def test_heart_box_is_a_square_around_the_myocardium_at_the_chosen_fill():
    mask = ring_mask(192, 192, (90, 100), 20)  # extent 41 px
    x0, y0, x1, y1 = heart_box(mask)
    assert x1 - x0 == y1 - y0 == round(41 / HEART_FILL)
    rows, cols = np.nonzero(mask)
    assert x0 <= cols.min() and cols.max() < x1 and y0 <= rows.min() and rows.max() < y1
    assert abs((x0 + x1 - 1) / 2 - 100) <= 1 and abs((y0 + y1 - 1) / 2 - 90) <= 1  # centred


def test_heart_box_near_the_border_stays_inside_and_a_large_heart_takes_the_frame():
    x0, y0, x1, y1 = heart_box(ring_mask(100, 120, (15, 110), 12))
    assert 0 <= x0 and x1 <= 120 and 0 <= y0 and y1 <= 100 and x1 - x0 == 50
    assert heart_box(ring_mask(60, 80, (30, 40), 28)) == (10, 0, 70, 60)  # shrunk to the shorter side
    with pytest.raises(ValueError, match="empty"):
        heart_box(np.zeros((10, 10), bool))


def test_a_stored_box_is_the_default_and_a_given_one_wins():
    images = np.zeros((2, 64, 80), np.float32)
    assert choose_mapping(images, None, (5, 6, 45, 46)).roi == (5, 6, 45, 46)
    assert choose_mapping(images, (0, 0, 20, 20), (5, 6, 45, 46)).roi == (0, 0, 20, 20)
    assert choose_mapping(images, None, None).roi == (0, 0, 80, 64)
