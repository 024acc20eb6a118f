"""Data safety: --force replaces only what deeptag wrote, a result appears whole or not at all (also on
SIGTERM and after killed runs), an interrupted training keeps its steps, and accepted but odd inputs warn."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from io_helpers import model_path, tagged_sequence, write_npz  # noqa: F401

from deeptag.checkpoint import read_checkpoint
from deeptag.cli import main
from deeptag.outputs import MARKER

IMAGES = tagged_sequence(frames=4, height=32, width=32)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def track(scan: Path, out: Path, model: Path, *options: str) -> int:
    return main(["track", "--adapt", "0", str(scan), "--out", str(out), "--model", str(model), *options])


@pytest.fixture
def scan(tmp_path) -> Path:
    write_npz(tmp_path / "scan.npz", IMAGES)
    return tmp_path / "scan.npz"


def test_force_replaces_a_deeptag_result_and_one_written_before_the_marker(scan, tmp_path, model_path, capsys):
    out = tmp_path / "out"
    assert track(scan, out, model_path) == 0 and (out / MARKER).is_file()
    (out / "old.txt").write_text("of the earlier run")
    assert track(scan, out, model_path, "--force") == 0
    assert not (out / "old.txt").exists() and (out / "fields.npz").is_file()
    (out / MARKER).unlink()  # a result of an earlier version: recognised by summary.json's deeptag_version
    assert track(scan, out, model_path, "--force") == 0
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "deeptag_version"}))
    (out / MARKER).unlink()
    capsys.readouterr()
    assert track(scan, out, model_path, "--force") == 2  # no longer recognisable as deeptag's: kept
    assert "not written by deeptag" in capsys.readouterr().err and (out / "fields.npz").is_file()


def test_force_in_the_current_folder_deletes_nothing(scan, tmp_path, model_path, monkeypatch, capsys):
    (tmp_path / "mine.txt").write_text("precious\n")
    monkeypatch.chdir(tmp_path)
    assert track(scan, Path("."), model_path, "--force") == 2
    assert "current folder" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "precious\n" and scan.is_file()


def test_stale_partial_folders_of_killed_runs_are_removed(scan, tmp_path, model_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale, unmarked, running = (tmp_path / f".out.{name}.partial" for name in ("dead", "unmarked", "live"))
    for folder in (stale, unmarked, running):
        folder.mkdir()
        (folder / "fields.npz").write_bytes(b"half")
    host = os.uname().nodename
    (stale / MARKER).write_text(json.dumps({"pid": int(dead.stdout), "host": host}))
    (running / MARKER).write_text(json.dumps({"pid": os.getpid(), "host": host}))  # a run still going on
    assert track(scan, tmp_path / "out", model_path) == 0
    assert not stale.exists() and not unmarked.exists() and running.is_dir()


def _wait_for(condition, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_sigterm_leaves_no_partial_folder(scan, tmp_path, model_path):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "deeptag", "track", str(scan), "--out", str(out), "--model",
                                str(model_path), "--adapt", "100000"], env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: list(tmp_path.glob(".out.*.partial")) or process.poll() is not None)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGTERM)
        _, error = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0 and "Traceback" not in error
    assert not out.exists() and not list(tmp_path.glob(".out.*")), "a partial result was left behind"


def _dataset(folder: Path) -> Path:
    folder.mkdir()
    for k in range(2):
        write_npz(folder / f"s{k}.npz", tagged_sequence(frames=3, height=32, width=32, seed=k))
    return folder


def test_ctrl_c_during_training_saves_every_finished_step(tmp_path):
    data, run = _dataset(tmp_path / "data"), tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "deeptag", "train", str(data), "--out", str(run), "--image-size",
                                "32", "--steps", "100000", "--checkpoint-every", "100000", "--validate-every",
                                "100000", "--quiet"], env=ENV, stderr=subprocess.PIPE, text=True)
    log = run / "log.jsonl"
    try:
        _wait_for(lambda: (log.is_file() and len(log.read_text().splitlines()) >= 2) or process.poll() is not None)
        assert process.poll() is None, "the training ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, error = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, error
    assert "checkpoint saved" in error and "Traceback" not in error
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines() if line.strip()]
    saved = read_checkpoint(run / "last.pt")["train_state"]["step"]
    assert saved >= max(logged) >= 2  # every logged step is in the checkpoint


def test_a_failed_training_leaves_no_run_folder(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    (data / "s1.npz").write_text("not a sequence")  # found by the folder listing, fails when first read
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--image-size", "32", "--steps", "5",
                 "--validate-every", "1", "--quiet"]) == 2
    assert "s1.npz" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_report_force_replaces_a_deeptag_report_only(scan, tmp_path, model_path, capsys):
    out = tmp_path / "out"
    assert track(scan, out, model_path) == 0
    page = tmp_path / "page.html"
    assert main(["report", str(out), "--out", str(page), "--fps", "4"]) == 0
    assert main(["report", str(out), "--out", str(page), "--fps", "2.5", "--force"]) == 0
    assert "<td>fps</td><td>2.5</td>" in page.read_text()  # the earlier report was replaced


def test_summary_records_the_absolute_input_so_report_works_from_anywhere(scan, tmp_path, model_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert track(Path("scan.npz"), Path("out"), model_path) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["input"] == str(scan)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["report", str(tmp_path / "out"), "--out", "page.html"]) == 0
    assert "could not be used" not in (tmp_path / "elsewhere" / "page.html").read_text()


@pytest.mark.parametrize("images, warning", [
    (IMAGES[:, :16, :16], "16x16 pixels are very small"),
    (IMAGES.astype(np.float32) - 300, "negative intensities"),
    (np.repeat(IMAGES[:1], 3, axis=0), "all 3 frames are the same image"),
], ids=["16x16-frames", "negative-intensities", "frames-that-never-change"])
def test_odd_but_accepted_inputs_warn_in_one_line(images, warning, tmp_path, model_path, capsys):
    write_npz(tmp_path / "odd.npz", images)
    assert track(tmp_path / "odd.npz", tmp_path / "out", model_path) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"deeptag: warning: {tmp_path / 'odd.npz'}: ") and warning in lines[0]


def test_a_normal_input_gives_no_warning(scan, tmp_path, model_path, capsys):
    assert track(scan, tmp_path / "out", model_path) == 0
    assert capsys.readouterr().err == ""


def test_strain_warns_when_the_ring_lies_outside_the_tracked_region(scan, tmp_path, model_path, capsys):
    assert track(scan, tmp_path / "out", model_path, "--roi", "8,8,24,24") == 0
    capsys.readouterr()
    assert main(["strain", str(tmp_path / "out"), "--lv", "16,16,6,12"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "outside the tracked region" in lines[0]
    assert main(["strain", str(tmp_path / "out"), "--lv", "16,16,3,6", "--force"]) == 0
    assert capsys.readouterr().err == ""
