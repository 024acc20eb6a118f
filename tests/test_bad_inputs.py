"""A corpus of bad inputs for every command: each ends with exit code 2, one line on stderr naming the file
(or option) and the problem, no traceback, and nothing written, changed or removed; and a path with spaces
and accents works."""
from __future__ import annotations

import os
import re
import shutil
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


# ---------------------------------------------------------------------------------------------------------
# Every other command, and track's options and output folder: the whole command line is given.


@pytest.fixture(scope="session")
def track_result(tmp_path_factory, model_path) -> Path:
    """A small ``deeptag track`` result folder (4 frames of 32x32), copied by the cases that need one."""
    folder = tmp_path_factory.mktemp("result")
    write_npz(folder / "scan.npz", IMAGES)
    assert main(["track", "--adapt", "0", str(folder / "scan.npz"), "--out", str(folder / "result"),
                 "--model", str(model_path)]) == 0
    return folder / "result"


@dataclass
class Shared:
    model: Path
    result: Path

    def copy_result(self, folder: Path) -> Path:
        shutil.copytree(self.result, folder / "result")
        return folder / "result"


@dataclass
class CommandCase:
    """``build(folder, shared)`` makes the inputs and returns the whole command line and the path the
    message must name (``None`` for a bad option); ``problem`` is a regex. The command runs in
    ``folder/cwd`` with ``HOME`` at ``folder/home``."""

    name: str
    build: Callable[[Path, Shared], tuple[list[str], Path | None]]
    problem: str


def user_folder(path: Path) -> Path:
    """A folder of the user's, holding a file deeptag must never touch."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "mine.txt").write_text("precious\n")
    return path


def scan(folder: Path, images: np.ndarray = IMAGES) -> str:
    return str(npz(folder, images))


def with_landmarks(folder: Path) -> str:
    landmarks = np.repeat(np.array([[[10.0, 12.0], [20.0, 16.0]]], np.float32), len(IMAGES), axis=0)
    np.savez(folder / "marked.npz", images=IMAGES.astype(np.float32), landmarks=landmarks)
    return str(folder / "marked.npz")


def track_case(*options: str, culprit: Callable[[Path], Path] | None = None, out: str | None = None):
    def build(folder: Path, shared: Shared) -> tuple[list[str], Path | None]:
        return (["track", scan(folder), "--adapt", "0", "--model", str(shared.model),
                 "--out", out.format(folder=folder) if out else str(folder / "out"), *options],
                culprit(folder) if culprit else None)
    return build


def _duplicate_dicom(folder: Path, shared: Shared) -> tuple[list[str], Path]:
    files = series(folder)
    copy = folder / "series" / "copy_of_first"
    shutil.copy(files[0], copy)
    return ["track", str(folder / "series"), "--adapt", "0", "--model", str(shared.model), "--out",
            str(folder / "out")], None


def _random_bytes_npz(folder: Path, shared: Shared) -> tuple[list[str], Path]:
    (folder / "scan.npz").write_bytes(np.random.default_rng(0).bytes(4000))
    return ["track", str(folder / "scan.npz"), "--adapt", "0", "--out", str(folder / "out")], folder / "scan.npz"


def _pickled_npz(folder: Path, shared: Shared) -> tuple[list[str], Path]:
    np.savez(folder / "scan.npz", images=np.array([{"x": 1}], dtype=object))
    return ["track", str(folder / "scan.npz"), "--adapt", "0", "--out", str(folder / "out")], folder / "scan.npz"


def _out_is_a_file(folder: Path) -> Path:
    (folder / "taken.txt").write_text("a file of the user's\n")
    return folder / "taken.txt"


def _track_force(folder: Path, shared: Shared, out: Path) -> tuple[list[str], Path]:
    return ["track", scan(folder / "cwd"), "--adapt", "0", "--model", str(shared.model), "--out", str(out),
            "--force"], out


def strain_case(*options: str, culprit: Callable[[Path], Path] | None = None, copy: bool = False):
    def build(folder: Path, shared: Shared) -> tuple[list[str], Path | None]:
        result = shared.copy_result(folder) if copy else shared.result
        return ["strain", str(result), *[o.format(folder=folder) for o in options]], \
            culprit(folder) if culprit else None
    return build


def report_case(*options: str, culprit: Callable[[Path], Path] | None = None):
    def build(folder: Path, shared: Shared) -> tuple[list[str], Path | None]:
        return ["report", str(shared.result), "--out", str(folder / "r.html"),
                *[o.format(folder=folder) for o in options]], culprit(folder) if culprit else None
    return build


def _bad_summary(folder: Path, shared: Shared) -> tuple[list[str], Path]:
    result = shared.copy_result(folder)
    (result / "summary.json").write_text("{ not json")
    return ["report", str(result), "--out", str(folder / "r.html")], result / "summary.json"


def _not_a_report(folder: Path, shared: Shared) -> tuple[list[str], Path]:
    (folder / "notes.html").write_text("<html>my notes</html>")
    return ["report", str(shared.result), "--out", str(folder / "notes.html"), "--force"], folder / "notes.html"


def simulate_case(*options: str, culprit: Callable[[Path], Path] | None = None, out: str = "{folder}/sims"):
    def build(folder: Path, shared: Shared) -> tuple[list[str], Path | None]:
        return ["simulate", "--n", "1", "--size", "32", "--frames", "3", "--out", out.format(folder=folder),
                *options], culprit(folder) if culprit else None
    return build


def dataset(folder: Path) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    for k in range(2):
        write_npz(folder / "data" / f"s{k}.npz", tagged_sequence(frames=3, height=32, width=32, seed=k))
    return folder / "data"


def train_case(*options: str, culprit: Callable[[Path], Path] | None = None, out: str = "{folder}/run"):
    def build(folder: Path, shared: Shared) -> tuple[list[str], Path | None]:
        return ["train", str(dataset(folder)), "--out", out.format(folder=folder), "--image-size", "32", "--quiet",
                *[o.format(folder=folder) for o in options]], culprit(folder) if culprit else None
    return build


def benchmark_case(*options: str, culprit: Callable[[Path], Path] | None = None, data=with_landmarks):
    def build(folder: Path, shared: Shared) -> tuple[list[str], Path | None]:
        return ["benchmark", data(folder), "--out", str(folder / "bench"), "--quiet",
                *[o.format(folder=folder) for o in options]], culprit(folder) if culprit else None
    return build


COMMAND_CORPUS = [
    # track: options, models and the output folder
    CommandCase("track-threads-negative", track_case("--threads", "-1"), "--threads must be .*>= 1, got -1"),
    CommandCase("track-threads-zero", track_case("--threads", "0"), "--threads must be .*got 0"),
    CommandCase("track-adapt-negative", track_case("--adapt", "-3"), "--adapt must be"),
    CommandCase("track-device-unknown", track_case("--device", "tpu"), "--device: 'tpu' is not a device"),
    CommandCase("track-roi-negative-without-equals", track_case("--roi", "-10,-10,100,100"),
                "region of interest -10,-10,100,100"),
    CommandCase("track-lv-off-the-frame-with-report", track_case("--lv", "500,500,10,20", "--report"),
                "--lv 500,500,10,20 holds no pixel"),
    CommandCase("track-lv-not-numbers", track_case("--lv", "a,b"), "--lv .*4 comma-separated numbers"),
    CommandCase("track-model-official-without-path", track_case("--model", "official:"), "official: needs the path"),
    CommandCase("track-model-official-given-a-deeptag-checkpoint",
                lambda f, s: (track_case("--model", f"official:{s.model}")(f, s)[0], s.model),
                "is a deeptag checkpoint, not the authors' weights"),
    CommandCase("track-points-file-missing", track_case("--points", "none.npy", culprit=lambda f: Path("none.npy")), "no such points file"),
    CommandCase("track-neither-sequence-nor-example",
                lambda f, s: (["track", "--out", str(f / "out")], None), "give either a SEQUENCE"),
    CommandCase("track-random-bytes-named-npz", _random_bytes_npz, "not a zip archive"),
    CommandCase("track-npz-holding-python-objects", _pickled_npz, "holds Python objects"),
    CommandCase("track-dicom-same-instance-twice", _duplicate_dicom, "same DICOM image"),
    CommandCase("track-out-is-a-file", track_case(out="{folder}/taken.txt", culprit=_out_is_a_file),
                "is a file, not a folder"),
    CommandCase("track-force-on-a-user-folder",
                lambda f, s: _track_force(f, s, user_folder(f / "mine")), "not written by deeptag"),
    CommandCase("track-force-on-the-current-folder",
                lambda f, s: _track_force(f, s, Path(".")), "current folder or one above it"),
    CommandCase("track-force-on-a-parent-of-the-current-folder",
                lambda f, s: _track_force(f, s, Path("..")), "current folder or one above it"),
    CommandCase("track-force-on-the-home-folder",
                lambda f, s: _track_force(f, s, user_folder(f / "home")), "is the home folder"),
    CommandCase("track-force-on-the-folder-of-the-input",
                lambda f, s: (_track_force(f, s, f / "cwd")[0], f / "cwd"), "current folder|holds the input"),
    CommandCase("track-force-on-a-deeptag-result-holding-the-input",
                lambda f, s: (["track", scan(s.copy_result(f)), "--adapt", "0", "--out", str(f / "result"),
                               "--force"], f / "result"), "holds the input"),
    CommandCase("track-out-exists-without-force",
                lambda f, s: (_track_force(f, s, s.copy_result(f))[0][:-1], f / "result"), "exists already"),
    # evaluate
    CommandCase("evaluate-without-landmarks", lambda f, s: (["evaluate", scan(f), "--adapt", "0"], f / "scan.npz"),
                "no 'landmarks'"),
    CommandCase("evaluate-missing-file", lambda f, s: (["evaluate", str(f / "gone.npz")], f / "gone.npz"),
                "no such file"),
    CommandCase("evaluate-threads-zero", lambda f, s: (["evaluate", with_landmarks(f), "--adapt", "0", "--threads",
                                                        "0", "--model", str(s.model)], None), "--threads must be"),
    CommandCase("evaluate-model-official-without-path",
                lambda f, s: (["evaluate", with_landmarks(f), "--adapt", "0", "--model", "official:"], None),
                "official: needs the path"),
    CommandCase("evaluate-slice-not-a-number",
                lambda f, s: (["evaluate", with_landmarks(f), "--slice", "mid"], None), "--slice must be"),
    # strain
    CommandCase("strain-without-a-myocardium", strain_case(), "strain needs the myocardium"),
    CommandCase("strain-missing-result", lambda f, s: (["strain", str(f / "gone"), "--lv", "16,16,4,8"], f / "gone"),
                "no such result folder"),
    CommandCase("strain-folder-that-is-no-result",
                lambda f, s: (["strain", str(user_folder(f / "d")), "--lv", "16,16,4,8"], f / "d"), "no summary.json"),
    CommandCase("strain-lv-off-the-frame", strain_case("--lv", "500,500,10,20", "--out", "{folder}/s"),
                "holds no pixel"),
    CommandCase("strain-lv-not-numbers", strain_case("--lv", "1,2", "--out", "{folder}/s"), "4 comma-separated"),
    CommandCase("strain-mask-missing", strain_case("--mask", "{folder}/mask.nii.gz", "--out", "{folder}/s",
                                                   culprit=lambda f: f / "mask.nii.gz"), "no such|not found"),
    CommandCase("strain-contours-not-json",
                strain_case("--contours", "{folder}/c.json", "--out", "{folder}/s",
                            culprit=lambda f: text_file(f / "c.json")), "JSON|contour"),
    CommandCase("strain-out-is-a-file", strain_case("--lv", "16,16,4,8", "--out", "{folder}/taken.txt",
                                                    culprit=_out_is_a_file), "is a file, not a folder"),
    CommandCase("strain-force-on-a-user-folder",
                strain_case("--lv", "16,16,4,8", "--out", "{folder}/mine", "--force",
                            culprit=lambda f: user_folder(f / "mine")), "not written by deeptag"),
    CommandCase("strain-force-out-the-result-folder-itself",
                lambda f, s: (["strain", str(s.copy_result(f)), "--lv", "16,16,4,8", "--out", str(f / "result"),
                               "--force"], f / "result"), "holds the input"),
    CommandCase("strain-out-exists-without-force",
                strain_case("--lv", "16,16,4,8", "--out", "{folder}/s", culprit=lambda f: empty_folder(f / "s")),
                "exists already; pass --force"),
    # report
    CommandCase("report-fps-zero", report_case("--fps", "0"), "--fps must be a positive number, got 0"),
    CommandCase("report-fps-negative", report_case("--fps", "-3"), "--fps must be a positive number, got -3"),
    CommandCase("report-fps-infinite", report_case("--fps", "inf"), "--fps must be a positive number"),
    CommandCase("report-grid-angle-nan", report_case("--grid-angle", "nan"), "--grid-angle must be a number"),
    CommandCase("report-grid-spacing-zero", report_case("--grid-spacing", "0"), "--grid-spacing must be a positive number"),
    CommandCase("report-grid-offset-not-two-numbers", report_case("--grid-offset", "3"), "--grid-offset"),
    CommandCase("report-lv-off-the-frame", report_case("--lv", "500,500,10,20"), "holds no pixel"),
    CommandCase("report-missing-result", lambda f, s: (["report", str(f / "gone")], f / "gone"),
                "no such result folder"),
    CommandCase("report-unreadable-summary", _bad_summary, "not a readable JSON file"),
    CommandCase("report-out-is-a-folder", report_case(culprit=lambda f: empty_folder(f / "r.html")),
                "report path is a folder"),
    CommandCase("report-out-exists-without-force", report_case(culprit=lambda f: text_file(f / "r.html")),
                "exists already; pass --force"),
    CommandCase("report-force-on-a-file-that-is-no-report", _not_a_report, "is not a deeptag report"),
    CommandCase("report-force-pictures-into-a-user-folder",
                report_case("--pictures", "{folder}/mine", "--force", culprit=lambda f: user_folder(f / "mine")),
                "not written by deeptag"),
    CommandCase("report-sequence-missing", report_case("--sequence", "{folder}/gone.npz",
                                                       culprit=lambda f: f / "gone.npz"), "no such file"),
    # simulate
    CommandCase("simulate-size-10000", simulate_case("--size", "10000"), "--size must be between 32 and 2048"),
    CommandCase("simulate-size-16", simulate_case("--size", "16"), "--size must be between"),
    CommandCase("simulate-n-zero", simulate_case("--n", "0"), "--n must be at least 1"),
    CommandCase("simulate-frames-one", simulate_case("--frames", "1"), "--frames must be between 2"),
    CommandCase("simulate-frames-100000", simulate_case("--frames", "100000"), "--frames must be between 2 and"),
    CommandCase("simulate-jobs-zero", simulate_case("--jobs", "0"), "--jobs must be at least 1"),
    CommandCase("simulate-seed-negative", simulate_case("--seed", "-1"), "--seed must not be negative"),
    CommandCase("simulate-out-is-a-file", simulate_case(out="{folder}/taken.txt", culprit=_out_is_a_file),
                "is a file, not a folder"),
    CommandCase("simulate-force-on-a-user-folder",
                simulate_case("--force", out="{folder}/mine", culprit=lambda f: user_folder(f / "mine")),
                "not written by deeptag"),
    CommandCase("simulate-force-on-the-current-folder", simulate_case("--force", out="."),
                "current folder or one above it"),
    CommandCase("simulate-force-on-the-home-folder",
                simulate_case("--force", out="{folder}/home", culprit=lambda f: user_folder(f / "home")),
                "is the home folder"),
    # train
    CommandCase("train-image-size-17", train_case("--image-size", "17"), "--image-size must be a multiple of 16"),
    CommandCase("train-lr-negative", train_case("--lr", "-1"), "--lr must be a learning rate >= 0, got -1"),
    CommandCase("train-lr-nan", train_case("--lr", "nan"), "--lr must be a learning rate"),
    CommandCase("train-window-1", train_case("--window", "1"), "--window must be at least 2"),
    CommandCase("train-steps-0", train_case("--steps", "0"), "--steps must be at least 1"),
    CommandCase("train-crop-not-a-multiple-of-16", train_case("--crop", "40"), "--crop must be"),
    CommandCase("train-validate-every-0", train_case("--validate-every", "0"), "--validate-every must be"),
    CommandCase("train-max-minutes-negative", train_case("--max-minutes", "-1"), "--max-minutes must be"),
    CommandCase("train-threads-0", train_case("--threads", "0"), "--threads must be at least 1"),
    CommandCase("train-average-1", train_case("--average", "1"), "--average is a decay"),
    CommandCase("train-oversample-count-1", train_case("--oversample", "{folder}/data/s0.npz", "1",
                                                       culprit=lambda f: f / "data" / "s0.npz"), "--oversample"),
    CommandCase("train-init-missing", train_case("--init", "{folder}/gone.pt", culprit=lambda f: f / "gone.pt"),
                "model file not found"),
    CommandCase("train-missing-data", lambda f, s: (["train", str(f / "gone"), "--out", str(f / "run")], f / "gone"),
                "no such file or folder"),
    CommandCase("train-folder-without-sequences",
                lambda f, s: (["train", str(user_folder(f / "d")), "--out", str(f / "run")], f / "d"), "holds no"),
    CommandCase("train-resume-without-a-run", train_case("--resume", culprit=lambda f: f / "run"),
                "nothing to resume"),
    CommandCase("train-out-is-a-file", train_case(out="{folder}/taken.txt", culprit=_out_is_a_file),
                "is a file, not a folder"),
    CommandCase("train-out-a-user-folder", train_case(out="{folder}/mine", culprit=lambda f: user_folder(f / "mine")),
                "holds files of no deeptag run"),
    CommandCase("train-out-the-data-folder", train_case(out="{folder}/data", culprit=lambda f: f / "data"),
                "holds the input"),
    # benchmark
    CommandCase("benchmark-missing-data", lambda f, s: (["benchmark", str(f / "gone"), "--methods", "harp", "--out", str(f / "b")],
                                                        f / "gone"), "no such file or folder"),
    CommandCase("benchmark-data-without-landmarks",
                benchmark_case("--methods", "harp", data=scan, culprit=lambda f: f / "scan.npz"), "no 'landmarks'"),
    CommandCase("benchmark-networks-without-models-or-data", benchmark_case("--methods", "A3"),
                "--models NAME=CHECKPOINT"),
    CommandCase("benchmark-models-entry-without-equals", benchmark_case("--models", "deeptag"), "--models takes"),
    CommandCase("benchmark-adapt-negative", benchmark_case("--methods", "harp", "--adapt", "-1"), "--adapt must be"),
    CommandCase("benchmark-phase-bins-0", benchmark_case("--methods", "harp", "--phase-bins", "0"), "--phase-bins"),
    CommandCase("benchmark-out-is-a-file",
                lambda f, s: (benchmark_case("--methods", "harp")(f, s)[0][:3] + [str(_out_is_a_file(f)), "--quiet",
                                                                                  "--methods", "harp"],
                              f / "taken.txt"), "is a file, not a folder"),
    CommandCase("benchmark-force-on-a-user-folder",
                lambda f, s: (benchmark_case("--methods", "harp")(f, s)[0][:3] + [str(user_folder(f / "mine")),
                                                                                  "--methods", "harp", "--force"],
                              f / "mine"), "not written by deeptag"),
]


def test_the_command_corpus_covers_every_command():
    names = [case.name for case in COMMAND_CORPUS]
    assert len(set(names)) == len(names) and len(names) + len(CORPUS) >= 80
    assert {name.split("-")[0] for name in names} == {"track", "evaluate", "strain", "report", "simulate", "train",
                                                        "benchmark"}


def tree(folder: Path) -> list[tuple[str, int, int]]:
    """Every path under ``folder`` with its size and modification time: what a run must leave as it was."""
    return sorted((str(p.relative_to(folder)), p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", COMMAND_CORPUS, ids=[case.name for case in COMMAND_CORPUS])
def test_every_command_refuses_bad_input_with_one_line(case, tmp_path, capsys, monkeypatch, model_path, track_result):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for cache in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):  # libraries' caches stay out of HOME
        monkeypatch.setenv(cache, str(track_result.parent / "caches"))
    args, named = case.build(tmp_path, Shared(model_path, track_result))
    before, shared_before = tree(tmp_path), tree(track_result)
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("deeptag: error: ") and "Traceback" not in captured.err and captured.out == ""
    assert re.search(case.problem, lines[0]), lines[0]
    if named is not None:
        assert f"{named}: " in lines[0], lines[0]
    assert tree(tmp_path) == before and tree(track_result) == shared_before  # nothing written, changed or removed
