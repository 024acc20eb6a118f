"""``deeptag evaluate``: landmark errors of the tracking against expert landmarks (section 4.2)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import torch

from ..adapt import AdaptConfig
from ..errors import InputError
from ..io import read_sequence
from ..metrics import landmark_summary
from ..preprocess import GridMapping
from ..track import track_sequence
from . import QUIET_HELP
from .common import (adapt_from_args, adaptation_progress, add_adapt_argument, add_model_arguments, describe_model,
                     device_from_args, model_from_args)
from .track import add_input_arguments, input_mapping, parse_slice


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="landmark errors against expert landmarks",
                                   description="Track the frame-0 landmarks of a sequence and report the "
                                               "distances to the expert landmarks of every later frame. The "
                                               "input is an .npz with 'images' (T, H, W) and 'landmarks' "
                                               "(T, K, 2) as (x, y) pixels, NaN where an expert gave none: "
                                               "what 'deeptag simulate' writes; other formats carry no "
                                               "landmarks.")
    parser.add_argument("sequence", type=Path, nargs="?",
                        help="an .npz with 'images' (T, H, W) and 'landmarks' (T, K, 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    add_input_arguments(parser)
    add_model_arguments(parser)
    add_adapt_argument(parser)
    parser.set_defaults(run=run)


def evaluate_sequence(sequence, model, intensity: str | None = None, mapping: GridMapping | None = None,
                      adapt: AdaptConfig | None = None, device: str | torch.device = "cpu",
                      progress: Callable[[int], object] | None = None) -> dict:
    """Landmark errors (pixels, and mm with the spacing), Jacobian counts and time for one sequence,
    tracked in ``mapping``'s region of interest (default: as ``track_sequence`` chooses), after test-time
    adaptation when ``adapt`` is given (``progress`` called with 1 after each step), on ``device``."""
    if sequence.landmarks is None:
        raise InputError("no 'landmarks' (T, K, 2) to evaluate against", sequence.source)
    result = track_sequence(sequence, model, sequence.landmarks[0], mapping=mapping, intensity=intensity,
                            adapt=adapt, device=device, progress=progress)
    report = landmark_summary(result.tracks, sequence.landmarks)
    if sequence.spacing is not None:
        report.update(landmark_summary(result.tracks, sequence.landmarks, sequence.spacing, unit="mm"))
    report["nonpositive_jacobians"] = result.nonpositive_jacobians["inf_forward"]
    report["nonpositive_jacobians_lagrangian"] = result.nonpositive_jacobians["lagrangian"]
    report["seconds"] = result.seconds["total"]
    report["tracks"] = result.tracks.tolist()
    return report


def run(args: argparse.Namespace) -> int:
    adapt = adapt_from_args(args)  # first: a bare --adapt may have taken the input
    if args.sequence is None:
        raise InputError("give the SEQUENCE to evaluate (an .npz with 'images' and 'landmarks')")
    sequence = read_sequence(args.sequence, series=args.series, slice_index=parse_slice(args.slice_index))
    device = device_from_args(args)
    mapping = None
    if sequence.landmarks is not None:
        mapping = input_mapping(sequence, args.roi, sequence.landmarks[0], args.sequence)
    model, model_name = model_from_args(args)
    with adaptation_progress(adapt, args.quiet) as progress:
        report = evaluate_sequence(sequence, model, args.intensity, mapping, adapt, device, progress)
    report["model"] = describe_model(model_name, adapt)
    report["input"] = str(args.sequence)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.sequence}  ({model_name})")
    print("frame  mean px   rms px")
    for t, (mean, rms) in enumerate(zip(report["per_frame_mean_px"], report["per_frame_rms_px"])):
        print(f"{t:5d}  {mean if mean is not None else float('nan'):7.3f}  {rms if rms is not None else float('nan'):7.3f}")
    print(f"all    {report['mean_px']:7.3f}  {report['rms_px']:7.3f}   (frames 1..{sequence.num_frames - 1})")
    if "rms_mm" in report:
        print(f"RMS error {report['rms_mm']:.3f} mm, mean {report['mean_mm']:.3f} mm")
    print(f"non-positive Jacobian determinants (INF fields): {report['nonpositive_jacobians']}")
    print(f"time: {report['seconds']:.2f} s")
    return 0
