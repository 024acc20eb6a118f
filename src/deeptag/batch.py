"""Batch tracking of whole studies and cohorts on Dask: one task per slice, resumable, one table.

Every slice gets its own result folder ``OUT/<scan>[/<series UID>]/slice_KK``, written like
``deeptag track``'s (plus ``strain/`` when a myocardium is given, and ``batch.json``, the slice's
rows of the batch tables). A folder appears complete or not at all (``outputs.result_directory``),
so a slice whose folder exists is finished: a second run skips it and reads its rows back.
"""
from __future__ import annotations

import contextlib
import csv
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import InputError
from .outputs import write_json

if TYPE_CHECKING:
    from .adapt import AdaptConfig

ROW_FILE = "batch.json"
SUMMARY_COLUMNS = ["input", "series", "slice", "folder", "status", "resumed", "seconds", "error", "view", "frames",
                   "nonpositive_jacobians", "mean_uncertainty_px", "myocardium_points"]
SEGMENT_COLUMNS = ["input", "series", "slice", "folder", "segment", "name", "myocardium_points"]
MANIFEST_COLUMNS = ("input", "series", "slice", "roi", "points", "lv", "mask", "mask_label", "contours", "rv",
                    "level", "view", "centreline", "wall_mm")
REGION_KEYS = ("ring", "mask", "contours", "centreline")
MYOCARDIUM_KEYS = {"lv": "ring", "mask": "mask", "mask_label": "mask_label", "contours": "contours", "rv": "rv",
                   "level": "level", "view": "view", "centreline": "centreline", "wall_mm": "wall_mm"}
LONG_AXIS_PEAKS = ("E_ll", "E_tt", "GLS_centreline")  # issue 29: the peak columns of long-axis views


@dataclass(frozen=True)
class Scan:
    """One input of the batch and the settings of its slices: ``slice`` None for every slice;
    ``myocardium`` the keyword arguments of ``define_myocardium`` (empty: no strain)."""

    path: Path
    name: str = ""
    series: str | None = None
    slice: int | None = None
    roi: str | None = None
    points: Path | None = None
    myocardium: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SliceJob:
    """One task: slice ``slice`` of ``series`` of a scan, written to ``out / folder``."""

    scan: Scan
    series: str | None
    slice: int
    folder: str


@dataclass(frozen=True)
class Options:
    """What every task shares: the batch's output folder, the model's name as results record it, the
    adaptation (an ``AdaptConfig`` or None), intensity mode, device, PyTorch threads per task, and
    whether each slice gets ``report.html`` and ``pictures/``."""

    out: Path
    model_name: str
    adapt: AdaptConfig | None = None
    intensity: str | None = None  # None: the model's own normalisation
    device: str = "cpu"
    threads: int = 1
    report: bool = False


def peak_columns() -> list[str]:
    """The peak strain columns of both tables, e.g. ``E_rr_peak_pct`` and ``E_rr_peak_frame``."""
    from .strain import QUANTITIES, UNITS
    unit = {"%": "pct", "deg": "deg"}
    return [name for q in QUANTITIES for name in (f"{q}_peak_{unit[UNITS[q]]}", f"{q}_peak_frame")] + \
        [name for q in LONG_AXIS_PEAKS for name in (f"{q}_peak_pct", f"{q}_peak_frame")]


# ---- inputs -------------------------------------------------------------------------------------


def _cell(row: dict, column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def read_manifest(path: Path, defaults: Scan) -> list[Scan]:
    """The scans of a CSV manifest: column ``input`` (paths relative to the manifest's folder) and the
    optional columns of ``MANIFEST_COLUMNS``; an empty cell takes the setting of ``defaults``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"cannot read the manifest ({error})", path) from None
    unknown = sorted(set(columns) - set(MANIFEST_COLUMNS))
    if "input" not in columns or unknown:
        raise InputError(f"a manifest needs a column 'input' and may have {', '.join(MANIFEST_COLUMNS[1:])}"
                         + (f"; unknown column(s): {', '.join(unknown)}" if unknown else ""), path)
    scans = []
    for number, row in enumerate(rows, start=2):
        if _cell(row, "input") is None:
            raise InputError(f"line {number}: empty 'input'", path)
        try:
            scans.append(_manifest_scan(row, path.parent, defaults))
        except InputError as error:
            raise InputError(f"line {number}: {error}", path) from None
    return scans


def _manifest_scan(row: dict, base: Path, defaults: Scan) -> Scan:
    def resolve(column: str) -> Path | None:
        value = _cell(row, column)
        return None if value is None else base / value

    from .commands.track import parse_slice
    myocardium = {key: _cell(row, column) for column, key in MYOCARDIUM_KEYS.items() if _cell(row, column)}
    for column in ("mask", "contours"):
        if column in myocardium:
            myocardium[column] = resolve(column)
    if "mask_label" in myocardium:
        myocardium["mask_label"] = _integer(myocardium["mask_label"], "mask_label")
    if "wall_mm" in myocardium:
        try:
            myocardium["wall_mm"] = float(myocardium["wall_mm"])
        except ValueError:
            raise InputError(f"'wall_mm' must be a number of mm, got '{myocardium['wall_mm']}'") from None
    if "view" in myocardium:
        from .long_axis import parse_view
        myocardium["view"] = parse_view(myocardium["view"])
    slice_text = _cell(row, "slice")
    slice_index = defaults.slice if slice_text is None else parse_slice(slice_text, allow_all=True)
    return Scan(resolve("input"), series=_cell(row, "series") or defaults.series,
                slice=None if slice_index == "all" else slice_index, roi=_cell(row, "roi") or defaults.roi,
                points=resolve("points") or defaults.points,
                myocardium=merged_myocardium(myocardium, defaults.myocardium))


def _integer(text: str, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"'{column}' must be a whole number, got '{text}'") from None


def collect_scans(inputs: list[Path], defaults: Scan) -> list[Scan]:
    """The scans of the command line's inputs (``.csv`` files are manifests), each named uniquely, with
    ``defaults``' settings wherever an input or a manifest cell gives none."""
    scans = []
    for path in inputs:
        if not path.exists():
            raise InputError("no such file or folder", path)
        if path.suffix.lower() == ".csv":
            scans.extend(read_manifest(path, defaults))
        else:
            scans.append(replace(defaults, path=path))
    names = scan_names([scan.path for scan in scans])
    return [replace(scan, name=names[scan.path]) for scan in scans]


def merged_myocardium(own: dict, defaults: dict) -> dict:
    """A scan's myocardium options over the batch's: its own region (ring, mask or contours) replaces
    the batch's, its other options (rv, level, mask_label) override them one by one."""
    if any(own.get(key) for key in REGION_KEYS):
        defaults = {key: value for key, value in defaults.items() if key not in REGION_KEYS}
    return defaults | own


def has_myocardium(options: dict) -> bool:
    return any(options.get(key) for key in REGION_KEYS)


def _stem(path: Path) -> str:
    name = path.name
    return name[:-7] if name.lower().endswith(".nii.gz") else path.stem if path.is_file() else name


def scan_names(paths: list[Path]) -> dict[Path, str]:
    """A result folder name per input: its name without suffix, or where two inputs share one, every
    input's path below the folder common to all of them, with '/' as '__'."""
    unique = list(dict.fromkeys(paths))
    stems = [_stem(path) for path in unique]
    if len(set(stems)) == len(stems):
        return dict(zip(unique, stems))
    absolute = [path.absolute() for path in unique]
    common = Path(os.path.commonpath([path.parent for path in absolute]))
    return {path: "__".join(full.relative_to(common).parts) for path, full in zip(unique, absolute)}


def dicom_series(path: Path) -> list[str]:
    """The SeriesInstanceUIDs of the DICOM files under folder ``path`` (empty for anything else)."""
    import pydicom
    if not path.is_dir():
        return []
    found = set()
    for file in path.rglob("*"):
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(path).parts):
            try:
                found.add(str(pydicom.dcmread(file, stop_before_pixels=True,
                                              specific_tags=["SeriesInstanceUID"]).SeriesInstanceUID))
            except Exception:  # not DICOM, or no UID: the reader decides what to make of the folder
                continue
    return sorted(found)


def list_slices(scan: Scan) -> list[tuple[str | None, int]]:
    """(series, slice) of every slice to track of ``scan``: every series of a DICOM study folder unless
    the scan names one, every slice of each unless it names one. A task: it reads the input."""
    from .io import read_slices
    series_list = [scan.series] if scan.series else (dicom_series(scan.path) if scan.path.is_dir() else [])
    if len(series_list) < 2:
        series_list = [scan.series]
    if scan.slice is not None:
        return [(series, scan.slice) for series in series_list]
    return [(series, k) for series in series_list for k in range(len(read_slices(scan.path, series=series)))]


def slice_job(scan: Scan, series: str | None, slice_index: int, several_series: bool) -> SliceJob:
    """The task of one slice; its folder holds the series UID only where the scan has several."""
    parts = [scan.name] + ([series] if several_series and series else []) + [f"slice_{slice_index:02d}"]
    return SliceJob(scan, series, slice_index, "/".join(parts))


# ---- one task -----------------------------------------------------------------------------------

def base_row(job: SliceJob) -> dict:
    return {"input": str(job.scan.path), "series": job.series, "slice": job.slice, "folder": job.folder}


def track_slice(job: SliceJob, options: Options, model) -> dict:
    """Track one slice with ``model`` into its result folder (atomically); returns its rows of the batch
    tables, ``{"row": ..., "segments": [...]}``, with status 'failed' and the reason for any error."""
    started = time.perf_counter()
    try:
        outcome = _track_and_write(job, options, model, started)
    except Exception as error:  # a failing slice must never stop the batch; its row says why
        outcome = {"row": base_row(job) | {"status": "failed", "error": failure_reason(error),
                                           "seconds": round(time.perf_counter() - started, 3)}, "segments": []}
    return outcome


def _track_and_write(job: SliceJob, options: Options, model, started: float) -> dict:
    import torch

    from .commands.common import device_description
    from .commands.track import input_mapping, summarise, tracking_myocardium, write_result
    from .io import read_points, read_sequence
    from .long_axis import make_myocardium, sequence_view
    from .outputs import result_directory
    from .report import write_report
    from .track import track_sequence

    torch.set_num_threads(options.threads)
    scan = job.scan
    sequence = read_sequence(scan.path, series=job.series, slice_index=job.slice)
    points = read_points(scan.points) if scan.points else None
    mapping = input_mapping(sequence, scan.roi, points, scan.points)
    view = sequence_view(sequence, scan.myocardium.get("view"))[0]
    myocardium = (make_myocardium(sequence.images.shape[1:], scan.myocardium | {"view": view}, sequence.spacing,
                                  sequence.source) if has_myocardium(scan.myocardium) else None)
    wall, used = tracking_myocardium(myocardium, sequence, view, options.adapt)
    device = torch.device(options.device)
    result = track_sequence(sequence, model, points, mapping=mapping, intensity=options.intensity,
                            adapt=options.adapt, device=device, myocardium=wall)
    row = base_row(job) | {"series": job.series or sequence.metadata.get("series_uid"), "status": "ok",
                           "error": None, "view": view, "frames": sequence.num_frames,
                           "nonpositive_jacobians": result.nonpositive_jacobians["lagrangian"],
                           "mean_uncertainty_px": round(float(np.nanmean(result.uncertainty)), 6)}
    with result_directory(options.out / job.folder, force=True) as folder:
        write_result(folder, result, sequence, summarise(result, sequence, options.model_name,
                                                         options.intensity, scan.roi, device_description(device),
                                                         view=scan.myocardium.get("view"), tracking=used))
        segments = _write_strain(folder, result, sequence, myocardium, row) if myocardium else []
        if options.report:  # strain, where there is, from folder/strain
            write_report(folder, folder / "report.html", pictures_dir=folder / "pictures", force=True)
        row["seconds"] = round(time.perf_counter() - started, 3)  # as the table records it, also on resuming
        write_json(folder / ROW_FILE, {"row": row, "segments": segments})
    return {"row": row, "segments": segments}


def _write_strain(folder: Path, result, sequence, myocardium, row: dict) -> list[dict]:
    """Strain into ``folder/strain`` (as ``deeptag strain`` writes it); adds the global peaks to ``row``
    and returns the segments' rows."""
    from .long_axis import compute_any_strain, write_any_strain
    from .strain import region_kind
    times = None if sequence.frame_times is None else np.asarray(sequence.frame_times, dtype=float)
    strain = compute_any_strain(result.lagrangian, myocardium, sequence.spacing, times)
    (folder / "strain").mkdir()
    summary = write_any_strain(folder / "strain", strain)
    segments = []
    for region in summary["regions"]:
        values = _peaks(region) | {"myocardium_points": region["points"]}
        if region_kind(region) == "global":
            row.update(values)
        elif region_kind(region) == "segment":
            segments.append({key: row[key] for key in ("input", "series", "slice", "folder")}
                            | {"segment": region["region"], "name": region["name"]} | values)
    return segments


def _peaks(region: dict) -> dict:
    """The ``peak_columns`` of a region of ``strain_summary``."""
    from .strain import QUANTITIES
    return dict(zip(peak_columns(), ((region["peaks"].get(q) or {}).get(key)
                                     for q in QUANTITIES + LONG_AXIS_PEAKS for key in ("value", "frame"))))


def finished_rows(out: Path, job: SliceJob) -> dict | None:
    """The rows a finished slice wrote (``resumed`` set), or None when it has not finished."""
    import json
    path = out / job.folder / ROW_FILE
    if not path.is_file():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    identity = base_row(job) | {"series": stored["row"]["series"]}  # the input as this run names it
    stored["row"] |= identity | {"resumed": True}
    stored["segments"] = [segment | identity for segment in stored["segments"]]
    return stored


# ---- the batch on Dask ------------------------------------------------------------------------


def failed_scan_row(scan: Scan, reason: str) -> dict:
    """The row of an input whose slices could not even be listed."""
    return {"input": str(scan.path), "series": scan.series, "slice": scan.slice, "folder": scan.name,
            "status": "failed", "error": reason}


def safe_list_slices(scan: Scan) -> list[tuple[str | None, int]] | str:
    """``list_slices``, or the reason it failed (a task result, so that the client sees it)."""
    try:
        return list_slices(scan)
    except Exception as error:
        return failure_reason(error)


def failure_reason(error: Exception) -> str:
    """What a failed row says: an input error's message, else the exception's type and message."""
    return str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"


class Progress:
    """A tqdm bar on stderr over the slices to track, with the counts of each outcome."""

    def __init__(self, quiet: bool) -> None:
        from tqdm import tqdm
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}
        self.bar = tqdm(total=0, unit="slice", file=sys.stderr, dynamic_ncols=True,
                        disable=quiet or not sys.stderr.isatty())

    def add(self, count: int) -> None:
        self.bar.total += count

    def done(self, status: str) -> None:
        self.counts[status] += 1
        self.bar.set_postfix(self.counts, refresh=False)
        if status != "skipped":
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def default_workers() -> int:
    """As many workers as the machine allows: one per CPU core this process may use, and no more
    than one per 2 GiB of memory."""
    import psutil
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, psutil.virtual_memory().total // 2**31))


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None):
    """A client of the running cluster at ``scheduler``, else of a new local cluster of ``workers``
    single-threaded worker processes (default ``default_workers()``), closed at the end."""
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as error:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({error})") from None
        with client:
            yield client
        return
    with sigint_ignored():  # by the workers: Ctrl-C stops this process, which closes the cluster
        cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def sigint_ignored():
    """Processes started in this block ignore SIGINT (in the main thread; elsewhere it changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class BatchRun:
    """The state of one batch on a Dask client: futures in flight and the outcome of every slice."""

    def __init__(self, client, options: Options, model, progress: Progress) -> None:
        from distributed import as_completed
        self.client, self.options, self.progress = client, options, progress
        self.model = client.scatter(model, broadcast=True, hash=False)
        self.pending = as_completed()
        self.listing: dict = {}
        self.submitted: dict = {}
        self.results: dict[tuple, dict] = {}
        self.folders: set[str] = set()

    def submit(self, table: dict, label: tuple, function, *arguments) -> None:
        """Run ``function(*arguments)`` as a task; ``table`` maps its key to ``label``."""
        future = self.client.submit(function, *arguments, pure=False)
        table[future.key] = label
        self.pending.add(future)

    def run(self, scans: list[Scan]) -> tuple[list[dict], list[dict]]:
        for number, scan in enumerate(scans):
            self.submit(self.listing, (number, scan), safe_list_slices, scan)
        for future in self.pending:
            try:
                value = future.result()
            except Exception as error:  # the task's worker died too often (KilledWorker) or similar
                value = failure_reason(error)
            future.release()  # read: the cluster need not keep (nor recompute) it
            if future.key in self.listing:
                self.listed(*self.listing.pop(future.key), value)
            else:
                self.finished(*self.submitted.pop(future.key), value)
        ordered = [self.results[key] for key in sorted(self.results)]
        return [o["row"] for o in ordered], [s for o in ordered for s in o["segments"]]

    def listed(self, number: int, scan: Scan, listed: list | str) -> None:
        """Submit the slices of a listed scan that are still to track; a failed listing is the scan's row."""
        if isinstance(listed, str):
            self.results[(number, "", -1)] = {"row": failed_scan_row(scan, listed), "segments": []}
            self.progress.add(1)
            self.progress.done("failed")
            return
        several = len({series for series, _ in listed}) > 1
        for series, k in listed:
            job = slice_job(scan, series, k, several)
            if job.folder in self.folders:
                self.progress.add(1)
                self.finished(number, job, "the same slice as another row of the batch")
                continue
            self.folders.add(job.folder)
            stored = finished_rows(self.options.out, job)
            if stored is not None:
                self.record(number, job, stored, "skipped")
            else:
                self.progress.add(1)
                self.submit(self.submitted, (number, job), track_slice, job, self.options, self.model)

    def finished(self, number: int, job: SliceJob, value: dict | str) -> None:
        """Record a slice's outcome: its task's rows, or the reason it failed."""
        if isinstance(value, str):
            value = {"row": base_row(job) | {"status": "failed", "error": value}, "segments": []}
        self.record(number, job, value)

    def record(self, number: int, job: SliceJob, outcome: dict, status: str | None = None) -> None:
        self.results[(number, job.series or "", job.slice)] = outcome
        self.progress.done(status or outcome["row"]["status"])


def run_batch(client, scans: list[Scan], options: Options, model,
              quiet: bool = True) -> tuple[list[dict], list[dict]]:
    """Track every slice of ``scans`` with ``model`` on the Dask ``client``'s cluster, skipping finished
    slices; returns the summary rows and the segment rows, in the order of the scans, series and slices."""
    progress = Progress(quiet)
    try:
        return BatchRun(client, options, model, progress).run(scans)
    finally:
        progress.close()


def write_tables(out: Path, rows: list[dict], segments: list[dict]) -> None:
    """``summary.csv``/``.parquet`` (one row per slice) and ``segments.csv``/``.parquet`` (one row per
    slice and AHA segment) in ``out``, each written to a temporary file and renamed."""
    from .report import write_atomically

    peaks = peak_columns()
    for name, records, columns in (("summary", rows, SUMMARY_COLUMNS + peaks),
                                   ("segments", segments, SEGMENT_COLUMNS + peaks)):
        table = _typed(pd.DataFrame.from_records(records, columns=columns))
        write_atomically(out / f"{name}.csv", lambda path: table.to_csv(path, index=False))
        write_atomically(out / f"{name}.parquet", lambda path: table.to_parquet(path, index=False))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Columns with fixed types, so that tables of different batches read alike."""
    types = {"input": "string", "series": "string", "folder": "string", "status": "string", "error": "string",
             "view": "string",
             "name": "string", "slice": "Int64", "frames": "Int64", "nonpositive_jacobians": "Int64",
             "myocardium_points": "Int64", "segment": "Int64", "resumed": "boolean", "seconds": "Float64",
             "mean_uncertainty_px": "Float64"}
    for column in table.columns:
        kind = types.get(column, "Int64" if column.endswith("_frame") else "Float64")
        table[column] = table[column].astype(kind)
    if "resumed" in table:
        table["resumed"] = table["resumed"].fillna(False)
    return table
