"""Peak global longitudinal strain of simulated long-axis sequences: the analytic truth, the strain of the
true fields (what the strain code makes of perfect motion), and the strain of tracked fields (issue 29).

For each view and seed (held-out seeds, 900100 on): the simulator's analytic motion gives the exact E_ll at
the frame-0 wall pixels (``long_axis.true_long_axis_strain``); ``compute_long_axis_strain`` on the true
Lagrangian fields shows the error of the pipeline itself (finite differences on the pixel grid); with
``--track`` the model's fields (the network alone, or adapted with ``--adapt-steps``) show the tracking's.
The wall is the simulator's mask with its stored centreline, as ``deeptag strain --mask sim.npz`` takes it.

    python benchmarks/long_axis_strain.py [--views 2ch 3ch 4ch] [--sequences 4] [--track] [--model SPEC]
        [--adapt-steps 0] [--size 192] [--seeds S ...] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from deeptag.long_axis import LongAxisMyocardium, compute_long_axis_strain, true_long_axis_strain
from deeptag.phantom_long_axis import simulate_long_axis

FIRST_SEED = 900_100


def wall_of(sequence) -> LongAxisMyocardium:
    points = sequence.centreline[0]
    return LongAxisMyocardium(sequence.myocardium_mask, sequence.view, tuple(points[0]),
                              (tuple(points[1]), tuple(points[2])), sequence.params["heart"]["wall"], "simulator")


def peaks(result) -> dict:
    everywhere = np.ones(len(result.points), dtype=bool)
    e_ll, e_tt = result.curve("E_ll", everywhere), result.curve("E_tt", everywhere)
    return {"E_ll": float(e_ll[np.nanargmax(np.abs(e_ll))]), "GLS": float(result.gls_centreline.min()),
            "E_tt": float(e_tt[np.nanargmax(np.abs(e_tt))])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", nargs="+", default=["2ch", "3ch", "4ch"])
    parser.add_argument("--sequences", type=int, default=4, help="per view (default 4)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="these seeds instead of --sequences from 900100 (default: none)")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--track", action="store_true", help="also track each sequence with the model")
    parser.add_argument("--model", default=None, help="a checkpoint (default: the bundled model)")
    parser.add_argument("--adapt-steps", type=int, default=0, help="test-time adaptation (default 0: network alone)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    model = None
    if args.track:
        import torch

        from deeptag.adapt import AdaptConfig
        from deeptag.checkpoint import load_model
        from deeptag.track import track_sequence
        torch.set_num_threads(1)
        model, model_name = load_model(args.model)
        adapt = AdaptConfig(steps=args.adapt_steps) if args.adapt_steps else None
    rows = []
    print(f"{'view':<5}{'seed':>8}{'truth E_ll':>12}{'true-field':>12}{'tracked':>10}"
          f"{'truth GLS':>11}{'true-field':>12}{'tracked':>10}  (peak global, %)")
    for view in args.views:
        for seed in args.seeds or [FIRST_SEED + k for k in range(args.sequences)]:
            started = time.perf_counter()
            sequence = simulate_long_axis(seed, view, size=args.size)
            wall = wall_of(sequence)
            truth = true_long_axis_strain(sequence, wall)
            true_peak = {"E_ll": float(truth["E_ll"][np.argmax(np.abs(truth["E_ll"]))]),
                         "GLS": float(truth["GLS_centreline"].min()),
                         "E_tt": float(truth["E_tt"][np.argmax(np.abs(truth["E_tt"]))])}
            from_true = peaks(compute_long_axis_strain(sequence.lagrangian[1:], wall, sequence.spacing,
                                                       sequence.frame_times))
            row = {"view": view, "seed": seed, "truth": true_peak, "true_fields": from_true,
                   "normal_function": sequence.params["normal_function"],
                   "annulus_descent_mm": sequence.params["annulus_descent_mm"]}
            if model is not None:
                from deeptag.io import Sequence
                tracked = track_sequence(Sequence(images=sequence.images, source=f"{view}_{seed}",
                                                  spacing=sequence.spacing, frame_times=sequence.frame_times,
                                                  roi=sequence.roi), model, adapt=adapt)
                row["tracked"] = peaks(compute_long_axis_strain(tracked.lagrangian, wall, sequence.spacing,
                                                                sequence.frame_times))
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            track_cells = (f"{row['tracked']['E_ll']:>10.2f}", f"{row['tracked']['GLS']:>10.2f}") \
                if "tracked" in row else (f"{'-':>10}", f"{'-':>10}")
            print(f"{view:<5}{seed:>8}{true_peak['E_ll']:>12.2f}{from_true['E_ll']:>12.2f}{track_cells[0]}"
                  f"{true_peak['GLS']:>11.2f}{from_true['GLS']:>12.2f}{track_cells[1]}", flush=True)
    for source in ("true_fields", "tracked"):
        chosen = [r for r in rows if source in r]
        if not chosen:
            continue
        for quantity in ("E_ll", "GLS", "E_tt"):
            errors = np.array([abs(r[source][quantity] - r["truth"][quantity]) for r in chosen])
            print(f"{source:<12} {quantity:<4} |error| of the peak: mean {errors.mean():.2f}, max {errors.max():.2f} "
                  f"points over {len(errors)} sequences")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
