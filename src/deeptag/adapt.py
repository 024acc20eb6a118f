"""Test-time adaptation: a short unsupervised fine-tuning of the network on the sequence to be tracked.

The loss is the training loss (Eq. 12) on the sequence itself, so no label is needed. The first part of
the steps sees Gaussian-blurred frames, where the tags are smoothed away and only the anatomy moves: this
lets the fields follow large motion before the sharp tags can lock them onto a neighbouring tag, the
typical failure of tag tracking (one tag period off). The adapted network is a copy; the input is left
as it was.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .losses import DeepTagLoss, LossConfig
from .model import DeepTagNet


@dataclass
class AdaptConfig:
    """Steps of Adam on the sequence; ``blurred_fraction`` of them on frames blurred with ``blur_sigma``
    network pixels."""

    steps: int = 30
    learning_rate: float = 2e-4
    blurred_fraction: float = 0.3
    blur_sigma: float = 2.0
    seed: int = 0


def gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) frames, reflecting at the border."""
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=frames.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(frames, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))


def adapt_model(model: DeepTagNet, frames: torch.Tensor, config: AdaptConfig | None = None,
                loss_config: LossConfig | None = None) -> tuple[DeepTagNet, dict]:
    """A copy of ``model`` fine-tuned on ``frames`` (N, 1, S, S); returns it and a record of the run."""
    config = config or AdaptConfig()
    adapted = copy.deepcopy(model).train()
    loss = DeepTagLoss(loss_config or LossConfig())
    optimizer = torch.optim.Adam(adapted.parameters(), lr=config.learning_rate)
    blurred_steps = round(config.blurred_fraction * config.steps)
    blurred = gaussian_blur(frames, config.blur_sigma) if blurred_steps else frames
    generator_state = torch.get_rng_state()
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    losses = []
    try:
        for step in range(config.steps):
            optimizer.zero_grad(set_to_none=True)
            value, _ = loss(adapted, blurred if step < blurred_steps else frames)
            value.backward()
            optimizer.step()
            losses.append(float(value.detach()))
    finally:
        torch.set_rng_state(generator_state)
    record = {"steps": config.steps, "seconds": time.perf_counter() - started,
              "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}
    return adapted.eval(), record
