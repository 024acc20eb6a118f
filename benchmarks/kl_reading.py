"""The three readings of the KL term's mean smoothness (``LossConfig.kl_mean_weight``) side by side.

Eq. 8 puts ``mu^T Lambda mu`` inside the 1/2 (weight 0.5), Eq. 15 outside it (1.0), and the authors'
released training code computes a quarter of Eq. 8's (0.125; VoxelMorph's ``prec_loss``). One network
per reading is trained from scratch with the same seed, data and steps (on a 96 grid: a short run, the
first stage of scripts/train_bundled_model.sh cut short), then compared on simulated validation
sequences (seeds 50000 on, never trained on): the image terms of Eq. 12 (forward, backward and global
NCC at the paper's weights, the same for every reading, so comparable), the myocardium end-point error
of the network alone, and, when present, the mean landmark distance on the real validation scan.

    python benchmarks/kl_reading.py SIMS_FOLDER --out RUNS [--steps 2000] [--weights 0.5 1.0 0.125]

A killed run continues where it stopped when the command is started again.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.losses import DeepTagLoss, LossConfig
from deeptag.metrics import landmark_summary, myocardium_epe
from deeptag.phantom import simulate_sequence
from deeptag.track import network_frames, track_sequence
from deeptag.train import Trainer, TrainConfig
from deeptag.model import ModelConfig

from reference_data import REAL_SEQUENCE as REAL, VALIDATION_SEED

IMAGE_TERMS = ("sim_forward", "sim_backward", "global")


def train(sims: Path, run: Path, weight: float, steps: int) -> Path:
    """One run with this KL mean weight (resumed when a killed one left its last checkpoint)."""
    if (run / "last.pt").is_file():
        trainer = Trainer([sims], run, resume=True, budget={"steps": steps})
    else:
        trainer = Trainer([sims], run, TrainConfig(steps=steps, window=12, validate_every=steps, seed=0),
                          ModelConfig(image_size=96), LossConfig(kl_mean_weight=weight))
    if trainer.state.step < trainer.config.steps:
        trainer.run(progress=False)
    return run / "last.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sims", type=Path, help="folder of simulated training sequences (deeptag simulate)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the runs (one sub-folder each)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 0.125])
    parser.add_argument("--sequences", type=int, default=8, help="simulated validation sequences")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [VALIDATION_SEED + k for k in range(args.sequences)]
    validation = [simulate_sequence(seed) for seed in seeds]
    real = read_sequence(REAL) if REAL.is_file() else None
    paper = DeepTagLoss(LossConfig())
    print(f"{args.steps} steps on a 96 grid per reading; {args.sequences} validation sequences (seeds "
          f"{seeds[0]}-{seeds[-1]}); image terms of Eq. 12 (lower is better), myocardium EPE (px)"
          + (f"; {REAL.name} mean landmark distance (px), unseen" if real else ""), flush=True)
    for weight in args.weights:
        checkpoint = train(args.sims, args.out / f"kl_mean_{weight:g}", weight, args.steps)
        model, _ = load_model(checkpoint)
        image_terms, errors = [], []
        for seed, simulated in zip(seeds, validation):
            sequence = simulated.as_sequence(f"seed {seed}")
            result = track_sequence(sequence, model, adapt=None)
            errors.append(myocardium_epe(result.lagrangian, simulated.lagrangian, simulated.myocardium_mask))
            with torch.no_grad():
                _, terms = paper(model, network_frames(sequence, result.mapping))
            image_terms.append(sum(terms[name] for name in IMAGE_TERMS))
        line = (f"kl_mean_weight {weight:g}: image terms {np.mean(image_terms):.4f}, "
                f"EPE {np.mean(errors):.3f} px")
        if real is not None:
            tracks = track_sequence(real, model, real.landmarks[0], adapt=None).tracks
            line += f", real {landmark_summary(tracks, real.landmarks)['mean_px']:.3f} px"
        print(line, flush=True)


if __name__ == "__main__":
    main()
