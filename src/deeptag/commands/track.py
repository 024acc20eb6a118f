"""``deeptag track``: fields, Lagrangian fields and tracked points for one sequence."""
from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..io import read_points, read_sequence
from ..outputs import result_directory, write_json, write_tracks
from ..track import TrackResult, track_sequence
from .common import add_model_arguments, model_from_args

FIELDS_FILE = "fields.npz"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("track", help="track the motion of one sequence",
                                   description="Track the myocardial motion of one tagged sequence.")
    parser.add_argument("sequence", type=Path, help="the input sequence (.npz with 'images' (T, H, W))")
    parser.add_argument("--points", type=Path, help="frame-0 points to track: .npy (K, 2) or CSV with columns x, y")
    parser.add_argument("--out", type=Path, required=True, help="result folder (must not exist, unless --force)")
    parser.add_argument("--force", action="store_true", help="replace an existing result folder")
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def write_result(folder: Path, result: TrackResult, summary: dict, spacing, frame_times) -> None:
    """Fields as ``fields.npz``, tracks as ``tracks.npy``/``tracks.csv``, and ``summary.json``."""
    np.savez(folder / FIELDS_FILE, inf_forward=result.inf_forward, inf_backward=result.inf_backward,
             lagrangian=result.lagrangian, uncertainty=result.uncertainty)
    if result.tracks is not None:
        write_tracks(folder, result.tracks, spacing, frame_times)
    write_json(folder / "summary.json", summary)


def summarise(result: TrackResult, sequence, model_name: str, intensity: str) -> dict:
    return {
        "deeptag_version": __version__,
        "input": str(sequence.source),
        "frames": sequence.num_frames,
        "frame_size": list(sequence.images.shape[1:]),
        "spacing_mm": list(sequence.spacing) if sequence.spacing else None,
        "model": model_name,
        "intensity": intensity,
        "network_roi_xyxy": list(result.mapping.roi),
        "nonpositive_jacobians": result.nonpositive_jacobians,
        "seconds": result.seconds,
        "device": f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "fields": {"file": FIELDS_FILE, "units": "input pixels", "channels": "0 = rows (y), 1 = columns (x)",
                   "inf_forward": "frame t+1 grid -> frame t", "inf_backward": "frame t grid -> frame t+1",
                   "lagrangian": "frame t+1 grid -> frame 0",
                   "uncertainty": "standard deviation of the velocity latent"},
        "tracked_points": None if result.tracks is None else int(result.tracks.shape[1]),
    }


def run(args: argparse.Namespace) -> int:
    sequence = read_sequence(args.sequence)
    points = read_points(args.points) if args.points else None
    model, model_name = model_from_args(args)
    with result_directory(args.out, args.force) as folder:
        result = track_sequence(sequence, model, points, intensity=args.intensity)
        write_result(folder, result, summarise(result, sequence, model_name, args.intensity),
                     sequence.spacing, sequence.frame_times)
    print(f"tracked {sequence.num_frames} frames in {result.seconds['total']:.2f} s -> {args.out}")
    return 0
