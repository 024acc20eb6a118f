"""Issue 30's levers on radial strain, side by side in one run: mean absolute error of peak E_rr and
E_cc (percentage points) against the simulator's truth, globally, per AHA segment (mid level) and per
transmural layer (endo, mid-wall, epi), for the network alone, adapted with Eq. 12 (what ``track`` does
without a myocardium), adapted with the library's defaults and the myocardium (``default``), adapted
with each myocardium-aware lever (the frame-0 myocardium given to ``track_sequence``), and TV-L1; then
on the real validation scan ../shared/real/sax_45_23.npz, with its ring, the peak global E_cc and E_rr
and the mean landmark distance of each method.

Seeds: choose on validation seeds (50000 on), report on test seeds (100000 on), never the reverse.

    python benchmarks/radial_strain_levers.py --first 50000 --sequences 3 --methods network adapted pool
    python benchmarks/radial_strain_levers.py --first 100000 --sequences 10 --methods network adapted default tissue tvl1

``--outer`` adds, for each method, global peak E_rr over the outer two thirds of the wall only (the
endocardial third left out), against the truth over the whole wall and over the same region.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from deeptag.adapt import AdaptConfig
from deeptag.baselines.optical_flow import track_tvl1
from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.metrics import landmark_summary
from deeptag.myocardium import LAYERS, Myocardium, define_myocardium
from deeptag.phantom import simulate_sequence
from deeptag.strain import compute_strain, strain_summary
from deeptag.track import track_sequence

from reference_data import REAL_SEQUENCE as REAL

REAL_RING = "132.2,140.3,43,63"  # cx,cy,r_endo,r_epi of the LV on the real scan's frame 0 (strain_accuracy.py)
BASE = AdaptConfig(pool_weight=1.0, pool_smoothness=1.0, incompressibility=0.0)  # Eq. 12: what a run without a myocardium gets
POOL = dict(pool_weight=0.1, pool_smoothness=0.1)
METHODS: dict[str, AdaptConfig | None | str] = {
    "network": None,
    "adapted": BASE,
    "default": AdaptConfig(),  # the library's default with the myocardium given (pool-smooth since issue 30)
    "pool-sim": replace(BASE, pool_weight=0.1),  # similarity down-weighted in the blood pool
    "pool-smooth": replace(BASE, pool_smoothness=0.1),  # smoothness relaxed on edges touching the pool
    "pool": replace(BASE, **POOL),  # both
    "pool-0": replace(BASE, pool_weight=0.0, pool_smoothness=0.0),
    "incomp": replace(BASE, incompressibility=1.0),  # near-incompressible, lambda_z = lambda_c
    "incomp-0.1": replace(BASE, incompressibility=0.1),
    "incomp-10": replace(BASE, incompressibility=10.0),
    "incomp-area": replace(BASE, incompressibility=1.0, longitudinal_ratio=0.0),  # in-plane area kept
    "fine": replace(BASE, control_spacing=2),  # a node every 4 pixels of the 192 grid
    "ncc5": replace(BASE, ncc_window=5),
    "tissue": replace(BASE, incompressibility=1.0, **POOL),
    "tissue-fine": replace(BASE, control_spacing=2, incompressibility=1.0, **POOL),
    "tissue-10": replace(BASE, incompressibility=10.0, **POOL),
    "tissue-3": replace(BASE, incompressibility=3.0, **POOL),
    "tissue-0.1": replace(BASE, incompressibility=0.1, **POOL),
    "smooth-incomp0.1": replace(BASE, pool_smoothness=0.1, incompressibility=0.1),
    "smooth-incomp10": replace(BASE, pool_smoothness=0.1, incompressibility=10.0),
    "tvl1": "tvl1",
}
QUANTITIES = ("E_rr", "E_cc")


def peaks(lagrangian: np.ndarray, myocardium: Myocardium) -> dict[str, dict[str, float | None]]:
    """``peaks[quantity][region]``: peak value per region ('global', the layers, the segments)."""
    summary = strain_summary(compute_strain(lagrangian, myocardium))
    return {q: {r["region"]: r["peaks"][q]["value"] for r in summary["regions"]} for q in QUANTITIES}


def outer_wall(myocardium: Myocardium) -> Myocardium:
    """The myocardium less its endocardial third (the layer the tags resolve least)."""
    depth = myocardium.transmural_depth(myocardium.points())
    mask = np.zeros_like(myocardium.mask)
    points = myocardium.points().astype(int)
    keep = depth >= 1.0 / 3.0
    mask[points[keep, 1], points[keep, 0]] = True
    return replace(myocardium, mask=mask)


def run_method(method: str, sequence, myocardium: Myocardium, points: np.ndarray, model, steps: int | None):
    """(Lagrangian fields on the input grid, tracks of ``points``, seconds) of one method."""
    started = time.perf_counter()
    config = METHODS[method]
    if config == "tvl1":
        result = track_tvl1(sequence.images, points)
        return result.lagrangian, result.tracks, time.perf_counter() - started
    if config is not None and steps is not None:
        config = replace(config, steps=steps)
    result = track_sequence(sequence, model, points, adapt=config, myocardium=myocardium)
    return result.lagrangian, result.tracks, time.perf_counter() - started


def table(errors: dict, methods: list[str], count: int) -> None:
    layers = [region for region, _ in LAYERS]
    print(f"\nMean absolute error of peak strain over {count} simulated sequences (percentage points; "
          "mean signed error tracked - true in brackets)")
    header = f"{'method':>12} | {'E_rr glob':>15} {'seg':>6} " + " ".join(f"{l:>15}" for l in layers) \
        + f" | {'E_cc glob':>15} {'seg':>6} " + " ".join(f"{l:>6}" for l in layers)
    print(header)
    for method in methods:
        cells = []
        for quantity in QUANTITIES:
            signed = errors[method][quantity]
            mae = {r: np.mean(np.abs(v)) for r, v in signed.items()}
            segments = [v for r, v in mae.items() if r.isdigit()]
            if quantity == "E_rr":
                cells.append(f"{mae['global']:6.2f} ({np.mean(signed['global']):+6.2f}) {np.mean(segments):6.2f} "
                             + " ".join(f"{mae[l]:6.2f} ({np.mean(signed[l]):+6.2f})" for l in layers))
            else:
                cells.append(f"{mae['global']:6.2f} ({np.mean(signed['global']):+6.2f}) {np.mean(segments):6.2f} "
                             + " ".join(f"{mae[l]:6.2f}" for l in layers))
        print(f"{method:>12} | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a deeptag checkpoint (default: the bundled model)")
    parser.add_argument("--first", type=int, default=50_000, help="first simulator seed (validation: 50000 on)")
    parser.add_argument("--sequences", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["network", "adapted", "default", "tissue", "tvl1"],
                        choices=list(METHODS))
    parser.add_argument("--steps", type=int, help="adaptation steps (default: AdaptConfig's)")
    parser.add_argument("--outer", action="store_true", help="also E_rr over the outer two thirds of the wall")
    parser.add_argument("--no-real", action="store_true", help="leave out the real scan")
    parser.add_argument("--real-only", action="store_true", help="only the real scan")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every peak (truth and methods) to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, name = load_model(args.model)
    print(f"{name}; methods {', '.join(args.methods)}; {torch.get_num_threads()} CPU thread(s)"
          + (f"; {args.steps} adaptation steps" if args.steps else ""), flush=True)
    record = {"model": name, "seeds": {}, "real": {}}
    errors = {m: {q: {} for q in QUANTITIES} for m in args.methods}
    outer = {m: {"whole": [], "same": []} for m in args.methods}
    count = 0 if args.real_only else args.sequences
    for k in range(count):
        seed = args.first + k
        simulated = simulate_sequence(seed)
        myocardium = simulated.myocardium(f"simulator seed {seed}")
        sequence = simulated.as_sequence(f"seed {seed}")
        truth = peaks(simulated.lagrangian[1:], myocardium)
        band = outer_wall(myocardium)
        truth_outer = peaks(simulated.lagrangian[1:], band)["E_rr"]["global"] if args.outer else None
        entry = {"tags": simulated.tag_pattern, "truth": truth, "methods": {}}
        line = [f"seed {seed} ({simulated.tag_pattern}): true E_rr {truth['E_rr']['global']:5.1f} "
                f"E_cc {truth['E_cc']['global']:5.1f}"]
        for method in args.methods:
            lagrangian, _, seconds = run_method(method, sequence, myocardium, simulated.landmarks[0], model, args.steps)
            predicted = peaks(lagrangian, myocardium)
            entry["methods"][method] = {"peaks": predicted, "seconds": seconds}
            for quantity in QUANTITIES:
                for region, value in truth[quantity].items():
                    if value is not None and predicted[quantity].get(region) is not None:
                        errors[method][quantity].setdefault(region, []).append(predicted[quantity][region] - value)
            if args.outer:
                value = peaks(lagrangian, band)["E_rr"]["global"]
                outer[method]["whole"].append(value - truth["E_rr"]["global"])
                outer[method]["same"].append(value - truth_outer)
                entry["methods"][method]["outer_E_rr"] = value
            line.append(f"{method} {predicted['E_rr']['global']:5.1f}/{predicted['E_cc']['global']:5.1f} "
                        f"({seconds:.0f} s)")
        record["seeds"][seed] = entry
        print("; ".join(line), flush=True)
        if args.json:  # after every sequence, so that a long run leaves what it did
            args.json.write_text(json.dumps(record, indent=1) + "\n")
    if count:
        table(errors, args.methods, count)
        if args.outer:
            print("\nPeak global E_rr over the outer two thirds of the wall: mean absolute error against the truth "
                  "over the whole wall / over the same region")
            for method in args.methods:
                print(f"{method:>12}: {np.mean(np.abs(outer[method]['whole'])):6.2f} / "
                      f"{np.mean(np.abs(outer[method]['same'])):6.2f}")
    if REAL.is_file() and not args.no_real:
        real = read_sequence(REAL)
        ring = define_myocardium(real.images.shape[1:], ring=REAL_RING)
        print(f"\n{REAL.name}, ring {REAL_RING}: peak global E_cc and E_rr (healthy tagging E_cc about -13 to -22 %), "
              f"mean landmark distance over frames 1-{real.num_frames - 1}", flush=True)
        for method in args.methods:
            lagrangian, tracks, seconds = run_method(method, real, ring, real.landmarks[0], model, args.steps)
            predicted = peaks(lagrangian, ring)
            distance = landmark_summary(tracks, real.landmarks)["mean_px"]
            record["real"][method] = {"peaks": predicted, "landmark_px": distance, "seconds": seconds}
            print(f"{method:>12}: E_cc {predicted['E_cc']['global']:6.1f} %, E_rr {predicted['E_rr']['global']:6.1f} % "
                  f"(endo {predicted['E_rr']['endo']:.1f}, mid {predicted['E_rr']['midwall']:.1f}, "
                  f"epi {predicted['E_rr']['epi']:.1f}); landmarks {distance:.3f} px ({seconds:.0f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
