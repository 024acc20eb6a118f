"""``deeptag batch`` on a 2-worker local Dask cluster and tiny simulated sequences: every slice's result
equals a direct ``deeptag track``, the tables hold one row per slice, runs resume, a corrupt input fails
alone, and a worker killed mid-run loses and duplicates nothing."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from deeptag.batch import Scan, collect_scans, dask_client
from deeptag.cli import main
from deeptag.phantom import save_simulated, simulate_sequence
from io_helpers import POSITION, tagged_sequence, write_dicom_series

distributed = pytest.importorskip("distributed")

SIZE, FRAMES = 48, 5


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Three simulated sequences as .npz, and a 2-slice NIfTI stack (3D+t) of two of them."""
    folder = tmp_path_factory.mktemp("scans")
    sims = [simulate_sequence(seed, size=SIZE, frames=FRAMES) for seed in range(3)]
    paths = [save_simulated(sim, folder / f"sim_{k}.npz") for k, sim in enumerate(sims)]
    stack = np.stack([sim.images for sim in sims[:2]])  # (slice, T, H, W) -> data[column, row, slice, t]
    nib.save(nib.Nifti1Image(stack.transpose(3, 2, 0, 1), np.diag([1.5, 1.5, 8.0, 1.0])), folder / "stack.nii.gz")
    return {"npz": paths, "stack": folder / "stack.nii.gz", "sims": sims}


@pytest.fixture(scope="module")
def cluster():
    """The scheduler address of one local cluster of 2 workers as ``batch --workers 2`` starts it,
    shared by the tests through ``--scheduler`` (each start costs seconds: workers import PyTorch)."""
    with dask_client(None, 2) as client:
        assert list(client.nthreads().values()) == [1, 1]
        yield client.scheduler_info()["address"]


def batch(*args, scheduler: str) -> int:
    return main(["batch", *map(str, args), "--adapt", "0", "--quiet", "--scheduler", scheduler])


def ring(sim) -> str:
    cx, cy = sim.lv_centre
    return f"{cx:.2f},{cy:.2f},6,11"


def read_csv_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_tracks_every_slice_as_track_does(tmp_path, scans, cluster, capsys):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"input,lv\n{scans['npz'][1]},\"{ring(scans['sims'][1])}\"\n")
    out = tmp_path / "batch"
    assert batch(scans["npz"][0], scans["stack"], manifest, "--out", out, scheduler=cluster) == 0
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["folder"]) == ["sim_0/slice_00", "stack/slice_00", "stack/slice_01", "sim_1/slice_00"]
    assert list(summary["slice"]) == [0, 0, 1, 0] and (summary["status"] == "ok").all()
    assert not summary["resumed"].any() and summary["error"].isna().all()
    assert (summary["frames"] == FRAMES).all() and (summary["seconds"] > 0).all()
    assert [row["folder"] for row in read_csv_rows(out / "summary.csv")] == list(summary["folder"])
    # slice 1 of the stack equals a direct track of that slice
    direct = tmp_path / "direct"
    assert main(["track", str(scans["stack"]), "--slice", "1", "--adapt", "0", "--out", str(direct)]) == 0
    ours, theirs = np.load(out / "stack/slice_01/fields.npz"), np.load(direct / "fields.npz")
    for name in ("inf_forward", "lagrangian", "lagrangian_jacobian"):
        np.testing.assert_allclose(ours[name], theirs[name], atol=1e-5, equal_nan=True)
    # strain only where a myocardium is given, and as deeptag strain computes it
    assert summary["E_cc_peak_pct"].isna().tolist() == [True, True, True, False]
    direct_sim = tmp_path / "direct_sim"
    assert main(["track", str(scans["npz"][1]), "--adapt", "0", "--out", str(direct_sim)]) == 0
    assert main(["strain", str(direct_sim), "--lv", ring(scans["sims"][1])]) == 0
    peaks = {(r["region"], r["quantity"]): float(r["peak"]) for r in read_csv_rows(direct_sim / "strain/peaks.csv")}
    assert summary["E_cc_peak_pct"].iloc[3] == pytest.approx(peaks[("global", "E_cc")], abs=1e-3)
    segments = pd.read_parquet(out / "segments.parquet")
    assert list(segments["segment"]) == [7, 8, 9, 10, 11, 12] and set(segments["folder"]) == {"sim_1/slice_00"}
    assert segments["E_rr_peak_pct"].tolist() == pytest.approx([peaks[(str(s), "E_rr")] for s in range(7, 13)],
                                                               abs=1e-3)
    assert "4 slice(s): 4 tracked, 0 already done, 0 failed" in capsys.readouterr().out


def test_second_run_skips_finished_slices_and_retries_failed_ones(tmp_path, scans, cluster):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = shutil.copy(scans["npz"][0], inputs / "good.npz")
    late = inputs / "late.npz"
    late.write_bytes(b"not yet an npz file")
    out = tmp_path / "batch"
    assert batch(good, late, "--out", out, scheduler=cluster) == 1
    first = pd.read_csv(out / "summary.csv")
    assert list(first["status"]) == ["ok", "failed"] and not (out / "late").exists()
    assert "late.npz" in first["error"][1]
    kept = (out / "good/slice_00/fields.npz").stat().st_mtime_ns
    shutil.copy(scans["npz"][1], late)
    assert batch(good, late, "--out", out, scheduler=cluster) == 0
    second = pd.read_csv(out / "summary.csv")
    assert list(second["status"]) == ["ok", "ok"] and list(second["resumed"]) == [True, False]
    assert second["seconds"][0] == first["seconds"][0]
    assert (out / "good/slice_00/fields.npz").stat().st_mtime_ns == kept


def test_a_dicom_study_gets_every_slice_of_every_series(tmp_path, cluster):
    study, short_axis, long_axis = tmp_path / "study", "1.2.826.0.1.3680043.8.498.11", "1.2.826.0.1.3680043.8.498.12"
    normal = np.array([-0.8, 0.0, -0.6])  # of io_helpers' oblique plane
    for k in range(2):
        write_dicom_series(study / "sax", tagged_sequence(seed=k), series_uid=short_axis, seed=k,
                           position=tuple(np.array(POSITION) + 8 * k * normal))
    write_dicom_series(study / "lax", tagged_sequence(seed=5), series_uid=long_axis, seed=5, description="4ch")
    out = tmp_path / "batch"
    assert batch(study, "--out", out, scheduler=cluster) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["folder"]) == [f"study/{short_axis}/slice_00", f"study/{short_axis}/slice_01",
                                       f"study/{long_axis}/slice_00"]
    assert list(summary["series"]) == [short_axis, short_axis, long_axis] and (summary["status"] == "ok").all()
    direct = tmp_path / "direct"
    assert main(["track", str(study), "--series", long_axis, "--adapt", "0", "--out", str(direct)]) == 0
    np.testing.assert_allclose(np.load(out / f"study/{long_axis}/slice_00/fields.npz")["lagrangian"],
                               np.load(direct / "fields.npz")["lagrangian"], atol=1e-5, equal_nan=True)


def test_a_corrupt_input_fails_alone(tmp_path, scans, cluster, capsys):
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(scans["stack"].read_bytes()[:300])
    out = tmp_path / "batch"
    assert batch(scans["npz"][0], corrupt, scans["npz"][2], "--out", out, scheduler=cluster) == 1
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["status"]) == ["ok", "failed", "ok"]
    assert str(corrupt) in summary["error"].iloc[1] and summary["error"].isna().tolist() == [True, False, True]
    assert f"failed: {corrupt}" in capsys.readouterr().err


def test_report_writes_each_slices_report(tmp_path, scans, cluster):
    out = tmp_path / "batch"
    assert batch(scans["npz"][2], "--out", out, "--report", scheduler=cluster) == 0
    assert "<html" in (out / "sim_2/slice_00/report.html").read_text()
    assert any((out / "sim_2/slice_00/pictures").iterdir())


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--adapt", "-1"], "--adapt must be"),
    (["--slice", "x"], "--slice must be"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers sizes the local cluster"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, scans, capsys, args, message):
    assert main(["batch", str(scans["npz"][0]), "--out", str(tmp_path / "b"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deeptag: error: ") and message in err[0]
    assert not (tmp_path / "b").exists()


def test_manifest_cells_override_the_command_line_settings(tmp_path):
    (tmp_path / "scans").mkdir()
    for name in ("a.npz", "b.npz"):
        (tmp_path / "scans" / name).touch()
    manifest = tmp_path / "m.csv"
    manifest.write_text("input,slice,mask,rv,roi\nscans/a.npz,3,masks/a.nii.gz,,\nscans/b.npz,all,,\"5,6\",auto\n")
    defaults = Scan(Path(), slice=1, roi="0,0,40,40", myocardium={"ring": "20,20,5,9", "level": "basal"})
    a, b = collect_scans([manifest], defaults)
    assert (a.path, a.name, a.slice, a.roi) == (tmp_path / "scans/a.npz", "a", 3, "0,0,40,40")
    assert a.myocardium == {"mask": tmp_path / "masks/a.nii.gz", "level": "basal"}
    assert (b.slice, b.roi, b.myocardium) == (None, "auto", {"ring": "20,20,5,9", "level": "basal", "rv": "5,6"})


def test_a_bad_manifest_exits_2(tmp_path, scans, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"input,slices\n{scans['npz'][0]},1\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "b")]) == 2
    assert "unknown column(s): slices" in capsys.readouterr().err


def kill_first_busy_worker(address: str, killed: list, stop: threading.Event) -> None:
    """Kill (SIGKILL) the first worker seen tracking a slice; record its pid in ``killed``."""
    with distributed.Client(address, timeout="30s") as client:
        pids = client.run(os.getpid)
        while not stop.is_set():
            busy = [worker for worker, keys in client.processing().items()
                    if any(str(key).startswith("track_slice") for key in keys)]
            if busy:
                time.sleep(0.1)  # into the task
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])
                return
            time.sleep(0.05)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path, scans, cluster):
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_first_busy_worker, args=(cluster, killed, stop))
    killer.start()
    out = tmp_path / "batch"
    try:
        code = main(["batch", *map(str, scans["npz"]), str(scans["stack"]), "--out", str(out), "--adapt", "0",
                     "--quiet", "--scheduler", cluster])
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed"
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 5 and summary["folder"].is_unique and (summary["status"] == "ok").all()
    assert sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/slice_*/fields.npz")) == \
        sorted(summary["folder"])
