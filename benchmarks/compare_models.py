"""Several checkpoints side by side, the network alone (no adaptation): how to choose among training runs.

1. Simulated validation sequences (seeds 50000 on: never trained on, and kept apart from the test seeds
   100000 on that the reported figures use): mean myocardium end-point error of the Lagrangian field
   (px), over all sequences and split by tag pattern (grid, or one set of lines).
2. The real sequence ../shared/real/sax_45_23.npz when present: mean landmark distance (px).

    python benchmarks/compare_models.py [--sequences 8] [--device cuda] MODEL [MODEL ...]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.metrics import landmark_summary, myocardium_epe
from deeptag.phantom import simulate_sequence
from deeptag.track import track_sequence

from reference_data import REAL_SEQUENCE as REAL, VALIDATION_SEED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="deeptag checkpoints ('bundled' for the bundled model)")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where the network runs: cpu (default) or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [VALIDATION_SEED + k for k in range(args.sequences)]
    simulated = [simulate_sequence(seed) for seed in seeds]
    real = read_sequence(REAL) if REAL.is_file() else None
    patterns = np.array([s.tag_pattern for s in simulated])
    print(f"{args.sequences} simulated validation sequences (seeds {VALIDATION_SEED}-"
          f"{VALIDATION_SEED + args.sequences - 1}: {(patterns == 'grid').sum()} grid-tagged, "
          f"{(patterns == 'lines').sum()} line-tagged), myocardium EPE (px); "
          + (f"{REAL.name}: mean landmark distance (px)" if real else f"{REAL} not found: no real figure"))
    for path in args.models:
        model, _ = load_model(None if path == "bundled" else path)
        started = time.perf_counter()
        errors = np.array([myocardium_epe(track_sequence(s.as_sequence(f"seed {seed}"), model, adapt=None,
                                                         device=args.device).lagrangian,
                                          s.lagrangian, s.myocardium_mask) for seed, s in zip(seeds, simulated)])
        split = ", ".join(f"{pattern} {errors[patterns == pattern].mean():.3f}"
                          for pattern in ("grid", "lines") if (patterns == pattern).any())
        line = f"{path} (grid {model.config.image_size}): sims {errors.mean():.3f} ({split})"
        if real is not None:
            tracks = track_sequence(real, model, real.landmarks[0], adapt=None, device=args.device).tracks
            line += f"; real {landmark_summary(tracks, real.landmarks)['mean_px']:.3f}"
        print(f"{line}  [{time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
