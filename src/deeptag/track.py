"""Inference on one sequence, end to end: pre-process, refine the fields on the sequence (test-time
adaptation), predict INF fields for all consecutive pairs a batch at a time, compose them into Lagrangian
fields, track points, and map everything back to the input grid.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from scipy import ndimage

from . import fields, quality
from .adapt import PAIRS_PER_BATCH, AdaptConfig, AdaptedFields, adapt_model, release_freed_memory
from .io import Sequence
from .model import DeepTagNet
from .myocardium import Myocardium
from .preprocess import GridMapping, prepare_intensity


@dataclass
class TrackResult:
    """Everything ``track`` produces, in the input's pixel grid unless the name says ``network``.

    Fields are (T-1, 2, H, W) in input pixels, channel 0 along rows (y), channel 1 along columns (x):
    ``inf_forward[t]`` lives on frame t+1 and points into frame t, ``inf_backward[t]`` the inverse,
    ``lagrangian[t]`` lives on frame t+1 and points into frame 0. ``uncertainty`` (T-1, H, W) is the
    estimated end-point error of ``lagrangian`` in input pixels, its predicted 90th percentile
    (``quality.error_map``); ``vae_sigma`` the standard deviation of the velocity latent (VAE
    posterior), (T-1, 2, H, W) in input pixels, which hardly predicts the error.
    ``tracks`` (T, K, 2) as (x, y) when points were given.
    """

    inf_forward: np.ndarray
    inf_backward: np.ndarray
    lagrangian: np.ndarray
    uncertainty: np.ndarray
    nonpositive_jacobians: dict[str, int]
    seconds: dict[str, float]
    mapping: GridMapping
    tracks: np.ndarray | None = None
    network: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    vae_sigma: np.ndarray | None = None


def network_frames(sequence: Sequence, mapping: GridMapping, intensity: str = "sequence") -> torch.Tensor:
    """The frames of ``sequence`` as the network sees them, (T, 1, S, S)."""
    return mapping.images_to_network(prepare_intensity(sequence.images, intensity))


DEFAULT_ADAPTATION = AdaptConfig()  # what deeptag track does without --adapt


def predict_pairs(model: DeepTagNet | AdaptedFields, frames: torch.Tensor, pairs_per_batch: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward and backward INF fields and the latent's log-variance of all consecutive pairs of
    ``frames``, ``pairs_per_batch`` pairs at a time (default ``PAIRS_PER_BATCH``): the network's
    activations, or the integration of adapted fields (``adapt.AdaptedFields``, which hold every pair of
    their sequence and give a run of them), then need memory for one batch, not for every pair at once."""
    size = pairs_per_batch or PAIRS_PER_BATCH
    moving, fixed = frames[:-1], frames[1:]
    batches = [slice(i, i + size) for i in range(0, len(moving), size)]
    if isinstance(model, AdaptedFields):
        parts = [model.pair_fields(b, frames.shape[-2:]) for b in batches]
    else:
        parts = [model(moving[b], fixed[b], stochastic=False) for b in batches]
    return tuple(torch.cat([getattr(part, name) for part in parts]) for name in ("forward", "backward", "log_var"))


def predict_fields(model: DeepTagNet, frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """INF fields of all consecutive pairs of ``frames`` (T, 1, S, S) and their Lagrangian composition,
    on the network grid, deterministically, on the device of ``frames``."""
    forward, backward, log_var = predict_pairs(model, frames)
    return {"inf_forward": forward, "inf_backward": backward,
            "lagrangian": fields.lagrangian_fields(forward),
            "sigma": torch.exp(0.5 * log_var)}


def network_regions(myocardium: Myocardium, mapping: GridMapping) -> torch.Tensor:
    """The frame-0 myocardium and the cavity it encloses (empty for an open mask) on the network grid,
    (2, 1, S, S) fractions in [0, 1], as ``adapt.adapt_model`` takes them."""
    mask = np.asarray(myocardium.mask, dtype=bool)
    cavity = ndimage.binary_fill_holes(mask) & ~mask
    return mapping.images_to_network(np.stack([mask, cavity]).astype(np.float32))


def track_sequence(sequence: Sequence, model: DeepTagNet, points: np.ndarray | None = None,
                   mapping: GridMapping | None = None, intensity: str | None = None,
                   adapt: AdaptConfig | None = DEFAULT_ADAPTATION, device: str | torch.device = "cpu",
                   progress: Callable[[int], object] | None = None, myocardium: Myocardium | None = None
                   ) -> TrackResult:
    """Track ``sequence`` with ``model``; ``points`` (K, 2) as (x, y) in frame 0 of the input grid.

    The network's fields are first refined on the sequence itself (``adapt.py``), as ``deeptag track``
    does by default; ``adapt=None`` gives the network alone (the paper's method).
    The model is moved to ``device``, where the network and point tracking run. ``intensity`` None
    normalises as the model was trained (``ModelConfig.intensity``). ``progress`` is called with 1
    after each adaptation step. ``myocardium`` (frame 0, input grid), when given, lets the adaptation
    weigh the wall and the blood pool apart (the myocardium-aware terms of ``AdaptConfig``, issue 30).
    """
    height, width = sequence.images.shape[1:]
    # the heart's box stored with the sequence, else the full frame; the network's grid size and
    # coordinate convention are the model's: a model trained on a coarser grid tracks on that grid
    mapping = replace(mapping or GridMapping.box_or_full_frame(sequence.roi, height, width),
                      size=model.config.image_size, align_corners=model.config.align_corners)
    intensity = intensity or model.config.intensity
    started = time.perf_counter()
    model = model.to(device)
    frames = network_frames(sequence, mapping, intensity).to(device)
    if adapt is not None and adapt.steps > 0:
        if adapt.loss.pairs != "consecutive":
            raise ValueError("track composes consecutive pairs: adapt with a loss on consecutive pairs")
        regions = None if myocardium is None else network_regions(myocardium, mapping).to(device)
        model, _ = adapt_model(model, frames, adapt, progress, regions)
        release_freed_memory()
    adapted = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        net = predict_fields(model, frames)
        del model  # adapted fields hold two fields per pair: free them before the error map (issue 26)
        predicted = time.perf_counter()
        tracks = None
        if points is not None:
            net_tracks = fields.track_points(net["lagrangian"], mapping.points_to_network(points).to(device))
            tracks = mapping.points_from_network(net_tracks.cpu())
        tracked = time.perf_counter()
        nonpositive = {"inf_forward": fields.count_nonpositive_jacobians(net["inf_forward"]),
                       "inf_backward": fields.count_nonpositive_jacobians(net["inf_backward"]),
                       "lagrangian": fields.count_nonpositive_jacobians(net["lagrangian"])}
        net = {name: value.cpu() for name, value in net.items()}
        release_freed_memory()
        counted = time.perf_counter()
        # the error map before the fields go to the input grid: its temporaries and those fields are not
        # held at once (issue 26: long sequences)
        error = quality.error_map_on_input(frames.cpu(), net, mapping, height, width)  # issue 27
        estimated = time.perf_counter()
        back = {name: mapping.field_from_network(net[name], height, width)
                for name in ("inf_forward", "inf_backward", "lagrangian", "sigma")}
    finished = time.perf_counter()
    seconds = {"adapt": adapted - started, "fields": predicted - adapted, "points": tracked - predicted,
               "to_input_grid": counted - tracked + finished - estimated, "error_map": estimated - counted,
               "total": finished - started}
    return TrackResult(back["inf_forward"], back["inf_backward"], back["lagrangian"],
                       error, nonpositive, seconds, mapping, tracks, net, vae_sigma=np.abs(back["sigma"]))
