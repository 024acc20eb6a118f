"""Training: runs, checkpoints, resumes exactly, selects by validation loss, and runs under torchrun."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deeptag.checkpoint import BUNDLED_MODEL, load_model, read_checkpoint
from deeptag.cli import main
from deeptag.errors import InputError
from deeptag.metrics import myocardium_epe
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.phantom import save_simulated, simulate_sequence
from deeptag.train import (Trainer, TrainConfig, augment, load_frames, load_ground_truth, split_files,
                           true_motion_error)


def write_sequences(folder, count=3, frames=5, size=40):
    folder.mkdir()
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    for i in range(count):
        images = [0.5 + 0.4 * np.cos(2 * np.pi * (cols - 0.5 * t * (i + 1)) / 7) * np.cos(2 * np.pi * rows / 7)
                  for t in range(frames)]
        np.savez(folder / f"seq{i}.npz", images=np.stack(images).astype(np.float32))
    return folder


def small_config(**overrides):
    values = dict(steps=4, frames=6, crop=32, validate_every=2, checkpoint_every=2, seed=3)
    values.update(overrides)
    return TrainConfig(**values)


def test_sequences_are_padded_by_repeating_the_last_frame(tmp_path):
    data = write_sequences(tmp_path / "data", count=1, frames=4)
    frames = load_frames(data / "seq0.npz", frames=7, model_config=ModelConfig())
    assert frames.shape == (7, 1, 192, 192)
    assert torch.equal(frames[3], frames[6])


def test_augmentation_moves_all_frames_alike():
    frames = torch.zeros(3, 1, 32, 32)
    frames[:, :, 10:20, 12:18] = 1.0
    moved = augment(frames, TrainConfig(noise=0.0), torch.Generator().manual_seed(1))
    assert torch.allclose(moved[0], moved[1]) and torch.allclose(moved[0], moved[2])
    assert not torch.allclose(moved[0], frames[0])


def test_training_writes_checkpoints_and_a_log(tmp_path):
    data = write_sequences(tmp_path / "data")
    trainer = Trainer([data], tmp_path / "run", small_config())
    state = trainer.run(progress=False)
    assert state.step == 4 and np.isfinite(state.best_validation)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and "validation" in log[1] and "global" in log[0]
    assert all(np.isfinite(r["grad_norm"]) and r["grad_norm"] > 0 for r in log)
    best = read_checkpoint(tmp_path / "run" / "best.pt")
    assert best["train_config"]["crop"] == 32 and best["loss_config"]["alpha1"] == 5.0
    model, _ = load_model(tmp_path / "run" / "best.pt")  # a run's checkpoint is a model for track
    assert model.config.integration_steps == 7
    with pytest.raises(InputError, match="--resume"):
        Trainer([data], tmp_path / "run", small_config())


def test_resume_continues_exactly_where_a_run_stopped(tmp_path):
    data = write_sequences(tmp_path / "data")
    Trainer([data], tmp_path / "straight", small_config(steps=4)).run(progress=False)
    Trainer([data], tmp_path / "killed", small_config(steps=2)).run(progress=False)
    # the "killed" run stopped after step 2; resume it with a higher step budget
    log = tmp_path / "killed" / "log.jsonl"  # the killed run had logged step 3 after its last checkpoint
    log.write_text(log.read_text() + json.dumps({"step": 3, "seconds": 1.0, "loss": 0.0}) + '\n{"step": 4, "sec')
    with pytest.raises(ValueError, match="can only change steps, max_minutes"):
        Trainer([data], tmp_path / "killed", resume=True, budget={"steps": 4, "crop": 16})
    resumed = Trainer([data], tmp_path / "killed", resume=True, budget={"steps": 4})
    assert resumed.state.step == 2
    resumed.run(progress=False)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3, 4]
    a = read_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "killed" / "last.pt")["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_averaged_weights_are_the_model_and_resume_exactly(tmp_path):
    data = write_sequences(tmp_path / "data")
    for steps in (1, 2):
        Trainer([data], tmp_path / f"half{steps}", small_config(steps=steps, average=0.5)).run(progress=False)
    first = read_checkpoint(tmp_path / "half1" / "last.pt")
    second = read_checkpoint(tmp_path / "half2" / "last.pt")
    assert second["averaged_steps"] == 2
    for name, raw in second["training_weights"].items():  # EMA with decay 0.5 over the two steps
        assert torch.allclose(second["state_dict"][name], 0.5 * first["training_weights"][name] + 0.5 * raw, atol=1e-6)
    assert not all(torch.equal(second["state_dict"][k], v) for k, v in second["training_weights"].items())
    # a run killed after step 2 and resumed ends with the same raw and averaged weights as a straight one
    Trainer([data], tmp_path / "straight", small_config(steps=4, average=0.9)).run(progress=False)
    Trainer([data], tmp_path / "killed", small_config(steps=2, average=0.9)).run(progress=False)
    Trainer([data], tmp_path / "killed", resume=True, budget={"steps": 4}).run(progress=False)
    a, b = (read_checkpoint(tmp_path / run / "last.pt") for run in ("straight", "killed"))
    for key in ("state_dict", "training_weights"):
        assert all(torch.allclose(a[key][k], b[key][k], atol=1e-6) for k in a[key])
    model, _ = load_model(tmp_path / "killed" / "last.pt")  # track uses the averaged weights, not the raw
    assert torch.equal(model.state_dict()["flow_mean.weight"], b["state_dict"]["flow_mean.weight"])
    assert not torch.equal(model.state_dict()["flow_mean.weight"], b["training_weights"]["flow_mean.weight"])


def test_a_non_finite_step_is_skipped_and_a_diverged_run_stops(tmp_path):
    data = write_sequences(tmp_path / "data")
    trainer = Trainer([data], tmp_path / "run", small_config(steps=30, validate_every=100, checkpoint_every=100))
    loss, calls = trainer.loss, []

    def sometimes_nan(model, frames):
        value, terms = loss(model, frames)
        calls.append(1)
        return (value * float("nan"), terms) if len(calls) == 2 or len(calls) > 5 else (value, terms)

    trainer.loss = sometimes_nan
    with pytest.raises(InputError, match="not finite in 20 steps in a row"):
        trainer.run(progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "skipped" in r] == [2] + list(range(6, 26))  # all 20 in a row
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_train_command_line_and_bad_input(tmp_path, capsys):
    data = write_sequences(tmp_path / "data", count=2)
    out = tmp_path / "run"
    assert main(["train", str(data), "--out", str(out), "--steps", "2", "--crop", "32", "--quiet",
                 "--validate-every", "1", "--checkpoint-every", "1", "--loss", "A3", "--average", "0.99"]) == 0
    best = read_checkpoint(out / "best.pt")
    assert best["loss_config"]["alpha1"] == 0.0 and best["train_config"]["average"] == 0.99
    assert main(["train", str(data), "--out", str(tmp_path / "vm"), "--steps", "1", "--crop", "32", "--quiet",
                 "--loss", "vm-ssd"]) == 0
    assert read_checkpoint(tmp_path / "vm" / "best.pt")["model_config"]["integration_steps"] == 0
    # a run stopped at its step budget goes on with a larger one, its other settings kept
    assert main(["train", str(data), "--out", str(out), "--resume", "--steps", "3", "--crop", "16", "--quiet"]) == 0
    resumed = read_checkpoint(out / "last.pt")
    assert resumed["train_state"]["step"] == 3 and resumed["train_config"]["crop"] == 32
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert main(["train", str(tmp_path / "nothing"), "--out", str(tmp_path / "r2")]) == 2
    assert "nothing" in capsys.readouterr().err
    assert main(["train", str(data), "--out", str(tmp_path / "r3"), "--average", "1.5"]) == 2
    assert "--average" in capsys.readouterr().err and not (tmp_path / "r3").exists()


def test_frames_option_cuts_long_sequences_and_is_saved(tmp_path, capsys):
    data = write_sequences(tmp_path / "data", count=2, frames=5)
    whole = load_frames(data / "seq0.npz", frames=5, model_config=ModelConfig(image_size=32))
    cut = load_frames(data / "seq0.npz", frames=3, model_config=ModelConfig(image_size=32))
    assert torch.equal(cut, whole[:3])  # the first three frames, not a resampling in time
    out = tmp_path / "run"
    assert main(["train", str(data), "--out", str(out), "--steps", "1", "--image-size", "32", "--quiet",
                 "--frames", "3"]) == 0
    assert read_checkpoint(out / "last.pt")["train_config"]["frames"] == 3
    assert main(["train", str(data), "--out", str(tmp_path / "r"), "--frames", "1"]) == 2
    assert "--frames must be at least 2" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_file_listed_k_times_is_drawn_k_times_as_often_and_never_held_out():
    simulated = [Path(f"sim{i:02d}.npz") for i in range(20)]
    train, held_out = split_files(simulated, 0.1, seed=4)
    with_real = split_files(simulated + [Path("real.npz")] * 5, 0.1, seed=4)
    assert with_real[1] == held_out and len(held_out) == 2  # the simulated split does not move
    assert sorted(with_real[0]) == sorted(train + [Path("real.npz")] * 5)
    assert split_files([Path("real.npz")] * 3, 0.1, seed=4) == ([Path("real.npz")] * 3, [])


def test_oversample_option(tmp_path, capsys):
    data = write_sequences(tmp_path / "data", count=3)
    real = data / "seq0.npz"
    args = ["train", str(data / "seq1.npz"), str(data / "seq2.npz"), "--steps", "1", "--crop", "32", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "run"), "--oversample", str(real), "3", "--init", "bundled",
                        "--lr", "0"]) == 0
    bundled = read_checkpoint(BUNDLED_MODEL)["state_dict"]  # --init bundled: the shipped weights (lr 0 keeps them)
    assert all(torch.equal(value, bundled[name])
               for name, value in read_checkpoint(tmp_path / "run" / "best.pt")["state_dict"].items())
    assert main(args + ["--out", str(tmp_path / "bad"), "--oversample", str(real), "1"]) == 2
    assert "seq0.npz: --oversample" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    trainer = Trainer([data / "seq1.npz", data / "seq2.npz"] + [real] * 3, tmp_path / "t", small_config())
    assert trainer.train_files.count(real) == 3 and real not in trainer.validation_files


def test_two_processes_under_torchrun_on_the_cpu(tmp_path):
    data = write_sequences(tmp_path / "data", count=4)
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
               "-m", "deeptag", "train", str(data), "--out", str(out), "--steps", "2", "--crop", "32",
               "--validate-every", "2", "--checkpoint-every", "2", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]  # only rank 0 writes


def test_ground_truth_is_resampled_to_the_network_grid_in_network_pixels(tmp_path):
    truth = np.zeros((3, 2, 49, 97), dtype=np.float32)
    truth[1:, 0], truth[1:, 1] = 1.0, 2.0  # L_0 = 0, then one pixel down and two right
    path = tmp_path / "sim.npz"
    np.savez(path, images=np.random.rand(3, 49, 97).astype(np.float32), gt_lagrangian=truth)
    loaded = load_ground_truth(path, frames=5, size=193)
    assert loaded.shape == (4, 2, 193, 193)  # frames 1..4, the last two padded
    assert torch.allclose(loaded[:, 0], torch.full((4, 193, 193), 4.0))  # 192 / 48 network px per px
    assert torch.allclose(loaded[:, 1], torch.full((4, 193, 193), 4.0))  # 2 px * 192 / 96
    assert load_ground_truth(write_sequences(tmp_path / "real", count=1) / "seq0.npz", frames=5) is None


def test_a_stored_heart_box_crops_frames_and_true_fields_alike(tmp_path):
    """Section 4.1 crops the heart before resampling: frames and truth come from the same box."""
    size = 60
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.stack([np.cos(cols / 3 + t) * np.cos(rows / 4) + 1 for t in range(3)]).astype(np.float32)
    truth = np.stack([np.stack([rows * t, cols * t]) for t in range(3)]).astype(np.float32) / 100
    path = tmp_path / "sim.npz"
    np.savez(path, images=images, gt_lagrangian=truth, roi=np.array([10, 20, 41, 51]))
    frames = load_frames(path, frames=3, model_config=ModelConfig(image_size=31, intensity="median"))  # no resampling
    images = np.stack([np.clip(frame / (2 * np.median(frame)), 0, 1) for frame in images])  # section 4.1
    assert torch.allclose(frames[:, 0], torch.as_tensor(images[:, 20:51, 10:41]), atol=1e-5)
    loaded = load_ground_truth(path, frames=3, size=31)
    assert torch.allclose(loaded, torch.as_tensor(truth[1:, :, 20:51, 10:41]), atol=1e-5)
    np.savez(path, images=images, gt_lagrangian=truth, roi=np.array([10, 20, 81, 51]))  # wider than the frame
    with pytest.raises(InputError, match="stored 'roi'") as error:
        load_ground_truth(path, frames=3, size=31)
    assert "sim.npz" in str(error.value)


def test_supervised_warm_start_fits_the_true_fields(tmp_path):
    """Windows that start after frame 0 continue from the true Lagrangian field of their first frame."""
    data = tmp_path / "sim"
    data.mkdir()
    size, shift, frames = 48, 0.8, 8
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    images = np.stack([0.5 + 0.4 * np.cos(2 * np.pi * (cols - shift * t) / 8) for t in range(frames)]).astype(np.float32)
    truth = np.zeros((frames, 2, size, size), dtype=np.float32)
    truth[:, 1] = -shift * np.arange(frames)[:, None, None]  # frame_0(p + L_t(p)) = frame_t(p)
    for i in range(2):
        np.savez(data / f"s{i}.npz", images=images, gt_lagrangian=truth)
    config = small_config(steps=40, supervised_steps=40, frames=frames, window=3, crop=None, learning_rate=2e-3,
                          noise=0.0, validate_every=40)
    trainer = Trainer([data], tmp_path / "run", config)
    trainer.run(progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    first, last = np.mean([r["epe_px"] for r in log[:5]]), np.mean([r["epe_px"] for r in log[-10:]])
    assert "global" not in log[0] and last < 0.3 * first


def test_validation_logs_the_true_motion_error_of_simulated_sequences(tmp_path):
    """Beside the loss, validation reports the myocardium end-point error where the files carry the truth:
    a network that predicts no motion scores exactly the error of no motion; real data give none."""
    data = tmp_path / "sims"
    data.mkdir()
    for seed in (50000, 50001):
        save_simulated(simulate_sequence(seed, size=96), data / f"sim{seed}.npz")
    model = DeepTagNet(ModelConfig(image_size=32))
    with torch.no_grad():
        model.flow_mean.weight.zero_()
        model.flow_mean.bias.zero_()
    simulated = simulate_sequence(50000, size=96)
    still = myocardium_epe(0 * simulated.lagrangian[1:], simulated.lagrangian, simulated.myocardium_mask)
    assert still > 0.5
    assert true_motion_error(model, data / "sim50000.npz") == pytest.approx(still, abs=1e-4)
    real = write_sequences(tmp_path / "real", count=1)
    assert true_motion_error(model, real / "seq0.npz") is None

    config = small_config(steps=2, frames=6, validate_every=2, validation_fraction=0.5)
    Trainer([data], tmp_path / "run", config, ModelConfig(image_size=32)).run(progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert "validation_epe_px" not in log[0] and log[1]["validation_epe_px"] > 0
