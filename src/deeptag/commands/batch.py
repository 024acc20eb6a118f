"""``deeptag batch``: every slice of many inputs, on a Dask cluster, resumable, into one table."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    from . import SUMMARIES
    from .track import add_tracking_arguments

    parser = subparsers.add_parser(
        "batch", help=SUMMARIES["batch"],
        description="Track every slice (of every series) of every INPUT, one Dask task per slice, each into "
                    "its own result folder OUT/<scan>[/<series UID>]/slice_KK as 'deeptag track' writes it "
                    "(plus strain/ when a myocardium is given), and write OUT/summary.csv/.parquet (one row "
                    "per slice) and OUT/segments.csv/.parquet (one row per slice and AHA segment). Run it "
                    "again to resume: finished slices are skipped, failed ones retried. Exit code 0 when "
                    "every slice succeeded, 1 when some failed, 2 for bad arguments. See docs/batch.md.")
    parser.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                        help="a DICOM study folder, a NIfTI or .npz file (any input 'deeptag track' reads), or a "
                             "CSV manifest (.csv) with a column 'input' and optional columns series, slice, roi, "
                             "points, lv, mask, mask_label, contours, rv, level, view, centreline, wall_mm")
    parser.add_argument("--out", type=Path, required=True, help="the batch's folder (created; reused to resume)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="workers of the local Dask cluster, one thread each (default: one per CPU core, "
                             "fewer if memory is short of 2 GiB per worker)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a running Dask cluster instead, e.g. tcp://host:8786 (its workers must see "
                             "the inputs and --out at the same paths; default: a local cluster)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (it only shows on a terminal)")
    parser.add_argument("--report", action="store_true",
                        help="also write report.html and pictures/ into each slice's folder (as 'deeptag track "
                             "--report')")
    add_tracking_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import batch
    from .common import adapt_from_args, describe_model, device_from_args, model_from_args

    check_cluster_arguments(args)
    from ..long_axis import parse_view
    parse_view(args.view)
    adapt = adapt_from_args(args)
    if args.scheduler is None:  # a remote cluster's workers may have devices that this machine lacks
        device_from_args(args)
    scans = batch.collect_scans(args.inputs, default_scan(args))
    model, name = model_from_args(args)
    options = batch.Options(args.out.absolute(), describe_model(name, adapt), adapt, args.intensity, args.device,
                            args.threads or 1, args.report)
    with batch.dask_client(args.scheduler, args.workers) as client:
        make_folder(args.out)
        rows, segments = batch.run_batch(client, scans, options, model, quiet=args.quiet)
    batch.write_tables(args.out, rows, segments)
    return report(rows, args.out)


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the output folder ({error.strerror})", out) from None


def check_cluster_arguments(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise InputError("--workers sizes the local cluster; with --scheduler the running cluster's workers work")


def default_scan(args: argparse.Namespace):
    """The settings that every scan takes unless its manifest row gives its own."""
    from ..batch import Scan
    from ..preprocess import parse_roi
    from .strain import myocardium_options
    from .track import parse_slice

    if args.roi is not None:
        parse_roi(args.roi)
    slice_index = parse_slice(args.slice_index, allow_all=True)
    return Scan(Path(), series=args.series, slice=None if slice_index == "all" else slice_index, roi=args.roi,
                myocardium={k: v for k, v in (myocardium_options(args) or {}).items() if v is not None})


def report(rows: list[dict], out: Path) -> int:
    """Print the outcome (failures on stderr); the exit code: 1 if any slice failed, else 0."""
    failed = [row for row in rows if row["status"] == "failed"]
    resumed = sum(bool(row.get("resumed")) for row in rows)
    for row in failed:
        where = f" slice {row['slice']}" if row["slice"] is not None else ""
        print(f"failed: {row['input']}{where}: {row['error']}", file=sys.stderr)
    print(f"{len(rows)} slice(s): {len(rows) - len(failed) - resumed} tracked, {resumed} already done, "
          f"{len(failed)} failed -> {out / 'summary.csv'}, {out / 'segments.csv'} (and .parquet)")
    return 1 if failed else 0
