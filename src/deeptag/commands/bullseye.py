"""``deeptag bullseye``: one AHA 17-segment bull's-eye of peak strain from several strain results (the three
apical long-axis views for longitudinal strain, short-axis slices for circumferential or radial strain)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError

QUANTITIES = ("E_ll", "E_tt", "E_cc", "E_rr", "rotation")


def register(subparsers: argparse._SubParsersAction) -> None:
    from . import SUMMARIES

    parser = subparsers.add_parser(
        "bullseye", help=SUMMARIES["bullseye"],
        description="Combine the strain results of several views or slices of one heart into one AHA "
                    "17-segment bull's-eye of a peak quantity: each segment takes the mean of the results that "
                    "show it (the apex shows in every long-axis view), the global value the mean of their "
                    "global peaks (for E_ll of the 2-, 3- and 4-chamber views: global longitudinal strain as "
                    "echocardiography averages it). Writes FILE.png and FILE.csv (one row per segment).")
    parser.add_argument("results", type=Path, nargs="+", metavar="STRAIN_DIR",
                        help="an output folder of deeptag strain, or a track result folder holding strain/")
    parser.add_argument("--out", type=Path, required=True, help="the picture, a .png file (its table beside it, .csv)")
    parser.add_argument("--quantity", choices=QUANTITIES, default=None,
                        help="the peak to show (default: E_ll when a long-axis result is given, else E_cc)")
    parser.add_argument("--force", action="store_true", help="replace an existing picture and table")
    parser.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..long_axis import LONG_AXIS_VIEWS, combine_segments, read_strain_summary, summary_label
    from ..report import write_atomically
    from ..viz import combined_bullseye_figure, png_bytes

    if args.out.suffix.lower() != ".png":
        raise InputError("--out must name a .png file", args.out)
    table = args.out.with_suffix(".csv")
    for path in (args.out, table):
        if path.is_dir():
            raise InputError("is a folder; give a file name ending in .png", path)
        if path.exists() and not args.force:
            raise InputError("exists already; pass --force to replace it", path)
    summaries = [read_strain_summary(folder) for folder in args.results]
    quantity = args.quantity or ("E_ll" if any(s.get("view") in LONG_AXIS_VIEWS for s in summaries) else "E_cc")
    segments, overall = combine_segments(summaries, quantity)
    if not segments:
        raise InputError(f"--quantity {quantity}: none of the results has it per segment (long-axis results have "
                         "E_ll and E_tt, short-axis ones E_rr, E_cc and rotation)")
    unit = "deg" if quantity == "rotation" else "%"
    views = ", ".join(summary_label(s) for s in summaries)
    title = f"peak {quantity} ({unit}) from {views}"
    if overall["value"] is not None:
        title += f"\nglobal (mean of {len(overall['sources'])}): {overall['value']:.2f}"
    picture = png_bytes(combined_bullseye_figure({n: s["value"] for n, s in segments.items()}, title, unit))
    write_atomically(args.out, lambda path: path.write_bytes(picture))
    rows = [["segment", "name", f"peak_{quantity}", "unit", "results"]]
    rows += [[number, segment["name"], f"{segment['value']:.4f}", unit, " + ".join(segment["sources"])]
             for number, segment in segments.items()]
    if overall["value"] is not None:
        rows.append(["global", "mean of the global peaks", f"{overall['value']:.4f}", unit,
                     " + ".join(overall["sources"])])
    write_atomically(table, lambda path: write_rows(path, rows))
    if not args.quiet:
        print(f"peak {quantity} ({unit}) per AHA segment from {views}:")
        for number, segment in segments.items():
            print(f"{number:>3} {segment['name']:<24}{segment['value']:>8.2f}   ({' + '.join(segment['sources'])})")
        if overall["value"] is not None:
            print(f"global (mean of {len(overall['sources'])}): {overall['value']:.2f}")
        missing = sorted(set(range(1, 18)) - set(segments))
        if missing:
            print(f"no result shows segment(s) {', '.join(map(str, missing))}")
        print(f"-> {args.out}, {table}")
    return 0


def write_rows(path: Path, rows: list[list]) -> None:
    """``rows`` as a CSV file."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
