"""``deeptag track``: fields, Lagrangian fields and tracked points for one sequence (or each slice)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__, fields
from ..errors import InputError
from ..io import Sequence, read_points, read_sequence, read_slices
from ..myocardium import Myocardium
from ..outputs import result_directory, write_json, write_lagrangian_nifti, write_tracks
from ..preprocess import GridMapping, choose_mapping, parse_roi
from ..track import TrackResult, track_sequence
from .common import (adapt_from_args, adaptation_progress, add_adapt_argument, add_model_arguments, describe_model,
                     device_description, device_from_args, model_from_args)
from .strain import add_myocardium_arguments, myocardium_options

if TYPE_CHECKING:
    from ..adapt import AdaptConfig

FIELDS_FILE = "fields.npz"
NUMBER_LIST = r"^-\d*\.?\d+([eE][-+]?\d+)?(,\s*-?\d*\.?\d*([eE][-+]?\d+)?)*$"  # -10,-10,100,100
INPUT_HELP = ("the input: a DICOM folder (or file), .nii/.nii.gz (2D+t, or 3D+t with --slice), .npz with "
              "'images' (T, H, W), a multi-page .tif/.gif, or a folder of PNG/JPEG frames")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track", help="track the motion of one sequence",
        description="Track the myocardial motion of one tagged sequence. Writes fields.npz (INF and Lagrangian "
                    "fields, Jacobians), deformation_matrix_x/_y.nii.gz (Lagrangian displacement in pixels, _mm in "
                    "mm) and jacobian_lagrangian.nii.gz on the input's voxels and geometry, tracks.csv/.npy "
                    "(pixels, mm, frame times) and summary.json. Consecutive frames are registered pair by pair, "
                    "so nothing is padded: every output has exactly the input's frames.")
    parser.add_argument("sequence", type=Path, nargs="?", help=INPUT_HELP)
    parser.add_argument("--example", action="store_true",
                        help="track the simulated example sequence shipped with deeptag (and its landmarks)")
    parser.add_argument("--points", type=Path,
                        help="frame-0 points to track: .npy (K, 2) or CSV with columns x, y (default: none; with "
                             "--example, its landmarks)")
    parser.add_argument("--out", type=Path, required=True, help="result folder (must not exist, unless --force)")
    parser.add_argument("--force", action="store_true", help="replace an existing result folder")
    parser.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    parser.add_argument("--strict", action="store_true",
                        help="stop with exit code 2 when a check before tracking fails (no tag pattern, tags fully "
                             "faded, the heart outside the region, frames out of order); without it each is a warning")
    parser.add_argument("--report", action="store_true",
                        help="also write report.html and pictures/ (virtual tag grid, fields, landmarks; strain "
                             "when a myocardium is given)")
    add_tracking_arguments(parser)
    parser.set_defaults(run=run)


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    """How each sequence is tracked, the same for ``track`` and ``batch``: which frames and region
    (``add_input_arguments``, with ``--slice all``), the model, the adaptation and the myocardium."""
    add_input_arguments(parser, allow_all_slices=True)
    add_model_arguments(parser)
    add_adapt_argument(parser)
    add_myocardium_arguments(parser)


def add_input_arguments(parser: argparse.ArgumentParser, allow_all_slices: bool = False) -> None:
    """``--series``, ``--slice`` and ``--roi``: which frames of an input to track, and where."""
    accept_negative_numbers(parser)
    parser.add_argument("--series", help="the SeriesInstanceUID (or series number) to take from a DICOM "
                                         "folder that holds several series (default: the only one)")
    parser.add_argument("--slice", dest="slice_index", metavar="K",
                        help="slice K (from 0) of a 3D+t input (NIfTI stack, multi-slice DICOM series)"
                             + (", or 'all' for every slice in turn, one result sub-folder slice_KK each"
                                if allow_all_slices else "")
                             + " (default: the only one)")
    parser.add_argument("--roi", help="region of interest x0,y0,x1,y1 in pixels (x1, y1 exclusive), or 'auto' "
                                      "to find the moving heart (full frame when unsure); default: the box stored in an .npz "
                                      "('roi', as simulated sequences carry), else the full frame")


def accept_negative_numbers(parser: argparse.ArgumentParser) -> None:
    """Let option values such as ``--roi -10,-10,100,100`` start with a minus sign (argparse takes them
    for options otherwise), so that they get their own clear error or are accepted."""
    import re

    parser._negative_number_matcher = re.compile(NUMBER_LIST)  # argparse's hook; it has no public one


def parse_slice(text: str | None, allow_all: bool = False) -> int | str | None:
    """``--slice``: ``None``, a slice number, or ``"all"`` where allowed."""
    if text is None:
        return None
    if allow_all and text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        expected = "a slice number or 'all'" if allow_all else "a slice number"
        raise InputError(f"--slice must be {expected}, got '{text}'") from None


def read_inputs(args: argparse.Namespace) -> list[tuple[str, Sequence]]:
    """The sequences to track and the sub-folder of each ('' for the result folder itself)."""
    if args.example == (args.sequence is not None):
        raise InputError("give either a SEQUENCE to track or --example")
    if args.example:
        from ..phantom import example_path  # SciPy's interpolation: imported only when asked for
        args.sequence = example_path()
    slice_index = parse_slice(args.slice_index, allow_all=True)
    if slice_index == "all":
        return [(f"slice_{k:02d}", sequence) for k, sequence in
                enumerate(read_slices(args.sequence, series=args.series))]
    return [("", read_sequence(args.sequence, series=args.series, slice_index=slice_index))]


def input_mapping(sequence: Sequence, roi_text: str | None, points: np.ndarray | None,
                  points_path: Path | None) -> GridMapping:
    """The region of ``sequence`` to track; every point must lie inside it."""
    mapping = choose_mapping(sequence.images, None if roi_text is None else parse_roi(roi_text), sequence.roi)
    if points is not None and not mapping.contains(points).all():
        k = int(np.flatnonzero(~mapping.contains(points))[0])
        raise InputError(f"point {k} at ({points[k, 0]:g}, {points[k, 1]:g}) lies outside the tracked region "
                         f"{','.join(map(str, mapping.roi))} (x0,y0,x1,y1)", points_path)
    return mapping


def lagrangian_jacobian(result: TrackResult, height: int, width: int) -> np.ndarray:
    """(T-1, H, W) Jacobian determinants of ``id + L_t``, computed on the network grid and sampled onto
    the input grid (NaN outside the region)."""
    return result.mapping.scalar_from_network(fields.jacobian_determinant(result.network["lagrangian"]),
                                              height, width)


def write_result(folder: Path, result: TrackResult, sequence: Sequence, summary: dict) -> None:
    """``fields.npz``, the Lagrangian fields and Jacobians as NIfTI, tracks as ``tracks.npy``/``.csv``,
    and ``summary.json``."""
    jacobian = lagrangian_jacobian(result, *sequence.images.shape[1:])
    extra = {} if result.vae_sigma is None else {"vae_sigma": result.vae_sigma}
    np.savez(folder / FIELDS_FILE, inf_forward=result.inf_forward, inf_backward=result.inf_backward,
             lagrangian=result.lagrangian, uncertainty=result.uncertainty, lagrangian_jacobian=jacobian, **extra)
    summary["nifti"] = write_lagrangian_nifti(folder, result.lagrangian, jacobian, sequence)
    if result.tracks is not None:
        from ..regions import error_at_points  # issue 27: the estimate at each tracked point
        write_tracks(folder, result.tracks, sequence.spacing, sequence.frame_times,
                     errors=error_at_points(result.uncertainty, result.tracks))
    write_json(folder / "summary.json", summary)


def describe_roi(roi: str | None, sequence: Sequence, mapping: GridMapping) -> str:
    """Where the tracked region came from, as summary.json's 'roi' says: the box given, the one found by
    'auto', the box stored with the input, or the full frame."""
    height, width = sequence.images.shape[1:]
    box = ",".join(map(str, mapping.roi))
    if roi is None:
        return f"the box stored with the input ({box})" if sequence.roi else "full frame"
    if roi.strip().lower() == "auto":
        return "auto: full frame (no heart found)" if tuple(mapping.roi) == (0, 0, width, height) else f"auto: {box}"
    return box


def summarise(result: TrackResult, sequence: Sequence, model_name: str, intensity: str, roi: str | None,
              device: str, myocardium=None, view: str | None = None, tracking: str = "none") -> dict:
    """``summary.json`` of one tracked sequence; ``tracking`` says which frame-0 myocardium the adaptation
    was given ('given', 'stored' or 'none', as ``tracking_myocardium`` tells)."""
    from ..long_axis import sequence_view
    view, view_source = sequence_view(sequence, view)
    return {
        "deeptag_version": __version__,
        "input": str(Path(sequence.source).absolute()),
        "format": sequence.metadata.get("format", "npz"),
        "series": sequence.metadata.get("series_uid"),
        "slice": sequence.metadata.get("slice_index"),
        "view": view,
        "view_source": view_source,
        "frames": sequence.num_frames,
        "frame_size": list(sequence.images.shape[1:]),
        "spacing_mm": list(sequence.spacing) if sequence.spacing else None,
        "frame_times_ms": None if sequence.frame_times is None else [float(t) for t in sequence.frame_times],
        "model": model_name,
        "tracking_myocardium": tracking,
        "intensity": intensity,
        "roi": describe_roi(roi, sequence, result.mapping),
        "network_roi_xyxy": list(result.mapping.roi),
        "nonpositive_jacobians": result.nonpositive_jacobians,
        "seconds": result.seconds,
        "device": device,
        "fields": {"file": FIELDS_FILE, "units": "input pixels", "channels": "0 = rows (y), 1 = columns (x)",
                   "inf_forward": "frame t+1 grid -> frame t", "inf_backward": "frame t grid -> frame t+1",
                   "lagrangian": "frame t+1 grid -> frame 0",
                   "lagrangian_jacobian": "determinant of the Jacobian of id + lagrangian",
                   "uncertainty": "estimated end-point error of lagrangian (predicted 90th percentile, input "
                                  "pixels; docs/guide/quality.md), (T-1, H, W)",
                   "vae_sigma": "standard deviation of the velocity latent (T-1, 2, H, W)",
                   "outside_roi": "NaN", "time_padding": "none: every output has the input's frames"},
        "tracked_points": None if result.tracks is None else int(result.tracks.shape[1]),
        "quality": error_summary(result, myocardium),
    }


def error_summary(result: TrackResult, myocardium=None) -> dict:
    """``summary.json``'s ``quality``: the error estimate over the moving myocardium when one is given,
    else over the tracked region (``quality.summarise_error``)."""
    from ..quality import moving_mask, summarise_error

    region = None if myocardium is None else moving_mask(myocardium.mask, result.lagrangian)
    return summarise_error(result.uncertainty, region)


def run(args: argparse.Namespace) -> int:
    """Check every argument and input, then track each sequence into a result folder that appears
    whole (with its report when asked) or not at all."""
    from ..long_axis import make_myocardium, parse_view, sequence_view
    from ..outputs import check_output_folder

    parse_view(args.view)
    adapt = adapt_from_args(args)
    device = device_from_args(args)
    inputs = read_inputs(args)
    points = read_points(args.points) if args.points else None
    if points is None and args.example:
        points = inputs[0][1].landmarks[0]
    if points is not None and len(inputs) > 1:
        raise InputError("--points needs one slice (--slice K); --slice all tracks every slice", args.points)
    mappings = [input_mapping(sequence, args.roi, points, args.points) for _, sequence in inputs]
    myocardium = myocardium_options(args)
    protect = [path for path in (args.sequence, args.points) if path is not None]
    failed = 0
    rings, tracking = [], []
    for (_, sequence), mapping in zip(inputs, mappings):
        warn_about(sequence)
        failed += check_scan(sequence, mapping)
        # a bad ring (or stored mask) fails here, before any work
        view = sequence_view(sequence, args.view)[0]
        rings.append(None if myocardium is None else make_myocardium(
            sequence.images.shape[1:], myocardium | {"view": view}, sequence.spacing, sequence.source))
        tracking.append(tracking_myocardium(rings[-1], sequence, view, adapt))
    if failed and args.strict:
        raise InputError(f"--strict: {failed} check(s) before tracking failed (the warnings above)")
    check_output_folder(args.out, args.force, protect)
    model, model_name = model_from_args(args)
    described = describe_model(model_name, adapt)
    done = []
    with result_directory(args.out, args.force, protect) as folder:
        for (name, sequence), mapping, ring, (wall, used) in zip(inputs, mappings, rings, tracking):
            (folder / name).mkdir(exist_ok=True)
            with adaptation_progress(adapt, args.quiet, f"adapting {name}" if name else "adapting") as progress:
                result = track_sequence(sequence, model, points, mapping=mapping, intensity=args.intensity,
                                        adapt=adapt, device=device, progress=progress, myocardium=wall)
            write_result(folder / name, result, sequence,
                         summarise(result, sequence, described, args.intensity, args.roi, device_description(device),
                                   ring, args.view, used))
            done.append(f"tracked {sequence.num_frames} frames in {result.seconds['total']:.2f} s -> {args.out / name}")
            if args.report:
                from ..report import write_report  # Matplotlib: imported only when asked for
                count = write_report(folder / name, folder / name / "report.html",
                                     myocardium=myocardium or stored_myocardium(sequence),
                                     pictures_dir=folder / name / "pictures", force=True,
                                     shown_as=(args.out / name).absolute())
                done.append(f"report with {count} pictures -> {args.out / name / 'report.html'} "
                            f"(pictures in {args.out / name / 'pictures'})")
    if not args.quiet:
        print("\n".join(done))
    return 0


def stored_myocardium(sequence: Sequence) -> dict | None:
    """The frame-0 myocardium stored in an .npz input ('myocardium_mask', as simulated sequences and the
    shipped example carry) as ``define_myocardium`` options; None when the input holds none."""
    if sequence.source.suffix.lower() != ".npz":
        return None
    with np.load(sequence.source, allow_pickle=False) as data:
        return {"mask": sequence.source} if "myocardium_mask" in data.files else None


def tracking_myocardium(wall, sequence: Sequence, view: str, adapt: AdaptConfig | None
                        ) -> tuple[Myocardium | None, str]:
    """The frame-0 myocardium given to the adaptation (``track_sequence``'s ``myocardium``, whose
    myocardium-aware terms lower the radial strain error: docs/guide/strain.md) and which one it is, as
    summary.json's ``tracking_myocardium`` records it: 'given' (``wall``, from --lv, --mask or
    --contours), 'stored' (an .npz input's ``myocardium_mask``, when none is given: the same one the
    report's strain uses), or 'none': no adaptation, no myocardium, or a long-axis view, whose open wall
    encloses no cavity for the terms to tell the blood pool by."""
    from ..long_axis import LONG_AXIS_VIEWS, make_myocardium

    if adapt is None or adapt.steps == 0 or view in LONG_AXIS_VIEWS:
        return None, "none"
    if wall is not None:
        return (wall, "given") if isinstance(wall, Myocardium) else (None, "none")
    stored = stored_myocardium(sequence)
    if stored is None:
        return None, "none"
    return make_myocardium(sequence.images.shape[1:], stored | {"view": view}, sequence.spacing,
                           sequence.source), "stored"


def print_warnings(sequence: Sequence, warnings: list[str]) -> None:
    """One line on stderr for each warning about ``sequence``."""
    import sys

    for warning in warnings:
        print(f"deeptag: warning: {sequence.source}: {warning}", file=sys.stderr)


def warn_about(sequence: Sequence) -> None:
    """One line on stderr for each thing about ``sequence`` that is accepted but likely wrong."""
    from ..io import input_warnings

    print_warnings(sequence, input_warnings(sequence))


def check_scan(sequence: Sequence, mapping: GridMapping) -> int:
    """The checks before tracking (``quality.scan_checks``), one warning line on stderr each; their count."""
    from ..quality import scan_checks

    found = scan_checks(sequence.images, mapping.roi, sequence.frame_times)
    print_warnings(sequence, found)
    return len(found)
