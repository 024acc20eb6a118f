"""The registration network of section 3.3: a VoxelMorph-style 2D U-Net whose two heads give the mean
and log-variance of the stationary velocity field (the VAE latent), used bi-directionally.

The layer layout matches the authors' published state dict, so their weights load into it (see
``checkpoint.py``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import fields

ENCODER_CHANNELS = (16, 32, 32, 32)
DECODER_CHANNELS = (32, 32, 32, 32, 16, 3)


@dataclass
class ModelConfig:
    """What defines a network and how it turns its outputs into fields.

    ``noise`` is the distribution of the reparameterisation noise used in training: ``"normal"``
    (the paper's ``z = mu + eps * sigma``, eps ~ N(0, 1)) or ``"uniform"`` (eps ~ U[0, 1), as in the
    authors' published training code). Deterministic inference uses the expected noise value, so
    ``z = mu`` for "normal" and ``z = mu + 0.5 * sigma`` for "uniform".
    ``velocity_scale`` multiplies the mean head's output (a larger scale lets a fresh network reach
    realistic motion sooner); the published model uses 1. The log-variance head is that of the latent.
    ``probabilistic``: False makes the latent its mean in training too (no sampling), as in the
    deterministic VoxelMorph baselines; ``integration_steps = 0`` makes the velocity the displacement.
    ``intensity`` is the normalisation the network was trained with (``preprocess.prepare_intensity``),
    which tracking applies; ``align_corners`` the coordinate convention of its grid
    (``preprocess.GridMapping``): pixel centres for the project's models, corners for the published weights.
    """

    image_size: int = 192
    integration_steps: int = 7
    noise: str = "normal"
    velocity_scale: float = 1.0
    probabilistic: bool = True
    intensity: str = "sequence"
    align_corners: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class ConvBlock(nn.Module):
    """Convolution followed by LeakyReLU(0.2); the attribute name ``main`` matches the published keys."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.main = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.main(x), 0.2)


class UNet(nn.Module):
    """Encoder of four stride-2 4x4 convolutions, decoder of 3x3 convolutions with skip connections."""

    def __init__(self) -> None:
        super().__init__()
        enc_in = (2,) + ENCODER_CHANNELS[:-1]
        self.enc = nn.ModuleList(ConvBlock(i, o, 4, 2) for i, o in zip(enc_in, ENCODER_CHANNELS))
        dec_in = (32, 64, 64, 48, 32, 18)
        self.dec = nn.ModuleList(ConvBlock(i, o, 3, 1) for i, o in zip(dec_in, DECODER_CHANNELS))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # He initialisation for LeakyReLU(0.2) keeps the signal's scale through the ten layers.
                # PyTorch's default shrinks it about 2.5x per layer, so a fresh network's last features
                # are constants (std ~0.005) and training plateaus (benchmarks/initialisation.py).
                nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for layer in self.enc:
            skips.append(layer(skips[-1]))
        y = skips.pop()
        for i in range(3):  # 1/16 -> 1/8 -> 1/4 -> 1/2, with the matching encoder outputs
            y = self.dec[i](y)
            y = torch.cat([F.interpolate(y, scale_factor=2, mode="nearest"), skips.pop()], dim=1)
        y = self.dec[4](self.dec[3](y))
        y = torch.cat([F.interpolate(y, scale_factor=2, mode="nearest"), skips.pop()], dim=1)
        return self.dec[5](y)


@dataclass
class PairFields:
    """What the network predicts for a batch of pairs (moving = frame t, fixed = frame t+1)."""

    mean: torch.Tensor  # (B, 2, H, W) velocity mean
    log_var: torch.Tensor  # (B, 2, H, W) velocity log-variance
    velocity: torch.Tensor  # (B, 2, H, W) the latent used: a sample in training, its expectation otherwise
    forward: torch.Tensor  # (B, 2, H, W) SS(v): on frame t+1's grid, points into frame t
    backward: torch.Tensor  # (B, 2, H, W) SS(-v): on frame t's grid, points into frame t+1

    @classmethod
    def integrated(cls, mean: torch.Tensor, log_var: torch.Tensor, velocity: torch.Tensor,
                   steps: int) -> "PairFields":
        """The fields of the latent ``velocity``: forward and backward by scaling and squaring."""
        return cls(mean, log_var, velocity, fields.integrate_velocity(velocity, steps),
                   fields.integrate_velocity(-velocity, steps))


class DeepTagNet(nn.Module):
    """Bi-directional diffeomorphic VAE registration network (section 3.3)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.unet_model = UNet()
        self.flow_mean = nn.Conv2d(3, 2, 3, padding=1)
        self.flow_log_sigma = nn.Conv2d(3, 2, 3, padding=1)
        # A fresh network predicts almost no motion (small mean weights, as VoxelMorph), and a variance
        # near the optimum of the KL term for the default prior, 1 / (lambda * degree) = 1 / 40, so
        # training does not spend thousands of steps moving the log-variance there.
        nn.init.normal_(self.flow_mean.weight, 0.0, 1e-5)
        nn.init.zeros_(self.flow_mean.bias)
        nn.init.normal_(self.flow_log_sigma.weight, 0.0, 1e-10)
        nn.init.constant_(self.flow_log_sigma.bias, -math.log(40.0))
        # Convolutions run about 1.2-1.4x faster forward and backward on a CPU with the channels-last
        # layout (benchmarks/memory_layout.py); the heads' outputs go back to the usual layout.
        self.to(memory_format=torch.channels_last)

    def latent(self, moving: torch.Tensor, fixed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the velocity for pairs ``moving``, ``fixed`` (B, 1, H, W)."""
        features = self.unet_model(torch.cat([moving, fixed], dim=1))
        scale = self.config.velocity_scale
        return (self.flow_mean(features) * scale).contiguous(), self.flow_log_sigma(features).contiguous()

    def sample_velocity(self, mean: torch.Tensor, log_var: torch.Tensor, stochastic: bool) -> torch.Tensor:
        """The reparameterisation trick; without ``stochastic``, the latent at the expected noise."""
        sigma = torch.exp(0.5 * log_var)
        uniform = self.config.noise == "uniform"
        if stochastic:
            eps = torch.rand_like(mean) if uniform else torch.randn_like(mean)
            return mean + eps * sigma
        return mean + 0.5 * sigma if uniform else mean

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor, stochastic: bool | None = None) -> PairFields:
        """Forward and backward INF fields for a batch of pairs; samples the latent while training."""
        stochastic = self.training if stochastic is None else stochastic
        mean, log_var = self.latent(moving, fixed)
        velocity = self.sample_velocity(mean, log_var, stochastic) if self.config.probabilistic else mean
        return PairFields.integrated(mean, log_var, velocity, self.config.integration_steps)
