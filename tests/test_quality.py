"""The error map's signals against cases whose answer is known, the checks before tracking, the flags."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from deeptag import fields, quality
from deeptag.losses import local_ncc_map
from deeptag.outputs import write_tracks

PERIOD = 6.0


def tagged_frames(count: int = 12, size: int = 64, shift: float = 0.35, fade: float = 0.0, seed: int = 0,
                  tags: bool = True) -> np.ndarray:
    """A disk of tissue with a grid of tags (``PERIOD`` px) moving right by ``shift`` px a frame, tags
    fading by ``fade`` per frame, and a little noise; (count, size, size) in [0, 1]."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    frames = []
    for t in range(count):
        x = cols - shift * t
        depth = max(0.0, 1.0 - fade * t) if tags else 0.0
        pattern = 1.0 - depth * 0.5 * (2 - np.cos(2 * np.pi * x / PERIOD) - np.cos(2 * np.pi * rows / PERIOD)) / 2
        disk = np.hypot(rows - size / 2, x - size / 2) < size * 0.35
        frames.append(np.clip(0.2 + 0.7 * disk * pattern + 0.01 * rng.standard_normal((size, size)), 0, 1))
    return np.asarray(frames, dtype=np.float32)


def interior(values: torch.Tensor, margin: int = 8) -> torch.Tensor:
    return values[..., margin:-margin, margin:-margin]


def test_inverse_consistency_is_zero_for_an_exact_affine_inverse_pair():
    size = 48
    grid = fields.identity_grid(size, size)[0].double()  # (2, H, W) as (row, col)
    a = torch.tensor([[1.05, 0.03], [-0.02, 0.97]], dtype=torch.float64)
    c = torch.tensor([0.7, -1.2], dtype=torch.float64)
    forward = (torch.einsum("ij,jhw->ihw", a - torch.eye(2, dtype=torch.float64), grid) + c[:, None, None])
    inverse = torch.linalg.inv(a)
    backward = torch.einsum("ij,jhw->ihw", inverse - torch.eye(2, dtype=torch.float64), grid) \
        - (inverse @ c)[:, None, None]
    loop = quality.inverse_consistency(forward[None], backward[None])
    assert interior(loop).abs().max() < 1e-6
    # a backward field that does not undo the forward one: the loop is the forward displacement itself
    broken = quality.inverse_consistency(forward[None], torch.zeros_like(backward)[None])
    assert torch.allclose(interior(broken), interior(torch.linalg.vector_norm(forward, dim=0)[None]))


def test_accumulation_follows_the_path_back_to_frame_0():
    values = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(0))
    still = torch.zeros(4, 2, 16, 16)
    assert torch.allclose(quality.accumulate_along_path(values, still), values.cumsum(0), atol=1e-5)
    assert torch.allclose(quality.accumulate_along_path(values, still, "max"), values.cummax(0).values, atol=1e-5)
    # one pixel to the right per frame: frame 1's value is taken where the material point was
    shift = torch.zeros(2, 2, 16, 16)
    shift[:, 1] = 1.0
    two = quality.accumulate_along_path(values[:2], shift)
    assert torch.allclose(two[1, :, :-1], values[1, :, :-1] + values[0, :, 1:], atol=1e-5)


def test_local_ncc_map_averages_to_monais_local_ncc():
    monai_losses = pytest.importorskip("monai.losses")
    image, other = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    other = 0.6 * image + 0.4 * other
    reference = monai_losses.LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=9, kernel_type="rectangular")
    assert float(local_ncc_map(image, other).mean()) == pytest.approx(-float(reference(image, other)), rel=1e-4)


def test_structure_tensor_tells_one_set_of_lines_from_a_grid():
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float32)
    lines = torch.as_tensor(np.cos(2 * np.pi * cols / PERIOD))[None, None]
    grid = torch.as_tensor(np.cos(2 * np.pi * cols / PERIOD) + np.cos(2 * np.pi * rows / PERIOD))[None, None]
    small_lines, large_lines = (interior(v, 12) for v in quality.structure_eigenvalues(lines))
    small_grid, large_grid = (interior(v, 12) for v in quality.structure_eigenvalues(grid))
    assert float((small_lines / large_lines).max()) < 1e-3
    assert float((small_grid / large_grid).min()) > 0.5


def jump_case(jump: float):
    """Frames that do not move and fields that are zero except in a square of the last frame's
    Lagrangian field, which is off by ``jump`` pixels along x there."""
    frames = torch.as_tensor(tagged_frames(count=5, shift=0.0, seed=3))[:, None]
    # a non-periodic texture on the tags, so that a whole tag period off does not match again
    texture = torch.as_tensor(np.random.default_rng(4).random((64, 64)), dtype=torch.float32)
    texture = torch.nn.functional.avg_pool2d(texture[None, None], 5, 1, 2)[0, 0]
    frames = frames * (0.6 + 0.8 * texture)
    forward = torch.zeros(4, 2, 64, 64)
    forward[3, 1, 24:40, 24:40] = jump
    backward = torch.zeros_like(forward)
    backward[3, 1, 24:40, 24 + int(jump):40 + int(jump)] = -jump
    lagrangian = fields.lagrangian_fields(forward)
    return frames, {"inf_forward": forward, "inf_backward": backward, "lagrangian": lagrangian}


def test_the_map_is_larger_where_a_frame_jumps_one_tag_period():
    frames, network = jump_case(PERIOD)
    with torch.inference_mode():
        signals = quality.error_signals(frames, network["inf_forward"], network["inf_backward"], network["lagrangian"])
        estimate = quality.error_map(frames, network)
    inside, outside = (slice(27, 37), slice(27, 37)), (slice(44, 54), slice(27, 37))
    residual = signals["ncc_residual"][3]
    assert float(residual[inside].mean()) > 3 * float(residual[outside].mean())
    assert float(estimate[3][inside].median()) > 2 * float(estimate[3][outside].median())
    # the frames before the jump are the same everywhere
    assert float(estimate[2][inside].median()) == pytest.approx(float(estimate[2][outside].median()), rel=0.3)


def test_summary_flags_the_frames_above_the_threshold():
    error = np.full((3, 8, 8), 1.0, dtype=np.float32)
    error[1] = 3.0
    summary = quality.summarise_error(error)
    assert summary["frames_flagged"] == [2]
    assert summary["worst_frame"] == 2 and summary["worst_frame_median_px"] == 3.0
    region = np.zeros((3, 8, 8), dtype=bool)
    region[:, :2] = True
    error[1, :2] = 0.5
    assert quality.summarise_error(error, region)["frames_flagged"] == []


def test_moving_mask_follows_the_material_points():
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:8, 4:8] = True
    lagrangian = np.zeros((1, 2, 16, 16), dtype=np.float32)
    lagrangian[0, 1] = -3.0  # the material point of p is 3 px to its left: the tissue moved right
    moved = quality.moving_mask(mask, lagrangian)[0]
    assert moved[4:8, 7:11].all() and moved.sum() == 16


def test_a_tagged_sequence_passes_the_checks():
    frames = tagged_frames(fade=0.03)
    assert quality.tag_peaks(frames).min() > quality.TAG_PEAK_MIN
    assert quality.scan_checks(frames, (0, 0, 64, 64), np.arange(12) * 40.0) == []


def test_checks_find_missing_and_faded_tags():
    untagged = quality.scan_checks(tagged_frames(tags=False), (0, 0, 64, 64))
    assert any("no tag pattern" in w for w in untagged)
    faded = quality.scan_checks(tagged_frames(fade=0.3), (0, 0, 64, 64))
    assert any("faded" in w for w in faded) and not any("no tag pattern" in w for w in faded)


def test_checks_find_frames_out_of_order():
    frames = tagged_frames()
    swapped = frames[[0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11]]
    assert quality.frame_order_jumps(frames) == []
    assert 4 in quality.frame_order_jumps(swapped)
    assert any("out of order" in w for w in quality.scan_checks(swapped, (0, 0, 64, 64)))
    times = np.arange(12) * 40.0
    times[6] = 100.0
    assert any("frame times do not increase" in w for w in quality.scan_checks(frames, (0, 0, 64, 64), times))


def test_checks_find_the_heart_outside_the_region():
    frames = np.zeros((10, 96, 96), dtype=np.float32) + 0.2
    big = tagged_frames(count=10, size=40, shift=0.8)
    frames[:, 50:90, 50:90] = big  # the moving, tagged part lies bottom right
    warnings = quality.scan_checks(frames, (0, 0, 40, 40))
    assert any("outside the region" in w for w in warnings)
    assert not any("outside the region" in w for w in quality.scan_checks(frames, (40, 40, 96, 96)))


def test_tracks_csv_has_the_error_column(tmp_path):
    tracks = np.zeros((2, 3, 2), dtype=np.float32)
    errors = np.array([[0, 0, 0], [1.5, np.nan, 2.25]], dtype=np.float32)
    write_tracks(tmp_path, tracks, errors=errors)
    lines = (tmp_path / "tracks.csv").read_text().splitlines()
    assert lines[0].split(",")[-1] == "error_px"
    assert lines[4].split(",")[-1] == "1.500" and lines[5].split(",")[-1] == "" and lines[6].endswith("2.250")


def test_strict_stops_an_untagged_sequence_before_any_output(tmp_path):
    path = tmp_path / "cine.npz"
    np.savez(path, images=tagged_frames(tags=False))
    out = tmp_path / "out"
    strict = subprocess.run([sys.executable, "-m", "deeptag", "track", str(path), "--out", str(out), "--strict"],
                            capture_output=True, text=True)
    assert strict.returncode == 2
    assert "no tag pattern" in strict.stderr and "--strict" in strict.stderr
    assert not out.exists()


def test_strain_flags_the_segment_whose_estimate_is_high(tmp_path):
    import csv
    import json

    from deeptag.myocardium import define_myocardium
    from deeptag.regions import FLAG_PX, region_estimates
    from deeptag.strain import compute_strain, write_strain

    myocardium = define_myocardium((64, 64), ring="32,32,10,18")
    lagrangian = np.zeros((3, 2, 64, 64), dtype=np.float32)
    strain = compute_strain(lagrangian, myocardium)
    error = np.full((3, 64, 64), 0.5, dtype=np.float32)
    chosen = strain.segment == strain.segment[0]
    xs, ys = strain.points[chosen, 0].astype(int), strain.points[chosen, 1].astype(int)
    error[2][ys, xs] = 5.0  # frame 3, this segment's points only (they do not move)
    strain.error_px = region_estimates(strain, error)
    summary = write_strain(tmp_path, strain)
    segments = {r["region"]: r for r in summary["regions"] if r["kind"] == "segment"}
    assert segments[str(strain.segment[0])]["unreliable_frames"] == [3]
    assert all(r["unreliable_frames"] == [] for name, r in segments.items() if name != str(strain.segment[0]))
    rows = list(csv.DictReader(open(tmp_path / "strain.csv")))
    flagged = {(row["region"], row["frame"]) for row in rows if row["unreliable"] == "1"}
    assert flagged == {(str(strain.segment[0]), "3")}
    assert json.loads((tmp_path / "strain.json").read_text())["quality"]["flag_threshold_px"] == FLAG_PX


def test_the_report_draws_the_error_map_of_each_frame():
    from deeptag import viz

    images = tagged_frames(count=4, size=32)
    error = np.full((3, 32, 32), 1.0, dtype=np.float32)
    error[1, 8:16, 8:16] = 4.0
    error[:, :, :2] = np.nan
    pictures = viz.uncertainty_frames(images, error)
    assert len(pictures) == 3
    assert not np.array_equal(pictures[0], pictures[1])  # the flagged square and its contour show in frame 2


def test_checks_find_reversed_frames():
    frames = tagged_frames(fade=0.07)
    assert quality.scan_checks(frames, (0, 0, 64, 64)) == []
    assert any("reverse order" in w for w in quality.scan_checks(frames[::-1].copy(), (0, 0, 64, 64)))
