"""Reading sequences and points, and checking them; every input-format error is raised here as an
``InputError`` that names the file and the problem.
"""
from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

MAX_SIDE = 2048  # larger frames are not cardiac images; refusing them avoids exhausting memory


@dataclass
class Sequence:
    """One 2D+t image sequence as the rest of the code sees it.

    ``images`` (T, H, W) float32; ``spacing`` (row, column) pixel size in mm when known;
    ``frame_times`` in ms when known; ``landmarks`` (T, K, 2) as (x, y) pixels, NaN where missing.
    """

    images: np.ndarray
    source: Path
    spacing: tuple[float, float] | None = None
    frame_times: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

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
    """An ``.npz`` with ``images`` (T, H, W) and optionally ``landmarks``, ``spacing``, ``frame_times``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(f"not a readable .npz file ({error})", path) from None
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
    return sequence


def read_sequence(path: str | Path) -> Sequence:
    """Read one image sequence, whatever its format; raises ``InputError`` on anything unusable."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    raise InputError(f"unsupported input format '{path.suffix or path.name}' (supported: .npz)", path)


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
