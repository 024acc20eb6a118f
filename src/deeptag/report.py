"""One self-contained HTML report of a ``deeptag track`` result folder: pictures, tables and settings.

Images are inlined as base64 PNG data URIs and animations as GIF data URIs, so the single file can be
mailed or archived and opens offline in any browser.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import Sequence, read_sequence

FIELD_NAMES = ("inf_forward", "inf_backward", "lagrangian")


@dataclass
class ResultFolder:
    """What ``deeptag track --out DIR`` wrote, read back.

    ``fields`` holds ``inf_forward``, ``inf_backward``, ``lagrangian`` (T-1, 2, H, W) in input pixels
    and ``uncertainty`` when present; ``summary`` the parsed ``summary.json``; ``sequence`` the input
    sequence when it could be read (else ``sequence_problem`` says why); ``tracks`` (T, K, 2) or None.
    """

    path: Path
    summary: dict
    fields: dict[str, np.ndarray]
    sequence: Sequence | None
    sequence_problem: str | None
    tracks: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.fields["lagrangian"].shape[2:])

    @property
    def spacing(self) -> tuple[float, float] | None:
        spacing = self.summary.get("spacing_mm")
        if spacing:
            return float(spacing[0]), float(spacing[1])
        return None if self.sequence is None else self.sequence.spacing

    @property
    def frame_times_ms(self) -> np.ndarray | None:
        return None if self.sequence is None else self.sequence.frame_times

    def require_sequence(self) -> Sequence:
        """The input sequence, or an ``InputError`` that says how to point at it."""
        if self.sequence is None:
            raise InputError(f"the input sequence is needed for pictures but {self.sequence_problem}; "
                             f"give it with --sequence", self.path)
        return self.sequence


def read_result_folder(path: str | Path, sequence_path: str | Path | None = None) -> ResultFolder:
    """Read a result folder; the input sequence is ``sequence_path`` or the ``input`` of summary.json."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("no such result folder (expected the --out folder of deeptag track)", path)
    summary_file, fields_file = path / "summary.json", path / "fields.npz"
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no summary.json: not a deeptag track result folder", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not a readable JSON file ({error})", summary_file) from None
    if not isinstance(summary, dict):
        raise InputError("expected a JSON object", summary_file)
    if not fields_file.is_file():
        raise InputError("no fields.npz: not a deeptag track result folder", path)
    try:
        with np.load(fields_file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(f"not a readable .npz file ({error})", fields_file) from None
    missing = [name for name in FIELD_NAMES if name not in arrays]
    if missing:
        raise InputError(f"missing field(s) {', '.join(missing)}", fields_file)
    shape = arrays["lagrangian"].shape
    if len(shape) != 4 or shape[1] != 2 or any(arrays[n].shape != shape for n in FIELD_NAMES):
        raise InputError(f"fields must all have shape (T-1, 2, H, W), got "
                         f"{', '.join(f'{n} {arrays[n].shape}' for n in FIELD_NAMES)}", fields_file)
    sequence, problem = None, None
    source = sequence_path if sequence_path is not None else summary.get("input")
    if source is None:
        problem = "summary.json names no input"
    else:
        try:
            sequence = read_sequence(source)
            if sequence.images.shape[1:] != shape[2:] or sequence.num_frames != shape[0] + 1:
                raise InputError(f"its {sequence.num_frames} frames of {sequence.images.shape[1:]} pixels do not "
                                 f"match the {shape[0]} fields of {shape[2:]} pixels", source)
        except InputError as error:
            if sequence_path is not None:
                raise
            sequence, problem = None, f"it could not be used ({error})"
    tracks = np.load(path / "tracks.npy", allow_pickle=False) if (path / "tracks.npy").is_file() else None
    fields = {name: arrays[name] for name in (*FIELD_NAMES, "uncertainty") if name in arrays}
    return ResultFolder(path, summary, fields, sequence, problem, tracks)
