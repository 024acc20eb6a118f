"""Seconds per forward and backward pass of the local NCC of Eq. 6 (9x9 window): deeptag's separable box
sums against the direct 2D average pooling it replaced, side by side in one run, on the batch one
adaptation step of a 25-frame sequence sees (24 pairs, 96x96 and 192x192 grids); then seconds per
adaptation step (Eq. 12, bundled model, simulated validation sequence 50000 in its heart box) with each.

    python benchmarks/ncc_speed.py [--threads 2] [--repeats 20]
"""
from __future__ import annotations

import argparse
import time
from unittest import mock

import torch
import torch.nn.functional as F

from deeptag.adapt import AdaptedFields
from deeptag.checkpoint import load_model
from deeptag.losses import DeepTagLoss, LossConfig, frame_pairs, local_ncc
from deeptag.model import DeepTagNet
from deeptag.phantom import simulate_sequence
from deeptag.preprocess import GridMapping
from deeptag.track import network_frames

from reference_data import VALIDATION_SEED


def ncc_with_2d_pooling(image: torch.Tensor, other: torch.Tensor, window: int = 9, eps: float = 1e-5) -> torch.Tensor:
    """The same squared local NCC, each local sum a separate 2D average pooling (deeptag's first version)."""
    def box_sum(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, window, stride=1, padding=window // 2, count_include_pad=True) * window ** 2

    size = window ** 2
    sum_i, sum_j = box_sum(image), box_sum(other)
    cross = box_sum(image * other) - sum_j / size * sum_i
    var_i = torch.clamp(box_sum(image * image) - sum_i / size * sum_i, min=0.0)
    var_j = torch.clamp(box_sum(other * other) - sum_j / size * sum_j, min=0.0)
    return ((cross * cross) / (var_i * var_j + eps)).mean()


def seconds_per_pass(function, image: torch.Tensor, other: torch.Tensor, repeats: int) -> float:
    """Median seconds of one forward and backward pass."""
    times = []
    for _ in range(repeats):
        image.grad = None
        started = time.perf_counter()
        function(image, other).backward()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def adaptation_step_seconds(ncc, model: DeepTagNet, frames: torch.Tensor, repeats: int) -> float:
    """Median seconds of one adaptation step (loss, backward, Adam) of ``model``'s fields when Eq. 12 uses
    ``ncc``."""
    fields = AdaptedFields(model, *frame_pairs(frames, "consecutive"))
    loss, optimizer = DeepTagLoss(LossConfig()), torch.optim.Adam(fields.parameters(), lr=0.05)
    times = []
    with mock.patch("deeptag.losses.local_ncc", ncc):
        for _ in range(repeats + 2):
            started = time.perf_counter()
            optimizer.zero_grad()
            loss(fields, frames)[0].backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
    return sorted(times[2:])[repeats // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    print(f"local NCC, 9x9 window, forward + backward, median of {args.repeats}, {args.threads} threads")
    print(f"{'grid':>8} {'2D pooling s':>13} {'separable s':>12} {'speed-up':>9} {'|difference|':>13}")
    for size in (96, 192):
        image = torch.rand(24, 1, size, size, generator=generator, requires_grad=True)
        other = torch.rand(24, 1, size, size, generator=generator)
        with torch.no_grad():
            difference = abs(float(local_ncc(image, other)) - float(ncc_with_2d_pooling(image, other)))
        for function in (ncc_with_2d_pooling, local_ncc):  # warm-up
            seconds_per_pass(function, image, other, 2)
        direct = seconds_per_pass(ncc_with_2d_pooling, image, other, args.repeats)
        separable = seconds_per_pass(local_ncc, image, other, args.repeats)
        print(f"{size:>4}x{size:<3} {direct:>13.4f} {separable:>12.4f} {direct / separable:>8.1f}x {difference:>13.2e}")
    simulated = simulate_sequence(VALIDATION_SEED)
    height, width = simulated.images.shape[1:]
    frames = network_frames(simulated.as_sequence("simulated"), GridMapping.box_or_full_frame(simulated.roi, height, width, 96))
    model, _ = load_model(None)
    direct = adaptation_step_seconds(ncc_with_2d_pooling, model, frames, args.repeats)
    separable = adaptation_step_seconds(local_ncc, model, frames, args.repeats)
    print(f"adaptation step, {len(frames)} frames on the 96 grid: 2D pooling {direct:.3f} s, separable "
          f"{separable:.3f} s, {direct / separable:.1f}x")


if __name__ == "__main__":
    main()
