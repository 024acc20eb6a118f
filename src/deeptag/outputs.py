"""Writing results: a result folder appears complete or not at all, and is never overwritten unless asked."""
from __future__ import annotations

import contextlib
import csv
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError


@contextlib.contextmanager
def result_directory(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out`` and move it to ``out`` when the block succeeds.

    An existing ``out`` is refused unless ``force``; on any error the temporary folder is removed,
    so no partial result is ever left behind.
    """
    out = Path(out)
    if out.exists() and not force:
        raise InputError("the output folder exists already; pass --force to replace it", out)
    if out.exists() and not out.is_dir():
        raise InputError("the output path exists and is not a folder", out)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    except OSError as error:
        raise InputError(f"cannot create the output folder ({error.strerror})", out) from None
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_tracks(folder: Path, tracks: np.ndarray, spacing: tuple[float, float] | None = None,
                 frame_times: np.ndarray | None = None) -> None:
    """``tracks.npy`` (T, K, 2) as (x, y) pixels and ``tracks.csv`` with one row per frame and point,
    in pixels, and in mm and with the frame time where they are known."""
    np.save(folder / "tracks.npy", tracks.astype(np.float32))
    header = ["frame", "point", "x_px", "y_px"]
    if spacing is not None:
        header += ["x_mm", "y_mm"]
    if frame_times is not None:
        header += ["time_ms"]
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
                writer.writerow(row)
