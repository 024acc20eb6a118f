"""A corpus of bad inputs: each ends with exit code 2, one line on stderr naming the file and the
problem, no traceback and no output folder; and a path with spaces and accents works."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pydicom
import pytest
from io_helpers import model_path, tagged_sequence, write_dicom_series, write_nifti, write_npz  # noqa: F401

from deeptag.cli import main

IMAGES = tagged_sequence(frames=4, height=32, width=32)


@dataclass
class BadInput:
    """``build(folder)`` makes the input and returns the arguments after ``track`` and the path the
    message must name (``None`` for a bad option, which names no file); ``problem`` is a regex."""

    name: str
    build: Callable[[Path], tuple[list[str], Path | None]]
    problem: str


def series(folder: Path, images: np.ndarray = IMAGES, **options) -> list[Path]:
    """A DICOM series in ``folder/series``; returns its files."""
    return write_dicom_series(folder / "series", images, **options)


def series_folder(folder: Path, images: np.ndarray = IMAGES, **options) -> Path:
    series(folder, images, **options)
    return folder / "series"


def edit_dicom(path: Path, change: Callable[[pydicom.Dataset], None]) -> Path:
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path)
    return path


def truncate(path: Path, keep: float | int) -> Path:
    """Cut ``path`` to ``keep`` bytes (an int) or to that fraction of its size (a float)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep if isinstance(keep, int) else int(len(data) * keep)])
    return path


def text_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("these are not the pixels you are looking for\n")
    return path


def empty_folder(path: Path) -> Path:
    path.mkdir()
    return path


def frames_folder(folder: Path, shapes: list[tuple[int, int]]) -> Path:
    """PNG frames f0.png, f1.png, ... of the given (rows, columns) sizes."""
    (folder / "frames").mkdir()
    for t, (rows, columns) in enumerate(shapes):
        frame = (IMAGES[t % len(IMAGES), :rows, :columns] // 16).astype(np.uint8)
        iio.imwrite(folder / "frames" / f"f{t}.png", frame)
    return folder / "frames"


def npz(folder: Path, images: np.ndarray, name: str = "scan.npz") -> Path:
    write_npz(folder / name, images, times=np.arange(len(images)) * 40.0)
    return folder / name


def nifti(folder: Path, images: np.ndarray, name: str = "scan.nii.gz") -> Path:
    write_nifti(folder / name, images)
    return folder / name


def points_file(folder: Path, points: list[list[float]]) -> Path:
    np.save(folder / "points.npy", np.array(points, dtype=np.float32))
    return folder / "points.npy"


def one(path: Path, *options: str) -> tuple[list[str], Path]:
    """Arguments for input ``path`` (plus options), and ``path`` as the file the message must name."""
    return [str(path), *options], path


def named(path: Path, *options: str, culprit: Path | None) -> tuple[list[str], Path | None]:
    """Arguments for input ``path``, when the message must name another file (or none)."""
    return [str(path), *options], culprit


def _dicom_series_with(folder: Path, change: Callable[[pydicom.Dataset], None]) -> tuple[list[str], Path]:
    files = series(folder)
    return named(folder / "series", culprit=edit_dicom(files[2], change))


def _mixed_sizes(folder: Path) -> tuple[list[str], Path]:
    series(folder, series_uid="1.2.3")
    odd = write_dicom_series(folder / "series", IMAGES[:1, :24, :32], series_uid="1.2.3", seed=5)[0]
    return named(folder / "series", culprit=odd)


def _mixed_series(folder: Path) -> tuple[list[str], Path]:
    series(folder, series_uid="1.2.3")
    return one(series_folder(folder, series_uid="1.2.4", seed=1))


def _huge_nifti(folder: Path) -> tuple[list[str], Path]:
    nib.save(nib.Nifti1Image(np.zeros((4096, 4096, 2), np.uint8), np.eye(4)), folder / "huge.nii.gz")
    return one(folder / "huge.nii.gz")


def _huge_dicom(folder: Path) -> tuple[list[str], Path]:
    files = series(folder)
    edit_dicom(files[0], lambda ds: setattr(ds, "Rows", 4096) or setattr(ds, "Columns", 4096))
    return named(folder / "series", culprit=files[0])


def _no_pixels(ds: pydicom.Dataset) -> None:
    del ds.PixelData


def _colour(ds: pydicom.Dataset) -> None:
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.repeat(IMAGES[0, ..., None] // 16, 3, axis=-1).astype(np.uint8).tobytes()


def _with_pixel(value: float) -> Callable[[Path], tuple[list[str], Path]]:
    def build(folder: Path) -> tuple[list[str], Path]:
        images = IMAGES.astype(np.float32)
        images[2, 5, 7] = value
        return one(nifti(folder, images))
    return build


def _folder_without_dicom(folder: Path) -> tuple[list[str], Path]:
    text_file(folder / "d" / "README")
    text_file(folder / "d" / "notes.doc")
    return one(folder / "d")


def _folder_named_like_a_file(folder: Path) -> tuple[list[str], Path]:
    (folder / "scan.nii.gz").mkdir()
    return one(folder / "scan.nii.gz")


def _chmod_000(folder: Path) -> tuple[list[str], Path]:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode; 'folder-named-like-a-file' covers unreadable paths")
    path = npz(folder, IMAGES)
    path.chmod(0)
    return one(path)


def _broken_link(folder: Path) -> tuple[list[str], Path]:
    (folder / "link.nii.gz").symlink_to(folder / "gone.nii.gz")
    return one(folder / "link.nii.gz")


def _npz_without_images(folder: Path) -> tuple[list[str], Path]:
    np.savez(folder / "x.npz", frames=IMAGES)
    return one(folder / "x.npz")


def _npz_with_a_bad_stored_roi(folder: Path) -> tuple[list[str], Path]:
    np.savez(folder / "x.npz", images=IMAGES, roi=np.array([0, 0, 4000, 30]))
    return one(folder / "x.npz")


def _nifti_without_time(folder: Path) -> tuple[list[str], Path]:
    nib.save(nib.Nifti1Image(IMAGES[0].T, np.eye(4)), folder / "one.nii")
    return one(folder / "one.nii")


def _point_outside_roi(folder: Path) -> tuple[list[str], Path]:
    points = points_file(folder, [[5, 5], [25, 5]])
    return named(npz(folder, IMAGES), "--roi", "0,0,20,20", "--points", str(points), culprit=points)


def _points_csv_without_xy(folder: Path) -> tuple[list[str], Path]:
    points = text_file(folder / "points.csv")
    return named(npz(folder, IMAGES), "--points", str(points), culprit=points)


def _points_with_all_slices(folder: Path) -> tuple[list[str], Path]:
    points = points_file(folder, [[5, 5]])
    return named(nifti(folder, np.stack([IMAGES, IMAGES])), "--slice", "all", "--points", str(points), culprit=points)


def _missing_model(folder: Path) -> tuple[list[str], Path]:
    return named(npz(folder, IMAGES), "--model", str(folder / "nope.pt"), culprit=folder / "nope.pt")


def _out_exists(folder: Path) -> tuple[list[str], Path]:
    (folder / "out").mkdir()
    (folder / "out" / "earlier.txt").write_text("an earlier result\n")
    return named(npz(folder, IMAGES), culprit=folder / "out")


STACK = np.stack([IMAGES, IMAGES])
THIRD_FRAME_BLANK = np.where(np.arange(len(IMAGES))[:, None, None] == 2, 0, IMAGES).astype(IMAGES.dtype)
CORPUS = [
    BadInput("missing-file", lambda f: one(f / "nothing.nii.gz"), "no such file"),
    BadInput("broken-symlink", _broken_link, "no such file"),
    BadInput("empty-folder", lambda f: one(empty_folder(f / "empty")), "holds no files"),
    BadInput("folder-of-hidden-files", lambda f: one(text_file(f / "d" / ".DS_Store").parent), "holds no files"),
    BadInput("folder-without-dicom", _folder_without_dicom, "no DICOM images found"),
    BadInput("truncated-dicom-file", lambda f: one(truncate(series(f)[0], 0.6)), "pixel data cannot be decoded"),
    BadInput("truncated-dicom-header", lambda f: one(truncate(series(f)[0], 300)), "without pixel data.*truncated"),
    BadInput("truncated-dicom-in-series",
             lambda f: named(f / "series", culprit=truncate(series(f)[1], 0.6)), "pixel data cannot be decoded"),
    BadInput("dicom-without-pixel-data", lambda f: one(edit_dicom(series(f)[0], _no_pixels)), "without pixel data"),
    BadInput("dicom-without-pixel-data-in-series", lambda f: _dicom_series_with(f, _no_pixels), "without pixel data"),
    BadInput("mixed-series", _mixed_series, r"2 DICOM series.*1\.2\.3 .*1\.2\.4 "),
    BadInput("unknown-series", lambda f: one(series_folder(f), "--series", "9.9.9"), "no DICOM series '9.9.9'"),
    BadInput("series-option-on-npz", lambda f: one(npz(f, IMAGES), "--series", "1.2.3"), "--series applies to DICOM"),
    BadInput("mixed-frame-sizes-dicom", _mixed_sizes, "frame size 24x32 differs"),
    BadInput("single-frame-dicom", lambda f: one(series_folder(f, IMAGES[:1])), "at least 2 frames"),
    BadInput("single-frame-npz", lambda f: one(npz(f, IMAGES[:1])), "at least 2 frames"),
    BadInput("single-png-file", lambda f: one(frames_folder(f, [(32, 32)]) / "f0.png"), "a single image is not"),
    BadInput("frames-folder-single-frame", lambda f: one(frames_folder(f, [(32, 32)])), "at least 2 frames"),
    BadInput("frames-folder-mixed-sizes", lambda f: named(frames_folder(f, [(32, 32), (32, 32), (20, 32)]),
                                                          culprit=f / "frames" / "f2.png"), "frame size 20x32 differs"),
    BadInput("nifti-3d-t-without-slice", lambda f: one(nifti(f, STACK)), r"--slice K \(0 to 1\)"),
    BadInput("nifti-slice-out-of-range", lambda f: one(nifti(f, STACK), "--slice", "7"), "no slice 7"),
    BadInput("slice-not-a-number", lambda f: named(nifti(f, IMAGES), "--slice", "middle", culprit=None),
             "--slice must be"),
    BadInput("nifti-4096x4096", _huge_nifti, "4096x4096 pixels are larger than 2048"),
    BadInput("dicom-4096x4096", _huge_dicom, "4096x4096 pixels are larger than 2048"),
    BadInput("all-zero-npz", lambda f: one(npz(f, np.zeros_like(IMAGES))), "constant"),
    BadInput("all-zero-dicom-frame", lambda f: one(series_folder(f, THIRD_FRAME_BLANK)),
             r"frame\(s\) \[2\] are constant"),
    BadInput("nan-pixels-nifti", _with_pixel(np.nan), "NaN"),
    BadInput("infinite-pixels-nifti", _with_pixel(np.inf), "NaN or infinite"),
    BadInput("nan-pixels-npz", lambda f: one(npz(f, np.where(IMAGES > 400, np.nan, IMAGES))), "NaN"),
    BadInput("text-named-png-in-frames", lambda f: named(frames_folder(f, [(32, 32)] * 3),
                                                         culprit=text_file(f / "frames" / "f1.png")),
             "not a readable image"),
    BadInput("text-named-nii-gz", lambda f: one(text_file(f / "scan.nii.gz")), "not a readable NIfTI"),
    BadInput("text-named-nii", lambda f: one(text_file(f / "scan.nii")), "not a readable NIfTI"),
    BadInput("text-named-tif", lambda f: one(text_file(f / "scan.tif")), "not a readable TIF file"),
    BadInput("text-named-gif", lambda f: one(text_file(f / "scan.gif")), "not a readable GIF file"),
    BadInput("text-named-dcm", lambda f: one(text_file(f / "scan.dcm")), "not a DICOM file"),
    BadInput("text-named-npz", lambda f: one(text_file(f / "scan.npz")), "not a readable .npz"),
    BadInput("truncated-nifti", lambda f: one(truncate(nifti(f, IMAGES.astype(np.float32)), 0.5)), "cannot be read"),
    BadInput("folder-named-like-a-file", _folder_named_like_a_file, "is a folder"),
    BadInput("unreadable-file-chmod-000", _chmod_000, "not a readable|cannot read"),
    BadInput("unsupported-suffix", lambda f: one(text_file(f / "scan.mat")), "unsupported input format '.mat'"),
    BadInput("frames-too-small", lambda f: one(npz(f, IMAGES[:, :4, :4])), "too small"),
    BadInput("npz-without-images", _npz_without_images, "no 'images' array"),
    BadInput("npz-stored-roi-outside-frame", _npz_with_a_bad_stored_roi, "stored 'roi': the region of interest"),
    BadInput("nifti-2d-without-time", _nifti_without_time, r"expected 2D\+t"),
    BadInput("colour-dicom", lambda f: _dicom_series_with(f, _colour), "colour DICOM"),
    BadInput("roi-not-numbers", lambda f: named(npz(f, IMAGES), "--roi", "heart", culprit=None), "--roi must be"),
    BadInput("roi-outside-frame", lambda f: named(npz(f, IMAGES), "--roi", "0,0,40,32", culprit=None),
             "region of interest 0,0,40,32"),
    BadInput("point-outside-roi", _point_outside_roi, r"point 1 at \(25, 5\)"),
    BadInput("points-csv-without-xy", _points_csv_without_xy, "columns x and y"),
    BadInput("points-with-all-slices", _points_with_all_slices, "--points needs one slice"),
    BadInput("missing-model", _missing_model, "model file not found"),
    BadInput("output-exists", _out_exists, "exists already; pass --force"),
]


def test_the_corpus_is_large_and_named_uniquely():
    names = [case.name for case in CORPUS]
    assert len(names) >= 30 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_bad_input_gives_exit_code_2_and_one_line(case, tmp_path, capsys, model_path):
    args, named = case.build(tmp_path)
    out = tmp_path / "out"
    existing = sorted(out.rglob("*")) if out.exists() else None
    code = main(["track", "--adapt", "0", *args, "--out", str(out), "--model", str(model_path)]
                if "--model" not in args else ["track", "--adapt", "0", *args, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("deeptag: error: ")
    assert "Traceback" not in captured.err and captured.out == ""
    assert re.search(case.problem, lines[0]), lines[0]
    if named is not None:
        assert f"{named}: " in lines[0], lines[0]
    assert (sorted(out.rglob("*")) if out.exists() else None) == existing  # nothing written or removed
    assert not list(tmp_path.glob(".out.*")), "a partial output folder was left behind"


@pytest.mark.parametrize("case", [c for c in CORPUS if c.name in ("mixed-series", "truncated-dicom-in-series")],
                         ids=lambda c: c.name)
def test_bad_input_through_the_installed_command(case, tmp_path, model_path):
    args, named = case.build(tmp_path)
    run = subprocess.run([sys.executable, "-m", "deeptag", "track", "--adapt", "0", *args, "--out", str(tmp_path / "out"),
                          "--model", str(model_path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{named}: " in lines[0] and re.search(case.problem, lines[0]), run.stderr
    assert not (tmp_path / "out").exists()


def test_a_path_with_spaces_and_accents_works(tmp_path, capsys, model_path):
    folder = tmp_path / "Patiënt Ünal" / "séries cœur 3"
    write_dicom_series(folder, IMAGES)
    out = tmp_path / "résultats ü"
    points = points_file(tmp_path, [[10, 12], [20.5, 16]])
    assert main(["track", "--adapt", "0", str(folder), "--out", str(out), "--points", str(points), "--model", str(model_path)]) == 0
    assert str(out) in capsys.readouterr().out
    tracks = np.load(out / "tracks.npy")
    assert tracks.shape == (len(IMAGES), 2, 2) and np.isfinite(tracks).all()
    assert (out / "deformation_matrix_x.nii.gz").is_file()
