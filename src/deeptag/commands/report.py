"""``deeptag report``: one self-contained HTML page with the pictures, tables and settings of a result."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .strain import add_myocardium_arguments, myocardium_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="one HTML report of a track result: pictures, strain, settings",
        description="Write a single self-contained HTML file (pictures inlined as PNG and GIF data URIs) "
                    "with the registration panel, tracked landmarks, the virtual tag grid, motion fields, "
                    "uncertainty and, when a myocardium is given (or 'deeptag strain' was run before), "
                    "strain curves, a bull's-eye of peak strain and the strain tables.")
    parser.add_argument("result", type=Path, metavar="RESULT_DIR", help="the --out folder of deeptag track")
    add_myocardium_arguments(parser)
    parser.add_argument("--sequence", type=Path,
                        help="the input sequence (default: the input named in summary.json)")
    parser.add_argument("--out", type=Path, help="the HTML file (default: RESULT_DIR/report.html)")
    parser.add_argument("--pictures", type=Path,
                        help="also write every picture into this new folder (GIF and PNG frames, PNG stills; "
                             "default: none, the HTML holds them all)")
    grid = parser.add_argument_group("virtual tag grid (default: aligned with the tags of frame 0, found "
                                     "from the image's spectrum; any of these options draws it as given)")
    grid.add_argument("--grid-spacing", type=float,
                      help="line spacing in px (default with the other options: a twentieth of the shorter side)")
    grid.add_argument("--grid-offset", metavar="X,Y", help="a point the grid lines pass through (default 0,0)")
    grid.add_argument("--grid-angle", type=float,
                      help="angle in degrees, counter-clockwise as displayed (default 0)")
    parser.add_argument("--fps", type=float, default=4.0, help="animation frames per second (default 4)")
    parser.add_argument("--force", action="store_true", help="replace an existing report (and --pictures folder)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..myocardium import parse_numbers
    from ..report import GridOptions, write_report

    check_numbers(args)
    offset = parse_numbers(args.grid_offset, 2, "--grid-offset (x,y)") if args.grid_offset else None
    out = args.out or args.result / "report.html"
    count = write_report(args.result, out, args.sequence, myocardium_options(args),
                         GridOptions(args.grid_spacing, offset, args.grid_angle), args.fps, args.pictures, args.force)
    if not args.quiet:
        print(f"report with {count} pictures -> {out}")
    return 0


def check_numbers(args: argparse.Namespace) -> None:
    """``--fps`` and ``--grid-spacing`` are finite and positive, ``--grid-angle`` finite."""
    import math

    for option, value in (("--fps", args.fps), ("--grid-spacing", args.grid_spacing)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} must be a positive number, got {value:g}")
    if args.grid_angle is not None and not math.isfinite(args.grid_angle):
        raise InputError(f"--grid-angle must be a number of degrees, got {args.grid_angle:g}")
