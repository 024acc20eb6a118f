"""The simulator's wide preset (issue 23): classic default unchanged, each lever apart, and the drawn
tag spacing, SNR, fading and ground truth checked against independent computations."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from deeptag import fields
from deeptag.cli import main
from deeptag.phantom import draw_parameters, load_simulated, simulate_sequence
from deeptag.phantom_imaging import MAP_CHANNELS, ImagingParameters, render_frames, tag_modulation
from deeptag.phantom_motion import CardiacTiming, HeartGeometry, HeartMotion, lagrangian_fields, pullback
from deeptag.phantom_texture import power_law_noise
from deeptag.phantom_variety import LEVERS, Variety, Widening, variety

# Recorded from the classic simulator before the wide preset existed (commit 1fc4ff0): frames, image mean and
# standard deviation, mean |L|, sum of the last frame's landmarks, tag spacing (px), myocardium pixels and the
# sum of the middle frame's row 96. Any change of the classic random stream or physics moves all of them.
CLASSIC_PIN = {
    0: (22, 0.2896432257052639, 0.2970846282691932, 0.25517462949607184, 9851.543594360352, 5.152290393979398,
        594, 54.29019738547504),
    50003: (23, 0.40256855353976917, 0.27408817920744827, 0.6627808750926513, 10538.555221557617,
            5.966296673723904, 2237, 98.30196278169751),
}
WIDE_SEEDS = (3, 14, 27)


@pytest.fixture(scope="module")
def wide():
    return {seed: simulate_sequence(seed, size=128, variety="wide") for seed in WIDE_SEEDS}


@pytest.mark.parametrize("seed", sorted(CLASSIC_PIN))
def test_the_classic_default_is_unchanged(seed):
    sequence = simulate_sequence(seed)
    images, lagrangian = sequence.images.astype(np.float64), sequence.lagrangian.astype(np.float64)
    frames, mean, std, mean_abs, landmarks, spacing, mask, row = CLASSIC_PIN[seed]
    assert len(images) == frames and int(sequence.myocardium_mask.sum()) == mask
    assert sequence.params["imaging"]["tag_spacing"] == spacing  # the draws: exact
    measured = (images.mean(), images.std(), np.abs(lagrangian).mean(), sequence.landmarks.astype(np.float64)[-1].sum(),
                images[len(images) // 2, 96, :].sum())
    assert np.allclose(measured, (mean, std, mean_abs, landmarks, row), rtol=1e-6, atol=0)
    # new fields at their defaults stay out of the recorded parameters
    assert "variety" not in sequence.params and "tag_profile" not in sequence.params["imaging"]
    assert "breaths" not in sequence.params["timing"] and "area_change_floor" not in sequence.params["motion"]


def test_naming_the_classic_preset_changes_nothing():
    default, named = simulate_sequence(9, size=64, frames=4), simulate_sequence(9, size=64, frames=4, variety="classic")
    assert np.array_equal(default.images, named.images) and default.params == named.params


def test_presets_and_levers():
    assert variety().name == "classic" and variety("wide").levers == frozenset(LEVERS)
    assert variety("wide", ["snr", "tags"]).name == "wide:tags+snr"
    with pytest.raises(ValueError, match="unknown simulator lever"):
        variety("wide", ["snow"])
    with pytest.raises(ValueError, match="unknown simulator preset"):
        variety("huge")


@pytest.mark.parametrize("lever", ["snr", "textures", "through_plane", "display"])
def test_an_appearance_lever_alone_keeps_the_classic_motion(lever):
    """A lever that changes only appearance leaves the motion and landmarks of the seed bit-identical."""
    classic = simulate_sequence(5, size=96, frames=6)
    one = simulate_sequence(5, size=96, frames=6, variety=variety("wide", [lever]))
    assert np.array_equal(one.lagrangian, classic.lagrangian) and np.array_equal(one.landmarks, classic.landmarks)
    assert not np.array_equal(one.images, classic.images)
    assert one.params["variety"]["levers"] == [lever]


def test_each_lever_draws_the_same_values_alone_or_with_the_others():
    alone, together = (Widening(variety("wide", levers), 42) for levers in (["snr"], None))
    for widening in (alone, together):
        draw_parameters(np.random.default_rng(42), 192, None, widening)
    assert alone.record["snr"] == together.record["snr"]


def test_drawn_ranges_cover_the_documented_ones():
    v = Variety()
    frames, spacing_mm, snr, pixel, profiles = [], [], [], [], set()
    for seed in range(150):
        widening = Widening(variety("wide"), seed)
        drawn = draw_parameters(np.random.default_rng(seed), 192, None, widening)
        frames.append(drawn["timing"].frames)
        spacing_mm.append(drawn["imaging"].tag_spacing * drawn["pixel_mm"])
        snr.append(np.sqrt(2.0) / drawn["imaging"].noise)
        pixel.append(drawn["pixel_mm"])
        profiles.add(drawn["imaging"].tag_profile)
        assert np.isclose(widening.record["snr"], snr[-1])
        assert v.tag_px[0] - 1e-9 <= drawn["imaging"].tag_spacing <= v.tag_px[1] + 1e-9
    assert min(frames) >= 16 and max(frames) <= 40 and min(frames) <= 18 and max(frames) >= 38
    assert 5.0 - 1e-9 <= min(spacing_mm) < 5.4 and 8.6 < max(spacing_mm) <= 9.0 + 1e-9
    assert 8.0 <= min(snr) < 9.5 and 34 < max(snr) <= 40.0
    assert 0.6 <= min(pixel) < 0.75 and 1.5 < max(pixel) <= 1.8
    assert profiles == {"classic", "spamm11", "spamm121", "cspamm"}


def _measured_spacing(frame: np.ndarray) -> float:
    """Period (px) of the strongest peak of the zero-padded spectrum at periods 3-20 px."""
    pad = 4 * max(frame.shape)
    window = np.outer(np.hanning(frame.shape[0]), np.hanning(frame.shape[1]))
    power = np.abs(np.fft.fft2((frame - frame.mean()) * window, s=(pad, pad)))
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(pad), np.fft.fftfreq(pad), indexing="ij"))
    band = (frequency >= 1 / 20) & (frequency <= 1 / 3)
    return float(1.0 / frequency[band][np.argmax(power[band])])


@pytest.mark.parametrize("seed", [1, 4, 8, 11])
def test_tag_spacing_measured_by_the_spectrum_is_the_drawn_one(seed):
    sequence = simulate_sequence(seed, frames=2, variety=variety("wide", ["tags", "zoom", "textures"]))
    drawn = sequence.params["imaging"]["tag_spacing"]
    assert abs(_measured_spacing(sequence.images[0]) - drawn) < 0.03 * drawn


def _flat_render(imaging: ImagingParameters, times: np.ndarray, size: int = 64) -> np.ndarray:
    """Frames of a uniform myocardium-like tissue (density 1, T1 1000 ms) through ``render_frames``."""
    samples = np.zeros((len(times), len(MAP_CHANNELS), size, size), np.float32)
    samples[:, MAP_CHANNELS.index("density")] = 1.0
    samples[:, MAP_CHANNELS.index("relaxation_rate")] = 1e-3
    cols, rows = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    x, y = np.broadcast_to(cols, samples[:, 0].shape), np.broadcast_to(rows, samples[:, 0].shape)
    return render_frames(samples, x, y, times, np.zeros(len(times)), imaging, 1.0, np.random.default_rng(0))


@pytest.mark.parametrize("seed", [2, 9, 30])
def test_snr_measured_in_a_flat_region_is_the_drawn_one(seed):
    widening = Widening(variety("wide"), seed)
    imaging = draw_parameters(np.random.default_rng(seed), 192, None, widening)["imaging"]
    flat = replace(imaging, tag_depth=0.0, shading=[0.0] * 5, ghost=0.0, bit_depth=0, through_plane_signal=0.0,
                   through_plane_tags=0.0, rf_rate=0.0, tag_profile="classic", display_gamma=1.0)
    images = _flat_render(flat, np.zeros(8))
    measured = images.mean() / images.std()
    assert abs(measured - widening.record["snr"]) < 0.06 * widening.record["snr"]


@pytest.mark.parametrize("recovery", [None, 150.0])
def test_constant_flip_fading_follows_the_bloch_recursion(recovery):
    """Untagged and tag-line signal over time against the discrete recursion Mz <- (Mz cos a) E1 + 1 - E1,
    started from M0 or from the steady state of the previous cycle recovered for ``recovery`` ms."""
    flip, tr, t1 = np.radians(10.0), 5.0, 1000.0
    imaging = ImagingParameters(
        tag_spacing=16.0, tag_angle=0.0, tag_phase=(0.0, 0.0), tag_sharpness=1.0, tag_grid=False, tag_depth=1.0,
        rf_depletion=1.0, blood_washout_ms=50.0, blood_inflow_ms=300.0, blood_inflow_level=1.0, flow_texture=0.0,
        through_plane_signal=0.0, through_plane_tags=0.0, shading=[0.0] * 5, resolution=(1.0, 1.0),
        resolution_taper=0.02, noise=0.0, ghost=0.0, saturated_fraction=0.001, bit_depth=0,
        rf_rate=float(-np.log(np.cos(flip)) / tr), recovery_ms=recovery)
    times = np.array([0.0, 100.0, 300.0, 600.0])
    images = _flat_render(imaging, times).astype(np.float64)
    between, line = images[:, 32, 8], images[:, 32, 16]  # tag lines at x = 0, 16, 32, ...
    e1 = np.exp(-tr / t1)

    def bloch(start):
        mz, out = start, []
        for n in range(int(times[-1] / tr) + 1):
            if n * tr in times:
                out.append(mz)
            mz = mz * np.cos(flip) * e1 + 1 - e1
        return np.array(out)

    start = 1.0
    if recovery is not None:
        mz = 1.0
        for _ in range(5000):  # the imaging pulses of the previous cycles
            mz = mz * np.cos(flip) * e1 + 1 - e1
        start = 1.0 - (1.0 - mz) * np.exp(-recovery / t1)
    untagged = bloch(start)
    assert np.allclose(between / between[0], untagged / untagged[0], rtol=0.02)
    assert np.allclose(line[1:] / between[0], bloch(0.0)[1:] / untagged[0], rtol=0.03, atol=0.01)
    if recovery is not None:  # the frames darken less than from a fully recovered start
        assert 0.5 < between[-1] / between[0] < 0.9


def test_tag_profiles_are_periodic_and_dark_on_the_lines():
    u = np.linspace(0.0, 24.0, 241, dtype=np.float32)[None]
    widths = {}
    for profile in ("classic", "spamm11", "spamm121", "cspamm"):
        imaging = ImagingParameters(
            tag_spacing=8.0, tag_angle=0.0, tag_phase=(0.0, 0.0), tag_sharpness=1.0, tag_grid=False, tag_depth=1.0,
            rf_depletion=1.0, blood_washout_ms=1.0, blood_inflow_ms=1.0, blood_inflow_level=1.0, flow_texture=0.0,
            through_plane_signal=0.0, through_plane_tags=0.0, shading=[0.0] * 5, resolution=(1.0, 1.0),
            resolution_taper=0.1, noise=0.0, ghost=0.0, saturated_fraction=0.01, bit_depth=0, tag_profile=profile)
        m = tag_modulation(u, np.zeros_like(u), imaging)[0]
        assert abs(m[0]) < 1e-6 and abs(m[80]) < 1e-6 and abs(m[40] - 1) < 1e-6  # lines at 0, 8, ...; 1 between
        assert np.allclose(m[:80], m[80:160], atol=1e-5) and m.min() >= -1e-6 and m.max() <= 1 + 1e-6
        widths[profile] = float(np.mean(m[:80] < 0.5))  # share of a period darker than half
    assert widths["spamm121"] < widths["spamm11"] and widths["cspamm"] < widths["spamm11"]


def test_power_law_texture_has_the_drawn_spectral_slope():
    field = power_law_noise(np.random.default_rng(0), (256, 256), 2.5)
    power = np.abs(np.fft.fft2(field)) ** 2
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    edges = np.geomspace(1 / 64, 1 / 4, 8)
    centres = np.sqrt(edges[:-1] * edges[1:])
    means = [power[(frequency >= a) & (frequency < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
    slope = np.polyfit(np.log(centres), np.log(means), 1)[0]
    assert abs(slope + 2.5) < 0.2 and abs(field.std() - 1) < 1e-5


def test_breathing_drift_starts_at_rest_and_stays_bounded():
    timing = CardiacTiming(cycle_ms=800.0, frames=30, acquisition_fraction=0.9, end_systole=0.35,
                           mid_systole_level=0.55, relaxation=0.1, relaxation_level=0.93, rapid_filling=0.2,
                           early_filling_level=0.25, atrial_onset=0.8, diastasis_level=0.15, rotation_lead=0.02,
                           untwist_level=0.6, breaths=0.4, breath_phase=1.0)
    drift = timing.profiles(timing.frame_times())["drift"]
    expected = 0.5 * (np.sin(2 * np.pi * 0.4 * np.linspace(0, 1, 30) + 1.0) - np.sin(1.0))
    assert drift[0] == 0 and np.allclose(drift, expected) and np.abs(drift).max() <= 1


def test_a_dyskinetic_sector_bulges_out_in_systole():
    geometry = HeartGeometry(centre=(64.0, 64.0), endo_radius=20.0, endo_shape=[], wall_thickness=8.0, wall_shape=[],
                             rv_direction=np.pi, rv_half_span=1.0, rv_depth=10.0, rv_wall=3.0, fat_thickness=0.0)
    motion = HeartMotion(area_change=0.5, area_change_shape=[], hypokinesis_direction=0.0,
                         hypokinesis_half_width=np.radians(60), hypokinesis_depth=1.5, wall_area_gain=0.1,
                         rotation_endo=0.0, rotation_epi=0.0, shear=0.0, shear_direction=0.0, rv_inward=0.0,
                         translation_systole=(0.0, 0.0), translation_filling=(0.0, 0.0), drift=(0.0, 0.0),
                         margin=15.0, area_change_floor=-0.25)
    systole = {name: np.array([1.0 if name in ("contraction", "rotation") else 0.0]) for name in
               ("contraction", "rotation", "filling", "drift")}
    # a point on the endocardium at end-systole: where was it at end-diastole (its material position)?
    for direction, outward in ((0.0, True), (np.pi, False)):  # in the sector, and opposite it
        x, y = 64.0 + 20.0 * np.cos(direction), 64.0 + 20.0 * np.sin(direction)
        material_x, material_y = pullback(geometry, motion, systole, np.array([x]), np.array([y]))
        moved_out = np.hypot(material_x[0] - 64.0, material_y[0] - 64.0) < 20.0
        assert moved_out == outward
    lagrangian = lagrangian_fields(geometry, motion, {k: v for k, v in systole.items()}, 128, 128)
    assert float(fields.jacobian_determinant(torch.from_numpy(lagrangian)).min()) > 0.1


def _independent_jacobian(lagrangian: np.ndarray) -> np.ndarray:
    """det(I + grad L) of fields (T, 2, H, W) by NumPy central differences."""
    dy_dy, dy_dx = np.gradient(lagrangian[:, 0], axis=(1, 2))
    dx_dy, dx_dx = np.gradient(lagrangian[:, 1], axis=(1, 2))
    return (1 + dy_dy) * (1 + dx_dx) - dy_dx * dx_dy


def test_wide_ground_truth_is_exact_and_diffeomorphic(wide):
    for seed, sequence in wide.items():
        frames = len(sequence.images)
        assert 16 <= frames <= 40 and sequence.images.shape == (frames, 128, 128)
        assert np.isfinite(sequence.images).all() and 0 <= sequence.images.min() and sequence.images.max() <= 1
        assert _independent_jacobian(sequence.lagrangian).min() > 0.05, seed
        params = sequence.params
        geometry = HeartGeometry(**params["geometry"])
        motion = HeartMotion(**params["motion"])
        timing = CardiacTiming(**params["timing"])
        profiles = {k: v[:, None] for k, v in timing.profiles(sequence.frame_times).items()}
        # the analytic map takes every tracked landmark back onto its frame-0 position
        x, y = pullback(geometry, motion, profiles, sequence.landmarks[..., 0].astype(float),
                        sequence.landmarks[..., 1].astype(float))
        assert np.abs(np.stack((x, y), -1) - sequence.landmarks[:1]).max() < 1e-3
        # and the gridded field read at a landmark points to where the landmark was at frame 0
        moved = torch.from_numpy(sequence.landmarks[1:])
        back = moved + fields.sample_at_points(torch.from_numpy(sequence.lagrangian[1:]), moved)
        assert float((back - torch.from_numpy(sequence.landmarks[0])[None]).norm(dim=-1).max()) < 0.05


def test_wide_frames_are_explained_by_the_ground_truth():
    sequence = simulate_sequence(21, size=128, frames=12, clean=True, variety="wide")
    images = torch.from_numpy(sequence.images)[:, None]
    warped = fields.warp(images[:1].expand(len(images), -1, -1, -1), torch.from_numpy(sequence.lagrangian))
    mask = sequence.myocardium_mask
    frame = int(np.argmax(np.abs(sequence.lagrangian[:, :, mask]).max(axis=(1, 2))))
    still = np.corrcoef(sequence.images[0][mask], sequence.images[frame][mask])[0, 1]
    moved = np.corrcoef(warped[frame, 0].numpy()[mask], sequence.images[frame][mask])[0, 1]
    assert moved > 0.95 and moved > still + 0.1


def test_cli_writes_wide_sequences_with_their_levers(tmp_path, capsys):
    out = tmp_path / "sims"
    assert main(["simulate", "--n", "1", "--out", str(out), "--size", "64", "--variety", "wide",
                 "--levers", "snr,frames"]) == 0
    assert "variety wide:snr+frames" in capsys.readouterr().out
    params = load_simulated(out / "sim_00000.npz").params
    assert params["variety"]["levers"] == ["frames", "snr"] and 8 <= params["variety"]["drawn"]["snr"] <= 40
    assert main(["simulate", "--n", "1", "--out", str(out), "--force", "--levers", "snr"]) == 2
    assert main(["simulate", "--n", "1", "--out", str(out), "--force", "--variety", "wide", "--levers", "x"]) == 2
