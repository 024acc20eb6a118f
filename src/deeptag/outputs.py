"""Writing results: a result folder appears complete or not at all, and is never overwritten unless asked.

Every result folder holds a small marker file (``MARKER``); ``--force`` replaces only a folder that
holds one (or the files of a result written before the marker existed), never a user's own folder.
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import glob
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import nibabel as nib
import numpy as np

from . import __version__
from .errors import InputError
from .io import Sequence

LAGRANGIAN_NIFTI = "deformation_matrix_{axis}{unit}.nii.gz"  # the names the original DeepTag code wrote
JACOBIAN_NIFTI = "jacobian_lagrangian.nii.gz"
MARKER = ".deeptag"  # in every folder a deeptag command writes: what --force may replace
VERSIONED_JSON = ("summary.json", "benchmark.json")  # results of earlier versions, recognised by their version key


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that the clean-up of partial results runs as on Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def is_deeptag_output(folder: Path) -> bool:
    """Whether ``folder`` was written by a deeptag command: it holds the marker, or (results of versions
    before the marker) a ``summary.json``/``benchmark.json`` with a ``deeptag_version``."""
    if (folder / MARKER).is_file():
        return True
    for name in VERSIONED_JSON:
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(data, dict) and "deeptag_version" in data:
            return True
    return False


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def protected_reason(out: Path, inputs: Iterable[str | Path] = ()) -> str | None:
    """Why ``out`` must never be replaced (the working folder or one above it, the home folder, a
    folder holding an input), or None."""
    target = out.resolve()
    if _is_within(Path.cwd().resolve(), target):
        return "is the current folder or one above it"
    if target == Path.home().resolve():
        return "is the home folder"
    for path in inputs:
        if _is_within(Path(path).resolve(), target):
            return f"holds the input {path}"
    return None


def check_output_folder(out: str | Path, force: bool = False, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse an ``out`` that cannot be written: a file, a protected folder, an existing folder without
    ``force``, or (with ``force``) an existing folder that no deeptag command wrote. Changes nothing."""
    out = Path(out)
    if out.is_symlink():
        raise InputError("is a symbolic link; give a new folder name for the results", out)
    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder; give a new folder name for the results", out)
    if not out.exists():
        return
    reason = protected_reason(out, inputs)
    if reason:
        raise InputError(f"{reason}; give a new folder name for the results", out)
    if not force:
        raise InputError("the output folder exists already; pass --force to replace it", out)
    if any(out.iterdir()) and not is_deeptag_output(out):
        raise InputError("exists and was not written by deeptag; --force replaces only deeptag results: "
                         "give a new folder name", out)


def _process_alive(marker: Path) -> bool:
    """Whether the run that wrote ``marker`` may still be running (it is, unless we know otherwise)."""
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        pid, host = int(data["pid"]), data["host"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return False  # no marker: a partial folder of a run killed before it wrote one
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove the hidden ``.NAME.*.partial`` folders beside ``out`` left by killed earlier runs (their
    process is gone); returns those removed."""
    parent = out.absolute().parent
    removed = []
    for path in parent.glob(f".{glob.escape(out.name)}.*.partial"):
        if path.is_dir() and not path.is_symlink() and not _process_alive(path / MARKER):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def write_marker(folder: Path) -> None:
    """The marker that says deeptag wrote ``folder`` (and, while it is partial, which process does)."""
    write_json(folder / MARKER, {"deeptag_version": __version__, "pid": os.getpid(), "host": socket.gethostname()})


@contextlib.contextmanager
def result_directory(out: str | Path, force: bool = False, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside ``out`` and move it to ``out`` when the block succeeds.

    ``out`` is checked first (``check_output_folder``: never a file, the working or home folder, a
    folder holding one of ``inputs``, or an existing folder that deeptag did not write). On any error,
    Ctrl-C or SIGTERM the temporary folder is removed, so no partial result is ever left behind; those
    of earlier killed runs are removed here.
    """
    out = Path(out)
    check_output_folder(out, force, inputs)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    except OSError as error:
        raise InputError(f"cannot create the output folder ({error.strerror})", out) from None
    try:
        with terminate_as_interrupt():
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a result folder gets the usual mode
            write_marker(tmp)
            yield tmp
            _replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _replace(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``; an earlier ``out`` (checked by ``check_output_folder``) is moved aside
    first and removed after, so that one of the two is always whole."""
    if not out.exists():
        tmp.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.absolute().parent))
    out.rename(old / "result")
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_tracks(folder: Path, tracks: np.ndarray, spacing: tuple[float, float] | None = None,
                 frame_times: np.ndarray | None = None, errors: np.ndarray | None = None) -> None:
    """``tracks.npy`` (T, K, 2) as (x, y) pixels and ``tracks.csv`` with one row per frame and point,
    in pixels, and in mm and with the frame time where they are known; ``errors`` (T, K), the estimated
    tracking error in pixels (``regions.error_at_points``), as column ``error_px`` (empty where unknown)."""
    np.save(folder / "tracks.npy", tracks.astype(np.float32))
    header = ["frame", "point", "x_px", "y_px"]
    if spacing is not None:
        header += ["x_mm", "y_mm"]
    if frame_times is not None:
        header += ["time_ms"]
    if errors is not None:
        header += ["error_px"]
    with open(folder / "tracks.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for t, frame in enumerate(tracks):
            for k, (x, y) in enumerate(frame):
                row = [t, k, f"{x:.4f}", f"{y:.4f}"]
                if spacing is not None:
                    row += [f"{x * spacing[1]:.4f}", f"{y * spacing[0]:.4f}"]
                if frame_times is not None:
                    row += [f"{frame_times[t]:.3f}"]
                if errors is not None:
                    row += [f"{errors[t, k]:.3f}" if np.isfinite(errors[t, k]) else ""]
                writer.writerow(row)


def nifti_affine(sequence: Sequence) -> np.ndarray:
    """The 4x4 affine of arrays stored ``data[column, row, 0, t]`` for ``sequence``: its own (from the
    DICOM or NIfTI headers), else the pixel spacing (1 mm where unknown) with the origin at pixel (0, 0)."""
    if sequence.affine is not None:
        return np.asarray(sequence.affine, dtype=float)
    row, column = sequence.spacing or (1.0, 1.0)
    return np.diag([column, row, 1.0, 1.0])


def frame_interval_ms(frame_times: np.ndarray | None) -> float | None:
    """The median time between frames in ms, or ``None`` where unknown or not increasing."""
    if frame_times is None or len(frame_times) < 2:
        return None
    step = float(np.median(np.diff(frame_times)))
    return step if step > 0 else None


def write_nifti_frames(path: Path, frames: np.ndarray, affine: np.ndarray, interval_ms: float | None = None) -> None:
    """(T, H, W) maps as a 4D NIfTI ``data[column, row, 0, t]`` (io's orientation rule, so reading the
    file back with ``deeptag.io`` gives ``frames`` exactly), float32, time step in ms where known.
    A ``.gz`` file is compressed only where that pays (``nifti_gzip_level``)."""
    data = np.asarray(frames, dtype=np.float32).transpose(2, 1, 0)[:, :, None, :]
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "msec")
    if interval_ms is not None:
        image.header.set_zooms(tuple(image.header.get_zooms()[:3]) + (interval_ms,))
    if Path(path).suffix != ".gz":
        nib.save(image, path)
        return
    raw = image.to_bytes()
    Path(path).write_bytes(gzip.compress(raw, compresslevel=nifti_gzip_level(raw), mtime=0))


def nifti_gzip_level(raw: bytes, sample_bytes: int = 1 << 18) -> int:
    """The gzip level of a NIfTI file: 1 (zlib's fastest) where a sample from the middle of the data
    shrinks by at least a fifth, else 0 (stored, still a valid .gz). Dense float fields barely compress
    (a full 231-px frame: 8% smaller at 25 times the writing time of a stored file,
    ``benchmarks/whole_process.py``), while NaN outside a region of interest makes them 5 times smaller."""
    start = max(0, len(raw) // 2 - sample_bytes // 2)
    sample = raw[start:start + sample_bytes]
    return 1 if len(zlib.compress(sample, 1)) < 0.8 * len(sample) else 0


def write_lagrangian_nifti(folder: Path, lagrangian: np.ndarray, jacobian: np.ndarray, sequence: Sequence) -> list[str]:
    """The Lagrangian fields and their Jacobian determinants as NIfTI on the input's voxels.

    ``lagrangian`` (T-1, 2, H, W) in input pixels (channel 0 rows, 1 columns) and ``jacobian``
    (T-1, H, W) are written with T frames, frame 0 the identity (zero displacement, determinant 1), so
    frame t of a file is frame t of the scan: ``deformation_matrix_x.nii.gz`` the displacement along the
    columns (the image's x, rightwards), ``deformation_matrix_y.nii.gz`` along the rows (downwards), both
    in pixels, and ``..._mm`` the same in mm where the spacing is known; NaN outside the tracked region.
    Returns the names of the files written.
    """
    affine, interval = nifti_affine(sequence), frame_interval_ms(sequence.frame_times)
    height, width = lagrangian.shape[2:]
    full = np.concatenate([np.zeros((1, 2, height, width), np.float32), lagrangian])
    written = []
    for axis, channel in (("x", 1), ("y", 0)):
        units = [("", 1.0)] + ([("_mm", sequence.spacing[channel])] if sequence.spacing else [])
        for unit, scale in units:
            name = LAGRANGIAN_NIFTI.format(axis=axis, unit=unit)
            write_nifti_frames(folder / name, full[:, channel] * scale, affine, interval)
            written.append(name)
    write_nifti_frames(folder / JACOBIAN_NIFTI, np.concatenate([np.ones((1, height, width), np.float32), jacobian]),
                       affine, interval)
    return written + [JACOBIAN_NIFTI]
