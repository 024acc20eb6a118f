"""Strain from analytic pull-back fields, AHA segments, myocardium inputs and the strain command."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from deeptag.cli import main
from deeptag.errors import InputError
from deeptag.fields import track_points
from deeptag.myocardium import (Myocardium, cavity_centre, define_myocardium, display_angle, layer_index,
                                read_mask, ring_mask, segment_numbers, segments)
from deeptag.strain import (compute_strain, inverse_gradients, reference_directions, strain_components,
                            write_strain)

SHAPE = (64, 64)
CENTRE = (31.0, 33.0)  # (x, y)
RING = "31,33,12,20"


def pullback(inverse_map, shape=SHAPE) -> np.ndarray:
    """Pull-back field (2, H, W), channel 0 rows: L(p) = inverse_map(p) - p for p = (x, y)."""
    rows, cols = np.indices(shape, dtype=np.float64)
    x0, y0 = inverse_map(cols, rows)
    return np.stack([y0 - rows, x0 - cols]).astype(np.float64)


def scaling(s):
    """Inverse of the uniform stretch X -> c + s (X - c)."""
    return lambda x, y: (CENTRE[0] + (x - CENTRE[0]) / s, CENTRE[1] + (y - CENTRE[1]) / s)


def rotation(degrees):
    """Inverse of a rotation by ``degrees`` counter-clockwise as displayed (y grows downwards)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return lambda x, y: (CENTRE[0] + c * (x - CENTRE[0]) - s * (y - CENTRE[1]),
                         CENTRE[1] + s * (x - CENTRE[0]) + c * (y - CENTRE[1]))


def incompressible_shortening(k):
    """Inverse of r = sqrt(R^2 - k) at fixed angle: circumferential shortening, radial thickening."""
    def inverse(x, y):
        dx, dy = x - CENTRE[0], y - CENTRE[1]
        r = np.hypot(dx, dy)
        factor = np.sqrt(r ** 2 + k) / np.maximum(r, 1e-9)
        return CENTRE[0] + dx * factor, CENTRE[1] + dy * factor
    return inverse


def myocardium(level="mid", rv=None):
    return define_myocardium(SHAPE, ring=RING, level=level, rv=rv)


def test_uniform_stretch_gives_equal_radial_and_circumferential_strain():
    result = compute_strain(pullback(scaling(1.1))[None], myocardium())
    expected = 100 * (1.1 ** 2 - 1) / 2
    for quantity in ("E_rr", "E_cc"):
        assert np.allclose(result.values[quantity][0], 0)
        assert np.allclose(result.values[quantity][1], expected, atol=1e-6)
    assert np.allclose(result.values["rotation"], 0, atol=1e-6)
    assert np.allclose(result.positions[1], CENTRE + 1.1 * (result.points - CENTRE), atol=1e-3)


def test_pure_rotation_gives_no_strain_and_its_angle_counter_clockwise_as_displayed():
    result = compute_strain(np.stack([pullback(rotation(8.0)), pullback(rotation(-5.0))]), myocardium())
    assert np.allclose(result.values["E_rr"][1:], 0, atol=1e-6)
    assert np.allclose(result.values["E_cc"][1:], 0, atol=1e-6)
    assert np.allclose(result.values["rotation"][1], 8.0, atol=1e-6)
    assert np.allclose(result.values["rotation"][2], -5.0, atol=1e-6)
    # a point right of the centre moves up the image (smaller y) under a counter-clockwise turn
    right = np.argmax(result.points[:, 0] - np.abs(result.points[:, 1] - CENTRE[1]))
    assert result.positions[1, right, 1] < result.points[right, 1]


def test_rotation_in_physical_space_with_anisotropic_pixels_is_strain_free():
    spacing = (0.5, 1.0)  # rows are half as long as columns
    c, s = np.cos(np.radians(6.0)), np.sin(np.radians(6.0))

    def inverse(x, y):  # the rotation acts on (x mm, y mm) = (x, 0.5 y)
        dx, dy = (x - CENTRE[0]) * 1.0, (y - CENTRE[1]) * 0.5
        return CENTRE[0] + (c * dx - s * dy) / 1.0, CENTRE[1] + (s * dx + c * dy) / 0.5

    result = compute_strain(pullback(inverse)[None], myocardium(), spacing=spacing)
    assert np.allclose(result.values["E_rr"][1], 0, atol=1e-5)
    assert np.allclose(result.values["E_cc"][1], 0, atol=1e-5)
    assert np.allclose(result.values["rotation"][1], 6.0, atol=1e-5)


def test_incompressible_circumferential_shortening_matches_the_analytic_strain():
    k = 40.0
    result = compute_strain(pullback(incompressible_shortening(k))[None], myocardium())
    radius_sq = ((result.points - CENTRE) ** 2).sum(axis=1)
    # central differences of a non-linear field: a few percent of the value near the endocardium
    assert np.allclose(result.values["E_cc"][1], 100 * -k / (2 * radius_sq), rtol=0.03)
    assert np.allclose(result.values["E_rr"][1], 100 * k / (2 * (radius_sq - k)), rtol=0.03)
    assert np.allclose(result.values["rotation"][1], 0, atol=0.1)
    assert (result.values["E_cc"][1] < 0).all() and (result.values["E_rr"][1] > 0).all()


def test_strain_of_smooth_random_fields_matches_the_pytorch_field_operators():
    """The NumPy path of compute_strain against a peer built on deeptag.fields (PyTorch, as training uses
    it): positions by fields.track_points, grad L by torch.gradient sampled with fields.sample."""
    from deeptag import fields

    generator = torch.Generator().manual_seed(5)
    velocity = 3.0 * torch.nn.functional.interpolate(torch.randn(3, 2, 5, 5, generator=generator, dtype=torch.float64),
                                                     size=SHAPE, mode="bicubic", align_corners=True)
    lagrangian = fields.integrate_velocity(velocity)
    spacing = (1.2, 0.8)
    result = compute_strain(lagrangian.numpy(), myocardium(), spacing)
    positions = fields.track_points(lagrangian, torch.from_numpy(result.points))
    d_rows, d_cols = torch.gradient(lagrangian, dim=-2)[0], torch.gradient(lagrangian, dim=-1)[0]
    jacobian = torch.stack([d_rows[:, 0], d_cols[:, 0], d_rows[:, 1], d_cols[:, 1]], dim=1)
    coords = positions[1:].flip(-1).permute(0, 2, 1)[..., None]  # (T-1, 2, K, 1) as (row, col)
    gradient = fields.sample(jacobian, coords)[..., 0].permute(0, 2, 1).reshape(3, -1, 2, 2).numpy()
    scale = np.asarray(spacing)
    deformation = np.linalg.inv(np.eye(2) + gradient * scale[:, None] / scale[None, :])
    green = 0.5 * (np.swapaxes(deformation, -1, -2) @ deformation - np.eye(2))
    offset = (np.stack([result.points[:, 1] - CENTRE[1], result.points[:, 0] - CENTRE[0]], 1) * scale)
    radial = offset / np.linalg.norm(offset, axis=1, keepdims=True)
    e_rr = 100 * np.einsum("ki,tkij,kj->tk", radial, green, radial)
    assert np.abs(result.positions - positions.numpy()).max() < 1e-9
    assert np.abs(result.values["E_rr"][1:] - e_rr).max() < 1e-6
    assert np.abs(result.values["E_rr"][1:]).max() > 5  # the fields do strain the wall


def test_rotation_angle_is_the_polar_decomposition_angle():
    deformation = np.array([[[[1.1, 0.3], [-0.2, 0.9]]]])
    unitary, _ = scipy.linalg.polar(deformation[0, 0])
    expected = np.degrees(np.arctan2(unitary[1, 0], unitary[0, 0]))
    radial = np.array([[[1.0, 0.0]]])
    values = strain_components(deformation, radial, radial[..., ::-1])
    assert np.isclose(values["rotation"][0, 0], expected)


def test_peaks_and_rates_per_second_and_per_frame():
    stretches = [1.02, 1.05, 1.03]
    lagrangian = np.stack([pullback(scaling(s)) for s in stretches])
    times = np.array([0.0, 50.0, 100.0, 150.0])
    result = compute_strain(lagrangian, myocardium(), frame_times_ms=times)
    curve = result.curve("E_cc", np.ones(len(result.points), bool))
    expected = 100 * (np.array([1.0, *stretches]) ** 2 - 1) / 2
    assert np.allclose(curve, expected, atol=1e-5)
    assert result.peak(curve) == {"value": pytest.approx(expected[2], abs=1e-5), "frame": 2, "time_ms": 100.0}
    assert np.allclose(result.rate(curve), np.gradient(expected, times / 1000), atol=1e-3)
    per_frame = compute_strain(lagrangian, myocardium())
    assert np.allclose(per_frame.rate(curve), np.gradient(expected), atol=1e-5)
    assert per_frame.rate_unit == "%/frame" and result.rate_unit == "%/s"


def test_layer_curves_follow_the_analytic_strain_across_the_wall():
    """Incompressible shortening strains the endocardium most: the layer means must be ordered and each
    equal the mean of the analytic E_cc over its own third of the ring."""
    k = 40.0
    result = compute_strain(pullback(incompressible_shortening(k))[None], myocardium())
    radius_sq = ((result.points - CENTRE) ** 2).sum(axis=1)
    analytic = 100 * -k / (2 * radius_sq)
    means = {}
    for region, name, kind, selected in result.regions():
        if kind == "layer":
            means[region] = result.curve("E_cc", selected)[1]
            assert means[region] == pytest.approx(analytic[selected].mean(), rel=0.03), name
    assert list(means) == ["endo", "midwall", "epi"] and means["endo"] < means["midwall"] < means["epi"] < 0


def test_transmural_depth_of_a_ring_is_the_fraction_of_the_wall_between_its_radii():
    ring = myocardium()  # r_endo 12, r_epi 20 about (31, 33)
    points = np.array([[31.0 + r * np.cos(a), 33.0 - r * np.sin(a)] for r, a in
                       [(12.0, 0.3), (16.0, 1.3), (20.0, 2.9), (14.0, 4.0), (25.0, 5.0), (5.0, 5.5)]])
    depth = ring.transmural_depth(points)
    # the outermost pixel centres of a sector lie up to a pixel inside r_epi, the innermost up to one outside r_endo
    assert depth[:4] == pytest.approx([0.0, 0.5, 1.0, 0.25], abs=0.13)
    assert depth[4:].tolist() == [1.0, 0.0]  # outside the wall: clipped
    assert layer_index(np.array([0.0, 0.33, 0.34, 0.66, 0.67, 1.0])).tolist() == [0, 0, 1, 1, 2, 2]
    layers = np.bincount(layer_index(ring.transmural_depth(ring.points())))
    assert len(layers) == 3 and layers.min() > 0.2 * layers.sum()


def test_transmural_depth_follows_an_off_centre_wall_of_varying_thickness():
    """A wall thicker on one side than the other (epicardium off the LV centre): the depth is still
    measured within the wall on each side, not as one radius for the whole ring."""
    rows, cols = np.indices(SHAPE)
    mask = (np.hypot(cols - 31, rows - 33) >= 10) & (np.hypot(cols - 34, rows - 33) <= 20)
    wall = Myocardium(mask, (31.0, 33.0))
    thin_side = np.array([[31.0 + 10.5, 33.0], [31.0 + 22.5, 33.0]])  # endo and epi edges at angle 0
    thick_side = np.array([[31.0 - 10.5, 33.0], [31.0 - 16.5, 33.0]])  # endo and epi edges at angle 180
    assert wall.transmural_depth(thin_side) == pytest.approx([0.0, 1.0], abs=0.15)
    assert wall.transmural_depth(thick_side) == pytest.approx([0.0, 1.0], abs=0.15)


def test_mid_segments_are_six_equal_sectors_starting_at_the_rv_insertion():
    sectors = segments(120.0, "mid")
    assert [s.number for s in sectors] == [7, 8, 9, 10, 11, 12]
    assert [s.name for s in sectors][:2] == ["anterior", "anteroseptal"]
    assert (sectors[0].start_deg, sectors[0].end_deg, sectors[1].start_deg) == (60.0, 120.0, 120.0)
    assert segment_numbers(np.array([119.0, 121.0, 239.0, 241.0, 359.0, 1.0]), 120.0, "mid").tolist() == \
        [7, 8, 9, 10, 11, 12]
    assert [s.number for s in segments(120.0, "basal")] == [1, 2, 3, 4, 5, 6]
    fine_angles = np.arange(0.05, 360.0, 0.1)
    assert np.bincount(segment_numbers(fine_angles, 120.0, "mid"))[7:].tolist() == [600] * 6
    counts = np.bincount(myocardium().segment_of(myocardium().points()))[7:]  # pixels: nearly equal
    assert len(counts) == 6 and counts.max() - counts.min() <= 0.1 * counts.mean()


def test_apical_segments_are_four_sectors_with_the_septum_centred_on_the_septum():
    sectors = segments(120.0, "apical")
    assert [(s.number, s.name) for s in sectors] == [(13, "anterior"), (14, "septal"), (15, "inferior"),
                                                      (16, "lateral")]
    assert (sectors[1].start_deg, sectors[1].end_deg) == (135.0, 225.0)
    fine_angles = np.arange(0.05, 360.0, 0.1)
    assert np.bincount(segment_numbers(fine_angles, 120.0, "apical"))[13:].tolist() == [900] * 4
    counts = np.bincount(myocardium("apical").segment_of(myocardium("apical").points()))[13:]
    assert len(counts) == 4 and counts.max() - counts.min() <= 0.1 * counts.mean()


def test_rv_insertion_point_sets_the_anchor_angle():
    left_of_centre = f"{CENTRE[0] - 15},{CENTRE[1]}"  # 180 deg as displayed
    heart = myocardium(rv=left_of_centre)
    assert heart.rv_angle_deg == pytest.approx(180.0)
    assert heart.segments()[1].start_deg == pytest.approx(180.0)
    above = np.array([[CENTRE[0], CENTRE[1] - 16.0]])  # straight up the image: 90 deg as displayed
    assert display_angle(above, CENTRE)[0] == pytest.approx(90.0)
    assert heart.segment_of(above)[0] == 12  # anterior is 120..180 now, anterolateral 60..120


def test_myocardium_from_mask_png_npz_nifti_and_contours(tmp_path):
    import imageio.v3 as iio
    import nibabel

    ring = ring_mask(SHAPE, CENTRE, 12, 20)
    np.savez(tmp_path / "mask.npz", mask=ring)
    iio.imwrite(tmp_path / "mask.png", (ring * 255).astype(np.uint8))
    nibabel.save(nibabel.Nifti1Image(ring.T.astype(np.uint8), np.eye(4)), tmp_path / "mask.nii.gz")
    labels = ring.astype(np.uint8) * 2 + (ring_mask(SHAPE, CENTRE, 0, 11.5)).astype(np.uint8)
    np.savez(tmp_path / "labels.npz", labels)
    for name in ("mask.npz", "mask.png", "mask.nii.gz"):
        assert np.array_equal(read_mask(tmp_path / name, SHAPE), ring)
    assert np.array_equal(read_mask(tmp_path / "labels.npz", SHAPE, label=2), ring)
    with pytest.raises(InputError, match="--mask-label"):
        read_mask(tmp_path / "labels.npz", SHAPE)
    with pytest.raises(InputError, match="frames are 32x32"):
        read_mask(tmp_path / "mask.npz", (32, 32))
    assert np.allclose(cavity_centre(ring), CENTRE, atol=1e-6)

    angles = np.linspace(0, 2 * np.pi, 80, endpoint=False)
    contour = lambda r: [[CENTRE[0] + r * np.cos(a), CENTRE[1] + r * np.sin(a)] for a in angles]
    (tmp_path / "contours.json").write_text(json.dumps({"endo": contour(12), "epi": contour(20)}))
    with open(tmp_path / "contours.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["contour", "x", "y"])
        writer.writerows([["endo", *p] for p in contour(12)] + [["epi", *p] for p in contour(20)])
    for name in ("contours.json", "contours.csv"):
        heart = define_myocardium(SHAPE, contours=tmp_path / name)
        assert np.allclose(heart.centre, CENTRE, atol=0.2)
        assert abs(int(heart.mask.sum()) - int(ring.sum())) < 0.05 * ring.sum()


def test_myocardium_input_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="exactly one"):
        define_myocardium(SHAPE)
    with pytest.raises(InputError, match="r_endo < r_epi"):
        define_myocardium(SHAPE, ring="30,30,20,10")
    with pytest.raises(InputError, match="4 comma-separated"):
        define_myocardium(SHAPE, ring="30,30,20")
    (tmp_path / "bad.json").write_text(json.dumps({"endo": [[1, 2]], "epi": [[1, 2], [3, 4], [5, 6]]}))
    with pytest.raises(InputError, match="endo contour needs at least 3"):
        define_myocardium(SHAPE, contours=tmp_path / "bad.json")


def make_result_folder(folder: Path, lagrangian: np.ndarray, frame_times=None, spacing=None) -> Path:
    """A minimal ``deeptag track`` result folder: fields.npz, summary.json and the input images."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = lagrangian.shape[0] + 1
    rows, cols = np.indices(lagrangian.shape[2:])
    images = np.stack([0.5 + 0.5 * np.sin(cols / 3.0 + t) * np.sin(rows / 3.0) for t in range(frames)])
    arrays = {"images": images.astype(np.float32)}
    if frame_times is not None:
        arrays["frame_times"] = np.asarray(frame_times, dtype=float)
    np.savez(folder / "input.npz", **arrays)
    zeros = np.zeros_like(lagrangian, dtype=np.float32)
    np.savez(folder / "fields.npz", inf_forward=zeros, inf_backward=zeros,
             lagrangian=lagrangian.astype(np.float32), uncertainty=np.abs(zeros) + 0.1)
    summary = {"input": str(folder / "input.npz"), "frames": frames, "spacing_mm": spacing, "model": "test",
               "seconds": {"total": 0.1}, "nonpositive_jacobians": {"lagrangian": 0}}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_write_strain_tables_have_units_and_one_row_per_frame_and_region(tmp_path):
    lagrangian = np.stack([pullback(scaling(s)) for s in (1.02, 1.05)])
    result = compute_strain(lagrangian, myocardium(), spacing=(1.5, 1.5), frame_times_ms=[0, 40, 80])
    write_strain(tmp_path, result)
    summary = json.loads((tmp_path / "strain.json").read_text())
    assert summary["units"]["E_cc"] == "%" and summary["units"]["E_cc_rate"] == "%/s"
    assert [r["region"] for r in summary["regions"]] == \
        ["global", "endo", "midwall", "epi", "7", "8", "9", "10", "11", "12"]
    assert [r["kind"] for r in summary["regions"]][:5] == ["global", "layer", "layer", "layer", "segment"]
    rows = list(csv.DictReader(open(tmp_path / "strain.csv")))
    assert len(rows) == 10 * 3 and "E_cc_rate_pct_per_s" in rows[0]
    assert float(rows[2]["E_cc_pct"]) == pytest.approx(100 * (1.05 ** 2 - 1) / 2, abs=1e-3)
    peaks = [r for r in csv.DictReader(open(tmp_path / "peaks.csv")) if r["region"] == "global"]
    assert {r["quantity"]: r["unit"] for r in peaks}["rotation"] == "deg"


def test_strain_command_writes_a_strain_folder_atomically(tmp_path, capsys):
    lagrangian = np.stack([pullback(scaling(s)) for s in (0.98, 0.95)])
    folder = make_result_folder(tmp_path / "result", lagrangian, frame_times=[0, 30, 60])
    assert main(["strain", str(folder), "--lv", RING, "--level", "basal"]) == 0
    summary = json.loads((folder / "strain" / "strain.json").read_text())
    assert summary["myocardium"]["level"] == "basal" and summary["units"]["E_rr_rate"] == "%/s"
    assert "global" in capsys.readouterr().out
    assert main(["strain", str(folder), "--lv", RING]) == 2  # exists already
    assert "--force" in capsys.readouterr().err
    assert main(["strain", str(folder), "--lv", RING, "--force"]) == 0
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")]
    assert main(["strain", str(folder), "--lv", "1,2,3"]) == 2
    assert main(["strain", str(tmp_path / "missing"), "--lv", RING]) == 2


def test_strain_of_the_simulator_matches_its_exact_material_points():
    """Ground truth from deeptag.phantom: exact Lagrangian fields and exactly tracked landmarks on three
    rings through the wall (16 each, at equal angles). The ring means of circumferential strain from the
    stretch of the chords between neighbours, and of radial strain from the stretch of the segments from
    the inner to the outer ring, must match the strain computed from the fields."""
    phantom = pytest.importorskip("deeptag.phantom", reason="the simulator is not in this checkout")
    simulated = phantom.simulate_sequence(3, size=128, frames=12)
    lagrangian, landmarks = simulated.lagrangian[1:], simulated.landmarks.astype(np.float64)
    tracked = track_points(torch.from_numpy(lagrangian.astype(np.float64)), torch.from_numpy(landmarks[0]))
    assert np.abs(tracked.numpy() - landmarks).max() < 0.1

    per_ring, count = phantom.LANDMARKS_PER_RING, len(phantom.LANDMARK_RINGS)
    gradient = inverse_gradients(lagrangian, landmarks[1:], simulated.spacing)
    deformation = np.concatenate([np.broadcast_to(np.eye(2), (1, *gradient.shape[1:])), np.linalg.inv(gradient)])
    radial, circumferential = reference_directions(landmarks[0], simulated.lv_centre, simulated.spacing)
    values = strain_components(deformation, radial[None], circumferential[None])
    by_ring = {q: [v[:, k * per_ring:(k + 1) * per_ring].mean(axis=1) for k in range(count)]
               for q, v in values.items()}
    rings = [landmarks[:, k * per_ring:(k + 1) * per_ring] for k in range(count)]
    chord_means = []
    for k, ring in enumerate(rings):
        chords = np.linalg.norm(np.roll(ring, -1, axis=1) - ring, axis=-1)
        chord_means.append((100 * ((chords / chords[:1]) ** 2 - 1) / 2).mean(axis=1))
        assert np.allclose(chord_means[-1], by_ring["E_cc"][k], atol=0.6)
    assert by_ring["E_cc"][0].min() < -5  # the simulated heart does contract
    across = np.linalg.norm(rings[-1] - rings[0], axis=-1)
    segment_mean = (100 * ((across / across[:1]) ** 2 - 1) / 2).mean(axis=1)
    simpson = (by_ring["E_rr"][0] + 4 * by_ring["E_rr"][1] + by_ring["E_rr"][2]) / 6
    assert np.allclose(segment_mean, simpson, atol=0.5)

    heart = simulated.myocardium()
    result = compute_strain(lagrangian, heart, simulated.spacing, simulated.frame_times)
    everywhere = np.ones(len(result.points), dtype=bool)
    assert np.allclose(result.curve("E_cc", everywhere), np.mean(chord_means, axis=0), atol=0.6)
    assert np.allclose(result.curve("E_rr", everywhere), segment_mean, atol=2.0)


def test_strain_command_gives_each_region_the_tracking_error_estimate(tmp_path, capsys):
    """With an error map in fields.npz (T-1, H, W) the tables carry each region's mean estimate at its
    tracked points (issue 27); a map linear in x is sampled exactly by bilinear interpolation."""
    stretch = 1.05
    folder = make_result_folder(tmp_path / "result", pullback(scaling(stretch))[None])
    with np.load(folder / "fields.npz") as stored:
        arrays = dict(stored)
    error = np.broadcast_to(0.1 * np.arange(SHAPE[1], dtype=np.float32), SHAPE)[None]  # 0.1 px per column
    np.savez(folder / "fields.npz", **(arrays | {"uncertainty": np.ascontiguousarray(error)}))
    assert main(["strain", str(folder), "--lv", RING]) == 0
    summary = json.loads((folder / "strain" / "strain.json").read_text())
    # the tracked points of the stretch are c + s (X - c): their mean column is c_x + s (mean X - c_x)
    points = myocardium().points()
    expected = 0.1 * (CENTRE[0] + stretch * (points[:, 0].mean() - CENTRE[0]))
    overall = summary["regions"][0]
    assert overall["curves"]["error_px"] == [0.0, pytest.approx(expected, abs=1e-4)]
    assert expected > 2.0 and overall["unreliable_frames"] == [1]  # above the 2 px threshold
    assert summary["quality"]["flag_threshold_px"] == 2.0
    rows = [r for r in csv.DictReader(open(folder / "strain" / "strain.csv")) if r["region"] == "global"]
    assert float(rows[1]["error_px"]) == pytest.approx(expected, abs=1e-3)


def test_frame_times_are_taken_from_summary_json_when_the_input_has_none(tmp_path):
    lagrangian = np.stack([pullback(scaling(s)) for s in (0.98, 0.95)])
    folder = make_result_folder(tmp_path / "result", lagrangian)
    summary = json.loads((folder / "summary.json").read_text())
    summary["frame_times_ms"] = [0.0, 25.0, 50.0]
    (folder / "summary.json").write_text(json.dumps(summary))
    assert main(["strain", str(folder), "--lv", RING]) == 0
    written = json.loads((folder / "strain" / "strain.json").read_text())
    assert written["time_ms"] == [0.0, 25.0, 50.0] and written["units"]["E_cc_rate"] == "%/s"


@pytest.mark.slow
def test_real_sequence_gives_physiological_strain(tmp_path):
    """Track the real mid-ventricular sequence with the published weights and measure strain in the ring
    that holds the expert landmarks: circumferential shortening and radial thickening at end-systole."""
    from conftest import OFFICIAL_WEIGHTS, REAL_SEQUENCE
    if not (REAL_SEQUENCE.is_file() and OFFICIAL_WEIGHTS.is_file()):
        pytest.skip(f"reference data not found at {REAL_SEQUENCE.parent} (it is not part of the repository)")
    landmarks = np.load(REAL_SEQUENCE)["landmarks"][0]
    centre = landmarks.mean(axis=0)
    radius = np.hypot(*(landmarks - centre).T)
    ring = f"{centre[0]},{centre[1]},{radius.min() - 1},{radius.max() + 1}"
    out = tmp_path / "real"
    assert main(["track", "--adapt", "0", str(REAL_SEQUENCE), "--model", f"official:{OFFICIAL_WEIGHTS}", "--out", str(out)]) == 0
    assert main(["strain", str(out), "--lv", ring]) == 0
    overall = json.loads((out / "strain" / "strain.json").read_text())["regions"][0]["peaks"]
    assert -25 < overall["E_cc"]["value"] < -8 and 4 <= overall["E_cc"]["frame"] <= 9
    assert 5 < overall["E_rr"]["value"] < 60
