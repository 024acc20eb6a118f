"""Whole-process cost of ``deeptag track`` beside the authors' kind of script, on the real sequence.

Every configuration runs as its own process, started from nothing, timed from launch to exit, and
its peak memory read from that child's own resource usage (``os.wait4``). They run interleaved, one
repeat of each in turn, so that a machine shared with other work slows them alike; the medians and
their ratios to the reference are printed.

- reference: what the authors' script does, with deeptag's network class and the published weights
  (``load_model('official:PATH')``): import PyTorch, build the network, load the weights, resize the
  frames to 192 (area), one forward pass over all consecutive pairs, compose the Lagrangian fields,
  track the frame-0 landmarks with ``grid_sample``, print them; nothing is written.
- ``deeptag track --adapt 0 --model official:PATH``: the same network alone, writing its default outputs.
- ``deeptag track``: the default command (bundled model, test-time adaptation), writing its outputs.

Then, in one process, the cost and size of each output file of ``track``; and the thread count under
load: ``deeptag track --threads 1`` against ``--threads 2`` on the idle machine and with a busy-loop
process holding one core (``--adapt 0``, and ``--adapt K`` for a few steps of the adaptation).

    python benchmarks/whole_process.py [--repeats 3] [--skip-adapted] [--threads-steps 10]

Needs ../shared/real/sax_45_23.npz and deeptag_official_weights.pth (skips when they are absent).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real"
SEQUENCE = REAL / "sax_45_23.npz"
WEIGHTS = REAL / "deeptag_official_weights.pth"
DEEPTAG = [sys.executable, "-m", "deeptag"]


def reference(sequence: str, weights: str) -> None:
    """The authors' kind of script: nothing but PyTorch, the network and ``grid_sample``; prints the tracks."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from deeptag import fields
    from deeptag.checkpoint import load_model

    data = np.load(sequence)
    images = torch.from_numpy(data["images"].astype(np.float32))[:, None]
    size = images.shape[-1]
    frames = F.interpolate(images, size=(192, 192), mode="area")
    scale = 191 / (size - 1)
    model, _ = load_model(f"official:{weights}")
    with torch.inference_mode():
        pairs = model(frames[:-1], frames[1:], stochastic=False)
        lagrangian = fields.lagrangian_fields(pairs.forward)
        tracks = fields.track_points(lagrangian, torch.from_numpy(data["landmarks"][0]) * scale) / scale
    print(json.dumps(tracks.tolist()))


def busy_loop() -> subprocess.Popen:
    """A process that keeps one core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run_process(command: list[str], env: dict | None = None) -> dict:
    """Wall seconds from launch to exit and the child's own peak resident memory (MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-2000:]}")
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024, "stdout": stdout}


def mean_distance(tracks, landmarks) -> float:
    import numpy as np
    distance = np.linalg.norm(np.asarray(tracks)[1:] - landmarks[1:], axis=-1)
    return float(np.nanmean(distance))


def whole_process(args: argparse.Namespace, work: Path, points: Path) -> dict:
    import numpy as np

    landmarks = np.load(SEQUENCE)["landmarks"]
    configs = {
        "reference (authors' kind of script)": [sys.executable, __file__, "--reference"],
        # the same with one thread, PyTorch's default cut to what a shared machine leaves it
        "reference, OMP_NUM_THREADS=1": ["env", "OMP_NUM_THREADS=1", sys.executable, __file__, "--reference"],
        "deeptag track --adapt 0 (published weights)": DEEPTAG + [
            "track", str(SEQUENCE), "--points", str(points), "--model", f"official:{WEIGHTS}", "--adapt", "0",
            "--out", str(work / "adapt0"), "--force"],
    }
    if not args.skip_adapted:
        configs["deeptag track (default: bundled model, adapted)"] = DEEPTAG + [
            "track", str(SEQUENCE), "--points", str(points), "--out", str(work / "adapted"), "--force"]
    runs = {name: [] for name in configs}
    tracks = {}
    for repeat in range(args.repeats):
        for name, command in configs.items():
            result = run_process(command)
            runs[name].append(result)
            if "reference" in name:
                tracks[name] = json.loads(result["stdout"].strip().splitlines()[-1])
            else:
                tracks[name] = np.load(work / ("adapt0" if "adapt 0" in name else "adapted") / "tracks.npy")
            print(f"  repeat {repeat + 1}: {name}: {result['seconds']:.2f} s, {result['peak_mib']:.0f} MiB",
                  flush=True)
    names = list(configs)
    base = statistics.median(r["seconds"] for r in runs[names[0]])
    rows = []
    print(f"\nwhole process, median of {args.repeats} (sax_45_23: {len(landmarks)} frames of "
          f"{np.load(SEQUENCE)['images'].shape[1]} px, 30 landmarks)")
    print(f"{'':<50}{'seconds':>9}{'x ref':>8}{'peak MiB':>10}{'landmark px':>13}")
    for name in names:
        seconds = statistics.median(r["seconds"] for r in runs[name])
        peak = max(r["peak_mib"] for r in runs[name])
        error = mean_distance(tracks[name], landmarks)
        rows.append({"config": name, "seconds_median": seconds, "seconds_all": [r["seconds"] for r in runs[name]],
                     "ratio_to_reference": seconds / base, "peak_mib": peak, "mean_landmark_px": error})
        print(f"{name:<50}{seconds:9.2f}{seconds / base:8.2f}{peak:10.0f}{error:13.3f}")
    same = float(np.max(np.abs(np.asarray(tracks[names[0]]) - tracks[names[2]])))
    print(f"tracks of the reference and of track --adapt 0 differ by at most {same:.4f} px")
    return {"rows": rows, "reference_vs_adapt0_max_px": same}


def output_costs(points: Path, work: Path) -> list[dict]:
    """In this process: track once with the network alone, then time each file ``write_result`` writes."""
    import numpy as np
    import torch

    from deeptag import outputs
    from deeptag.checkpoint import load_model
    from deeptag.commands import track as track_command
    from deeptag.io import read_sequence
    from deeptag.track import track_sequence

    sequence = read_sequence(SEQUENCE)
    model, name = load_model(f"official:{WEIGHTS}")
    result = track_sequence(sequence, model, np.load(points), adapt=None)
    costs: list[tuple[str, float]] = []

    def timed(function, label):
        def wrapper(*a, **k):
            started = time.perf_counter()
            value = function(*a, **k)
            costs.append((label(*a, **k), time.perf_counter() - started))
            return value
        return wrapper

    patches = [(outputs, "write_nifti_frames", lambda path, *a, **k: Path(path).name),
               (track_command, "write_tracks", lambda *a, **k: "tracks.npy + tracks.csv"),
               (track_command, "write_json", lambda path, *a, **k: Path(path).name),
               (track_command, "lagrangian_jacobian", lambda *a, **k: "(Lagrangian Jacobian, computed)"),
               (np, "savez", lambda path, *a, **k: Path(path).name),
               (np, "savez_compressed", lambda path, *a, **k: Path(path).name)]
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in patches if hasattr(module, attr)]
    for module, attr, label in patches:
        if hasattr(module, attr):
            setattr(module, attr, timed(getattr(module, attr), label))
    folder = work / "outputs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    summary = track_command.summarise(result, sequence, name, "auto", None, "cpu")
    try:
        started = time.perf_counter()
        track_command.write_result(folder, result, sequence, summary)
        total = time.perf_counter() - started
    finally:
        for module, attr, function in saved:
            setattr(module, attr, function)
    rows = []
    print(f"\noutput writing (in-process; tracking itself took {result.seconds['total']:.2f} s, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'file':<40}{'seconds':>9}{'MB':>9}")
    for label, seconds in costs:
        files = [folder / part.strip() for part in label.split("+")] if not label.startswith("(") else []
        size = sum(f.stat().st_size for f in files if f.exists()) / 1e6
        rows.append({"file": label, "seconds": seconds, "mb": size})
        print(f"{label:<40}{seconds:9.3f}{size:9.2f}")
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    print(f"{'all of write_result':<40}{total:9.3f}{size:9.2f}")
    rows.append({"file": "all of write_result", "seconds": total, "mb": size})
    return rows + writer_alternatives(result, sequence, work)


def writer_alternatives(result, sequence, work: Path, repeats: int = 3) -> list[dict]:
    """The same data written the ways considered, interleaved, best of ``repeats``: a Lagrangian
    component as NIfTI through nibabel (gzip level 1) and through ``write_nifti_frames`` (gzip where it
    pays), in full frame and with NaN outside a region; fields.npz stored and compressed."""
    import nibabel as nib
    import numpy as np

    from deeptag.outputs import nifti_affine, write_nifti_frames

    component = result.lagrangian[:, 1]
    region = np.full_like(component, np.nan)
    height, width = component.shape[1:]
    region[:, height // 4:3 * height // 4, width // 4:3 * width // 4] = \
        component[:, height // 4:3 * height // 4, width // 4:3 * width // 4]
    affine = nifti_affine(sequence)

    def nibabel_gzip1(path, frames):
        nib.save(nib.Nifti1Image(np.asarray(frames, np.float32).transpose(2, 1, 0)[:, :, None, :], affine), path)

    arrays = {"inf_forward": result.inf_forward, "inf_backward": result.inf_backward,
              "lagrangian": result.lagrangian, "uncertainty": result.uncertainty}
    ways = {"NIfTI full frame, nibabel gzip 1": lambda p: nibabel_gzip1(p, component),
            "NIfTI full frame, write_nifti_frames": lambda p: write_nifti_frames(p, component, affine),
            "NIfTI half-side region, nibabel gzip 1": lambda p: nibabel_gzip1(p, region),
            "NIfTI half-side region, write_nifti_frames": lambda p: write_nifti_frames(p, region, affine),
            "fields.npz stored (np.savez)": lambda p: np.savez(p, **arrays),
            "fields.npz deflated (np.savez_compressed)": lambda p: np.savez_compressed(p, **arrays)}
    best = {name: float("inf") for name in ways}
    paths = {}
    for _ in range(repeats):
        for index, (name, write) in enumerate(ways.items()):
            paths[name] = work / (f"alt{index}.npz" if "npz" in name else f"alt{index}.nii.gz")
            started = time.perf_counter()
            write(paths[name])
            best[name] = min(best[name], time.perf_counter() - started)
    print(f"\nwriters compared on the same data (best of {repeats})")
    print(f"{'':<45}{'seconds':>9}{'MB':>9}")
    rows = []
    for name in ways:
        size = paths[name].stat().st_size / 1e6
        rows.append({"writer": name, "seconds": best[name], "mb": size})
        print(f"{name:<45}{best[name]:9.3f}{size:9.2f}")
    return rows


def threads_under_load(args: argparse.Namespace, work: Path, points: Path) -> list[dict]:
    """``--threads 1`` and ``--threads 2`` as whole processes, idle and with one core held by a busy loop."""
    rows = []
    settings = [("network alone", ["--model", f"official:{WEIGHTS}", "--adapt", "0"])]
    if args.threads_steps:
        settings.append((f"adapted, {args.threads_steps} steps", ["--adapt", str(args.threads_steps)]))
    print(f"\nthreads (whole process, median of {args.repeats}; 'fields'/'adapt' are track's own seconds)")
    print(f"{'':<28}{'load':<12}{'threads':>12}{'seconds':>9}{'adapt s':>9}{'fields s':>9}")
    for load in ("as is", "+busy core"):
        busy = busy_loop() if load != "as is" else None
        try:
            time.sleep(0.5 if busy else 0)
            for label, extra in settings:
                for threads in (1, 2, None):  # None: deeptag's default (deeptag.threads)
                    out = work / f"threads_{threads}"
                    command = DEEPTAG + ["track", str(SEQUENCE), "--points", str(points), "--out", str(out),
                                         "--force"] + (["--threads", str(threads)] if threads else []) + extra
                    results, parts, chosen = [], [], []
                    for _ in range(args.repeats):
                        results.append(run_process(command))
                        summary = json.loads((out / "summary.json").read_text())
                        parts.append(summary["seconds"])
                        chosen.append(summary["device"].rsplit(", ", 1)[-1].split()[0])
                    seconds = statistics.median(r["seconds"] for r in results)
                    adapt = statistics.median(p["adapt"] for p in parts)
                    fields = statistics.median(p["fields"] for p in parts)
                    shown = threads or "default:" + "/".join(chosen)
                    rows.append({"setting": label, "load": load, "threads": shown, "seconds_median": seconds,
                                 "adapt_s": adapt, "fields_s": fields})
                    print(f"{label:<28}{load:<12}{shown:>12}{seconds:9.2f}{adapt:9.2f}{fields:9.2f}", flush=True)
        finally:
            if busy:
                busy.kill()
                busy.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each process (median; default 3)")
    parser.add_argument("--skip-adapted", action="store_true", help="leave out the default (adapted) track")
    parser.add_argument("--threads-steps", type=int, default=10,
                        help="adaptation steps in the thread comparison (0: network alone only; default 10)")
    parser.add_argument("--parts", nargs="+", default=["whole", "outputs", "threads"],
                        choices=["whole", "outputs", "threads"], help="which measurements to run")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        reference(str(SEQUENCE), str(WEIGHTS))
        return
    if not (SEQUENCE.is_file() and WEIGHTS.is_file()):
        print(f"skipped: needs {SEQUENCE} and {WEIGHTS}")
        return
    import numpy as np

    load = os.getloadavg()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average "
          f"{load[0]:.2f} at the start (a shared machine slows every configuration alike, not the ratios)")
    figures = {"cpu_count": os.cpu_count(), "load_average_start": load}
    with tempfile.TemporaryDirectory(prefix="deeptag_whole_") as tmp:
        work = Path(tmp)
        points = work / "points.npy"
        np.save(points, np.load(SEQUENCE)["landmarks"][0])
        if "whole" in args.parts:
            figures["whole_process"] = whole_process(args, work, points)
        if "outputs" in args.parts:
            figures["outputs"] = output_costs(points, work)
        if "threads" in args.parts:
            figures["threads"] = threads_under_load(args, work, points)
    figures["load_average_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
