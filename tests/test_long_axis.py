"""Long-axis views (issue 29): view labels, the wall's centreline, directions and segments, E_ll and E_tt
against exact fields, and the long-axis simulator's ground truth."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from deeptag.errors import InputError
from deeptag.long_axis import (APEX_SEGMENT, LongAxisMyocardium, band_mask, centreline_curve,
                               compute_long_axis_strain, define_long_axis_myocardium, long_axis_summary,
                               make_myocardium, parse_view, skeleton_centreline, true_long_axis_strain,
                               view_from_description)
from deeptag.myocardium import Myocardium

SHAPE = (100, 100)
APEX, ANNULUS = (50.0, 90.0), ((30.0, 20.0), (70.0, 20.0))  # the apex at the bottom, the base at the top
WALL = 8.0


def wall(view: str = "4ch") -> LongAxisMyocardium:
    curve = centreline_curve(APEX, *ANNULUS)
    return LongAxisMyocardium(band_mask(SHAPE, curve, WALL), view, APEX, ANNULUS, WALL, "test")


# ---- view labels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("description, view", [
    ("2CH", "2ch"), ("cine_4ch", "4ch"), ("CINE 3-CH tagging", "3ch"), ("tag_2 chamber", "2ch"),
    ("SPAMM HLA", "4ch"), ("VLA grid tag", "2ch"), ("tagging_LAX", "3ch"), ("LVOT cine", "3ch"),
    ("SAX stack", "sax"), ("short axis tag", "sax"), ("sa_tag_mid", "sax"), ("T1 map", None), ("", None),
    (None, None), ("Series 24ch", None), ("tag_CH3", "3ch"), ("ch_4 grid", "4ch"), ("branch 2", None)])
def test_view_from_the_series_description(description, view):
    assert view_from_description(description) == view


def test_parse_view_accepts_spellings_and_refuses_others():
    assert parse_view("4CH") == "4ch" and parse_view("2-ch") == "2ch" and parse_view("sax") == "sax"
    assert parse_view(None) is None
    with pytest.raises(InputError, match="--view must be one of"):
        parse_view("5ch")


# ---- centreline, mask, directions, segments -----------------------------------------------------------
def test_centreline_passes_through_its_points_and_meets_the_axis_at_right_angles():
    curve = centreline_curve(APEX, *ANNULUS)
    assert np.allclose(curve[0], ANNULUS[0]) and np.allclose(curve[-1], ANNULUS[1])
    assert np.min(np.hypot(*(curve - APEX).T)) < 0.05
    myocardium = wall()
    k = int(np.argmin(np.hypot(*(curve - APEX).T)))
    assert abs(myocardium.tangent[k] @ myocardium.axis) < 0.02  # across the axis at the apex
    assert abs(abs(myocardium.tangent[0] @ myocardium.axis) - 1) < 0.01  # along it at the annulus


def test_band_mask_holds_the_wall_and_stops_at_the_annulus():
    mask = wall().mask
    assert mask[20, 30] and mask[20, 70] and mask[90, 50]
    assert not mask[:19].any()  # nothing beyond the annulus line (y = 20)
    assert not mask[50, 50]  # the cavity
    rows, cols = np.nonzero(mask)
    assert np.all(np.abs(np.hypot(*(np.stack([cols, rows], 1)[:, None] - centreline_curve(APEX, *ANNULUS)[None]).T)
                         .min(axis=0) <= WALL / 2 + 1e-9))


def test_directions_follow_the_wall_and_point_out_of_the_cavity():
    myocardium = wall()
    points = np.array([[30.0, 24.0], [70.0, 24.0], [50.0, 90.0]])
    longitudinal, transmural = myocardium.directions(points)  # (row, column) order
    assert np.allclose(np.abs(longitudinal[0]), [1.0, 0.0], atol=0.02)  # wall 1 near the base: along y
    assert transmural[0, 1] < -0.98 and transmural[1, 1] > 0.98  # outwards: -x on wall 1, +x on wall 2
    assert transmural[2, 0] > 0.98  # at the apex: towards +y, away from the base


def test_transmural_depth_runs_from_endo_to_epi():
    myocardium = wall()
    k = int(np.argmin(np.abs(myocardium.curve[:100, 1] - 40.0)))  # wall 1, 50 px above the apex
    offsets = np.array([-3.9, 0.0, 2.0, 3.9])[:, None]
    depth = myocardium.transmural_depth(myocardium.curve[k] + offsets * myocardium.outward[k])
    assert np.allclose(depth, 0.5 + offsets[:, 0] / WALL, atol=1e-3)
    assert myocardium.outward[k][0] < -0.9  # outwards is -x on wall 1


@pytest.mark.parametrize("view, expected", [("4ch", [3, 9, 14, APEX_SEGMENT, 16, 12, 6]),
                                            ("2ch", [4, 10, 15, APEX_SEGMENT, 13, 7, 1]),
                                            ("3ch", [5, 11, 16, APEX_SEGMENT, 14, 8, 2])])
def test_segments_of_known_points(view, expected):
    # heights above the apex 65, 45, 15 on wall 1, the apex, 15, 45, 65 on wall 2 (annulus at 70; cap 4 px)
    points = np.array([[30.5, 25.0], [30.5, 45.0], [33.0, 75.0], [50.0, 90.0], [67.0, 75.0], [69.5, 45.0],
                       [69.5, 25.0]])
    myocardium = wall(view)
    assert myocardium.segment_of(points).tolist() == expected
    assert [s.number for s in myocardium.segments()] == expected


def test_every_segment_of_the_band_holds_pixels():
    myocardium = wall()
    numbers = set(myocardium.segment_of(myocardium.points()).tolist())
    assert numbers == {s.number for s in myocardium.segments()}


def test_skeleton_of_a_band_gives_back_its_points():
    apex, (one, two) = skeleton_centreline(wall().mask)
    assert np.hypot(apex[0] - APEX[0], apex[1] - APEX[1]) < 4.0
    # wall 1 is the one on the left with the apex turned up: here the apex points down, so the left of that
    # display is the image's right (x = 70)
    assert np.hypot(one[0] - 70, one[1] - 20) <= 5 and np.hypot(two[0] - 30, two[1] - 20) <= 5  # skeleton spurs


def test_command_line_forms_and_their_refusals(tmp_path):
    text = f"{APEX[0]},{APEX[1]},{ANNULUS[0][0]},{ANNULUS[0][1]},{ANNULUS[1][0]},{ANNULUS[1][1]}"
    made = define_long_axis_myocardium(SHAPE, "4ch", centreline=text, wall_mm=4.0, spacing=(0.5, 0.5))
    assert made.wall_px == pytest.approx(8.0) and np.array_equal(made.mask, wall().mask)
    np.savez(tmp_path / "mask.npz", mask=wall().mask)
    from_mask = define_long_axis_myocardium(SHAPE, "4ch", mask=tmp_path / "mask.npz")
    assert "skeleton" in from_mask.source and 6.0 < from_mask.wall_px < 10.0
    with pytest.raises(InputError, match="--wall-mm"):
        define_long_axis_myocardium(SHAPE, "4ch", centreline=text)
    with pytest.raises(InputError, match="6 comma-separated"):
        define_long_axis_myocardium(SHAPE, "4ch", centreline="1,2,3", wall_mm=5)
    with pytest.raises(InputError, match="no long axis"):
        define_long_axis_myocardium(SHAPE, "4ch", centreline="50,20,30,20,70,20", wall_mm=5)
    with pytest.raises(InputError, match="short-axis"):
        make_myocardium(SHAPE, {"view": "4ch", "ring": "50,50,10,20"})
    with pytest.raises(InputError, match="long-axis"):
        make_myocardium(SHAPE, {"view": "sax", "centreline": text, "ring": "50,50,10,20"})
    assert isinstance(make_myocardium(SHAPE, {"ring": "50,50,10,20", "view": None}), Myocardium)


# ---- strain from exact fields --------------------------------------------------------------------------
def linear_pullback(matrix: np.ndarray, centre=(50.0, 50.0)) -> np.ndarray:
    """The pull-back field (2, H, W) of the motion ``p = c + A (X - c)`` (A in (x, y) order): X = c + A^-1 (p - c)."""
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float64)
    inverse = np.linalg.inv(matrix)
    dx, dy = cols - centre[0], rows - centre[1]
    x = centre[0] + inverse[0, 0] * dx + inverse[0, 1] * dy
    y = centre[1] + inverse[1, 0] * dx + inverse[1, 1] * dy
    return np.stack([y - rows, x - cols])


@pytest.mark.parametrize("stretch", [-0.15, -0.08, 0.1])
def test_uniform_contraction_gives_the_exact_green_lagrange_strain(stretch):
    myocardium = wall()
    # isotropic: every direction has E = ((1 + e)^2 - 1) / 2, and the centreline shortens by e
    fields = np.stack([linear_pullback(np.eye(2) * (1 + stretch * f)) for f in (0.5, 1.0)])
    result = compute_long_axis_strain(fields, myocardium)
    expected = 100 * ((1 + stretch) ** 2 - 1) / 2
    assert np.allclose(result.values["E_ll"][2], expected, atol=1e-6)
    assert np.allclose(result.values["E_tt"][2], expected, atol=1e-6)
    assert result.gls_centreline[2] == pytest.approx(100 * stretch, abs=1e-3)  # points tracked to ~1e-5 px
    # along the long axis only (y here): E_ll = E_axis (l . axis)^2, E_tt = E_axis (n . axis)^2
    fields = np.stack([linear_pullback(np.diag([1.0, 1 + stretch]))])
    result = compute_long_axis_strain(fields, myocardium)
    longitudinal, transmural = myocardium.directions(result.points)
    assert np.allclose(result.values["E_ll"][1], expected * longitudinal[:, 0] ** 2, atol=1e-6)
    assert np.allclose(result.values["E_tt"][1], expected * transmural[:, 0] ** 2, atol=1e-6)


def test_spacing_is_taken_into_account():
    myocardium = wall()
    # a contraction by 10 % along rows with 2 mm rows and 1 mm columns is still 10 % in physical space
    fields = np.stack([linear_pullback(np.diag([1.0, 0.9]))])
    plain = compute_long_axis_strain(fields, myocardium)
    spaced = compute_long_axis_strain(fields, myocardium, spacing=(2.0, 1.0))
    expected = 100 * (0.9 ** 2 - 1) / 2
    basal = myocardium.segment_of(plain.points) == 3  # along the axis there
    assert np.allclose(spaced.values["E_ll"][1][basal], expected, atol=0.3)
    assert np.allclose(plain.values["E_ll"][1][basal], expected, atol=0.3)


def test_summary_has_walls_layers_segments_and_the_centreline():
    fields = np.stack([linear_pullback(np.eye(2) * 0.9)])
    summary = long_axis_summary(compute_long_axis_strain(fields, wall(), frame_times_ms=np.array([0.0, 40.0])))
    kinds = [r["kind"] for r in summary["regions"]]
    assert kinds == ["global", "wall", "wall", "layer", "layer", "layer"] + ["segment"] * 7
    assert summary["regions"][0]["peaks"]["GLS_centreline"]["value"] == pytest.approx(-10.0, abs=1e-3)
    assert summary["regions"][0]["peaks"]["E_ll"]["time_ms"] == 40.0
    json.dumps(summary)


# ---- the simulator --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated():
    from deeptag.phantom_long_axis import simulate_long_axis
    return {view: simulate_long_axis(11, view, size=96, frames=8) for view in ("2ch", "4ch")}


def sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Field (2, H, W) at points (K, 2) (x, y), cubic; returns (K, 2) as (dx, dy)."""
    coords = np.stack([points[:, 1], points[:, 0]])
    return np.stack([map_coordinates(field[1], coords, order=3), map_coordinates(field[0], coords, order=3)], 1)


@pytest.mark.parametrize("view", ["2ch", "4ch"])
def test_the_true_field_is_the_inverse_of_the_motion(simulated, view):
    from deeptag.phantom_long_axis import forward, heart_from_params

    sequence = simulated[view]
    heart, motion, profiles = heart_from_params(sequence.params)
    shaped = {name: np.asarray(value, dtype=np.float64)[:, None, None] for name, value in profiles.items()}
    rows, cols = np.mgrid[0:96, 0:96].astype(np.float64)
    x, y = forward(heart, motion, shaped, cols + sequence.lagrangian[:, 1], rows + sequence.lagrangian[:, 0])
    assert np.abs(x - cols).max() < 1e-3 and np.abs(y - rows).max() < 1e-3  # float32 storage of L


@pytest.mark.parametrize("view", ["2ch", "4ch"])
def test_landmarks_and_centreline_are_carried_by_the_true_field(simulated, view):
    sequence = simulated[view]
    for points in (sequence.landmarks, sequence.centreline):
        for t in range(1, len(points)):
            back = points[t] + sample(sequence.lagrangian[t], points[t])
            # cubic interpolation of the field between pixels: the wall is 3-5 px thick on a 96 grid
            assert np.abs(back - points[0]).max() < 0.25
            assert np.median(np.abs(back - points[0])) < 0.02


@pytest.mark.parametrize("view", ["2ch", "4ch"])
def test_simulated_wall_and_motion_are_plausible(simulated, view):
    sequence = simulated[view]
    params = sequence.params
    assert sequence.view == view and sequence.lagrangian.shape == (8, 2, 96, 96)
    assert np.all(sequence.lagrangian[0] == 0) and params["min_jacobian"] > 0.1
    centreline = sequence.centreline[0]
    myocardium = LongAxisMyocardium(sequence.myocardium_mask, view, tuple(centreline[0]),
                                    (tuple(centreline[1]), tuple(centreline[2])), params["heart"]["wall"])
    # the centreline's points are on the wall: the mask's pixels lie around the curve
    assert myocardium.mask[tuple(np.round(centreline[0][::-1]).astype(int))]
    # the mitral annulus moves towards the apex in systole, by about the wall's shortening times its length
    heart = params["heart"]
    apex = centreline[0]
    for k in (1, 2):
        before = np.hypot(*(centreline[k] - apex))
        after = np.hypot(*(sequence.centreline[:, k] - sequence.centreline[:, 0]).T).min()
        shortening = params["motion"]["shortening"][k - 1]
        assert after < before
        assert (before - after) / before == pytest.approx(shortening, abs=0.25 * shortening + 0.01)
    assert heart["view"] == view


@pytest.mark.parametrize("view", ["2ch", "4ch"])
def test_strain_of_the_true_fields_matches_the_analytic_strain(simulated, view):
    sequence = simulated[view]
    centreline = sequence.centreline[0]
    myocardium = LongAxisMyocardium(sequence.myocardium_mask, view, tuple(centreline[0]),
                                    (tuple(centreline[1]), tuple(centreline[2])), sequence.params["heart"]["wall"])
    measured = compute_long_axis_strain(sequence.lagrangian[1:], myocardium, sequence.spacing, sequence.frame_times)
    truth = true_long_axis_strain(sequence, myocardium)
    everywhere = np.ones(len(measured.points), dtype=bool)
    peak = measured.curve("E_ll", everywhere).min()
    assert peak == pytest.approx(truth["E_ll"].min(), abs=0.6)  # discretisation on a 96-pixel grid
    assert measured.gls_centreline.min() == pytest.approx(truth["GLS_centreline"].min(), abs=0.3)
    assert truth["E_ll"].min() < -2.0  # the heart does contract


def test_save_and_load_keep_the_view_and_the_centreline(simulated, tmp_path):
    from deeptag.io import read_sequence
    from deeptag.long_axis import sequence_view, stored_centreline
    from deeptag.phantom_long_axis import load_long_axis, save_long_axis

    path = save_long_axis(simulated["4ch"], tmp_path / "sim.npz")
    loaded = load_long_axis(path)
    assert loaded.view == "4ch" and np.array_equal(loaded.centreline, simulated["4ch"].centreline)
    assert np.allclose(stored_centreline(path), simulated["4ch"].centreline[0])
    assert sequence_view(read_sequence(path)) == ("4ch", "stored with the input")
    assert sequence_view(read_sequence(path), "2ch") == ("2ch", "--view")


def test_short_axis_slices_of_the_same_heart(simulated):
    from deeptag.phantom_long_axis import heart_from_params, short_axis_of
    from deeptag.strain import compute_strain

    sequence = simulated["4ch"]
    heart, motion, _ = heart_from_params(sequence.params)
    radii = {}
    for level in ("basal", "apical"):
        slice_ = short_axis_of(sequence, level)
        link = slice_.params["same_heart"]
        assert np.array_equal(slice_.frame_times, sequence.frame_times) and len(slice_.images) == len(sequence.images)
        assert link["level"] == level and link["long_axis_seed"] == 11
        assert slice_.params["geometry"]["endo_radius"] * slice_.spacing[0] == pytest.approx(link["endo_radius_mm"])
        assert link["wall_mm"] == pytest.approx(heart.wall * sequence.spacing[0])
        radii[level] = link["endo_radius_mm"]
        strain = compute_strain(slice_.lagrangian[1:], slice_.myocardium(), slice_.spacing, slice_.frame_times)
        everywhere = np.ones(len(strain.points), dtype=bool)
        assert strain.curve("E_cc", everywhere).min() < -2.0 and strain.curve("E_rr", everywhere).max() > 2.0
    assert radii["apical"] < radii["basal"]  # the cavity narrows towards the apex


def test_contours_give_the_wall_and_its_centreline(tmp_path):
    myocardium = wall()
    every = np.r_[0:len(myocardium.curve):8, len(myocardium.curve) - 1]
    curve, outward = myocardium.curve[every], myocardium.outward[every]
    endo, epi = curve - 0.5 * WALL * outward, curve + 0.5 * WALL * outward
    path = tmp_path / "contours.json"
    path.write_text(json.dumps({"endo": endo.tolist(), "epi": epi[::-1].tolist()}))  # epi the other way round
    made = make_myocardium(SHAPE, {"view": "4ch", "contours": path})
    assert np.hypot(made.apex[0] - APEX[0], made.apex[1] - APEX[1]) < 0.5
    assert np.allclose(made.annulus, ANNULUS, atol=0.5) and made.wall_px == pytest.approx(WALL, rel=0.15)
    overlap = (made.mask & myocardium.mask).sum() / (made.mask | myocardium.mask).sum()
    assert overlap > 0.85
    assert made.segment_of(np.array([[30.5, 25.0], [69.5, 25.0]])).tolist() == [3, 6]
