"""Seconds per training step with the network's weights in the channels-last memory layout (deeptag's)
against the usual contiguous one, side by side in one run, on the 96 and 192 grids; and how far the
loss and the gradients of the two layouts differ (rounding only: the arithmetic is the same).

One step is what ``train`` does per sequence: the network on a run of 12 frames of a simulated
validation sequence in its heart box (11 pairs, both directions), the loss of Eq. 12, backward, Adam.
The two layouts alternate, a block of steps each, so that a change in the machine's speed hits both.

    python benchmarks/memory_layout.py [--threads 2] [--repeats 10] [--rounds 3] [--device cuda]
"""
from __future__ import annotations

import argparse
import time

import torch

from deeptag.losses import DeepTagLoss
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.phantom import simulate_sequence
from deeptag.preprocess import GridMapping
from deeptag.track import network_frames

from reference_data import VALIDATION_SEED

LAYOUTS = {"contiguous": torch.contiguous_format, "channels-last": torch.channels_last}


def step_seconds(model: DeepTagNet, frames: torch.Tensor, repeats: int) -> list[float]:
    """Seconds of ``repeats`` training steps (forward, Eq. 12, backward, Adam) on ``frames``."""
    loss, optimizer = DeepTagLoss(), torch.optim.Adam(model.parameters(), lr=1e-12)  # weights ~unchanged
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        optimizer.zero_grad()
        loss(model, frames)[0].backward()
        optimizer.step()
        if frames.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return times


def layout_difference(model: DeepTagNet, frames: torch.Tensor) -> tuple[float, float]:
    """Largest |difference| between the layouts of the loss and of any gradient, same weights and noise."""
    results = []
    for layout in LAYOUTS.values():
        model.to(memory_format=layout)
        model.zero_grad()
        torch.manual_seed(0)
        value = DeepTagLoss()(model, frames)[0]
        value.backward()
        results.append((float(value.detach()), [p.grad.clone() for p in model.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    return abs(loss_a - loss_b), max(float((a - b).abs().max()) for a, b in zip(grads_a, grads_b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10, help="steps per block")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per layout, alternating")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for a GPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    simulated = simulate_sequence(VALIDATION_SEED)
    height, width = simulated.images.shape[1:]
    print(f"one training step (12 frames, Eq. 12, backward, Adam), median over {args.rounds} x "
          f"{args.repeats} steps per layout, {args.threads} threads, on {args.device}")
    print(f"{'grid':>8} {'contiguous s':>13} {'channels-last s':>16} {'speed-up':>9} {'|d loss|':>9} {'|d grad|':>9}")
    for size in (96, 192):
        frames = network_frames(simulated.as_sequence("simulated"),
                                GridMapping.box_or_full_frame(simulated.roi, height, width, size))[:12].to(args.device)
        model = DeepTagNet(ModelConfig(image_size=size)).to(args.device)
        model.train()
        times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        for _ in range(args.rounds):
            for name, layout in LAYOUTS.items():
                model.to(memory_format=layout)
                step_seconds(model, frames, 1)  # warm-up after the switch
                times[name] += step_seconds(model, frames, args.repeats)
        median = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
        loss_gap, grad_gap = layout_difference(model, frames)
        print(f"{size:>4}x{size:<3} {median['contiguous']:>13.3f} {median['channels-last']:>16.3f} "
              f"{median['contiguous'] / median['channels-last']:>8.2f}x {loss_gap:>9.1e} {grad_gap:>9.1e}")


if __name__ == "__main__":
    main()
