"""Test-time adaptation settings compared on simulated validation sequences (never used for training or
for the reported figures), and on the real sequence from zero motion.

1. Seeds 50000+FIRST.. (``--sequences``, ``--first``), or those listed by ``--seeds``: myocardium
   Lagrangian EPE, and the error of peak global circumferential strain, after adapting the bundled
   model with each setting given as
   STEPS,LR,BLURRED_FRACTION,BLUR_SIGMA,CONTROL_SPACING[,COARSE_FRACTION[,SMOOTHNESS_SCALE[,NCC_WINDOW[,BETA]]]]
   (sigma and spacing in pixels of a 96 grid, scaled to the model's: ``AdaptConfig``; left out: no
   coarse level, the paper's smoothness weights, window and global weight beta).
2. ``--real``: the real sequence's mean landmark distance after adapting the bundled model with each
   setting.
3. ``--real-from-zero``: the real sequence tracked by adapting a network that predicts no motion at all
   (its mean head zeroed), i.e. the paper's loss minimised on the scan alone.

    python benchmarks/adapt_settings.py [--sequences 4] [--first 0 | --seeds 50000,50002] [--real]
        [--settings 150,0.05,0.3,1.5,4 ...] [--real-from-zero]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from deeptag.adapt import AdaptConfig
from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.losses import LossConfig
from deeptag.metrics import landmark_summary, myocardium_epe
from deeptag.phantom import SimulatedSequence, simulate_sequence
from deeptag.track import track_sequence

from reference_data import REAL_SEQUENCE as REAL, TEST_SEED, VALIDATION_SEED
from strain_accuracy import peaks


def parse_setting(text: str) -> AdaptConfig:
    steps, lr, fraction, sigma, spacing, *rest = text.split(",")
    coarse, smoothness, window, beta = rest + ["0", "1", "0", str(LossConfig().beta)][len(rest):]
    return AdaptConfig(steps=int(steps), learning_rate=float(lr), blurred_fraction=float(fraction),
                       blur_sigma=float(sigma), control_spacing=int(spacing), coarse_fraction=float(coarse),
                       smoothness_scale=float(smoothness), ncc_window=int(window) or None,
                       loss=LossConfig(beta=float(beta)))


def peak_global_ecc(lagrangian: np.ndarray, simulated: SimulatedSequence) -> float:
    """Peak global circumferential strain (%) of a Lagrangian field sequence in the simulator's myocardium."""
    return peaks(lagrangian, simulated.myocardium())["E_cc"]["global"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--first", type=int, default=0, help="skip this many validation seeds")
    parser.add_argument("--seeds", help="validation seeds, comma-separated (instead of --first and --sequences)")
    parser.add_argument("--settings", nargs="*", default=["150,0.05,0.3,1.5,4"])
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--real-from-zero", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where to adapt and track (cpu, cuda)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, name = load_model(None)
    seeds = ([int(seed) for seed in args.seeds.split(",")] if args.seeds else
             range(VALIDATION_SEED + args.first, VALIDATION_SEED + args.first + args.sequences))
    if any(seed < VALIDATION_SEED or seed >= TEST_SEED for seed in seeds):
        parser.error(f"validation seeds are {VALIDATION_SEED} to {TEST_SEED - 1}")
    sims = [simulate_sequence(seed) for seed in seeds]
    still = [myocardium_epe(0 * s.lagrangian[1:], s.lagrangian, s.myocardium_mask) for s in sims]
    print(f"{name}; validation seeds {', '.join(map(str, seeds))}; "
          f"no motion {np.mean(still):.3f} px")
    true_ecc = [peak_global_ecc(s.lagrangian[1:], s) for s in sims]
    for text in args.settings:
        errors, ecc_errors, seconds = [], [], []
        for s, truth in zip(sims, true_ecc):
            result = track_sequence(s.as_sequence("simulated"), model, adapt=parse_setting(text), device=args.device)
            errors.append(myocardium_epe(result.lagrangian, s.lagrangian, s.myocardium_mask))
            ecc_errors.append(peak_global_ecc(result.lagrangian, s) - truth)
            seconds.append(result.seconds["adapt"])
        print(f"  {text}: myocardium EPE {np.mean(errors):.3f} px {np.round(errors, 2).tolist()}; peak global "
              f"E_cc error {np.mean(np.abs(ecc_errors)):.2f} points {np.round(ecc_errors, 2).tolist()}; "
              f"{np.mean(seconds):.0f} s per sequence", flush=True)
    if args.real and REAL.is_file():
        real = read_sequence(REAL)
        for text in args.settings:
            result = track_sequence(real, model, real.landmarks[0], adapt=parse_setting(text), device=args.device)
            print(f"  {REAL.name}, {text}: {landmark_summary(result.tracks, real.landmarks)['mean_px']:.3f} px, "
                  f"{result.seconds['adapt']:.0f} s", flush=True)
    if args.real_from_zero and REAL.is_file():
        with torch.no_grad():
            model.flow_mean.weight.zero_()
            model.flow_mean.bias.zero_()
        real = read_sequence(REAL)
        for text in args.settings:
            result = track_sequence(real, model, real.landmarks[0], adapt=parse_setting(text), device=args.device)
            print(f"  {REAL.name} from zero motion, {text}: "
                  f"{landmark_summary(result.tracks, real.landmarks)['mean_px']:.3f} px")


if __name__ == "__main__":
    main()
