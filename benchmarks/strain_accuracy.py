"""Peak strain from tracked fields against the simulator's truth, and peak strain on the real sequence.

1. On simulated sequences from test seeds (100000 on, never trained on): mean absolute error, in
   percentage points, of peak circumferential (E_cc) and radial (E_rr) Green-Lagrange strain, globally
   and per AHA segment (mid level), between the model's Lagrangian fields and the simulator's exact
   ones. Both go through the same ``compute_strain`` on the simulator's frame-0 myocardium mask;
   ``compute_strain`` itself is checked against analytic cases in tests/test_strain.py.
   With ``--tvl1``, TV-L1 optical flow (composed over frames, the full frame) side by side, to tell
   errors of the method from what the images hide.
2. On ../shared/real/sax_45_23.npz (when present), with the ring given by --real-ring: the model's peak
   global E_cc, to be read against the healthy tagging range of about -13 % to -22 %.

    python benchmarks/strain_accuracy.py [--model PATH] [--sequences 10] [--adapt-steps 0] [--tvl1] [--device cuda]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from deeptag.adapt import AdaptConfig
from deeptag.baselines.optical_flow import track_tvl1
from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.myocardium import LAYERS, Myocardium, define_myocardium
from deeptag.phantom import simulate_sequence
from deeptag.strain import compute_strain, strain_summary
from deeptag.track import track_sequence

from reference_data import REAL_SEQUENCE as REAL, TEST_SEED


def peaks(lagrangian: np.ndarray, myocardium: Myocardium) -> dict[str, dict[str, float | None]]:
    """Peak value of each quantity per region ('global', the layers, '7'..'12') of a Lagrangian field
    sequence: ``peaks[quantity][region]``."""
    summary = strain_summary(compute_strain(lagrangian, myocardium))
    return {quantity: {region["region"]: region["peaks"][quantity]["value"] for region in summary["regions"]}
            for quantity in ("E_cc", "E_rr")}


def print_simulated(method: str, errors: dict[str, dict[str, list[float]]], patterns: list[tuple[str, float]]) -> None:
    """Part 1's table for one method: mean absolute (and, per layer, signed) errors of peak strain, and
    the E_cc error by tag pattern."""
    print(f"\n1. {method}, {len(patterns)} simulated test sequences: mean absolute error of peak strain "
          "(percentage points)")
    layers = [region for region, _ in LAYERS]
    for quantity, signed in errors.items():
        by_region = {region: np.mean(np.abs(v)) for region, v in signed.items()}
        segments = {region: v for region, v in by_region.items() if region != "global" and region not in layers}
        print(f"  {quantity}: global {by_region['global']:.2f}, per segment {np.mean(list(segments.values())):.2f} "
              f"(segments {', '.join(f'{r}: {v:.2f}' for r, v in segments.items())})")
        print(f"  {quantity} per layer (mean tracked - true in brackets): "
              + ", ".join(f"{r} {by_region[r]:.2f} ({np.mean(signed[r]):+.2f})" for r in layers))
    for pattern in ("grid", "lines"):  # one set of tag lines shows no motion along them (aperture problem)
        chosen = [error for kind, error in patterns if kind == pattern]
        if chosen:
            print(f"  E_cc global, {len(chosen)} sequences tagged with {pattern}: {np.mean(chosen):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a deeptag checkpoint (default: the bundled model)")
    parser.add_argument("--sequences", type=int, default=10)
    parser.add_argument("--adapt-steps", type=int, default=0)
    parser.add_argument("--real-ring", default="132.2,140.3,43,63",
                        help="cx,cy,r_endo,r_epi of the LV ring on the real sequence's frame 0 (pixels)")
    parser.add_argument("--tvl1", action="store_true", help="TV-L1 optical flow side by side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where the network runs: cpu (default) or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, name = load_model(args.model)
    adapt = AdaptConfig(steps=args.adapt_steps) if args.adapt_steps else None
    print(f"{name}" + (f", adapted for {args.adapt_steps} steps" if adapt else ""))

    methods = [name] + (["TV-L1"] if args.tvl1 else [])
    errors = {method: {"E_cc": {}, "E_rr": {}} for method in methods}  # signed, per quantity and region
    patterns = {method: [] for method in methods}  # per sequence: tag pattern, error of peak global E_cc
    print(f"\n{'seed':>7} {'tags':>5} {'true E_cc':>10}" + "".join(f"{m[:12]:>13}" for m in methods))
    for k in range(args.sequences):
        simulated = simulate_sequence(TEST_SEED + k)
        myocardium = simulated.myocardium(f"simulator seed {TEST_SEED + k}")
        fields = {name: track_sequence(simulated.as_sequence("simulated"), model, adapt=adapt,
                                       device=args.device).lagrangian}
        if args.tvl1:
            fields["TV-L1"] = track_tvl1(simulated.images, simulated.landmarks[0]).lagrangian
        truth = peaks(simulated.lagrangian[1:], myocardium)
        tracked = {}  # each method's peak global E_cc, for the per-sequence line
        for method, lagrangian in fields.items():
            predicted = peaks(lagrangian, myocardium)
            for quantity in ("E_cc", "E_rr"):
                for region, value in truth[quantity].items():
                    if value is not None and predicted[quantity].get(region) is not None:
                        errors[method][quantity].setdefault(region, []).append(predicted[quantity][region] - value)
            tracked[method] = predicted["E_cc"]["global"]
            patterns[method].append((simulated.tag_pattern, abs(tracked[method] - truth["E_cc"]["global"])))
        print(f"{TEST_SEED + k:>7} {simulated.tag_pattern:>5} {truth['E_cc']['global']:>10.2f}"
              + "".join(f"{tracked[m]:>13.2f}" for m in methods), flush=True)
    if args.sequences:
        for method in methods:
            print_simulated(method, errors[method], patterns[method])

    if REAL.is_file():
        real = read_sequence(REAL)
        ring = define_myocardium(real.images.shape[1:], ring=args.real_ring)
        result = track_sequence(real, model, adapt=adapt, device=args.device)
        real_peaks = peaks(result.lagrangian, ring)["E_cc"]
        print(f"\n2. {REAL.name}, ring {args.real_ring}: peak global E_cc {real_peaks['global']:.1f} % "
              "(healthy tagging range about -13 % to -22 %); per layer "
              + ", ".join(f"{region} {real_peaks[region]:.1f} %" for region, _ in LAYERS))


if __name__ == "__main__":
    main()
