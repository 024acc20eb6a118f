"""``deeptag track`` and ``deeptag evaluate`` end to end on small sequences."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from deeptag.cli import main


def tag_sequence(frames=5, size=48, shift=0.6):
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([0.5 + 0.5 * np.cos(2 * np.pi * (cols - shift * t) / 7) * np.cos(2 * np.pi * rows / 7)
                     for t in range(frames)]).astype(np.float32)


@pytest.fixture
def sequence_file(tmp_path):
    path = tmp_path / "seq.npz"
    images = tag_sequence()
    landmarks = np.repeat(np.array([[[20.0, 20.0], [30.0, 25.0]]]), len(images), axis=0)
    np.savez(path, images=images, landmarks=landmarks, spacing=np.array([1.5, 1.25]))
    return path


def test_track_writes_fields_tracks_and_summary(tmp_path, sequence_file, model_file):
    points = tmp_path / "points.csv"
    points.write_text("x,y\n20,20\n30.5,25\n")
    out = tmp_path / "result"
    assert main(["track", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--points", str(points), "--out", str(out)]) == 0
    saved = np.load(out / "fields.npz")
    for name in ("inf_forward", "inf_backward", "lagrangian", "vae_sigma"):
        assert saved[name].shape == (4, 2, 48, 48)
    assert saved["uncertainty"].shape == (4, 48, 48)  # the error estimate in pixels (issue 27)
    tracks = np.load(out / "tracks.npy")
    assert tracks.shape == (5, 2, 2) and np.allclose(tracks[0], [[20, 20], [30.5, 25]], atol=1e-4)
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {"x_mm", "y_mm", "error_px"} <= set(rows[0])
    assert float(rows[1]["x_mm"]) == pytest.approx(30.5 * 1.25, abs=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 5 and "inf_forward" in summary["nonpositive_jacobians"]
    assert summary["quality"]["units"] == "input pixels" and len(summary["quality"]["per_frame_median_px"]) == 5
    assert summary["device"].startswith("cpu (")
    # the tracks follow the Lagrangian field written next to them: p + L(p) = p0
    from deeptag.fields import sample_at_points
    back = tracks[1:] + sample_at_points(torch.tensor(saved["lagrangian"]), torch.tensor(tracks[1:])).numpy()
    assert np.abs(back - tracks[0]).max() < 0.05


def test_existing_result_is_not_overwritten_without_force(tmp_path, sequence_file, model_file, capsys):
    out = tmp_path / "result"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["track", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    # --force replaces only a folder that deeptag wrote: the user's own folder is kept as it is
    assert main(["track", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--out", str(out), "--force"]) == 2
    assert "not written by deeptag" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()  # an empty folder holds nothing to lose
    assert main(["track", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--out", str(out), "--force"]) == 0
    (out / "stale.txt").write_text("left by an earlier run")
    assert main(["track", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--out", str(out), "--force"]) == 0
    assert (out / "fields.npz").exists() and not (out / "stale.txt").exists()


def test_evaluate_reports_pixels_and_mm(sequence_file, model_file, capsys):
    assert main(["evaluate", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["per_frame_mean_px"]) == 5 and report["per_frame_mean_px"][0] == pytest.approx(0, abs=1e-3)
    assert report["rms_px"] >= report["mean_px"] > 0
    assert "rms_mm" in report


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("command", ["track", "evaluate"])
@pytest.mark.parametrize("device, message", [("cuda", "sees no CUDA GPU"), ("banana", "is not a device")])
def test_a_device_that_cannot_be_used_is_refused_before_any_output(tmp_path, sequence_file, model_file, capsys,
                                                                  command, device, message):
    out = ["--out", str(tmp_path / "out")] if command == "track" else []
    assert main([command, "--adapt", "0", str(sequence_file), "--model", str(model_file), "--device", device, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device" in err[0] and message in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("no_images", "no 'images'"),
    ("one_frame", "at least 2 frames"),
    ("nan", "NaN"),
    ("wrong_dims", "shape (T, H, W)"),
    ("bad_landmarks", "landmarks must have shape"),
])
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, model_file, capsys, case, message):
    path = tmp_path / f"{case}.npz"
    images = tag_sequence()
    if case == "no_images":
        np.savez(path, frames=images)
    elif case == "one_frame":
        np.savez(path, images=images[:1])
    elif case == "nan":
        images[2, 3, 4] = np.nan
        np.savez(path, images=images)
    elif case == "wrong_dims":
        np.savez(path, images=images[0])
    elif case == "bad_landmarks":
        np.savez(path, images=images, landmarks=np.zeros((5, 3)))
    out = tmp_path / "out"
    assert main(["track", "--adapt", "0", str(path), "--model", str(model_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_command_line_entry_point_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "deeptag", "track", "--adapt", "0", str(tmp_path / "nothing.npz"), "--out",
                             str(tmp_path / "o")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "nothing.npz" in result.stderr


def test_example_with_adaptation(tmp_path, model_file, capsys):
    out = tmp_path / "demo"
    assert main(["track", "--example", "--model", str(model_file), "--adapt", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "adapted to the sequence for 1 steps" in summary["model"] and summary["seconds"]["adapt"] > 0
    assert summary["tracked_points"] > 0  # the example's frame-0 landmarks
    assert main(["track", "--adapt", "0", "--out", str(tmp_path / "x"), "--model", str(model_file)]) == 2
    assert "--example" in capsys.readouterr().err


def test_adaptation_is_on_by_default_and_zero_turns_it_off():
    from deeptag.adapt import AdaptConfig
    from deeptag.cli import build_parser
    from deeptag.commands.common import adapt_from_args

    def steps(command):
        adapt = adapt_from_args(build_parser().parse_args(command))
        return 0 if adapt is None else adapt.steps

    for command in (["track", "scan.npz", "--out", "r"], ["evaluate", "scan.npz"]):
        assert steps(command) == AdaptConfig().steps
        assert steps(command + ["--adapt"]) == AdaptConfig().steps
        assert steps(command + ["--adapt", "0"]) == 0


def test_track_with_report_writes_the_tag_grid_picture(tmp_path, sequence_file, model_file):
    out = tmp_path / "result"
    assert main(["track", "--adapt", "0", str(sequence_file), "--model", str(model_file), "--report", "--out", str(out),
                 "--lv", "24,24,8,14"]) == 0
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "pictures" / "tag_grid.gif").stat().st_size > 1_000
    assert "strain" in (out / "report.html").read_text().lower()


def test_a_model_tracks_on_its_own_grid_size(tmp_path, sequence_file):
    from deeptag.io import read_sequence
    from deeptag.model import DeepTagNet, ModelConfig
    from deeptag.track import track_sequence
    model = DeepTagNet(ModelConfig(image_size=64)).eval()
    result = track_sequence(read_sequence(sequence_file), model, np.array([[20.0, 20.0]]), adapt=None)
    assert result.mapping.size == 64 and result.network["lagrangian"].shape[-2:] == (64, 64)
    assert result.lagrangian.shape == (4, 2, 48, 48) and result.tracks.shape == (5, 1, 2)


def test_the_heart_box_stored_with_a_sequence_is_tracked_unless_a_roi_is_given(tmp_path, model_file):
    path = tmp_path / "boxed.npz"
    np.savez(path, images=tag_sequence(), roi=np.array([8, 4, 40, 36]))
    out = tmp_path / "stored"
    assert main(["track", "--adapt", "0", str(path), "--model", str(model_file), "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["network_roi_xyxy"] == [8, 4, 40, 36]
    lagrangian = np.load(out / "fields.npz")["lagrangian"]
    assert np.isnan(lagrangian[:, :, :4]).all() and np.isfinite(lagrangian[:, :, 4:36, 8:40]).all()
    out = tmp_path / "given"
    assert main(["track", "--adapt", "0", str(path), "--model", str(model_file), "--roi", "0,0,48,48", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["network_roi_xyxy"] == [0, 0, 48, 48]


def test_the_python_api_with_default_arguments_does_what_the_command_does(tmp_path, sequence_file):
    """``track_sequence(sequence, model)`` adapts as ``deeptag track`` does without --adapt (and a
    network that predicts no motion, adapted, moves): the same Lagrangian fields."""
    from deeptag.checkpoint import load_model, save_checkpoint
    from deeptag.io import read_sequence
    from deeptag.model import DeepTagNet, ModelConfig
    from deeptag.track import track_sequence
    path = tmp_path / "small.pt"
    save_checkpoint(path, DeepTagNet(ModelConfig(image_size=32)))
    assert main(["track", str(sequence_file), "--model", str(path), "--out", str(tmp_path / "out")]) == 0
    model, _ = load_model(path)
    api = track_sequence(read_sequence(sequence_file), model).lagrangian
    alone = track_sequence(read_sequence(sequence_file), model, adapt=None).lagrangian
    written = np.load(tmp_path / "out" / "fields.npz")["lagrangian"]
    np.testing.assert_allclose(api, written, atol=1e-4)
    assert np.nanmax(np.abs(api - alone)) > 0.05
