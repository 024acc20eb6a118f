"""Accuracy of a deeptag model, with and without test-time adaptation, beside TV-L1 and no motion.

1. Simulated test sequences from seeds never trained on (100000 on; training uses 0-199, the
   shipped example 900000 on): mean end-point error of the Lagrangian field inside the myocardium (px).
2. The real sequence ../shared/real/sax_45_23.npz when present: mean landmark distance (px), frames
   1..T-1. No model of the project trains on its images (a scan they never saw); the adapted figure is,
   by design, a fit to the scan itself.
3. The training cost read from the run's log, when a run folder is given.

Several models side by side: repeat --model (each alone and adapted) and --alone (the network alone only,
e.g. official:PATH for the authors' published weights).

    python benchmarks/bundled_model.py [--model SPEC ...] [--alone SPEC ...] [--sequences 20]
        [--adapt-steps 150] [--device cuda] [--no-baselines] [--no-real] [--run RUN_DIR ...] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from deeptag.adapt import AdaptConfig
from deeptag.baselines.optical_flow import track_tvl1
from deeptag.checkpoint import load_model
from deeptag.io import Sequence, read_sequence
from deeptag.metrics import landmark_summary, myocardium_epe
from deeptag.phantom import simulate_sequence
from deeptag.track import track_sequence

from reference_data import REAL_SEQUENCE as REAL, TEST_SEED


def methods(models: dict, alone: dict, adapt_steps: int, device: str, baselines: bool = True) -> dict:
    """name -> function(sequence, points) -> (lagrangian (T-1, 2, H, W), tracks (T, K, 2), seconds), for
    each of ``models`` (label -> network) alone and adapted, each of ``alone`` alone.

    The networks and their adaptation run on ``device``; TV-L1 always runs on the CPU."""
    def network(model, adapt: AdaptConfig | None):
        def run(sequence: Sequence, points: np.ndarray):
            result = track_sequence(sequence, model, points, adapt=adapt, device=device)
            return result.lagrangian, result.tracks, result.seconds["total"]
        return run

    def tvl1(sequence: Sequence, points: np.ndarray):
        result = track_tvl1(sequence.images, points)
        return result.lagrangian, result.tracks, result.seconds

    def no_motion(sequence: Sequence, points: np.ndarray):
        frames, (height, width) = sequence.num_frames, sequence.images.shape[1:]
        return (np.zeros((frames - 1, 2, height, width), np.float32),
                np.repeat(points[None], frames, axis=0), 0.0)

    table = {}
    for label, model in models.items():
        table[label] = network(model, None)
        table[f"{label} + adapt {adapt_steps}"] = network(model, AdaptConfig(steps=adapt_steps))
    table.update({label: network(model, None) for label, model in alone.items()})
    return {**table, "TV-L1": tvl1, "no motion": no_motion} if baselines else table


def training_cost(run: Path) -> str:
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps, seconds = log[-1]["step"], log[-1]["seconds"]
    return (f"training run {run}: {steps} steps in {seconds / 60:.1f} min, {seconds / steps:.2f} s per step "
            "(scripts/train_bundled_model.sh trains in stages on the 96 and 192 grids: give each stage's run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[],
                        help="a deeptag checkpoint, alone and adapted (repeat for several; default: the "
                             "bundled model)")
    parser.add_argument("--alone", action="append", default=[],
                        help="a model tracked by the network alone only, e.g. official:PATH (repeatable)")
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--adapt-steps", type=int, default=AdaptConfig().steps)
    parser.add_argument("--run", type=Path, action="append", default=[],
                        help="a training run folder, for its training cost (repeat for each stage)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where the network runs: cpu (default) or cuda")
    parser.add_argument("--no-baselines", action="store_true",
                        help="leave out TV-L1 and no motion, which do not depend on the model")
    parser.add_argument("--no-real", action="store_true", help="leave out the real sequence")
    parser.add_argument("--json", type=Path, help="also write the mean figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    specs = args.model or [None]
    models, alone = {}, {}
    for number, spec in enumerate(specs + args.alone, start=1):
        model, name = load_model(spec)
        label = "model" if len(specs) + len(args.alone) == 1 else f"model {number}"
        (models if number <= len(specs) else alone)[label] = model
        print(f"{label}: {name}")
    table = methods(models, alone, args.adapt_steps, args.device, not args.no_baselines)
    print(f"{torch.get_num_threads()} CPU threads; networks on {args.device}")

    errors = {method: [] for method in table}
    seconds = {method: [] for method in table}
    patterns = []  # per sequence: its tag pattern, grid or lines
    for k in range(args.sequences):
        simulated = simulate_sequence(TEST_SEED + k)
        patterns.append(simulated.tag_pattern)
        sequence = simulated.as_sequence(f"seed {TEST_SEED + k}")
        for method, run in table.items():
            lagrangian, _, spent = run(sequence, simulated.landmarks[0])
            errors[method].append(myocardium_epe(lagrangian, simulated.lagrangian, simulated.myocardium_mask))
            seconds[method].append(spent)
    print(f"\n1. {args.sequences} simulated test sequences (seeds {TEST_SEED}-{TEST_SEED + args.sequences - 1}), "
          "end-point error of the Lagrangian field in the myocardium (px):")
    for method in table:
        e = np.asarray(errors[method])
        print(f"  {method:>24}: {e.mean():.3f} +- {e.std():.3f} px   ({np.mean(seconds[method]):.2f} s per sequence)")
    for pattern in ("grid", "lines"):
        chosen = np.asarray(patterns) == pattern
        if chosen.any():
            print(f"  {chosen.sum()} sequences tagged with {pattern}: " + ", ".join(
                f"{method} {np.asarray(errors[method])[chosen].mean():.3f}" for method in table))

    means = {"simulated": {method: float(np.mean(errors[method])) for method in table}, "real": {}}
    if REAL.is_file() and not args.no_real:
        real = read_sequence(REAL)
        print(f"\n2. {REAL.name}: mean landmark distance, frames 1-{real.num_frames - 1}:")
        for method, run in table.items():
            started = time.perf_counter()
            _, tracks, _ = run(real, real.landmarks[0])
            summary = landmark_summary(tracks, real.landmarks)
            means["real"][method] = summary["mean_px"]
            print(f"  {method:>24}: {summary['mean_px']:.3f} px (RMS {summary['rms_px']:.3f}), "
                  f"{time.perf_counter() - started:.1f} s")
        print("  (published model: 1.86 px; TV-L1 2.09 px; no motion 5.70 px, from ../shared/real/README.md)")
    elif not args.no_real:
        print(f"\n2. {REAL} not found: real-sequence figures skipped")
    for run in args.run:
        print("\n3. " + training_cost(run))
    if args.json:
        args.json.write_text(json.dumps(means, indent=2) + "\n")


if __name__ == "__main__":
    main()
