"""``deeptag track`` on real files: DICOM, NIfTI and image stacks track exactly like the same frames in an
``.npz``, and the results land on the input's voxels with its geometry."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest
import tifffile
from io_helpers import (SPACING, model_path, tagged_sequence, write_dicom_series, write_enhanced_dicom,  # noqa: F401
                        write_nifti, write_npz)

from deeptag.checkpoint import load_model
from deeptag.cli import main
from deeptag.io import read_sequence
from deeptag.preprocess import GridMapping
from deeptag.track import track_sequence

IMAGES = tagged_sequence(frames=5, height=64, width=64)
POINTS = np.array([[20.0, 30.0], [32.0, 32.0], [40.5, 25.25], [45.0, 44.0]], dtype=np.float32)
TOLERANCE = 1e-3  # pixels


def track(args: list[str], out: Path, model: Path, points: Path | None = None) -> Path:
    extra = ["--points", str(points)] if points else []
    assert main(["track", "--adapt", "0", *args, "--out", str(out), "--model", str(model), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def points_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("points") / "points.npy"
    np.save(path, POINTS)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model_path, points_path) -> Path:
    """The result of tracking the frames from an ``.npz``."""
    folder = tmp_path_factory.mktemp("reference")
    write_npz(folder / "frames.npz", IMAGES)
    return track([str(folder / "frames.npz")], folder / "out", model_path, points_path)


def assert_same_tracks(result: Path, reference: Path) -> None:
    tracks, expected = np.load(result / "tracks.npy"), np.load(reference / "tracks.npy")
    assert np.abs(expected - expected[0]).max() > 0.05  # the model does move the points
    np.testing.assert_allclose(tracks, expected, atol=TOLERANCE, rtol=0)


def test_dicom_series_in_a_folder_with_another_series_tracks_like_the_npz(tmp_path, model_path, points_path, reference):
    write_dicom_series(tmp_path / "study", IMAGES, series_uid="1.2.826.0.1.3680043.8.498.77")
    write_dicom_series(tmp_path / "study" / "localiser", IMAGES[:3, :40], series_uid="1.2.826.0.1.3680043.8.498.78",
                       description="localiser", seed=3)
    out = track([str(tmp_path / "study"), "--series", "1.2.826.0.1.3680043.8.498.77"], tmp_path / "out",
                model_path, points_path)
    assert_same_tracks(out, reference)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["format"] == "dicom" and summary["series"] == "1.2.826.0.1.3680043.8.498.77"
    assert summary["spacing_mm"] == list(SPACING) and summary["frame_times_ms"] == [0, 40, 80, 120, 160]


def test_enhanced_dicom_tracks_like_the_npz(tmp_path, model_path, points_path, reference):
    write_enhanced_dicom(tmp_path / "enhanced.dcm", IMAGES)
    assert_same_tracks(track([str(tmp_path / "enhanced.dcm")], tmp_path / "out", model_path, points_path), reference)


def test_nifti_2d_t_tracks_like_the_npz(tmp_path, model_path, points_path, reference):
    write_nifti(tmp_path / "cine.nii.gz", IMAGES)
    assert_same_tracks(track([str(tmp_path / "cine.nii.gz")], tmp_path / "out", model_path, points_path), reference)


def test_nifti_3d_t_slice_tracks_like_the_npz_and_all_slices_get_a_folder_each(tmp_path, model_path, points_path,
                                                                                 reference):
    write_nifti(tmp_path / "stack.nii.gz", np.stack([IMAGES[:, ::-1], IMAGES]))
    assert_same_tracks(track([str(tmp_path / "stack.nii.gz"), "--slice", "1"], tmp_path / "one", model_path,
                             points_path), reference)
    every = track([str(tmp_path / "stack.nii.gz"), "--slice", "all"], tmp_path / "all", model_path)
    assert sorted(p.name for p in every.iterdir()) == [".deeptag", "slice_00", "slice_01"]  # and the marker
    with np.load(every / "slice_01" / "fields.npz") as fields, np.load(reference / "fields.npz") as expected:
        np.testing.assert_allclose(fields["lagrangian"], expected["lagrangian"], atol=1e-4)
    assert json.loads((every / "slice_00" / "summary.json").read_text())["slice"] == 0


def test_tiff_gif_and_png_frames_track_like_the_npz(tmp_path, model_path, points_path):
    frames = (IMAGES // 16).astype(np.uint8)
    write_npz(tmp_path / "frames.npz", frames)
    expected = track([str(tmp_path / "frames.npz")], tmp_path / "npz", model_path, points_path)
    tifffile.imwrite(tmp_path / "frames.tif", frames)
    iio.imwrite(tmp_path / "frames.gif", frames, loop=0)
    (tmp_path / "png").mkdir()
    for t, frame in enumerate(frames):
        iio.imwrite(tmp_path / "png" / f"frame{t + 8}.png", frame)  # frame8 .. frame12: natural order
    for name in ("frames.tif", "frames.gif", "png"):
        assert_same_tracks(track([str(tmp_path / name)], tmp_path / f"out-{name}", model_path, points_path), expected)


def test_lagrangian_nifti_holds_the_fields_on_the_dicom_voxels(tmp_path, model_path, points_path):
    write_dicom_series(tmp_path / "series", IMAGES)
    out = track([str(tmp_path / "series")], tmp_path / "out", model_path, points_path)
    sequence = read_sequence(tmp_path / "series")
    with np.load(out / "fields.npz") as fields:
        lagrangian, jacobian = fields["lagrangian"], fields["lagrangian_jacobian"]
    for axis, channel in (("x", 1), ("y", 0)):
        image = nib.load(out / f"deformation_matrix_{axis}.nii.gz")
        np.testing.assert_allclose(image.affine, sequence.affine, atol=1e-6)
        assert image.header.get_zooms()[3] == pytest.approx(40.0)
        data = np.asarray(image.dataobj)
        assert data.shape == (64, 64, 1, 5)
        assert np.all(data[..., 0] == 0)  # frame 0 is the identity
        np.testing.assert_array_equal(data[:, :, 0, 1:].transpose(2, 1, 0), lagrangian[:, channel])
        in_mm = np.asarray(nib.load(out / f"deformation_matrix_{axis}_mm.nii.gz").dataobj)
        np.testing.assert_allclose(in_mm, data * SPACING[channel], rtol=1e-6)
    det = np.asarray(nib.load(out / "jacobian_lagrangian.nii.gz").dataobj)[:, :, 0].transpose(2, 1, 0)
    np.testing.assert_array_equal(det[1:], jacobian)
    assert np.all(det[0] == 1) and np.isfinite(jacobian).all() and np.abs(jacobian - 1).max() > 1e-3


def test_tracks_csv_gives_pixels_mm_and_trigger_times(tmp_path, model_path, points_path):
    write_dicom_series(tmp_path / "series", IMAGES, times=np.array([10.0, 52.5, 95.0, 137.5, 180.0]))
    out = track([str(tmp_path / "series")], tmp_path / "out", model_path, points_path)
    with open(out / "tracks.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 * len(POINTS)
    tracks = np.load(out / "tracks.npy")
    last = rows[-1]
    assert (int(last["frame"]), int(last["point"]), float(last["time_ms"])) == (4, 3, 180.0)
    assert float(last["x_px"]) == pytest.approx(tracks[4, 3, 0], abs=1e-4)
    assert float(last["x_mm"]) == pytest.approx(tracks[4, 3, 0] * SPACING[1], abs=1e-3)
    assert float(last["y_mm"]) == pytest.approx(tracks[4, 3, 1] * SPACING[0], abs=1e-3)


def test_roi_box_is_tracked_and_mapped_back_to_the_input_grid(tmp_path, model_path, points_path):
    write_npz(tmp_path / "frames.npz", IMAGES)
    out = track([str(tmp_path / "frames.npz"), "--roi", "12,10,56,54"], tmp_path / "out", model_path, points_path)
    model, _ = load_model(model_path)
    sequence = read_sequence(tmp_path / "frames.npz")
    expected = track_sequence(sequence, model, POINTS, mapping=GridMapping((12, 10, 56, 54)), adapt=None)
    np.testing.assert_allclose(np.load(out / "tracks.npy"), expected.tracks, atol=1e-5)
    with np.load(out / "fields.npz") as fields:
        lagrangian = fields["lagrangian"]
    assert np.isfinite(lagrangian[:, :, 10:54, 12:56]).all()
    assert np.isnan(lagrangian[:, :, :10]).all() and np.isnan(lagrangian[:, :, :, 56:]).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["network_roi_xyxy"] == [12, 10, 56, 54] and summary["roi"] == "12,10,56,54"


def test_force_replaces_an_earlier_result(tmp_path, model_path):
    write_npz(tmp_path / "frames.npz", IMAGES)
    out = tmp_path / "out"
    assert main(["track", "--adapt", "0", str(tmp_path / "frames.npz"), "--out", str(out), "--model", str(model_path)]) == 0
    (out / "stale.txt").write_text("old\n")
    assert main(["track", "--adapt", "0", str(tmp_path / "frames.npz"), "--out", str(out), "--model", str(model_path), "--force"]) == 0
    assert not (out / "stale.txt").exists() and (out / "fields.npz").is_file()


def test_end_to_end_as_a_user_types_it(tmp_path, model_path, points_path):
    command = shutil.which("deeptag") or str(Path(sys.executable).parent / "deeptag")
    if not Path(command).is_file():
        pytest.skip("the deeptag command is not installed in this environment")
    write_dicom_series(tmp_path / "DICOM" / "SE0004", IMAGES)
    (tmp_path / "DICOM" / "DICOMDIR.txt").write_text("index\n")
    run = subprocess.run([command, "track", "--adapt", "0", str(tmp_path / "DICOM"), "--out", str(tmp_path / "result"),
                          "--points", str(points_path), "--model", str(model_path)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert "tracked 5 frames" in run.stdout
    names = {p.name for p in (tmp_path / "result").iterdir()}
    assert {"tracks.csv", "tracks.npy", "fields.npz", "summary.json", "deformation_matrix_x.nii.gz",
            "deformation_matrix_y.nii.gz"} <= names
    assert np.load(tmp_path / "result" / "tracks.npy").shape == (5, len(POINTS), 2)
