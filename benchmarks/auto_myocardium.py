"""The automatic frame-0 myocardium (``deeptag strain --auto``) against the simulator's true one.

On simulated test sequences (seeds 100000 on; the settings were chosen on validation seeds 50000 on),
the myocardium is found twice: from the true Lagrangian fields (segmentation error alone) and from the
bundled model's fields (``track_sequence(seq, model, adapt=None)``: the network alone, for speed). For
each: Dice with the true mask, the mean distance between the found and true borders (px, both ways),
the fraction refused, and the peak global E_cc and E_rr error that the automatic myocardium adds
(|peak with the automatic myocardium - peak with the true one|, same fields), and the seconds it takes.
With ``--picture PNG``, the ring found on the real validation scan beside the docs' hand ring.

    nice -n 10 python benchmarks/auto_myocardium.py [--sequences 20] [--picture docs/images/auto_myocardium_real.png]
    nice -n 10 python benchmarks/auto_myocardium.py --first-seed 50000 [--variety wide]   # validation seeds
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from deeptag.auto_myocardium import NoMyocardium, draw, find_myocardium
from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.myocardium import Myocardium, ring_mask
from deeptag.phantom import simulate_sequence
from deeptag.strain import compute_strain, strain_summary
from deeptag.track import track_sequence

from reference_data import REAL_SEQUENCE, TEST_SEED, VALIDATION_SEED

HAND_RING = (132.2, 140.3, 43.0, 63.0)  # the ring of docs/guide/strain.md for sax_45_23


def dice(found: np.ndarray, truth: np.ndarray) -> float:
    return float(2 * (found & truth).sum() / (found.sum() + truth.sum()))


def border_distance(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (px) from each border pixel of one mask to the other's border, both ways."""
    edges = [mask & ~ndimage.binary_erosion(mask) for mask in (found, truth)]
    to_truth = ndimage.distance_transform_edt(~edges[1])[edges[0]]
    to_found = ndimage.distance_transform_edt(~edges[0])[edges[1]]
    return float((to_truth.sum() + to_found.sum()) / (to_truth.size + to_found.size))


def global_peaks(lagrangian: np.ndarray, myocardium: Myocardium, spacing) -> dict[str, float]:
    summary = strain_summary(compute_strain(lagrangian, myocardium, spacing))
    region = next(r for r in summary["regions"] if r["region"] == "global")
    return {q: region["peaks"][q]["value"] for q in ("E_cc", "E_rr")}


def evaluate(images, lagrangian, truth: Myocardium, spacing) -> dict | None:
    """The figures of one sequence and one set of fields; None when refused."""
    started = time.perf_counter()
    try:
        found = find_myocardium(images, lagrangian, spacing)
    except NoMyocardium as error:
        print(f"    refused: {error}")
        return None
    seconds = time.perf_counter() - started
    auto, true = (global_peaks(lagrangian, m, spacing) for m in (found.myocardium(), truth))
    return {"dice": dice(found.mask, truth.mask), "distance": border_distance(found.mask, truth.mask),
            "E_cc": abs(auto["E_cc"] - true["E_cc"]), "E_rr": abs(auto["E_rr"] - true["E_rr"]), "seconds": seconds}


def summarise(name: str, rows: list[dict | None]) -> None:
    done = [row for row in rows if row is not None]
    refused = 1 - len(done) / len(rows)
    if not done:
        print(f"{name:<16} all {len(rows)} refused")
        return
    mean = {key: float(np.mean([row[key] for row in done])) for key in done[0]}
    print(f"{name:<16} Dice {mean['dice']:.3f} (min {min(r['dice'] for r in done):.3f})  border distance "
          f"{mean['distance']:.2f} px  refused {refused:.0%}  added peak error E_cc {mean['E_cc']:.2f} / E_rr "
          f"{mean['E_rr']:.2f} points  {mean['seconds']:.1f} s per sequence")


def real_picture(path: str, model) -> None:
    """The ring found on the real validation scan beside the hand ring, tracked as strain.md tracks it."""
    sequence = read_sequence(REAL_SEQUENCE)
    lagrangian = track_sequence(sequence, model, adapt=None).lagrangian
    try:
        found = find_myocardium(sequence.images, lagrangian, sequence.spacing)
    except NoMyocardium as error:
        print(f"real scan: refused ({error}); no picture")
        return
    cx, cy, r_endo, r_epi = HAND_RING
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    hand = tuple(np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1) for r in (r_endo, r_epi))
    hand_mask = Myocardium(ring_mask(found.mask.shape, (cx, cy), r_endo, r_epi), (cx, cy))
    auto, hand_peaks = (global_peaks(lagrangian, m, sequence.spacing) for m in (found.myocardium(), hand_mask))
    print(f"real scan: found centre ({found.centre[0]:.1f}, {found.centre[1]:.1f}), measures "
          + ", ".join(f"{k} {v:.2f}" for k, v in found.measures.items())
          + f"; Dice with the hand ring {dice(found.mask, hand_mask.mask):.3f}; peak global E_cc {auto['E_cc']:.2f} "
          f"(hand ring {hand_peaks['E_cc']:.2f}), E_rr {auto['E_rr']:.2f} (hand ring {hand_peaks['E_rr']:.2f})")
    draw(sequence.images[0], found, {"hand ring (docs)": hand}).savefig(path)
    print(f"picture -> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=TEST_SEED,
                        help=f"first simulator seed: {TEST_SEED} (test, the reported figures) or {VALIDATION_SEED} on "
                             "(validation, where settings are chosen)")
    parser.add_argument("--variety", default="classic", choices=("classic", "wide"), help="simulator preset")
    parser.add_argument("--picture", help="also draw the ring found on the real validation scan into this PNG")
    args = parser.parse_args()
    model, name = load_model(None)
    rows = {"true fields": [], "tracked fields": []}
    seeds = range(args.first_seed, args.first_seed + args.sequences)
    for seed in seeds:
        simulated = simulate_sequence(seed, variety=args.variety)
        truth = simulated.myocardium()
        tracked = track_sequence(simulated.as_sequence("simulated"), model, adapt=None).lagrangian
        for kind, lagrangian in (("true fields", simulated.lagrangian[1:]), ("tracked fields", tracked)):
            row = evaluate(simulated.images, lagrangian, truth, simulated.spacing)
            rows[kind].append(row)
            print(f"seed {seed} {kind:<15} " + ("refused" if row is None else
                  "  ".join(f"{k} {v:.3f}" for k, v in row.items())), flush=True)
    print(f"\n{args.sequences} simulated {args.variety} sequences (seeds {seeds[0]}-{seeds[-1]}), "
          f"model {name}, network alone (adapt=None):")
    for kind, values in rows.items():
        summarise(kind, values)
    if args.picture and REAL_SEQUENCE.is_file():
        real_picture(args.picture, model)


if __name__ == "__main__":
    main()
