"""``deeptag simulate``: synthetic tagging sequences with known dense motion (training data, benchmarks)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import InputError
from ..outputs import result_directory
from ..phantom import save_simulated, simulate_sequence


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="synthetic tagging sequences with known motion",
        description="Write N simulated short-axis SPAMM sequences (one cardiac cycle, ground-truth Lagrangian "
                    "fields, LV myocardium mask and landmarks) as DIR/sim_00000.npz ...; file i uses seed S+i.")
    parser.add_argument("--n", type=int, required=True, help="number of sequences")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; see --force)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sequence (default 0)")
    parser.add_argument("--size", type=int, default=192, help="frame side in pixels (default 192)")
    parser.add_argument("--frames", type=int, default=None, help="frames per sequence (default: drawn from 16-25)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if args.size < 32:
        raise InputError(f"--size must be at least 32 pixels, got {args.size}")
    if args.frames is not None and args.frames < 2:
        raise InputError(f"--frames must be at least 2, got {args.frames}")
    if args.seed < 0:
        raise InputError(f"--seed must not be negative, got {args.seed}")
    started = time.perf_counter()
    frame_counts = []
    with result_directory(args.out, force=args.force) as folder:
        for i in range(args.n):
            sequence = simulate_sequence(args.seed + i, size=args.size, frames=args.frames)
            save_simulated(sequence, folder / f"sim_{i:05d}.npz")
            frame_counts.append(len(sequence.images))
    seconds = time.perf_counter() - started
    print(f"wrote {args.n} simulated sequence(s) ({args.size}x{args.size}, {min(frame_counts)}-{max(frame_counts)} "
          f"frames, seeds {args.seed}-{args.seed + args.n - 1}) to {args.out} in {seconds:.1f} s")
    return 0
