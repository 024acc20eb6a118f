"""Why the U-Net is He-initialised: a supervised fit of the simulator's true Lagrangian fields, on the
96 grid, from the project's initialisation and from PyTorch's default, for the same wall time each.

Prints the end-point error over the image relative to that of "no motion" (1.0 = nothing learned),
averaged over the last 50 steps. Sequences: simulated seeds 0-39 (the bundled model's training seeds).

    python benchmarks/initialisation.py [--seconds 280] [--sequences 40]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from deeptag import fields
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.phantom import simulate_sequence
from deeptag.preprocess import GridMapping
from deeptag.train import fields_to_grid

SIZE, WINDOW = 96, 8


def pytorch_default(model: DeepTagNet) -> DeepTagNet:
    """The same network with PyTorch's default initialisation of the U-Net's convolutions."""
    for module in model.unet_model.modules():
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    return model


def training_pairs(count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(frames (WINDOW, 1, S, S), true Lagrangian fields (WINDOW - 1, 2, S, S)) per simulated sequence."""
    pairs = []
    for seed in range(count):
        s = simulate_sequence(seed)
        mapping = GridMapping.full_frame(*s.images.shape[1:], size=SIZE)
        frames = mapping.images_to_network(s.images[:WINDOW])
        pairs.append((frames, fields_to_grid(torch.as_tensor(s.lagrangian[1:WINDOW]), SIZE)))
    return pairs


def fit(model: DeepTagNet, data: list, seconds: float) -> tuple[float, int]:
    """Adam at 1e-3 on the mean squared end-point error for ``seconds``; the error relative to no motion."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    ratios, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds:
        frames, truth = data[int(torch.randint(0, len(data), (), generator=generator))]
        predicted = fields.lagrangian_fields(model(frames[:-1], frames[1:], stochastic=False).forward)
        squared = ((predicted - truth) ** 2).sum(dim=1)
        optimizer.zero_grad()
        squared.mean().backward()
        optimizer.step()
        ratios.append(float(squared.detach().sqrt().mean() / truth.norm(dim=1).mean()))
    return float(np.mean(ratios[-50:])), len(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=280)
    parser.add_argument("--sequences", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = training_pairs(args.sequences)
    for name, prepare in (("He (the project's)", lambda m: m), ("PyTorch default", pytorch_default)):
        torch.manual_seed(0)
        ratio, steps = fit(prepare(DeepTagNet(ModelConfig(image_size=SIZE, probabilistic=False))), data, args.seconds)
        print(f"{name:>20}: error {ratio:.2f} x no motion after {args.seconds:.0f} s ({steps} steps)")


if __name__ == "__main__":
    main()
