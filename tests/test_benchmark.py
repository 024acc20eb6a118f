"""Tests of ``deeptag benchmark``: the statistics on hand-computed cases, the VoxelMorph configurations,
the learned-network tracker, and the command end to end on tiny hand-made sequences."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deeptag.baselines.voxelmorph import track_network
from deeptag.benchmark import (METHODS, Run, load_case, markdown_table, mean_sd, phase_bins,
                               phase_curves, summary_rows)
from deeptag.checkpoint import BUNDLED_MODEL, read_checkpoint
from deeptag.cli import main
from deeptag.losses import VM_CONFIGS, DeepTagLoss
from deeptag.metrics import landmark_summary, myocardium_epe
from deeptag.model import DeepTagNet, ModelConfig

SIZE, FRAMES = 40, 6
SHIFT_PER_FRAME = np.array([0.6, 0.4])  # (rows, columns) pixels per frame


def shifted_sequence(path: Path, seed: int) -> Path:
    """An .npz of a tag grid on a disc translating by ``SHIFT_PER_FRAME`` each frame, with landmarks,
    spacing, the exact Lagrangian fields (``L_t = -t * shift``) and a ring-shaped myocardium mask."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    centre = SIZE / 2 + rng.uniform(-2, 2, 2)

    def frame(shift: np.ndarray) -> np.ndarray:
        y, x = rows - shift[0], cols - shift[1]
        disc = np.exp(-(((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (0.35 * SIZE) ** 2))
        return 0.2 + 0.6 * disc * (1 + np.cos(2 * np.pi * x / 6)) * (1 + np.cos(2 * np.pi * y / 6)) / 4

    shifts = np.arange(FRAMES)[:, None] * SHIFT_PER_FRAME
    images = np.stack([frame(s) for s in shifts]).astype(np.float32)
    points = centre[::-1] + rng.uniform(-6, 6, (5, 2))  # (x, y)
    landmarks = points[None] + shifts[:, None, ::-1]
    truth = np.broadcast_to(-shifts[:, :, None, None], (FRAMES, 2, SIZE, SIZE)).astype(np.float32)
    radius = np.hypot(rows - centre[0], cols - centre[1])
    np.savez(path, images=images, landmarks=landmarks.astype(np.float32), spacing=np.array([1.5, 1.5]),
             gt_lagrangian=truth, myocardium_mask=(radius > 5) & (radius < 10))
    return path


@pytest.fixture
def dataset(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for k in range(2):
        shifted_sequence(folder / f"seq{k}.npz", seed=k)
    return folder


def make_run(method: str, case: str, distances: np.ndarray, **metrics) -> Run:
    values = dict(rms=0.0, mean_distance=0.0, nonpositive_inf=None, nonpositive_lagrangian=None, seconds=0.0, epe=None)
    values.update(metrics)
    return Run(method, case, "mm", np.asarray(distances, dtype=float), **values)


def test_mean_sd_is_population_statistics_ignoring_missing_values():
    assert mean_sd([1.0, 3.0, None]) == (2.0, 1.0, 2)
    assert mean_sd([None, float("nan")]) == (None, None, 0)
    assert mean_sd([4.0]) == (4.0, 0.0, 1)


def test_summary_rows_hand_computed():
    distances = np.zeros((3, 2))
    runs = [make_run("tvl1", "a", distances, rms=1.0, nonpositive_inf=10, seconds=2.0, epe=0.5),
            make_run("tvl1", "b", distances, rms=3.0, nonpositive_inf=20, seconds=4.0, epe=1.5),
            make_run("harp", "a", distances, rms=5.0, seconds=1.0)]
    rows = summary_rows(runs, ["harp", "tvl1", "deeptag"])
    assert [row["method"] for row in rows] == ["harp", "tvl1"]  # table order, methods without runs left out
    harp, tvl1 = rows
    assert (tvl1["rms_mean"], tvl1["rms_sd"], tvl1["sequences"]) == (2.0, 1.0, 2)
    assert (tvl1["nonpositive_inf_mean"], tvl1["nonpositive_inf_sd"]) == (15.0, 5.0)
    assert (tvl1["seconds_mean"], tvl1["epe_mean"], tvl1["epe_sd"]) == (3.0, 1.0, 0.5)
    assert harp["nonpositive_inf_mean"] is None and harp["rms_sd"] == 0.0
    text = markdown_table(rows, "T")
    assert "| OF-TV | 2.000 ± 1.000 |" in text and "15.0 ± 5.0" in text
    assert "| HARP | 5.000 ± 0.000 |" in text and "n/a" in text


def test_phase_bins_split_the_cycle_into_equal_half_open_bins():
    assert phase_bins(11, 10).tolist() == list(range(10))  # frames 1..10 at phases 0.1..1.0
    assert phase_bins(5, 2).tolist() == [0, 0, 1, 1]  # phases 0.25, 0.5 | 0.75, 1.0


def test_phase_curves_hand_computed():
    # frames 1, 2 fall in bin 0 and frames 3, 4 in bin 1 (T = 5, 2 bins); frame 0 never counts
    first = np.array([[9.0, 9.0], [3.0, 4.0], [0.0, 0.0], [1.0, 1.0], [np.nan, 1.0]])
    second = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [np.nan, np.nan], [np.nan, np.nan]])
    curves = phase_curves([make_run("A1", "a", first), make_run("A1", "b", second)], ["A1"], bins=2)
    # sequence a: bin 0 RMS sqrt((9 + 16 + 0 + 0) / 4) = 2.5, bin 1 sqrt(3 / 3) = 1; sequence b: bin 0 is 1
    np.testing.assert_allclose(curves["A1"]["mean"], [1.75, 1.0])
    np.testing.assert_allclose(curves["A1"]["sd"], [0.75, 0.0])
    assert curves["A1"]["count"].tolist() == [2, 1]


def test_myocardium_epe_counts_only_pixels_whose_material_point_is_myocardium():
    frames, size = 3, 12
    truth = np.zeros((frames, 2, size, size), np.float32)
    truth[1:, 0] = -2.0  # frames 1, 2 are frame 0 moved down by 2 rows: L_t = (-2, 0)
    mask = np.zeros((size, size), bool)
    mask[3:6, 4:8] = True
    predicted = truth[1:] + 9.0  # wrong by a lot outside the moving myocardium ...
    predicted[:, 0, 5:8, 4:8] = truth[1:, 0, 5:8, 4:8] + 0.3  # ... and by (0.3, 0.4) on it (rows 5-7)
    predicted[:, 1, 5:8, 4:8] = 0.4
    assert myocardium_epe(predicted, truth, mask) == pytest.approx(0.5)
    assert myocardium_epe(predicted, truth, mask, spacing=(2.0, 1.0)) == pytest.approx(np.hypot(0.6, 0.4))
    assert myocardium_epe(predicted, truth, np.zeros_like(mask)) is None


def test_load_case_reads_the_ground_truth(dataset):
    case = load_case(dataset / "seq0.npz")
    assert case.name == "seq0" and case.sequence.spacing == (1.5, 1.5)
    assert case.gt_lagrangian.shape == (FRAMES, 2, SIZE, SIZE) and case.myocardium_mask.dtype == bool


def test_voxelmorph_configurations():
    model_config, loss_config = VM_CONFIGS["vm-ssd"]
    model = DeepTagNet(model_config).train()
    with torch.no_grad():
        model.flow_mean.weight.normal_(0.0, 0.05)
    pair = torch.rand(2, 1, 1, 32, 32)
    out = model(pair[0], pair[1])
    assert torch.equal(out.velocity, out.mean)  # deterministic in training too
    assert torch.equal(out.forward, out.velocity)  # no integration: the output is the displacement
    assert not loss_config.backward and not loss_config.kl and loss_config.alpha1 == 0.01
    assert VM_CONFIGS["vm-ncc"][1].gamma == -1.0 and VM_CONFIGS["vm-ncc"][1].alpha1 == 1.0
    dif_model, dif_loss = VM_CONFIGS["vm-dif"]
    assert dif_model.probabilistic and dif_model.integration_steps == 7 and dif_loss.kl
    # the SSD likelihood of VM-DIF is the mean squared difference times 1 / (2 sigma^2)
    image, target = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.1)
    assert float(DeepTagLoss(dif_loss).similarity(image, target)) == pytest.approx(0.01 / (2 * 0.02 ** 2))
    assert [m.pairs for m in METHODS.values() if m.configs] == ["consecutive"] * 3 + ["reference"] + ["consecutive"] * 6


@pytest.mark.parametrize("pairs", ["consecutive", "reference"])
def test_track_network_without_motion_keeps_the_points(pairs):
    model = DeepTagNet()
    with torch.no_grad():
        model.flow_mean.weight.zero_()
    images = np.random.default_rng(0).random((4, 24, 24), dtype=np.float32)
    points = np.array([[3.0, 5.0], [20.5, 11.25]])
    result = track_network(model, images, points, pairs=pairs)
    np.testing.assert_allclose(result.tracks, np.broadcast_to(points, (4, 2, 2)), atol=1e-5)
    assert result.lagrangian.shape == (3, 2, 24, 24) and np.abs(result.lagrangian).max() < 1e-6
    assert (result.inf_fields is None) == (pairs == "reference")


@pytest.mark.parametrize("pairs", ["consecutive", "reference"])
def test_track_network_runs_the_model_on_its_own_grid(pairs):
    model = DeepTagNet(ModelConfig(image_size=32))
    seen = []
    model.unet_model.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[-1]))
    images = np.random.default_rng(0).random((3, 40, 40), dtype=np.float32)
    result = track_network(model, images, np.array([[3.0, 5.0]]), pairs=pairs)
    assert seen == [32] and result.lagrangian.shape == (2, 2, 40, 40)


@pytest.mark.parametrize("pairs", ["consecutive", "reference"])
def test_track_network_tracks_in_the_heart_box_it_is_given(pairs):
    model = DeepTagNet(ModelConfig(image_size=32))
    images = np.random.default_rng(0).random((3, 40, 40), dtype=np.float32)
    result = track_network(model, images, np.array([[12.0, 15.0]]), pairs=pairs, roi=(4, 6, 36, 38))
    assert np.isfinite(result.lagrangian[:, :, 6:38, 4:36]).all()
    assert np.isnan(result.lagrangian[:, :, :6]).all() and np.isnan(result.lagrangian[:, :, :, 36:]).all()


def test_benchmark_command_writes_both_tables_and_figures(dataset, model_file, tmp_path, capsys):
    out = tmp_path / "bench"
    args = [str(dataset), "--methods", "tvl1", "vm-ncc", "deeptag", "A1",
            "--models", f"deeptag={model_file}", "--train-data", str(dataset), "--train-steps", "2",
            "--crop", "32", "--window", "3", "--phase-bins", "4", "--adapt", "2", "--image-size", "64", "--out", str(out), "--quiet"]
    assert main(["benchmark", *args]) == 0
    printed = capsys.readouterr().out
    assert "Table 1" in printed and "Table 2" in printed and "timings: CPU" in printed
    for name in ("table1.md", "table1.csv", "table2.md", "table2.csv", "figure8.png", "figure10.png",
                 "per_sequence.csv", "benchmark.json", "models/A1/best.pt", "models/vm-ncc/best.pt"):
        assert (out / name).is_file(), name
    assert (out / "figure8.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "table1.csv", newline="") as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert list(rows) == ["tvl1", "vm-ncc", "deeptag"]
    assert all(row["unit"] == "mm" and row["sequences"] == "2" for row in rows.values())
    # the sequences translate rigidly, so TV-L1 tracks them well and its Lagrangian fields are close
    assert float(rows["tvl1"]["rms_mean"]) < 0.5 and float(rows["tvl1"]["epe_mean"]) < 0.5
    with open(out / "table2.csv", newline="") as handle:
        table2 = {row["method"]: row for row in csv.DictReader(handle)}
    assert list(table2) == ["A1"] and table2["A1"]["pairs"] == "reference"
    assert table2["A1"]["nonpositive_inf_mean"] == "" and table2["A1"]["nonpositive_lagrangian_mean"] != ""
    report = json.loads((out / "benchmark.json").read_text())
    assert report["methods"]["vm-ncc"]["trained_here"] == "models/vm-ncc/best.pt"
    assert report["methods"]["vm-ncc"]["checkpoint_loss_config"]["gamma"] == -1.0
    assert report["train_config"]["steps"] == 2 and report["unit"] == "mm" and report["adapt_steps"] == 2
    assert read_checkpoint(out / "models" / "A1" / "best.pt")["model_config"]["image_size"] == 64

    # an existing result folder is refused without --force, and replaced with it
    assert main(["benchmark", *args]) == 2
    assert "--force" in capsys.readouterr().err


def test_benchmark_command_explains_missing_models(dataset, tmp_path, capsys):
    assert main(["benchmark", str(dataset), "--methods", "A3", "--out", str(tmp_path / "x")]) == 2
    assert "--models NAME=CHECKPOINT" in capsys.readouterr().err
    assert main(["benchmark", str(dataset), "--methods", "harp", "--models", "harp=x.pt",
                 "--out", str(tmp_path / "x")]) == 2
    assert "not a network" in capsys.readouterr().err
    if not BUNDLED_MODEL.is_file():
        assert main(["benchmark", str(dataset), "--methods", "deeptag", "--out", str(tmp_path / "x")]) == 2
        assert "--models deeptag=CHECKPOINT" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_benchmark_command_keeps_and_resumes_training_runs(dataset, tmp_path):
    runs = tmp_path / "runs"
    args = [str(dataset), "--methods", "A2", "--train-data", str(dataset), "--train-steps", "1", "--crop", "32",
            "--window", "3", "--train-out", str(runs), "--quiet"]
    assert main(["benchmark", *args, "--out", str(tmp_path / "first")]) == 0
    log = runs / "A2" / "log.jsonl"
    assert len(log.read_text().splitlines()) == 1
    # a second benchmark finds the finished run and uses it without training again
    assert main(["benchmark", *args, "--out", str(tmp_path / "second")]) == 0
    assert len(log.read_text().splitlines()) == 1
    first, second = ((tmp_path / name / "per_sequence.csv").read_text() for name in ("first", "second"))
    assert [line.split(",")[:5] for line in first.splitlines()] == [line.split(",")[:5] for line in second.splitlines()]
    report = json.loads((tmp_path / "second" / "benchmark.json").read_text())
    assert report["methods"]["A2"]["trained_here"] == str(runs / "A2" / "best.pt")


@pytest.mark.slow
def test_simulated_sequence_scores_follow_the_true_motion(tmp_path):
    """On the simulator's data (realistic motion, exact fields), TV-L1's myocardium EPE and landmark RMS are
    far below those of no motion: the EPE compares the fields in the right convention."""
    assert main(["simulate", "--n", "1", "--size", "128", "--frames", "10", "--seed", "3",
                 "--out", str(tmp_path / "sim")]) == 0
    out = tmp_path / "bench"
    assert main(["benchmark", str(tmp_path / "sim"), "--methods", "tvl1", "--out", str(out), "--quiet"]) == 0
    with open(out / "per_sequence.csv", newline="") as handle:
        tvl1 = next(csv.DictReader(handle))
    case = load_case(tmp_path / "sim" / "sim_00000.npz")
    still = myocardium_epe(np.zeros_like(case.gt_lagrangian[1:]), case.gt_lagrangian, case.myocardium_mask,
                           case.sequence.spacing)
    landmarks = case.sequence.landmarks
    still_rms = landmark_summary(np.broadcast_to(landmarks[:1], landmarks.shape), landmarks,
                                 case.sequence.spacing, "mm")["rms_mm"]
    assert tvl1["unit"] == "mm" and float(tvl1["epe"]) < 0.5 * still
    assert float(tvl1["rms"]) < 0.5 * still_rms
