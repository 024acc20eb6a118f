"""Peak memory and seconds per adaptation step of ``track_sequence`` with the default test-time
adaptation, for sequences of 25 to 300 frames (issues 24 and 26: 300 frames within 3 GB).

Each length runs in a fresh process, so its peak resident memory (``VmHWM``) is its own: the bundled
model tracks a simulated validation sequence on the 192 grid, extended to T frames by running its
cardiac cycle forwards and backwards (the simulator draws at most 25 frames), with the default
``AdaptConfig`` except for the number of steps (memory does not depend on it; the steps give the
seconds per step of the coarse and the fine level, medians, in CPU seconds of the process: on a
machine shared with other work the wall-clock time of one thread says more about the others). ``--myocardium`` gives the simulator's
frame-0 myocardium, as ``deeptag track`` does for an input that stores one (the myocardium-aware loss);
without it, Eq. 12 as ``deeptag.track_sequence`` does by default. The parent stops a process whose
resident memory passes ``--limit-mib`` and reports the length as over that limit.

    python benchmarks/memory.py [--frames 25 60 120 300] [--steps 10] [--threads 1] [--myocardium]
    python benchmarks/memory.py --overhead 33 65 [--repeats 3]   # time per step, all pairs against runs

To measure another version of the code, put its ``src`` first: ``PYTHONPATH=/tmp/old/src python ...``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from reference_data import VALIDATION_SEED


def status_kib(field: str, pid: str = "self") -> int:
    """A ``/proc/PID/status`` memory figure (``VmHWM``: peak resident, ``VmRSS``: resident now), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def extended(images, frames: int):
    """``images`` (T, H, W) run forwards, backwards, forwards... to ``frames`` frames: every pair of
    consecutive frames is a pair of the cycle (or the same pair reversed)."""
    import numpy as np

    cycle = list(range(len(images))) + list(range(len(images) - 2, 0, -1))
    return np.stack([images[cycle[t % len(cycle)]] for t in range(frames)])


def measure(frames: int, steps: int, threads: int, myocardium: bool) -> dict:
    """Run inside a fresh process: track one sequence of ``frames`` frames with the default adaptation."""
    from dataclasses import replace

    import torch

    import deeptag
    from deeptag.checkpoint import load_model
    from deeptag.io import Sequence
    from deeptag.phantom import simulate_sequence
    from deeptag.track import DEFAULT_ADAPTATION, track_sequence

    torch.set_num_threads(threads)
    simulated = simulate_sequence(VALIDATION_SEED)
    sequence = Sequence(images=extended(simulated.images, frames), source=f"seed {VALIDATION_SEED}",
                        spacing=simulated.spacing, roi=simulated.roi)
    model, _ = load_model(None)
    config = replace(DEFAULT_ADAPTATION, steps=steps)
    stamps: list[float] = []
    before_kib = status_kib("VmHWM")
    result = track_sequence(sequence, model, simulated.landmarks[0], adapt=config,
                            progress=lambda _: stamps.append(time.process_time()),
                            myocardium=simulated.myocardium() if myocardium else None)
    step_seconds = [b - a for a, b in zip(stamps, stamps[1:])]  # steps 2..steps
    coarse = round(config.coarse_fraction * steps)
    return {"frames": frames, "peak_mib": status_kib("VmHWM") / 1024, "before_mib": before_kib / 1024,
            "coarse_step_s": median(step_seconds[:coarse - 1]), "fine_step_s": median(step_seconds[coarse:]),
            "adapt_s": result.seconds["adapt"], "total_s": result.seconds["total"],
            "deeptag": str(Path(deeptag.__file__).parent)}


def step_overhead(lengths: list[int], repeats: int, threads: int) -> None:
    """CPU seconds of one adaptation step (Eq. 12 on the bundled model's adapted fields, forward and
    backward) with all pairs in one graph against the runs ``adapt_model`` takes (``pairs_per_level``),
    each but the last computed again in the backward pass; the two alternate, ``repeats`` times each,
    medians."""
    import torch
    import torch.nn.functional as F

    from deeptag.adapt import AdaptedFields, backward_in_runs, pairs_per_level
    from deeptag.checkpoint import load_model
    from deeptag.io import Sequence
    from deeptag.losses import DeepTagLoss
    from deeptag.phantom import simulate_sequence
    from deeptag.preprocess import GridMapping
    from deeptag.track import DEFAULT_ADAPTATION, network_frames

    torch.set_num_threads(threads)
    model, _ = load_model(None)
    simulated = simulate_sequence(VALIDATION_SEED)
    loss = DeepTagLoss(DEFAULT_ADAPTATION.objective())
    print(f"one adaptation step, CPU seconds, median of {repeats}: all pairs at once against adapt_model's "
          f"runs, {threads} thread(s)")
    print(f"{'frames':>6} {'grid':>5} {'pairs/run':>9} {'all at once':>12} {'in runs':>8} {'ratio':>6}")
    for length in lengths:
        sequence = Sequence(images=extended(simulated.images, length), source="simulated", roi=simulated.roi)
        mapping = GridMapping.box_or_full_frame(simulated.roi, *simulated.images.shape[1:], model.config.image_size)
        frames = network_frames(sequence, mapping)
        adapted = AdaptedFields(model, frames[:-1], frames[1:], 8)
        for images in (frames, F.interpolate(frames, size=(frames.shape[-1] // 2,) * 2, mode="area")):
            run = pairs_per_level(length - 1, (frames.shape[-1] // images.shape[-1]) ** 2)
            seconds: dict[int, list[float]] = {length - 1: [], run: []}
            for _ in range(repeats):
                for pairs in (length - 1, run):
                    adapted.zero_grad(set_to_none=True)
                    started = time.process_time()
                    backward_in_runs(loss, adapted, images, pairs)
                    seconds[pairs].append(time.process_time() - started)
            whole, runs = median(seconds[length - 1]), median(seconds[run])
            print(f"{length:>6} {images.shape[-1]:>5} {run:>9} {whole:>12.2f} {runs:>8.2f} {runs / whole:>6.2f}",
                  flush=True)


def median(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None


def run_child(frames: int, args: argparse.Namespace) -> dict | None:
    """``measure`` in a fresh process, stopped (None) if its resident memory passes ``args.limit_mib``."""
    command = [sys.executable, __file__, "--child", str(frames), "--steps", str(args.steps),
               "--threads", str(args.threads)] + (["--myocardium"] if args.myocardium else [])
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    while child.poll() is None:
        try:
            if status_kib("VmRSS", str(child.pid)) > args.limit_mib * 1024:
                child.kill()
                child.wait()
                return None
        except (FileNotFoundError, KeyError):  # the process is ending
            pass
        time.sleep(0.05)
    if child.returncode != 0:
        raise RuntimeError(f"the {frames}-frame run failed (exit code {child.returncode})")
    return json.loads(child.stdout.read().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[25, 60, 120, 300])
    parser.add_argument("--steps", type=int, default=10, help="adaptation steps (7 coarse, 3 fine at 10)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--myocardium", action="store_true", help="give the simulator's frame-0 myocardium")
    parser.add_argument("--limit-mib", type=float, default=12000, help="stop a run whose memory passes this")
    parser.add_argument("--overhead", type=int, nargs="+", metavar="FRAMES",
                        help="instead: CPU seconds per step with all pairs at once and in runs, at these lengths")
    parser.add_argument("--repeats", type=int, default=3, help="steps of each kind with --overhead")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.threads, args.myocardium)))
        return
    if args.overhead:
        step_overhead(args.overhead, args.repeats, args.threads)
        return
    loss = "myocardium-aware loss (myocardium given)" if args.myocardium else "Eq. 12 (no myocardium)"
    print(f"track_sequence, default adaptation with {args.steps} steps, {loss}, seed {VALIDATION_SEED} "
          f"extended, 192 grid, {args.threads} thread(s)")
    print(f"{'frames':>6} {'peak RSS MiB':>13} {'before MiB':>11} {'coarse CPU s/step':>18} "
          f"{'fine CPU s/step':>16} {'adapt s':>8} {'total s':>8}")
    source = "?"
    for frames in args.frames:
        row = run_child(frames, args)
        if row is None:
            print(f"{frames:>6} {'> ' + str(round(args.limit_mib)):>13}  (stopped)", flush=True)
            continue
        steps = [f"{row[name]:.3f}" if row[name] is not None else "-" for name in ("coarse_step_s", "fine_step_s")]
        print(f"{frames:>6} {row['peak_mib']:>13.0f} {row['before_mib']:>11.0f} {steps[0]:>18} {steps[1]:>16} "
              f"{row['adapt_s']:>8.1f} {row['total_s']:>8.1f}", flush=True)
        source = row["deeptag"]
    print(f"deeptag from {source}")


if __name__ == "__main__":
    main()
