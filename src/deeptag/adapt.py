"""Test-time adaptation: the training loss (Eq. 12) minimised on the sequence being tracked, starting
from the network's prediction, so a scan unlike the training data still tracks well. No label is needed.

What is adapted is the motion of this one scan, not the network's weights: the network's velocity
field of every pair plus a smooth correction held on a coarse control grid (a node every
``control_spacing`` pixels of a 96 grid, bilinear in between), optimised with Adam on Eq. 12. Fine-tuning
the weights instead (this module's first version, in the git history) moved nothing on the real
sequence in 100 steps (5.79 px against 5.70 px for no motion), while optimising the fields with the
same loss from zero motion reaches 1.62 px (``benchmarks/adapt_settings.py --real-from-zero``;
``benchmarks/bundled_model.py`` measures the current figures).

The first steps see Gaussian-blurred frames, where the tags are smoothed away and only the anatomy
moves: this lets the fields follow large motion before the sharp tags can lock them onto a
neighbouring tag, the typical failure of tag tracking (one tag period off).
"""
from __future__ import annotations

import ctypes
import math
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from . import fields
from .losses import (DeepTagLoss, LossConfig, edge_weighted_kl_mean, edge_weighted_smoothness, edge_weights,
                     frame_pairs, grid_degree, local_ncc_map, log_circumferential_stretch, log_jacobian_penalty,
                     weighted_mean)
from .model import DeepTagNet, PairFields

SETTINGS_GRID = 96  # the network grid that blur_sigma and control_spacing are given on
PAIRS_PER_BATCH = 16  # pairs through the network at once: bounded memory for long sequences (issue 26)
# An adaptation step's loss graph holds every pair of a sequence of up to ONE_RUN_PAIRS pairs (25 frames,
# the paper's and the simulator's longest: they pay nothing). A longer sequence is evaluated in runs of
# at most PAIRS_PER_RUN pairs, each run but the last computed again in the backward pass
# (backward_in_runs), so that its memory does not grow with its length (issues 24 and 26): the backward
# pass needs 22.5 MiB per pair of the 192 grid (Eq. 12's saved tensors). On the coarse level, a quarter
# of the pixels, both are four times as many pairs. benchmarks/memory.py measures memory and time.
ONE_RUN_PAIRS = 24
PAIRS_PER_RUN = 8


@dataclass(frozen=True)
class AdaptConfig:
    """``steps`` of Adam at ``learning_rate`` (in network pixels of velocity per step, roughly); the
    first ``blurred_fraction`` of them on frames blurred with ``blur_sigma``; the first
    ``coarse_fraction`` of them on frames of half the network's grid, where a step costs about a
    quarter (coarse to fine). ``loss`` is the objective (the paper's Eq. 12 by default; the benchmark
    adapts each ablation with its own), with its smoothness weights scaled by ``smoothness_scale`` and
    its NCC window set to ``ncc_window`` (``objective``), so that one scan is fitted more closely than
    the paper's weights (set for training a network on many scans) allow.

    ``blur_sigma`` and ``control_spacing`` are in pixels of a 96 grid (``SETTINGS_GRID``) and scaled to
    the model's grid, so that they cover the same anatomy whatever the grid (on 192: sigma 3, a node
    every 8 pixels). Kept in the 192 grid's own pixels instead (sigma 1.5, every 4), the bundled model
    adapted worse on validation seeds 50000-50011: 0.530 against 0.511 px, most of the difference on
    the line-tagged seed 50003 (1.78 against 1.58 px; ``adapt_settings.py --device cuda``, on a GPU;
    the 192-grid model before it: 0.614 against 0.588 px on seeds 50000-50007).

    Chosen on simulated validation sequences (seeds 50000-50003, never used for training or for the
    reported figures), starting from the bundled model of the time (close to no motion), with
    ``benchmarks/adapt_settings.py``: myocardial end-point error 0.78 px with a control node every 2
    pixels, 0.77 px every 4, 0.79 px after 250 steps instead of 150, 0.82 px without the blurred steps
    (no motion: 3.34 px).

    The coarse level (0.7), the smoothness times 0.4 and the 7x7 window were chosen later on validation
    seeds with ``adapt_settings.py``: the figures are in docs/results/settings.md.
    """

    steps: int = 150
    learning_rate: float = 0.05
    blurred_fraction: float = 0.3
    blur_sigma: float = 1.5
    control_spacing: int = 4
    coarse_fraction: float = 0.7
    smoothness_scale: float = 0.4
    ncc_window: int | None = 7
    loss: LossConfig = field(default_factory=LossConfig)
    # Myocardium-aware terms (issue 30), used only when adapt_model is given the frame-0 myocardium
    # (track_sequence's ``myocardium``); 1, 1 and 0 leave Eq. 12 as it is. docs/guide/strain.md has
    # the figures of each (benchmarks/radial_strain_levers.py). Kept by default: the smoothness relaxed
    # where it touches the blood pool (0.1), which raised peak global E_rr towards the truth on each of
    # validation seeds 50000-50002 (mean absolute error 13.0 points against 14.3, E_cc 0.73 against
    # 0.77) and lowered the landmark error on sax_45_23 (1.472 px against 1.505 px). Not kept: the
    # similarity down-weighted in the pool (no better: 13.6 points), and the incompressibility prior,
    # which brings E_rr to 7.1 points at weight 1 but raises the landmark error on sax_45_23 to 1.86 px.
    pool_weight: float = 1.0  # weight of the similarity in the blood pool (the cavity, less a margin)
    pool_smoothness: float = 0.1  # weight of the smoothness on edges that touch the blood pool
    tissue_margin: float = 2.0  # pixels of a 96 grid between the tracked endocardium and the pool
    incompressibility: float = 0.0  # weight of (log det(I + grad L) - log lambda_z)^2 in the myocardium
    longitudinal_ratio: float = 1.0  # log lambda_z = ratio * mean log lambda_c (see TissueLoss)

    def objective(self) -> LossConfig:
        """``loss`` with the smoothness weights (alpha1, alpha2) scaled by ``smoothness_scale`` and, when
        given, the NCC window ``ncc_window`` (pixels of the model's grid)."""
        return replace(self.loss, alpha1=self.loss.alpha1 * self.smoothness_scale,
                       alpha2=self.loss.alpha2 * self.smoothness_scale,
                       ncc_window=self.ncc_window or self.loss.ncc_window)


    def tissue_aware(self) -> bool:
        """Whether any myocardium-aware term differs from Eq. 12."""
        return self.pool_weight != 1.0 or self.pool_smoothness != 1.0 or self.incompressibility > 0


def gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) frames, reflecting at the border; ``PAIRS_PER_BATCH``
    frames at a time, as the convolutions' working memory grows with the batch (490 MiB for 300 frames
    of 192 pixels at once)."""
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=frames.dtype, device=frames.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = []
    for i in range(0, len(frames), PAIRS_PER_BATCH):
        padded = F.pad(frames[i:i + PAIRS_PER_BATCH], (radius, radius, radius, radius), mode="reflect")
        out.append(F.conv2d(F.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1)))
    return torch.cat(out)


class AdaptedFields(nn.Module):
    """The refined fields of one sequence's pairs (``moving``, ``fixed``), called like the network on them.

    The velocity of pair t is the network's (its deterministic latent) plus the bilinear
    interpolation of a coarse correction; the log-variance stays the network's, so the uncertainty
    map is still the network's. Calling it on other pairs than the sequence's is an error.
    """

    def __init__(self, model: DeepTagNet, moving: torch.Tensor, fixed: torch.Tensor, control_spacing: int = 4) -> None:
        super().__init__()
        self.config = model.config
        with torch.no_grad():  # PAIRS_PER_BATCH pairs at a time: the network's activations of a few pairs
            predicted = [model(moving[i:i + PAIRS_PER_BATCH], fixed[i:i + PAIRS_PER_BATCH], stochastic=False)
                         for i in range(0, len(moving), PAIRS_PER_BATCH)]
        self.register_buffer("network_velocity", torch.cat([part.velocity for part in predicted]))
        self.register_buffer("log_var", torch.cat([part.log_var for part in predicted]))
        pairs, _, height, width = self.network_velocity.shape
        nodes = [(side - 1) // max(1, control_spacing) + 1 for side in (height, width)]
        self.correction = nn.Parameter(torch.zeros(pairs, 2, *nodes, device=moving.device))

    def velocity(self, pairs: slice = slice(None)) -> torch.Tensor:
        """The velocity of ``pairs`` on the network's grid: the network's plus the interpolated correction."""
        size = self.network_velocity.shape[-2:]
        return self.network_velocity[pairs] + F.interpolate(self.correction[pairs], size=size, mode="bilinear",
                                                            align_corners=True)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor, stochastic: bool | None = None) -> PairFields:
        """The fields of the sequence's pairs, on the network's grid or, for pairs of half its size (the
        coarse level of ``adapt_model``), on that grid, in its pixels."""
        full = self.network_velocity.shape[-2:]
        if moving.shape[0] != self.network_velocity.shape[0] or moving.shape[-2:] not in (full, half_size(full)):
            raise ValueError("adapted fields belong to one sequence: called on pairs of another shape")
        return self.pair_fields(slice(0, len(moving)), moving.shape[-2:])

    def pair_fields(self, pairs: slice, size: torch.Size) -> PairFields:
        """The fields of the sequence's ``pairs`` (a run of them) on a grid of ``size``: the network's
        grid, or half of it (in the half grid's pixels)."""
        if size == self.network_velocity.shape[-2:]:
            velocity, log_var = self.velocity(pairs), self.log_var[pairs]
        else:  # the same motion in pixels of the half grid
            velocity = F.interpolate(self.velocity(pairs), size=size, mode="area") / 2
            log_var = F.interpolate(self.log_var[pairs], size=size, mode="area") - 2 * math.log(2)
        return PairFields.integrated(velocity, log_var, velocity, self.config.integration_steps)


def release_freed_memory() -> None:
    """Give the memory that freed tensors leave in the C heap back to the system (glibc's
    ``malloc_trim``), between the stages of tracking a long sequence: glibc keeps freed blocks of a few
    MB in the process, so that each stage's peak would add to what the stages before it left
    (benchmarks/memory.py). Does nothing where the C library has no ``malloc_trim``."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except AttributeError:  # a C library without it (musl)
            pass


def half_size(size: torch.Size) -> torch.Size:
    """The coarse level's grid: half of ``size`` (rounded down)."""
    return torch.Size(side // 2 for side in size)


def adapt_model(model: DeepTagNet, frames: torch.Tensor, config: AdaptConfig | None = None,
                progress: Callable[[int], object] | None = None,
                myocardium: torch.Tensor | None = None, pairs_per_run: int | None = None
                ) -> tuple[AdaptedFields, dict]:
    """The fields of ``frames`` (N, 1, S, S) refined from ``model``'s prediction by minimising the
    configured loss; returns them (callable like the network on the pairs that loss registers:
    consecutive frames, or frame 0 to every frame) and a record of the run. ``progress`` is called
    with 1 after each step (a tqdm bar's ``update``, say). ``myocardium`` (2, 1, S, S): the frame-0
    myocardium and the cavity it encloses on the network grid (fractions in [0, 1]), for the
    myocardium-aware terms of ``config`` (``TissueLoss``); ignored when they are off.
    ``pairs_per_run``: a step's loss is evaluated over runs of at most this many pairs
    (``backward_in_runs``), the same loss and gradients with memory that does not grow with the
    sequence; None: ``pairs_per_level``. Runs need Eq. 12's consecutive pairs and full-sequence global
    term; other losses take all pairs at once."""
    config = config or AdaptConfig()
    started = time.perf_counter()
    scale = frames.shape[-1] / SETTINGS_GRID
    spacing = max(1, round(config.control_spacing * scale))
    adapted = AdaptedFields(model, *frame_pairs(frames, config.loss.pairs), spacing)
    tissue = myocardium is not None and config.tissue_aware()
    if tissue:
        margin = max(1, round(config.tissue_margin * scale))
        loss = TissueLoss(config, tissue_maps(adapted, frames, myocardium, margin))
    else:
        loss = DeepTagLoss(config.objective())
    optimizer = torch.optim.Adam(adapted.parameters(), lr=config.learning_rate)
    blurred_steps = round(config.blurred_fraction * config.steps)
    coarse_steps = round(config.coarse_fraction * config.steps)
    blurred = gaussian_blur(frames, config.blur_sigma * scale) if blurred_steps else frames
    half = half_size(frames.shape[-2:])
    coarse_blurred, coarse_sharp = (F.interpolate(images, size=half, mode="area") for images in (blurred, frames))
    release_freed_memory()  # what the network's prediction left, and again when the level changes
    in_runs = loss.config.pairs == "consecutive" and loss.config.global_window is None
    run_pairs = {size: pairs_per_run or pairs_per_level(len(frames) - 1, (frames.shape[-1] // size[-1]) ** 2)
            for size in (frames.shape[-2:], half)}
    losses = []
    for step in range(config.steps):
        optimizer.zero_grad(set_to_none=True)
        if step < coarse_steps:
            images = coarse_blurred if step < blurred_steps else coarse_sharp
        else:
            images = blurred if step < blurred_steps else frames
            if step == coarse_steps and step > 0:
                release_freed_memory()
                if tissue:  # where the wall is now, from the fields so far
                    loss.maps = tissue_maps(adapted, frames, myocardium, margin)
        if in_runs:
            value = backward_in_runs(loss, adapted, images, run_pairs[images.shape[-2:]])
        else:
            value, _ = loss(adapted, images)
            value.backward()
        optimizer.step()
        losses.append(float(value.detach()))
        if progress is not None:
            progress(1)
    record = {"steps": config.steps, "seconds": time.perf_counter() - started,
              "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}
    return adapted.eval(), record


def pairs_per_level(count: int, smaller: int) -> int:
    """Pairs per run of a sequence of ``count`` pairs on a grid of ``smaller`` times fewer pixels than
    the model's: all of them up to ``ONE_RUN_PAIRS`` times ``smaller``, else ``PAIRS_PER_RUN`` times it."""
    return count if count <= ONE_RUN_PAIRS * smaller else PAIRS_PER_RUN * smaller


def backward_in_runs(loss: DeepTagLoss, adapted: AdaptedFields, frames: torch.Tensor,
                     pairs_per_run: int) -> torch.Tensor:
    """The loss of ``adapted``'s fields on ``frames`` (N, 1, H, W), its gradients accumulated into
    ``adapted``'s parameters (``backward``); returns the loss, detached.

    The consecutive pairs are taken in runs of at most ``pairs_per_run`` (of equal length, so that the
    last run is not a short one), each adding its part of every term (``DeepTagLoss.part``). The runs
    are coupled only by the Lagrangian composition: a run starts from the Lagrangian field of its first
    frame, which the run before it ends with. Every run but the last is checkpointed: only that boundary
    field and the run's part are kept, and the run is computed again in the backward pass, where the
    gradient of the boundary field flows into the run before. So a step holds the graph of one run,
    whatever the length, for about one more forward pass of all but the last run.
    """
    count = len(frames) - 1
    runs = -(-count // pairs_per_run)
    length = -(-count // runs)
    total, initial = None, None
    for start in range(0, count, length):
        pairs = slice(start, min(start + length, count))
        if pairs.stop < count:
            part, initial = checkpoint(run_loss, loss, adapted, frames, pairs, initial, use_reentrant=False)
        else:
            part, initial = run_loss(loss, adapted, frames, pairs, initial)
        total = part if total is None else total + part
    total.backward()
    return total.detach()


def run_loss(loss: DeepTagLoss, adapted: AdaptedFields, frames: torch.Tensor, pairs: slice,
             initial: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The part of ``loss`` on ``frames`` from the run of consecutive ``pairs`` of ``adapted``, whose
    first frame has the Lagrangian field ``initial`` (None: frame 0), and the Lagrangian field (1, 2, H, W)
    of the run's last frame, for the run after it."""
    out = adapted.pair_fields(pairs, frames.shape[-2:])
    lagrangian = fields.lagrangian_fields(out.forward, initial)
    return sum(loss.part(out, frames, pairs, lagrangian).values()), lagrangian[-1:].clone()


def tissue_maps(adapted: AdaptedFields, frames: torch.Tensor, myocardium: torch.Tensor, margin: int) -> dict:
    """The frame-0 myocardium and cavity ``myocardium`` (2, 1, S, S) carried to every frame by the
    current Lagrangian fields of ``adapted`` (pulled back: a pixel of frame t takes the value of its
    frame-0 position), and the blood pool: the cavity less ``margin`` pixels next to the wall, so that
    an endocardium tracked a little short of its true motion is not taken for blood. Returns
    ``{"tissue", "pool"}`` maps (N, 1, S, S) of the full grid, keyed by the grid's side, and the same
    for the half grid (the coarse level)."""
    with torch.no_grad():
        count = len(frames) - 1  # the fields PAIRS_PER_BATCH pairs at a time: bounded memory
        lagrangian = fields.lagrangian_fields(torch.cat([
            adapted.pair_fields(slice(i, i + PAIRS_PER_BATCH), frames.shape[-2:]).forward
            for i in range(0, count, PAIRS_PER_BATCH)]))
        carried = [torch.cat([region[None], fields.warp(region[None].expand(count, -1, -1, -1), lagrangian)])
                   for region in myocardium]  # each (N, 1, S, S)
        tissue, cavity = (region.clamp(0, 1) for region in carried)
        outside = 1.0 - (cavity > 0.5).to(cavity.dtype)
        pool = 1.0 - F.max_pool2d(outside, 2 * margin + 1, stride=1, padding=margin)
        maps = {}
        for size in (frames.shape[-1], half_size(frames.shape[-2:])[-1]):
            scaled = [F.interpolate(m, size=(size, size), mode="area") for m in (tissue, cavity, pool)]
            maps[size] = {"tissue": scaled[0], "pool": (scaled[2] > 0.5).to(frames.dtype),
                          "centre": weighted_centre(scaled[1] if scaled[1].sum() > 0 else scaled[0])}
    return maps


def weighted_centre(weights: torch.Tensor) -> torch.Tensor:
    """Centroid (N, 2) as (row, column) of non-negative maps (N, 1, H, W)."""
    grid = fields.identity_grid(*weights.shape[-2:], weights.device, weights.dtype)
    total = weights.sum(dim=(-2, -1)).clamp_min(1e-8)  # (N, 1)
    return (weights * grid).sum(dim=(-2, -1)) / total


class TissueLoss(DeepTagLoss):
    """Eq. 12 (consecutive pairs, NCC, global term from frame 0) with the myocardium-aware terms of an
    ``AdaptConfig`` (issue 30), given the myocardium and blood pool of every frame (``tissue_maps``):

    * the similarity terms weigh pixels of the blood pool by ``pool_weight`` (tagged blood at
      end-diastole, bright untagged blood later: what the pool shows is not the wall's motion), each a
      weighted mean of the NCC map on its fixed image's grid;
    * the smoothness terms (INF, Lagrangian, and the mean part of the KL, a Laplacian smoothness of
      the velocity) weigh edges that touch the pool by ``pool_smoothness``, so the pool's motion does
      not spread into the wall and the wall's strain is not smoothed across the endocardial border;
    * ``incompressibility`` weighs ``(log det(I + grad L_t) - log lambda_z(t))^2``, averaged over the
      myocardium of frame t (``losses.log_jacobian_penalty``): near-incompressible tissue whose
      through-plane stretch is ``lambda_z``. The in-plane area of a short-axis slice is not kept: the
      wall shortens along the long axis and thickens in-plane. Assumed: the longitudinal stretch is the
      circumferential one to the power ``longitudinal_ratio`` (1: E_ll = E_cc, as in healthy hearts
      roughly, peak engineering strains of about -15 to -20 % each), with ``log lambda_c(t)`` the mean over
      the myocardium of the circumferential stretch of the current fields, held fixed within a step.
      The simulator thickens the wall from a random in-plane wall area gain of 0 to 30 % (at peak),
      which this prior does not know.
    """

    def __init__(self, config: AdaptConfig, maps: dict) -> None:
        objective = config.objective()
        if objective.pairs != "consecutive" or objective.global_window is not None or objective.similarity != "ncc":
            raise ValueError("the myocardium-aware terms need Eq. 12's consecutive pairs, NCC and full-sequence "
                             "global term")
        super().__init__(objective)
        self.adapt = config
        self.maps = maps

    def __call__(self, model, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        moving, fixed = frame_pairs(frames, "consecutive")
        out = model(moving, fixed)
        terms = self.part(out, frames, slice(0, len(moving)), fields.lagrangian_fields(out.forward))
        total = sum(terms.values())
        return total, {name: float(value.detach()) for name, value in terms.items()}

    def part(self, out: PairFields, frames: torch.Tensor, pairs: slice,
             lagrangian: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the consecutive ``pairs`` add to each term (``DeepTagLoss.part``): a mean over pixels
        times the run's share of the pairs, a weighted mean times its share of the sequence's weight."""
        c, a = self.config, self.adapt
        first, last = pairs.start, pairs.stop  # the run's frames: first .. last
        maps = self.maps[frames.shape[-1]]
        pool = maps["pool"]
        similarity_weight = 1.0 - (1.0 - a.pool_weight) * pool  # (N, 1, S, S)
        rows, cols = edge_weights(pool[first:last + 1], a.pool_smoothness)
        velocity_rows, velocity_cols = edge_weights(torch.maximum(pool[first:last], pool[first + 1:last + 1]),
                                                    a.pool_smoothness)
        moving, fixed = frames[first:last], frames[first + 1:last + 1]
        share = len(moving) / (len(frames) - 1)
        fixed_weight, moving_weight = similarity_weight[first + 1:last + 1], similarity_weight[first:last]
        fixed_share = weight_share(fixed_weight, similarity_weight[1:])
        terms: dict[str, torch.Tensor] = {}
        window = c.ncc_window
        if c.kl:
            degree = grid_degree(*out.mean.shape[-2:], device=out.mean.device, dtype=out.mean.dtype)
            trace = (c.prior_lambda * degree * torch.exp(out.log_var)).mean() - out.log_var.mean()
            kl = 0.5 * trace + edge_weighted_kl_mean(out.mean, velocity_rows, velocity_cols, c.prior_lambda,
                                                     c.kl_mean_weight)
            terms["kl"] = share * (2 * kl if c.backward else kl)
        terms["sim_forward"] = fixed_share * c.gamma * weighted_mean(
            local_ncc_map(fields.warp(moving, out.forward), fixed, window), fixed_weight)
        if c.backward:
            terms["sim_backward"] = weight_share(moving_weight, similarity_weight[:-1]) * c.gamma * weighted_mean(
                local_ncc_map(fields.warp(fixed, out.backward), moving, window), moving_weight)
        if c.alpha1:
            smooth = edge_weighted_smoothness(out.forward, rows[1:], cols[1:])
            if c.backward:
                smooth = smooth + edge_weighted_smoothness(out.backward, rows[:-1], cols[:-1])
            terms["smooth_inf"] = share * c.alpha1 * smooth
        if c.alpha2:
            terms["smooth_lagrangian"] = share * c.alpha2 * edge_weighted_smoothness(lagrangian, rows[1:], cols[1:])
        if c.beta:
            start = frames[:1].expand(len(lagrangian), -1, -1, -1)
            terms["global"] = fixed_share * -c.beta * weighted_mean(
                local_ncc_map(fields.warp(start, lagrangian), fixed, window), fixed_weight)
        if a.incompressibility > 0:
            tissue = maps["tissue"][first + 1:last + 1]
            with torch.no_grad():
                stretch = log_circumferential_stretch(lagrangian, maps["centre"][first + 1:last + 1])[:, None]
                log_target = a.longitudinal_ratio * (stretch * tissue).sum(dim=(1, 2, 3)) \
                    / tissue.sum(dim=(1, 2, 3)).clamp_min(1e-8)
            terms["incompressibility"] = weight_share(tissue, maps["tissue"][1:]) * a.incompressibility \
                * log_jacobian_penalty(lagrangian, log_target, tissue)
        return terms


def weight_share(run: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """The run's share ``sum(run) / sum(whole)`` of a sequence's weights: a weighted mean over the run
    times it is the run's part of the weighted mean over the whole sequence (1 when the run is whole)."""
    return run.sum() / whole.sum().clamp_min(1e-8)
