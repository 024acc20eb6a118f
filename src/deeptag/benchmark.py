"""The paper's evaluation (Tables 1 and 2, Figures 8 and 10): every method on the same sequences.

A *method* is anything that turns frames (T, H, W) and frame-0 points (K, 2) into a
``deeptag.baselines.BaselineResult``: HARP and TV-L1 directly, the learned networks (VoxelMorph
variants, ablations, DeepTag) through ``deeptag.baselines.voxelmorph.track_network``. Every method
runs in this process on the same frames; the metrics of one run (one method on one sequence) are:

* landmark distances (T, K) to the expert landmarks, in mm where every sequence has a pixel spacing,
  else in pixels; the run's RMS error (Eq. 23) and mean distance pool frames 1..T-1 and all marked
  landmarks (``deeptag.metrics.landmark_summary``);
* the number of pixels with a non-positive Jacobian determinant (Eq. 24) of the INF fields ``u_t``
  (Table 1's column) and of the Lagrangian fields ``L_t`` (Table 2's), summed over the sequence, on
  the input grid for every method; none where a method gives no such field;
* the wall-clock seconds of the whole call, frames in memory to tracks and fields on the input grid;
* where ground-truth Lagrangian fields and a frame-0 myocardium mask exist (simulated data), the dense
  end-point error ``deeptag.metrics.myocardium_epe``.

Table rows give mean and standard deviation over sequences (population sd, ``ddof=0``, so one
sequence gives sd 0). Per-phase curves (Figures 8 and 10) bin frame t of T at the phase t / (T - 1) of
the cycle into ``bins`` equal bins ((k/bins, (k+1)/bins], frame 0 excluded), take each sequence's RMS
error over the frames and landmarks of a bin, then the mean and sd of those over sequences.
"""
from __future__ import annotations

import csv
import math
import os
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import fields
from .baselines import BASELINES, BaselineResult
from .baselines.voxelmorph import VOXELMORPH_LABELS
from .errors import InputError
from .io import Sequence, read_sequence
from .losses import ABLATIONS, VM_CONFIGS, LossConfig
from .metrics import landmark_distances, landmark_summary, myocardium_epe
from .model import ModelConfig
from .train import Trainer, TrainConfig

# A method as the benchmark runs it: (images (T, H, W), frame-0 points (K, 2), roi=the heart's box the
# sequence carries or None) -> its result
Tracker = Callable[..., BaselineResult]


def whole_frame(track: Callable[[np.ndarray, np.ndarray], BaselineResult]) -> Tracker:
    """A tracker that ignores the box: HARP and TV-L1 work on the whole frame at its own resolution."""
    def run(images: np.ndarray, points: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> BaselineResult:
        return track(images, points)
    return run


@dataclass(frozen=True)
class Method:
    """One row of Table 1 or 2: its name on the command line, its label in the tables, the frame pairs
    it relates ("consecutive", or "reference": frame 0 to every frame), and, for a network trained
    here, its model and loss configuration."""

    name: str
    label: str
    table: int
    pairs: str = "consecutive"
    configs: tuple[ModelConfig, LossConfig] | None = None

    @property
    def learned(self) -> bool:
        return self.name not in BASELINES


def _methods() -> dict[str, Method]:
    methods = [Method("harp", "HARP", 1, "frame to frame, phases of frame 0"), Method("tvl1", "OF-TV", 1)]
    methods += [Method(name, label, 1, VM_CONFIGS[name][1].pairs, VM_CONFIGS[name])
                for name, label in VOXELMORPH_LABELS.items()]
    methods.append(Method("deeptag", "DeepTag (ours)", 1))
    methods += [Method(name, "Ours (full)" if name == "full" else name, 2, config.pairs, (ModelConfig(), config))
                for name, config in ABLATIONS.items()]
    return {method.name: method for method in methods}


METHODS = _methods()


@dataclass
class Case:
    """One benchmark sequence: its frames and landmarks, and the dense ground truth where known.

    ``gt_lagrangian`` (T, 2, H, W) pixels with ``L_0 = 0``; ``myocardium_mask`` (H, W) bool at frame 0.
    """

    name: str
    sequence: Sequence
    gt_lagrangian: np.ndarray | None = None
    myocardium_mask: np.ndarray | None = None


def load_case(path: str | Path) -> Case:
    """A sequence with landmarks (any format ``read_sequence`` reads) and, from an ``.npz``, the
    simulator's ``gt_lagrangian`` and ``myocardium_mask`` when it holds both."""
    path = Path(path)
    sequence = read_sequence(path)
    if sequence.landmarks is None:
        raise InputError("no 'landmarks' (T, K, 2) to evaluate against", path)
    if np.isnan(sequence.landmarks[1:]).all():
        raise InputError("no landmark is marked after frame 0", path)
    case = Case(path.name.removesuffix(".npz"), sequence)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "gt_lagrangian" in data.files and "myocardium_mask" in data.files:
                truth = np.asarray(data["gt_lagrangian"], dtype=np.float32)
                mask = np.asarray(data["myocardium_mask"], dtype=bool)
                mask = mask[0] if mask.ndim == 3 else mask
                expected = (sequence.num_frames, 2, *sequence.images.shape[1:])
                if truth.shape != expected or mask.shape != expected[2:]:
                    raise InputError(f"'gt_lagrangian' must be {expected} and 'myocardium_mask' "
                                     f"{expected[2:]}, got {truth.shape} and {mask.shape}", path)
                case.gt_lagrangian, case.myocardium_mask = truth, mask
    return case


def length_unit(cases: list[Case]) -> str:
    """The unit of the lengths: mm where every sequence has a pixel spacing, else px (never mixed)."""
    return "mm" if all(case.sequence.spacing is not None for case in cases) else "px"


def nonpositive_jacobians(displacements: np.ndarray | None) -> int | None:
    """Pixels with a non-positive Jacobian determinant of ``id + u`` over fields (N, 2, H, W), or None."""
    if displacements is None:
        return None
    return fields.count_nonpositive_jacobians(torch.from_numpy(np.asarray(displacements, dtype=np.float32)))


@dataclass
class Run:
    """The metrics of one method on one sequence (lengths in ``unit``)."""

    method: str
    case: str
    unit: str
    distances: np.ndarray  # (T, K), NaN where no landmark is marked
    rms: float
    mean_distance: float
    nonpositive_inf: int | None
    nonpositive_lagrangian: int | None
    seconds: float
    epe: float | None


def evaluate_run(method: str, case: Case, result: BaselineResult, seconds: float, unit: str) -> Run:
    """Score one method's ``result`` on ``case``; ``seconds`` is its measured wall-clock time."""
    sequence = case.sequence
    spacing = sequence.spacing if unit == "mm" else None
    summary = landmark_summary(result.tracks, sequence.landmarks, spacing, unit)
    epe = None
    if case.gt_lagrangian is not None and result.lagrangian is not None:
        epe = myocardium_epe(result.lagrangian, case.gt_lagrangian, case.myocardium_mask, spacing)
    return Run(method, case.name, unit, landmark_distances(result.tracks, sequence.landmarks, spacing),
               summary[f"rms_{unit}"], summary[f"mean_{unit}"], nonpositive_jacobians(result.inf_fields),
               nonpositive_jacobians(result.lagrangian), seconds, epe)


def run_benchmark(trackers: dict[str, Tracker], cases: list[Case], progress: Callable[[str], None] | None = None,
                  synchronize: Callable[[], None] = lambda: None) -> list[Run]:
    """Every tracker on every case, one after the other in this process; returns one ``Run`` each.

    Before timing, each tracker runs once untimed on the first two frames of the first case (so lazy
    initialisation is not charged to the first sequence). ``synchronize`` waits for queued GPU work
    before a clock is read.
    """
    unit = length_unit(cases)
    first = cases[0].sequence
    for track in trackers.values():
        track(first.images[:2], first.landmarks[0], roi=first.roi)
    runs = []
    for case in cases:
        for name, track in trackers.items():
            synchronize()
            started = time.perf_counter()
            result = track(case.sequence.images, case.sequence.landmarks[0], roi=case.sequence.roi)
            synchronize()
            seconds = time.perf_counter() - started
            runs.append(evaluate_run(name, case, result, seconds, unit))
            if progress:
                progress(f"{case.name}: {name} RMS {runs[-1].rms:.3f} {unit}, {seconds:.2f} s")
    return runs


def mean_sd(values: list[float | None]) -> tuple[float | None, float | None, int]:
    """Mean, population standard deviation and count of the values that are not None (or NaN)."""
    kept = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if kept.size == 0:
        return None, None, 0
    return float(kept.mean()), float(kept.std()), int(kept.size)


SUMMARY_METRICS = ("rms", "mean_distance", "nonpositive_inf", "nonpositive_lagrangian", "seconds", "epe")


def summary_rows(runs: list[Run], methods: list[str]) -> list[dict]:
    """One row per method (in the given order): label, pairs, sequences, and mean/sd of each metric."""
    rows = []
    for name in methods:
        mine = [run for run in runs if run.method == name]
        if not mine:
            continue
        method = METHODS[name]
        row = {"method": name, "label": method.label, "pairs": method.pairs, "sequences": len(mine),
               "unit": mine[0].unit}
        for key in SUMMARY_METRICS:
            mean, sd, count = mean_sd([getattr(run, key) for run in mine])
            row[f"{key}_mean"], row[f"{key}_sd"], row[f"{key}_n"] = mean, sd, count
        rows.append(row)
    return rows


def phase_bins(num_frames: int, bins: int) -> np.ndarray:
    """The phase bin (0 .. bins-1) of frames 1..T-1 at phase t / (T - 1), bins (k/bins, (k+1)/bins]."""
    phase = np.arange(1, num_frames) / (num_frames - 1)
    return np.ceil(np.round(phase * bins, 9)).astype(int) - 1


def phase_curves(runs: list[Run], methods: list[str], bins: int = 10) -> dict[str, dict[str, np.ndarray]]:
    """Per method: ``mean``, ``sd`` (bins,) of the per-sequence RMS error in each phase bin, and the
    number of sequences ``count`` with a marked landmark in the bin; NaN where none has."""
    curves = {}
    for name in methods:
        per_sequence = []
        for run in (run for run in runs if run.method == name):
            which = phase_bins(run.distances.shape[0], bins)
            squared = run.distances[1:] ** 2
            values = np.full(bins, np.nan)
            for k in range(bins):
                marked = squared[which == k]
                marked = marked[~np.isnan(marked)]
                if marked.size:
                    values[k] = np.sqrt(marked.mean())
            per_sequence.append(values)
        if not per_sequence:
            continue
        stack = np.stack(per_sequence)
        count = (~np.isnan(stack)).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)
            sd = np.where(count > 0, np.sqrt(np.nansum((stack - mean) ** 2, axis=0) / np.maximum(count, 1)), np.nan)
        curves[name] = {"mean": mean, "sd": sd, "count": count}
    return curves


def _format(mean: float | None, sd: float | None, digits: int) -> str:
    return "n/a" if mean is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def markdown_table(rows: list[dict], title: str) -> str:
    """A Markdown table of ``summary_rows`` output, mean ± sd over sequences; a metric that applies to
    no row (the EPE without ground-truth fields) is left out."""
    unit = rows[0]["unit"]
    headers = {"rms": f"RMS ({unit}) ↓", "mean_distance": f"mean distance ({unit}) ↓",
               "nonpositive_inf": "det(J_φ) ≤ 0 (#) ↓", "nonpositive_lagrangian": "det(J_Φ) ≤ 0 (#) ↓",
               "seconds": "Time (s) ↓", "epe": f"myocardium EPE ({unit}) ↓"}
    digits = {"rms": 3, "mean_distance": 3, "nonpositive_inf": 1, "nonpositive_lagrangian": 1, "seconds": 4, "epe": 3}
    keys = [key for key in headers if any(row[f"{key}_mean"] is not None for row in rows)]
    header = ["Method"] + [headers[key] for key in keys] + ["pairs", "sequences"]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        cells = [row["label"]] + [_format(row[f"{key}_mean"], row[f"{key}_sd"], digits[key]) for key in keys]
        lines.append("| " + " | ".join(cells + [row["pairs"], str(row["sequences"])]) + " |")
    return "\n".join(lines) + "\n"


def write_rows_csv(path: Path, rows: list[dict]) -> None:
    """``summary_rows`` as CSV; empty cells where a metric does not apply."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def write_runs_csv(path: Path, runs: list[Run]) -> None:
    """One row per method and sequence with every metric (lengths in the run's unit)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "sequence", "unit", "rms", "mean_distance", "nonpositive_inf",
                         "nonpositive_lagrangian", "seconds", "epe"])
        for run in runs:
            writer.writerow([run.method, run.case, run.unit, f"{run.rms:.6f}", f"{run.mean_distance:.6f}",
                             "" if run.nonpositive_inf is None else run.nonpositive_inf,
                             "" if run.nonpositive_lagrangian is None else run.nonpositive_lagrangian,
                             f"{run.seconds:.6f}", "" if run.epe is None else f"{run.epe:.6f}"])


def write_curves_csv(path: Path, curves: dict[str, dict[str, np.ndarray]], bins: int) -> None:
    """The per-phase curves: method, bin edges, mean and sd of the RMS error, sequences in the bin."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "label", "phase_from", "phase_to", "rms_mean", "rms_sd", "sequences"])
        for name, curve in curves.items():
            for k in range(bins):
                mean, sd = curve["mean"][k], curve["sd"][k]
                writer.writerow([name, METHODS[name].label, f"{k / bins:.4f}", f"{(k + 1) / bins:.4f}",
                                 "" if np.isnan(mean) else f"{mean:.6f}", "" if np.isnan(sd) else f"{sd:.6f}",
                                 int(curve["count"][k])])


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device) -> str:
    """Where the timings come from: the CPU, its PyTorch threads, and the GPU the networks used."""
    text = (f"CPU {cpu_name()} ({os.cpu_count()} logical cores, PyTorch threads: {torch.get_num_threads()}); "
            f"HARP and OF-TV on the CPU")
    if device.type == "cuda":
        return text + f"; networks on GPU {torch.cuda.get_device_name(device)}"
    return text + "; networks on the CPU"


def train_method(method: Method, inputs: list[Path], out: Path, config: TrainConfig,
                 velocity_scale: float = 1.0, progress: bool = True, image_size: int | None = None,
                 device: str | torch.device = "cpu") -> Path:
    """Train ``method``'s network from scratch with its configuration in the run folder ``out`` on
    ``device``, or resume the run already there (with its saved settings); returns its best checkpoint.
    ``image_size`` sets the network grid (default: the configuration's, the paper's 192)."""
    if method.configs is None:
        raise ValueError(f"{method.name} is not trained by the benchmark")
    model_config, loss_config = method.configs
    model_config = replace(model_config, velocity_scale=velocity_scale,
                           image_size=image_size or model_config.image_size)
    trainer = Trainer(inputs, out, config, model_config, loss_config, resume=(out / "last.pt").is_file(),
                      device=device)
    trainer.run(progress=progress)
    return out / "best.pt"
