"""``deeptag strain``: radial and circumferential strain and rotation, globally and per AHA segment; for a
long-axis view (2-, 3-, 4-chamber) longitudinal and transmural strain instead (``deeptag.long_axis``)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..myocardium import LEVELS  # NumPy, SciPy and scikit-image, not PyTorch

if TYPE_CHECKING:
    from ..myocardium import Myocardium


def add_myocardium_arguments(parser: argparse.ArgumentParser) -> None:
    """The frame-0 myocardium options shared by ``strain`` and ``report``."""
    group = parser.add_argument_group("myocardium at frame 0, in pixels (x = column, y = row); give one of "
                                      "--lv, --mask, --contours")
    group.add_argument("--lv", metavar="CX,CY,R_ENDO,R_EPI", help="a ring about the LV centre (default: none)")
    group.add_argument("--mask", type=Path,
                       help="a mask of the myocardium: .nii/.nii.gz, .png or .npz ('mask') (default: none)")
    group.add_argument("--mask-label", type=int, help="the myocardium's label when --mask is a label map "
                                                      "(default: none; the mask must then be binary)")
    group.add_argument("--contours", type=Path,
                       help='endo- and epicardial contours (long-axis views: open curves from the base of wall 1 over '
                            'the apex to the base of wall 2): JSON {"endo": [[x, y], ...], "epi": [...]} or a '
                            "CSV with columns contour (endo|epi), x, y (default: none)")
    group.add_argument("--rv", metavar="X,Y",
                       help="the anterior right-ventricular insertion point; it separates the anterior "
                            "segment from the septum (default: 120 deg counter-clockwise from +x as "
                            "displayed, its place in the standard short-axis orientation)")
    group.add_argument("--level", choices=LEVELS, default="mid",
                       help="short-axis level: basal (AHA 1-6), mid (7-12, default) or apical (13-16)")
    view = parser.add_argument_group("long-axis views (docs/guide/long_axis.md)")
    view.add_argument("--view", metavar="{sax,2ch,3ch,4ch}",
                      help="the view: short axis, or the 2-, 3- or 4-chamber long-axis view (default: read from "
                           "the DICOM series description, e.g. '2CH', 'cine_4ch', 'LAX', else the one recorded by "
                           "track, else sax); a long-axis view gives longitudinal (E_ll) and transmural (E_tt) "
                           "strain per long-axis AHA segment")
    view.add_argument("--centreline", metavar="AX,AY,X1,Y1,X2,Y2",
                      help="long-axis views: the LV wall's mid-wall centreline by three points in pixels, the apex, "
                           "then the annulus point of wall 1 (4ch inferoseptal, 2ch inferior, 3ch inferolateral), "
                           "then that of wall 2; with --wall-mm it makes the myocardium, with --mask it sets the "
                           "directions (default: stored with a simulated sequence, else the mask's skeleton)")
    view.add_argument("--wall-mm", type=float, metavar="MM",
                      help="long-axis views: the wall thickness in mm for --centreline (default: none; with --mask "
                           "the mask's area over the centreline's length)")


def myocardium_given(args: argparse.Namespace) -> bool:
    return bool(args.lv or args.mask or args.contours or getattr(args, "centreline", None))


def myocardium_options(args: argparse.Namespace) -> dict | None:
    """The myocardium options as keyword arguments of ``define_myocardium``; None when none is given."""
    if not myocardium_given(args):
        return None
    return {"ring": args.lv, "mask": args.mask, "contours": args.contours, "rv": args.rv, "level": args.level,
            "mask_label": args.mask_label, "view": args.view, "centreline": args.centreline, "wall_mm": args.wall_mm}


def myocardium_from_args(args: argparse.Namespace, shape: tuple[int, int], view: str = "sax",
                         spacing: tuple[float, float] | None = None, sequence_path=None):
    """The frame-0 myocardium of the given options for ``view`` (a ``LongAxisMyocardium`` for 2ch-4ch)."""
    from ..long_axis import make_myocardium
    return make_myocardium(shape, myocardium_options(args) | {"view": view}, spacing, sequence_path)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "strain", help="myocardial strain per AHA segment from a track result",
        description="Green-Lagrange radial and circumferential strain (percent), rotation (degrees) and "
                    "strain rate of the frame-0 myocardium, globally and per AHA segment, from the "
                    "Lagrangian fields of a 'deeptag track' result folder. Writes strain.json, "
                    "strain.csv, peaks.csv and strain_points.npz into RESULT_DIR/strain (or --out). For a "
                    "long-axis view (--view 2ch/3ch/4ch, or as track recorded it) longitudinal (E_ll) and "
                    "transmural (E_tt) strain and the mid-wall centreline's shortening (GLS) instead, globally, per "
                    "wall and per long-axis AHA segment.")
    parser.add_argument("result", type=Path, metavar="RESULT_DIR", help="the --out folder of deeptag track")
    add_myocardium_arguments(parser)
    parser.add_argument("--auto", action="store_true",
                        help="find the frame-0 LV myocardium from the sequence and its tracked motion instead "
                             "(the tag-free blood pool and the ring around it); writes auto_myocardium.npz and "
                             ".png with the strain, and refuses with a message when no plausible ring is found")
    parser.add_argument("--sequence", type=Path,
                        help="the input sequence, for its frame times (default: the input named in summary.json)")
    parser.add_argument("--out", type=Path, help="output folder (default: RESULT_DIR/strain)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..outputs import check_output_folder, result_directory
    from ..report import read_result_folder
    from ..strain import compute_strain, write_strain

    if args.auto and myocardium_given(args):
        raise InputError("give either --auto or one of --lv, --mask, --contours, not both")
    from ..long_axis import LONG_AXIS_VIEWS, parse_view
    parse_view(args.view)  # a bad --view fails before anything is read
    if not (args.auto or myocardium_given(args)):
        raise InputError("strain needs the myocardium at frame 0: give --lv CX,CY,R_ENDO,R_EPI, --mask FILE, "
                         "--contours FILE or --auto (long-axis views: --centreline with --wall-mm, --mask or --contours)")
    out = args.out or args.result / "strain"
    # the result folder itself is protected only from an --out of the user's (RESULT_DIR/strain lies in it)
    inputs = [path for path in (args.result if args.out else None, args.sequence, args.mask, args.contours)
              if path is not None]
    check_output_folder(out, args.force, inputs)
    result = read_result_folder(args.result, args.sequence)
    from ..long_axis import result_view
    view = result_view(args.view, result)
    if view in LONG_AXIS_VIEWS:
        return run_long_axis(args, result, view, out, inputs)
    found = find_automatically(result, args) if args.auto else None
    myocardium = found.myocardium(args.level, rv_angle(args.rv, found.centre)) if found else \
        myocardium_from_args(args, result.shape, view)
    warn_off_the_tracked_region(myocardium, result.fields["lagrangian"])
    strain = compute_strain(result.fields["lagrangian"], myocardium, result.spacing, result.frame_times_ms)
    if result.fields.get("uncertainty") is not None and result.fields["uncertainty"].ndim == 3:  # issue 27
        from ..regions import region_estimates
        strain.error_px = region_estimates(strain, result.fields["uncertainty"])
    with result_directory(out, args.force, inputs) as folder:
        summary = write_strain(folder, strain)
        if found is not None:
            from ..auto_myocardium import write_found
            write_found(folder, found, result.sequence.images[0])
    if not args.quiet:
        print_peaks(myocardium, strain, summary, out)
    return 0


def run_long_axis(args: argparse.Namespace, result, view: str, out: Path, inputs: list) -> int:
    """``deeptag strain`` of a long-axis view: E_ll, E_tt and the centreline's shortening."""
    from ..errors import InputError
    from ..long_axis import compute_long_axis_strain, print_long_axis_peaks, write_long_axis_strain
    from ..outputs import result_directory

    if args.auto:
        raise InputError(f"--auto finds a short-axis ring; for the {view} view give --centreline with --wall-mm, "
                         "--mask or --contours")
    sequence_path = args.sequence or result.summary.get("input")
    myocardium = myocardium_from_args(args, result.shape, view, result.spacing, sequence_path)
    warn_off_the_tracked_region(myocardium, result.fields["lagrangian"])
    strain = compute_long_axis_strain(result.fields["lagrangian"], myocardium, result.spacing, result.frame_times_ms)
    with result_directory(out, args.force, inputs) as folder:
        summary = write_long_axis_strain(folder, strain)
    if not args.quiet:
        print_long_axis_peaks(strain, summary, out)
    return 0


def print_peaks(myocardium: Myocardium, strain, summary: dict, out: Path) -> None:
    """The peak values of every region, as a table on stdout."""
    from ..strain import UNITS, region_label

    print(f"{myocardium.level} slice, {len(strain.points)} myocardium pixels, {strain.num_frames} frames -> {out}")
    when = "ms" if strain.frame_times_ms is not None else "frame"
    print(f"peak values (time in {when}):")
    print(f"{'region':<20}" + "".join(f"{q + ' (' + UNITS[q] + ')':>22}" for q in UNITS))
    for region in summary["regions"]:
        cells = []
        for quantity in UNITS:
            peak = region["peaks"][quantity]
            at = f"{peak['time_ms']:.0f}" if peak["time_ms"] is not None else f"{peak['frame']}"
            cells.append("n/a" if peak["value"] is None else f"{peak['value']:8.2f} at {at}")
        label = region_label(region)
        print(f"{label:<20}" + "".join(f"{cell:>22}" for cell in cells))
    unreliable = [f"{region_label(r)} ({len(r['unreliable_frames'])} frames from {r['unreliable_frames'][0]})"
                  for r in summary["regions"] if r.get("unreliable_frames") and r["kind"] == "segment"]
    if unreliable:
        from ..regions import FLAG_PX
        print(f"unreliable (tracking error estimate above {FLAG_PX:g} px): " + "; ".join(unreliable))


def find_automatically(result, args: argparse.Namespace):
    """The automatic myocardium of a result folder (``deeptag.auto_myocardium``); an InputError when the
    input sequence cannot be read or no plausible ring is found."""
    from ..auto_myocardium import find_myocardium
    from ..errors import InputError

    if result.sequence is None:
        raise InputError(f"--auto needs the input sequence but {result.sequence_problem}; give it with --sequence",
                         result.path)
    return find_myocardium(result.sequence.images, result.fields["lagrangian"], result.spacing)


def rv_angle(rv: str | None, centre: tuple[float, float]) -> float:
    """The anterior RV insertion's angle about ``centre`` from ``--rv X,Y``, else the default."""
    import numpy as np

    from ..myocardium import DEFAULT_RV_ANGLE_DEG, display_angle, parse_numbers

    if not rv:
        return DEFAULT_RV_ANGLE_DEG
    return float(display_angle(np.array(parse_numbers(rv, 2, "--rv (x,y)")), centre))


def warn_off_the_tracked_region(myocardium: Myocardium, lagrangian) -> None:
    """One line on stderr when part of the myocardium lies where nothing was tracked (outside the region
    of interest): the ring or mask is likely off the heart."""
    import sys

    import numpy as np

    outside = ~np.isfinite(lagrangian[0]).all(axis=0) & myocardium.mask
    if outside.any():
        print(f"deeptag: warning: {int(outside.sum())} of {int(myocardium.mask.sum())} myocardium pixels lie "
              "outside the tracked region (their strain is unknown): is the myocardium on the heart?",
              file=sys.stderr)
