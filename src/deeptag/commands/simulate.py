"""``deeptag simulate``: synthetic tagging sequences with known dense motion (training data, benchmarks)."""
from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from ..errors import InputError
from ..outputs import result_directory
from ..phantom import save_simulated, simulate_sequence
from ..phantom_variety import LEVERS, PRESETS, variety


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="synthetic tagging sequences with known motion",
        description="Write N simulated short-axis SPAMM sequences (one cardiac cycle, ground-truth Lagrangian "
                    "fields, LV myocardium mask and landmarks) as DIR/sim_00000.npz ...; file i uses seed S+i.")
    parser.add_argument("--n", type=int, required=True, help="number of sequences")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; see --force)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sequence (default 0)")
    parser.add_argument("--size", type=int, default=192, help="frame side in pixels (default 192)")
    parser.add_argument("--frames", type=int, default=None, help="frames per sequence (default: drawn from 16-25; 16-40 with --variety wide)")
    parser.add_argument("--variety", choices=PRESETS, default="classic",
                        help="distribution of the sequences: classic (default, the original one) or wide "
                             "(wider appearance, anatomy, motion and acquisition; docs/simulator.md)")
    parser.add_argument("--levers", default=None, metavar="L1,L2",
                        help="with --variety wide, switch on only these levers (comma-separated; default: all) of: "
                             + ", ".join(LEVERS))
    parser.add_argument("--view", choices=("sax", "2ch", "3ch", "4ch"), default="sax",
                        help="sax (default): short-axis slices; 2ch, 3ch, 4ch: long-axis views with the LV wall from "
                             "base to apex and the view's mid-wall centreline points (docs/guide/long_axis.md)")
    parser.add_argument("--stack", action="store_true",
                        help="with a long-axis --view: also write the basal, mid and apical short-axis slices of the "
                             "same simulated heart, with the same frames, as sim_NNNNN_sax_{basal,mid,apical}.npz")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes simulating side by side (default 1); the files do not depend on it")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    parser.set_defaults(run=run)


MAX_FRAMES = 200  # a cardiac cycle has 16-25 tagged frames; more would only exhaust memory


def write_one(index: int, folder: Path, first_seed: int, size: int, frames: int | None,
              preset: str = "classic", levers: tuple[str, ...] | None = None, view: str = "sax",
              stack: bool = False) -> int:
    """Simulate and write sequence ``index`` (seed ``first_seed + index``); returns its frame count."""
    if view != "sax":  # issue 29: long-axis views
        from ..phantom_long_axis import save_long_axis, simulate_long_axis
        sequence = simulate_long_axis(first_seed + index, view, size=size, frames=frames)
        save_long_axis(sequence, folder / f"sim_{index:05d}.npz")
        if stack:
            from ..phantom_long_axis import SLICE_HEIGHTS, short_axis_of
            for level in SLICE_HEIGHTS:
                save_simulated(short_axis_of(sequence, level), folder / f"sim_{index:05d}_sax_{level}.npz")
        return len(sequence.images)
    sequence = simulate_sequence(first_seed + index, size=size, frames=frames, variety=variety(preset, levers))
    save_simulated(sequence, folder / f"sim_{index:05d}.npz")
    return len(sequence.images)


def run(args: argparse.Namespace) -> int:
    from ..io import MAX_SIDE

    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if not 32 <= args.size <= MAX_SIDE:
        raise InputError(f"--size must be between 32 and {MAX_SIDE} pixels (as track's inputs), got {args.size}")
    if args.frames is not None and not 2 <= args.frames <= MAX_FRAMES:
        raise InputError(f"--frames must be between 2 and {MAX_FRAMES}, got {args.frames}")
    if args.seed < 0:
        raise InputError(f"--seed must not be negative, got {args.seed}")
    if args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    levers = None
    if args.levers is not None:
        levers = tuple(name.strip() for name in args.levers.split(",") if name.strip())
        if args.variety != "wide":
            raise InputError("--levers switches on parts of the wide preset; give --variety wide with it")
        unknown = sorted(set(levers) - set(LEVERS))
        if unknown or not levers:
            raise InputError(f"--levers: unknown or no lever(s) {', '.join(unknown)}; known: {', '.join(LEVERS)}")
    if args.view != "sax" and (args.variety != "classic" or levers):
        raise InputError(f"--variety and --levers widen the short-axis simulator; --view {args.view} has its own ranges")
    if args.stack and args.view == "sax":
        raise InputError("--stack adds short-axis slices to a long-axis view: give --view 2ch, 3ch or 4ch")
    started = time.perf_counter()
    with result_directory(args.out, force=args.force) as folder:  # checks --out before any work
        write = partial(write_one, folder=folder, first_seed=args.seed, size=args.size, frames=args.frames,
                        preset=args.variety, levers=levers, view=args.view, stack=args.stack)
        if args.jobs == 1:
            frame_counts = [write(i) for i in range(args.n)]
        else:
            # spawned, not forked: a fork of a process whose PyTorch threads have started can hang
            with ProcessPoolExecutor(min(args.jobs, args.n), mp_context=multiprocessing.get_context("spawn")) as pool:
                frame_counts = list(pool.map(write, range(args.n)))
    seconds = time.perf_counter() - started
    if not args.quiet:
        chosen = variety(args.variety, levers)
        label = ("" if not chosen.levers else f", variety {chosen.name}") + ("" if args.view == "sax" else f", {args.view} view")
        print(f"wrote {args.n} simulated sequence(s) ({args.size}x{args.size}, {min(frame_counts)}-{max(frame_counts)} "
              f"frames, seeds {args.seed}-{args.seed + args.n - 1}{label}) to {args.out} in {seconds:.1f} s")
    return 0
