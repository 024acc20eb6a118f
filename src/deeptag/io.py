"""Reading sequences and points, and checking them; every input-format error is raised here as an
``InputError`` that names the file and the problem.

Formats: a DICOM folder (single-frame files of any names in any order, or enhanced multi-frame files;
several series are narrowed by ``series``), a single DICOM file, NIfTI (``.nii``, ``.nii.gz``: 2D+t
or a 3D+t short-axis stack, time last), ``.npz``, a multi-page TIFF, an animated GIF, and a folder of
PNG/JPEG/TIFF/BMP frames (one per file, in natural order of the names: frame2 before frame10).

Orientation rule: a frame is the array ``frame[row, column]`` a DICOM viewer shows, row 0 at the top.
- DICOM: the pixel data as stored.
- NIfTI: ``frame[row, column] = data[column, row, slice, t]``: columns along the voxel axis i, rows
  along j, row 0 at j = 0. This is SimpleITK's array (``GetArrayFromImage``), which the original
  DeepTag code used, and it gives back the DICOM image for NIfTI written by ITK-based tools
  (SimpleITK, 3D Slicer, ITK-SNAP). dcm2niix stores rows flipped, so its files show upside down
  here; the results are still placed on the right voxels, since outputs follow the same rule.
- Every sequence carries ``affine``: (column, row, 0, 1) to RAS+ mm, i.e. the NIfTI affine of an
  array stored ``data[column, row, 0, t]``, so a result written with it reads back exactly.
"""
from __future__ import annotations

import csv
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pydicom
import tifffile
from pydicom.errors import InvalidDicomError

from .errors import InputError
from .roi import check_roi

MAX_SIDE = 2048  # larger frames are not cardiac images; refusing them avoids exhausting memory
NIFTI_SUFFIXES = (".nii", ".nii.gz")
STACK_SUFFIXES = (".tif", ".tiff", ".gif")  # one file, one page per frame
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")  # one file per frame, in a folder
FILE_SUFFIXES = (".npz",) + NIFTI_SUFFIXES + STACK_SUFFIXES + FRAME_SUFFIXES
# failures to reach a file, reported as such; any other library error means a file of the wrong content
ACCESS_ERRORS = (PermissionError, IsADirectoryError, NotADirectoryError, FileNotFoundError)


@dataclass
class Sequence:
    """One 2D+t image sequence as the rest of the code sees it.

    ``images`` (T, H, W) float32; ``spacing`` (row, column) pixel size in mm when known;
    ``frame_times`` in ms when known; ``landmarks`` (T, K, 2) as (x, y) pixels, NaN where missing;
    ``affine`` (4, 4) from (column, row, 0, 1) to RAS+ world mm when known, which is the NIfTI affine
    of an array stored as ``data[column, row, 0, t]``. ``roi`` (x0, y0, x1, y1) a box covering the heart
    stored with the sequence (simulated sequences carry one): tracking uses it when no other is given.
    """

    images: np.ndarray
    source: Path
    spacing: tuple[float, float] | None = None
    frame_times: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    affine: np.ndarray | None = None
    roi: tuple[int, int, int, int] | None = None

    @property
    def num_frames(self) -> int:
        return int(self.images.shape[0])


def check_images(images: np.ndarray, path: Path) -> np.ndarray:
    """Validate a (T, H, W) stack of frames and return it as float32."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise InputError(f"expected frames of shape (T, H, W), got an array of shape {images.shape}", path)
    if images.shape[0] < 2:
        raise InputError(f"a sequence needs at least 2 frames, got {images.shape[0]}", path)
    if min(images.shape[1:]) < 8:
        raise InputError(f"frames of {images.shape[1]}x{images.shape[2]} pixels are too small to track", path)
    if max(images.shape[1:]) > MAX_SIDE:
        raise InputError(f"frames of {images.shape[1]}x{images.shape[2]} pixels are larger than "
                         f"{MAX_SIDE}x{MAX_SIDE}; crop the heart first", path)
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == bool) or np.iscomplexobj(images):
        raise InputError(f"expected real-valued pixels, got dtype {images.dtype}", path)
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise InputError("frames contain NaN or infinite pixels", path)
    blank = [t for t in range(images.shape[0]) if np.ptp(images[t]) == 0]
    if blank:
        raise InputError(f"frame(s) {blank[:5]} are constant (blank) images", path)
    return images


def check_landmarks(landmarks: np.ndarray, num_frames: int, path: Path) -> np.ndarray:
    """Validate landmarks (T, K, 2) as (x, y), NaN where missing."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[2] != 2 or landmarks.shape[0] != num_frames:
        raise InputError(f"landmarks must have shape ({num_frames}, K, 2), got {landmarks.shape}", path)
    if np.isinf(landmarks).any():
        raise InputError("landmarks contain infinite values", path)
    if np.isnan(landmarks[0]).any():
        raise InputError("every landmark needs a frame-0 position (NaN found in frame 0)", path)
    return landmarks


def read_npz(path: Path) -> Sequence:
    """An ``.npz`` with ``images`` (T, H, W) and optionally ``landmarks``, ``spacing``, ``frame_times``
    and ``roi`` (x0, y0, x1, y1: the heart's box, pixels, x1 and y1 exclusive)."""
    arrays = _load_npz_arrays(path)
    if "images" not in arrays:
        raise InputError(f"no 'images' array in the file (found: {', '.join(sorted(arrays)) or 'nothing'})", path)
    images = check_images(arrays["images"], path)
    sequence = Sequence(images=images, source=path)
    if "landmarks" in arrays:
        sequence.landmarks = check_landmarks(arrays["landmarks"], len(images), path)
    if "spacing" in arrays:
        spacing = np.asarray(arrays["spacing"], dtype=float).ravel()
        if spacing.size != 2 or not np.all(spacing > 0) or not np.isfinite(spacing).all():
            raise InputError(f"'spacing' must be two positive numbers (row, column) in mm, got {spacing}", path)
        sequence.spacing = (float(spacing[0]), float(spacing[1]))
    if "frame_times" in arrays:
        times = np.asarray(arrays["frame_times"], dtype=float).ravel()
        if times.size != len(images):
            raise InputError(f"'frame_times' has {times.size} values for {len(images)} frames", path)
        sequence.frame_times = times
    if "roi" in arrays:
        sequence.roi = check_stored_roi(arrays["roi"], images.shape[1:], path)
    return sequence


def check_stored_roi(value: np.ndarray, frame_shape: tuple[int, int], path: Path) -> tuple[int, int, int, int]:
    """The heart's box stored in ``path`` as (x0, y0, x1, y1), checked against frames of ``frame_shape``
    (H, W); ``InputError`` naming the file when it is not four numbers or not a box inside the frame."""
    roi = np.asarray(value).ravel()
    if roi.size != 4 or not np.all(np.isfinite(roi)):
        raise InputError(f"'roi' must be four numbers x0,y0,x1,y1 in pixels, got {roi}", path)
    try:
        return check_roi(tuple(int(v) for v in roi), *frame_shape)
    except InputError as error:
        raise InputError(f"stored 'roi': {error.problem}", path) from None


def read_sequence(path: str | Path, *, series: str | None = None, slice_index: int | None = None) -> Sequence:
    """Read one 2D+t image sequence, whatever its format; raises ``InputError`` on anything unusable.

    Parameters
    ----------
    path : a DICOM folder or file, ``.nii``/``.nii.gz``, ``.npz``, ``.tif``/``.tiff``/``.gif``, or a
        folder of PNG/JPEG/TIFF/BMP frames (see the module docstring for the orientation rule).
    series : the SeriesInstanceUID (or the SeriesNumber) to take from a DICOM folder holding several.
    slice_index : which slice of a 3D+t input (a NIfTI stack, a multi-slice DICOM series); required there.

    Returns
    -------
    Sequence with ``images`` (T, H, W) float32, and spacing (mm), frame times (ms) and the pixel-to-world
    ``affine`` where the file holds them.
    """
    path = Path(path)
    slices = _read_slices(path, series)
    if slice_index is None:
        if len(slices) > 1:
            raise InputError(f"holds a stack of {len(slices)} slices (3D+t); choose one with --slice K "
                             f"(0 to {len(slices) - 1}) or --slice all", path)
        slice_index = 0
    if not 0 <= slice_index < len(slices):
        raise InputError(f"there is no slice {slice_index}: the input holds {len(slices)} slice(s), "
                         f"0 to {len(slices) - 1}", path)
    return _checked(slices[slice_index])


def _load_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``; anything else (random bytes, pickled objects) is an ``InputError`` that
    says what the file is, never advice to load it with pickle (which could run code)."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InputError("not a readable .npz file (not a zip archive of NumPy arrays)", path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ACCESS_ERRORS:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise InputError("not a readable .npz file (it holds Python objects, which deeptag does not load; "
                             "save plain arrays with numpy.savez)", path) from None
        raise InputError(f"not a readable .npz file ({error})", path) from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(f"not a readable .npz file ({error})", path) from None


SMALL_SIDE = 32  # smaller frames are accepted, but can hardly hold a resolved tag pattern


def input_warnings(sequence: Sequence) -> list[str]:
    """What about an accepted ``sequence`` is likely wrong (one sentence each): tiny frames, negative
    intensities (magnitude images are not negative), frames that never change (no motion to track)."""
    images, warnings = sequence.images, []
    height, width = images.shape[1:]
    if min(height, width) < SMALL_SIDE:
        warnings.append(f"frames of {height}x{width} pixels are very small for tag tracking; is this the "
                        "whole image?")
    if images.min() < 0:
        warnings.append(f"negative intensities (down to {images.min():g}); tagging MRI magnitude images are "
                        "not negative: is this a phase or difference image?")
    if all(np.array_equal(frame, images[0]) for frame in images[1:]):
        warnings.append(f"all {len(images)} frames are the same image: there is no motion to track")
    return warnings


def read_slices(path: str | Path, *, series: str | None = None) -> list[Sequence]:
    """Every slice of an input as its own sequence (one for 2D+t inputs), each checked like
    ``read_sequence``; a single bad slice refuses the whole input, so nothing is half done."""
    path = Path(path)
    return [_checked(sequence) for sequence in _read_slices(path, series)]


def _checked(sequence: Sequence) -> Sequence:
    """``sequence`` with its frames validated by ``check_images``; the message names the slice."""
    try:
        sequence.images = check_images(sequence.images, sequence.source)
    except InputError as error:
        if sequence.metadata.get("slices", 1) > 1:
            raise InputError(f"slice {sequence.metadata['slice_index']}: {error.problem}", error.path) from None
        raise
    return sequence


def _read_slices(path: Path, series: str | None) -> list[Sequence]:
    """The unchecked slices of any supported input; every I/O failure becomes an ``InputError``."""
    if not path.exists():
        raise InputError("no such file or folder", path)
    suffix = _suffix(path)
    if path.is_dir() and suffix in FILE_SUFFIXES:
        raise InputError(f"is a folder, but its name says a {suffix} file", path)
    try:
        if path.is_dir():
            return _read_folder(path, series)
        if series is not None and suffix in FILE_SUFFIXES:
            raise InputError("--series applies to DICOM inputs only", path)
        if suffix == ".npz":
            return [read_npz(path)]
        if suffix in NIFTI_SUFFIXES:
            return _read_nifti(path)
        if suffix in STACK_SUFFIXES:
            return [_read_image_stack(path)]
        if suffix in FRAME_SUFFIXES:
            raise InputError("a single image is not a sequence; put the frames in one folder and give "
                             "the folder", path)
        if suffix in ("", ".dcm", ".ima") or _has_dicom_magic(path):
            return _read_dicom([path], path, series)
    except OSError as error:
        raise InputError(f"cannot read ({error.strerror or error})", error.filename or path) from None
    raise InputError(f"unsupported input format '{suffix}' (supported: a DICOM folder or file, "
                     ".nii, .nii.gz, .npz, .tif, .tiff, .gif, a folder of PNG/JPEG frames)", path)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _natural_key(path: Path) -> list:
    """Sort key that puts frame2 before frame10."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", path.name)]


def _reason(error: Exception) -> str:
    """A short, one-line reason from a library exception."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


def _check_frame_size(height: int, width: int, path: Path) -> None:
    """Refuse huge frames from the header alone, before their pixels are read."""
    if max(height, width) > MAX_SIDE:
        raise InputError(f"frames of {height}x{width} pixels are larger than {MAX_SIDE}x{MAX_SIDE}; "
                         "crop the heart first", path)


# ---- folders -----------------------------------------------------------------------------------

def _read_folder(path: Path, series: str | None) -> list[Sequence]:
    """A folder of frames (every file directly inside is an image file) or a DICOM folder (searched
    recursively, files of any name; files that are not DICOM, such as a README, are skipped)."""
    visible = [p for p in path.rglob("*") if not any(part.startswith(".") for part in p.relative_to(path).parts)]
    files = sorted((p for p in visible if p.is_file()), key=lambda p: str(p.relative_to(path)))
    if not files:
        raise InputError("the folder holds no files", path)
    top = [p for p in files if p.parent == path]
    if top and all(_suffix(p) in FRAME_SUFFIXES for p in top):
        if series is not None:
            raise InputError("--series applies to DICOM inputs only; this is a folder of image frames", path)
        return [_read_frame_folder(path, sorted(top, key=_natural_key))]
    return _read_dicom(files, path, series)


def _to_grey(frames: np.ndarray, path: Path) -> np.ndarray:
    """(T, H, W[, C]) or (H, W[, C]) pixels to (T, H, W) grey levels (ITU-R 601 luma for colour)."""
    frames = np.asarray(frames)
    if frames.ndim in (3, 4) and frames.shape[-1] in (3, 4):  # (H, W, C) or (T, H, W, C)
        rgb = frames[..., :3].astype(np.float32)
        already_grey = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        frames = rgb[..., 0] if already_grey else rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise InputError(f"expected grey or colour frames, got pixels of shape {frames.shape}", path)
    return frames


def _read_frame_folder(path: Path, files: list[Path]) -> Sequence:
    """One frame per image file, in natural order of the file names."""
    frames = []
    for file in files:
        try:
            plugin = "tifffile" if _suffix(file) in (".tif", ".tiff") else "pillow"
            pixels = iio.imread(file.read_bytes(), plugin=plugin)  # bytes: no file is left open on failure
        except ACCESS_ERRORS:
            raise
        except Exception as error:  # imageio raises many types for files that are not images
            raise InputError(f"not a readable image ({_reason(error)})", file) from None
        frame = _to_grey(pixels, file)
        if frame.shape[0] != 1:
            raise InputError(f"expected one frame per file, found {frame.shape[0]}", file)
        _check_frame_size(*frame.shape[1:], file)
        if frames and frame.shape != frames[0].shape:
            raise InputError(f"frame size {frame.shape[1]}x{frame.shape[2]} differs from "
                             f"{frames[0].shape[1]}x{frames[0].shape[2]} of {files[0].name}", file)
        frames.append(frame)
    return Sequence(images=np.concatenate(frames), source=path,
                    metadata={"format": "image frames", "files": [f.name for f in files]})


def _read_image_stack(path: Path) -> Sequence:
    """A multi-page TIFF or an animated GIF, one page per frame."""
    try:
        if _suffix(path) == ".gif":
            frames = iio.imread(path.read_bytes(), plugin="pillow", index=None)
        else:
            frames = tifffile.imread(path)
    except ACCESS_ERRORS:
        raise
    except Exception as error:
        raise InputError(f"not a readable {_suffix(path)[1:].upper()} file ({_reason(error)})", path) from None
    frames = _to_grey(frames, path)
    return Sequence(images=frames, source=path, metadata={"format": _suffix(path)[1:]})


# ---- NIfTI ---------------------------------------------------------------------------------------

_TIME_UNIT_MS = {"sec": 1000.0, "msec": 1.0, "usec": 0.001}


def _read_nifti(path: Path) -> list[Sequence]:
    """2D+t (X, Y, T) or 3D+t (X, Y, Z, T) NIfTI, one sequence per slice (module docstring: the rule)."""
    try:
        image = nib.load(path)
        shape = tuple(int(n) for n in image.shape)
    except ACCESS_ERRORS:
        raise
    except Exception as error:
        raise InputError(f"not a readable NIfTI file ({_reason(error)})", path) from None
    if len(shape) == 3:
        shape = (shape[0], shape[1], 1, shape[2])
    if len(shape) != 4:
        raise InputError(f"expected 2D+t (X, Y, T) or 3D+t (X, Y, Z, T) data with time last, "
                         f"got shape {image.shape}", path)
    _check_frame_size(shape[1], shape[0], path)
    try:
        data = np.asarray(image.dataobj).reshape(shape)
    except ACCESS_ERRORS:
        raise
    except Exception as error:
        raise InputError(f"the voxel data cannot be read ({_reason(error)})", path) from None
    zooms = [float(z) for z in image.header.get_zooms()]
    spacing = (zooms[1], zooms[0]) if all(np.isfinite(zooms[:2])) and min(zooms[:2]) > 0 else None
    frame_times = None
    unit = image.header.get_xyzt_units()[1]
    if len(image.shape) == 4 and unit in _TIME_UNIT_MS and len(zooms) > 3 and zooms[3] > 0:
        frame_times = np.arange(shape[3]) * zooms[3] * _TIME_UNIT_MS[unit]
    slices = []
    for k in range(shape[2]):
        affine = np.array(image.affine, dtype=float)
        affine[:3, 3] += affine[:3, 2] * k  # the world position of voxel (0, 0, k)
        slices.append(Sequence(images=data[:, :, k, :].transpose(2, 1, 0), source=path, spacing=spacing,
                               frame_times=frame_times, affine=affine,
                               metadata={"format": "nifti", "slice_index": k, "slices": shape[2]}))
    return slices


# ---- DICOM ---------------------------------------------------------------------------------------

@dataclass
class _DicomFrame:
    """One frame of a DICOM file (a single-frame file, or frame ``index`` of a multi-frame one)."""

    path: Path
    dataset: pydicom.Dataset
    index: int | None
    series_uid: str
    size: tuple[int, int]
    position: np.ndarray | None
    orientation: np.ndarray | None
    spacing: tuple[float, float] | None
    time: float | None
    order: int

    def slice_key(self) -> tuple:
        """Frames of one slice share orientation and position along the slice normal."""
        if self.position is None or self.orientation is None:
            return ()
        normal = np.cross(self.orientation[:3], self.orientation[3:])
        return tuple(np.round(self.orientation, 3)) + (round(float(self.position @ normal), 2),)


def _has_dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except IsADirectoryError:
        return False


def _read_dicom_header(path: Path, required: bool) -> pydicom.Dataset | None:
    """The dataset of ``path`` with its pixel data deferred; ``None`` for a file that is not DICOM
    (unless ``required``)."""
    try:
        return pydicom.dcmread(path, defer_size="64 KB")
    except InvalidDicomError:
        if required:
            raise InputError("not a DICOM file", path) from None
        return None
    except ACCESS_ERRORS:
        raise
    except Exception as error:
        raise InputError(f"not a readable DICOM file ({_reason(error)})", path) from None


def _functional(dataset: pydicom.Dataset, index: int | None, group: str, keyword: str):
    """An attribute of an enhanced multi-frame file (per-frame group first, then the shared group),
    or the same attribute at the top level of a classic file."""
    containers = []
    if index is not None and "PerFrameFunctionalGroupsSequence" in dataset:
        containers.append(dataset.PerFrameFunctionalGroupsSequence[index])
    if "SharedFunctionalGroupsSequence" in dataset:
        containers.append(dataset.SharedFunctionalGroupsSequence[0])
    for container in containers:
        if group in container and len(container[group].value) and keyword in container[group][0]:
            return container[group][0][keyword].value
    return dataset.get(keyword)


def _floats(value, count: int) -> np.ndarray | None:
    try:
        array = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.size == count and np.isfinite(array).all() else None


def _dicom_frames(dataset: pydicom.Dataset, path: Path) -> list[_DicomFrame]:
    """One record per frame of ``dataset``, with the geometry and timing that order and place it."""
    try:
        size = (int(dataset.Rows), int(dataset.Columns))
        count = int(dataset.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise InputError("DICOM image without valid Rows/Columns", path) from None
    _check_frame_size(*size, path)
    multi = count > 1 or "PerFrameFunctionalGroupsSequence" in dataset
    instance = _number(dataset.get("InstanceNumber"))
    frames = []
    for index in range(count) if multi else [None]:
        position = _floats(_functional(dataset, index, "PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = _floats(_functional(dataset, index, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        spacing = _floats(_functional(dataset, index, "PixelMeasuresSequence", "PixelSpacing"), 2)
        frames.append(_DicomFrame(path, dataset, index, str(dataset.get("SeriesInstanceUID", "")), size, position,
                                  orientation, None if spacing is None else (float(spacing[0]), float(spacing[1])),
                                  _frame_time(dataset, index), int(instance or 0)))
    return frames


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _frame_time(dataset: pydicom.Dataset, index: int | None) -> float | None:
    """Trigger time in ms: the file's TriggerTime (single-frame), the frame's nominal trigger delay
    (enhanced multi-frame), or the frame index times FrameTime (a classic multi-frame cine)."""
    if index is None:
        return _number(dataset.get("TriggerTime"))
    delay = _number(_functional(dataset, index, "CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime"))
    frame_time = _number(dataset.get("FrameTime"))
    return delay if delay is not None or frame_time is None else frame_time * index


def _describe_series(uid: str, frames: list[_DicomFrame]) -> str:
    dataset = frames[0].dataset
    description = str(dataset.get("SeriesDescription", "") or "no description")
    number = dataset.get("SeriesNumber")
    rows, columns = frames[0].size
    label = f"#{number} " if number is not None else ""
    return f"{uid} ({label}'{description}', {len(frames)} frames, {rows}x{columns})"


def _select_series(by_series: dict[str, list[_DicomFrame]], series: str | None, origin: Path) -> list[_DicomFrame]:
    """The frames of the requested series, or of the only one; refuses with the list of series found."""
    listing = "; ".join(_describe_series(uid, frames) for uid, frames in by_series.items())
    if series is None:
        if len(by_series) > 1:
            raise InputError(f"holds {len(by_series)} DICOM series; choose one with --series UID: {listing}", origin)
        return next(iter(by_series.values()))
    if series in by_series:
        return by_series[series]
    matches = [frames for frames in by_series.values() if str(frames[0].dataset.get("SeriesNumber", "")) == series]
    if len(matches) == 1:
        return matches[0]
    raise InputError(f"no DICOM series '{series}' here; found: {listing}", origin)


def _dicom_pixels(frames: list[_DicomFrame]) -> np.ndarray:
    """(T, H, W) float32 modality values (rescale slope and intercept applied) of ``frames``."""
    decoded: dict[int, np.ndarray] = {}
    out = []
    for frame in frames:
        dataset = frame.dataset
        if int(dataset.get("SamplesPerPixel", 1) or 1) != 1:
            raise InputError("colour DICOM images are not supported (tagging MRI is grey-level)", frame.path)
        key = id(dataset)
        if key not in decoded:
            try:
                decoded[key] = np.asarray(dataset.pixel_array)
            except ACCESS_ERRORS:
                raise
            except Exception as error:  # pydicom raises many types for truncated or undecodable data
                raise InputError(f"the pixel data cannot be decoded ({_reason(error)})", frame.path) from None
        pixels = decoded[key]
        pixels = pixels[frame.index] if frame.index is not None and pixels.ndim == 3 else pixels
        if pixels.shape != frame.size:
            raise InputError(f"pixel data of shape {pixels.shape} for a {frame.size[0]}x{frame.size[1]} image",
                             frame.path)
        slope = _functional(dataset, frame.index, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _functional(dataset, frame.index, "PixelValueTransformationSequence", "RescaleIntercept")
        out.append(pixels.astype(np.float32) * float(1 if slope is None else slope) + float(intercept or 0))
    stack = np.stack(out)
    if frames[0].dataset.get("PhotometricInterpretation") == "MONOCHROME1":  # low values show bright
        stack = stack.max() - stack
    return stack


def _dicom_affine(frame: _DicomFrame, slice_spacing: float) -> np.ndarray | None:
    """4x4 from (column, row, slice, 1) to RAS+ mm, from ImagePositionPatient / ImageOrientationPatient
    (which are in LPS+), or ``None`` where the file lacks them."""
    if frame.position is None or frame.orientation is None or frame.spacing is None:
        return None
    along_row, along_column = frame.orientation[:3], frame.orientation[3:]  # column index, row index
    lps = np.eye(4)
    lps[:3, 0] = along_row * frame.spacing[1]
    lps[:3, 1] = along_column * frame.spacing[0]
    lps[:3, 2] = np.cross(along_row, along_column) * slice_spacing
    lps[:3, 3] = frame.position
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def _check_unique_instances(frames: list[_DicomFrame]) -> None:
    """Refuse a series that holds the same image twice (a copied file): it would be one frame twice."""
    seen: dict[tuple, Path] = {}
    for frame in frames:
        uid = str(frame.dataset.get("SOPInstanceUID", "") or "")
        if not uid:
            continue
        first = seen.setdefault((uid, frame.index), frame.path)
        if first != frame.path:
            raise InputError(f"holds the same DICOM image (SOPInstanceUID {uid}) as {first.name}; remove the "
                             "copy", frame.path)


def _read_dicom(files: list[Path], origin: Path, series: str | None) -> list[Sequence]:
    """DICOM files (single- or multi-frame, any names, any order) to one sequence per slice of the
    chosen series, frames ordered by trigger time, then instance number."""
    frames: list[_DicomFrame] = []
    skipped = 0
    for path in files:
        required = len(files) == 1 or _suffix(path) in (".dcm", ".ima") or _has_dicom_magic(path)
        dataset = _read_dicom_header(path, required)
        if dataset is None:
            skipped += 1
            continue
        if "PixelData" not in dataset:
            if "Rows" in dataset or len(files) == 1:
                raise InputError("DICOM file without pixel data (not an image, or truncated)", path)
            skipped += 1  # a DICOMDIR, a report, a presentation state
            continue
        frames.extend(_dicom_frames(dataset, path))
    if not frames:
        raise InputError(f"no DICOM images found ({skipped} file(s) that are not DICOM images)", origin)
    by_series: dict[str, list[_DicomFrame]] = {}
    for frame in frames:
        by_series.setdefault(frame.series_uid, []).append(frame)
    chosen = _select_series(by_series, series, origin)
    _check_unique_instances(chosen)
    sizes = Counter(frame.size for frame in chosen)
    common = sizes.most_common(1)[0][0]
    for frame in chosen:
        if frame.size != common:
            raise InputError(f"frame size {frame.size[0]}x{frame.size[1]} differs from the "
                             f"{common[0]}x{common[1]} of the rest of its series", frame.path)
    by_slice: dict[tuple, list[_DicomFrame]] = {}
    for frame in chosen:
        by_slice.setdefault(frame.slice_key(), []).append(frame)
    keys = sorted(by_slice)
    gaps = np.diff([key[-1] for key in keys]) if len(keys) > 1 and keys[0] else []
    slice_spacing = float(np.median(np.abs(gaps))) if len(gaps) else float(
        chosen[0].dataset.get("SpacingBetweenSlices", chosen[0].dataset.get("SliceThickness", 1.0)) or 1.0)
    sequences = []
    for k, key in enumerate(keys):
        ordered = sorted(by_slice[key], key=lambda f: (f.time if f.time is not None else np.inf, f.order,
                                                       f.index or 0, str(f.path)))
        times = [f.time for f in ordered]
        first = ordered[0]
        dataset = first.dataset
        sequences.append(Sequence(
            images=_dicom_pixels(ordered), source=origin, spacing=first.spacing,
            frame_times=None if None in times else np.asarray(times, dtype=float),
            affine=_dicom_affine(first, slice_spacing),
            metadata={"format": "dicom", "series_uid": first.series_uid,
                      "series_description": str(dataset.get("SeriesDescription", "")),
                      "slice_index": k, "slices": len(keys),
                      "files": sorted({str(f.path.relative_to(origin)) if f.path != origin else f.path.name
                                       for f in ordered})}))
    return sequences


def read_points(path: str | Path) -> np.ndarray:
    """Frame-0 points (K, 2) as (x, y) pixels, from a ``.npy`` or a CSV with columns ``x`` and ``y``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such points file", path)
    if path.suffix.lower() == ".npy":
        try:
            points = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"not a readable .npy file ({error})", path) from None
    elif path.suffix.lower() == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"not a readable CSV file ({error})", path) from None
        if not rows or not {"x", "y"} <= set(rows[0]):
            raise InputError("the CSV needs a header with columns x and y and at least one row", path)
        try:
            points = np.array([[float(r["x"]), float(r["y"])] for r in rows])
        except (TypeError, ValueError):
            raise InputError("columns x and y must hold numbers", path) from None
    else:
        raise InputError("points must be a .npy or a .csv file", path)
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise InputError(f"points must have shape (K, 2) as (x, y), got {points.shape}", path)
    if not np.issubdtype(points.dtype, np.number) or not np.isfinite(points).all():
        raise InputError("points must be finite numbers", path)
    return points.astype(np.float32)
