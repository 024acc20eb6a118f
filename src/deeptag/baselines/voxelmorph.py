"""Learned registration networks behind the baselines' interface: the VoxelMorph baselines of Table 1
(VM with SSD or NCC, VM-DIF), the ablations of Table 2 and DeepTag itself.

The VoxelMorph networks are configurations of the project's one network and loss
(``deeptag.losses.VM_CONFIGS``), trained with the project's ``Trainer``, so they differ from DeepTag
only where the papers differ: the loss, whether the latent is sampled, and whether the velocity is
integrated. A trained network tracks a sequence in one of two ways:

* ``"consecutive"`` (DeepTag, the ablations A2-A6 and, by our choice, every VM variant): frame t to
  frame t+1 for every t, the INF fields composed into Lagrangian fields (``deeptag.track``). The paper
  does not say which pairs its VM baselines registered; we register consecutive pairs because Table 1
  counts the Jacobians of the INF field, which only this gives, and because then VM-DIF differs from
  the ablation A2 in its loss only.
* ``"reference"`` (ablation A1): frame 0 to every frame; each field is the Lagrangian field itself and
  there is no INF field.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import fields
from ..adapt import AdaptConfig, adapt_model
from ..io import Sequence
from ..losses import frame_pairs
from ..model import DeepTagNet
from ..preprocess import GridMapping, prepare_intensity
from ..track import track_sequence
from . import BaselineResult, check_inputs

VOXELMORPH_LABELS = {"vm-ssd": "VM (SSD)", "vm-ncc": "VM (NCC)", "vm-dif": "VM-DIF"}
PAIRS = ("consecutive", "reference")


def _reference_lagrangian(model: DeepTagNet, frames: torch.Tensor) -> torch.Tensor:
    """Fields of the pairs (frame 0, frame t), t = 1..T-1, on the network grid: ``L_1 .. L_{T-1}``."""
    return model(*frame_pairs(frames, "reference"), stochastic=False).forward


def track_network(model: DeepTagNet, images: np.ndarray, points: np.ndarray, pairs: str = "consecutive",
                  intensity: str | None = None, device: str | torch.device = "cpu",
                  adapt: AdaptConfig | None = None, roi: tuple[int, int, int, int] | None = None) -> BaselineResult:
    """Track ``points`` (K, 2) as (x, y) at frame 0 through ``images`` (T, H, W) with a trained network.

    The box ``roi`` (x0, y0, x1, y1; default the full frame) is resampled to the network grid, the network registers the ``pairs`` (see the
    module docstring) on ``device``, and everything is mapped back to the input grid. Returns tracks
    (T, K, 2) as (x, y), Lagrangian fields (T-1, 2, H, W) and, for consecutive pairs, the INF fields
    (T-1, 2, H, W), all in input pixels, and the wall-clock seconds of the whole call. With ``adapt``,
    the network's fields are first refined on the sequence with the loss it names (``deeptag.adapt``).
    """
    images, points = check_inputs(images, points)
    if pairs not in PAIRS:
        raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}")
    started = time.perf_counter()
    if pairs == "consecutive":
        result = track_sequence(Sequence(images=images, source="benchmark", roi=roi), model, points,
                                intensity=intensity, adapt=adapt, device=device)
        return BaselineResult(tracks=result.tracks.astype(np.float64), lagrangian=result.lagrangian,
                              inf_fields=result.inf_forward, seconds=time.perf_counter() - started)
    height, width = images.shape[1:]
    mapping = GridMapping.box_or_full_frame(roi, height, width, model.config.image_size,
                                            model.config.align_corners)  # the model's grid and convention
    model = model.to(device).eval()
    frames = mapping.images_to_network(prepare_intensity(images, intensity or model.config.intensity)).to(device)
    if adapt is not None and adapt.steps > 0:
        model, _ = adapt_model(model, frames, adapt)
    with torch.inference_mode():
        lagrangian = _reference_lagrangian(model, frames)
        net_tracks = fields.track_points(lagrangian, mapping.points_to_network(points).to(device))
        tracks = mapping.points_from_network(net_tracks.cpu())
        lagrangian = mapping.field_from_network(lagrangian.cpu(), height, width)
    return BaselineResult(tracks=tracks.astype(np.float64), lagrangian=lagrangian, inf_fields=None,
                          seconds=time.perf_counter() - started)
