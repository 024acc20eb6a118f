"""The training objective of DeepTag (Eq. 12) and its parts, as one configurable object.

For one sequence of N frames with INF fields phi_n (n = 0..N-2) and Lagrangian fields Phi_n:

    L = sum_n [ L_kl(I_n, I_{n+1}) + a1 (|grad phi_fwd|^2 + |grad phi_bwd|^2) + a2 |grad Phi_{n+1}|^2 ]
        + beta * L_g,     L_g = - sum_n NCC(I_{n+1}, I_0 ∘ Phi_{n+1})                       (Eq. 11)

    L_kl = tr(lambda D Sigma - log Sigma) + mu^T Lambda mu + gamma (NCC(y, x∘phi) + NCC(x, y∘phi^-1))  (Eq. 9)

so at the paper's weights (gamma = -0.5, beta = 0.5) each of the forward, backward and global terms is
-0.5 NCC. Every term is averaged over pixels (and latent variables), and the whole sum is divided by the
number of pairs N-1, so the learning rate does not depend on image size or sequence length; the relative
weights are the paper's. The ablations A1-A6 of section 4.5.2 are configurations (``ABLATIONS``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from . import fields
from .model import DeepTagNet, ModelConfig, PairFields


KL_MEAN_WEIGHT = 0.5  # Eq. 8's reading of the KL; docs/method.md compares it with the others


@dataclass
class LossConfig:
    """Weights and switches of Eq. 12; the defaults are the paper's (section 4.4).

    ``pairs``: "consecutive" registers frame n to n+1 and composes (DeepTag); "reference" registers
    frame 0 to every frame directly (ablation A1). ``global_window``: None constrains the Lagrangian
    fields from frame 0 over the full sequence (Eq. 11); k constrains compositions within windows of k
    frames (ablation A5). ``similarity``: "ncc" (Eq. 6) or "ssd" (the VoxelMorph SSD baselines).
    ``image_sigma``: None keeps the SSD term the plain mean squared difference; a value makes it the
    Gaussian likelihood of VoxelMorph-diff, the mean squared difference times ``1 / (2 image_sigma^2)``
    (against the KL per latent variable, the balance of VoxelMorph's own ``1 / sigma^2`` against its
    KL summed over the two field components). ``kl_mean_weight``: the factor of ``mu^T Lambda mu`` in
    the KL (see ``kl_laplacian_prior``; docs/method.md says why this value).
    """

    alpha1: float = 5.0  # smoothness of the INF fields
    alpha2: float = 1.0  # smoothness of the Lagrangian fields
    beta: float = 0.5  # global Lagrangian constraint
    gamma: float = -0.5  # Boltzmann scale of the NCC likelihood (negative: higher NCC, lower loss)
    prior_lambda: float = 10.0  # precision scale of the Laplacian prior
    ncc_window: int = 9
    backward: bool = True
    kl: bool = True
    pairs: str = "consecutive"
    global_window: int | None = None
    similarity: str = "ncc"
    image_sigma: float | None = None
    kl_mean_weight: float = KL_MEAN_WEIGHT

    def to_dict(self) -> dict:
        return asdict(self)


def local_ncc(image: torch.Tensor, other: torch.Tensor, window: int = 9, eps: float = 1e-5) -> torch.Tensor:
    """Squared local normalised cross-correlation of Eq. 6, mean over pixels, for (B, 1, H, W) images.

    Local sums over a ``window`` x ``window`` box (zero padding at the border); 1 where the images are
    related linearly within every window. Matches MONAI's LocalNormalizedCrossCorrelationLoss with a
    rectangular kernel (up to its sign): a test checks it. The five local sums are taken together as
    separable box sums: the NCC is about 2x faster on a CPU than with 2D average pooling
    (``benchmarks/ncc_speed.py``), and it is most of the cost of a training or adaptation step.
    """
    return local_ncc_map(image, other, window, eps).mean()


def local_ncc_map(image: torch.Tensor, other: torch.Tensor, window: int = 9, eps: float = 1e-5) -> torch.Tensor:
    """``local_ncc`` per pixel, (B, 1, H, W): where two images agree and where they do not."""
    size = window ** 2
    sum_i, sum_j, sum_ii, sum_jj, sum_ij = box_sums(
        torch.cat([image, other, image * image, other * other, image * other], dim=1), window).split(1, dim=1)
    mean_i, mean_j = sum_i / size, sum_j / size
    cross = sum_ij - mean_j * sum_i
    var_i = torch.clamp(sum_ii - mean_i * sum_i, min=0.0)
    var_j = torch.clamp(sum_jj - mean_j * sum_j, min=0.0)
    return (cross * cross) / (var_i * var_j + eps)


def box_sums(channels: torch.Tensor, window: int) -> torch.Tensor:
    """Sum of every channel of (B, C, H, W) over the ``window`` x ``window`` box around each pixel, zero
    outside the image: a column sum then a row sum, each a depthwise convolution with ones."""
    count = channels.shape[1]
    ones = torch.ones(count, 1, window, 1, dtype=channels.dtype, device=channels.device)
    down = F.conv2d(channels, ones, padding=(window // 2, 0), groups=count)
    return F.conv2d(down, ones.transpose(2, 3), padding=(0, window // 2), groups=count)


def gradient_smoothness(displacement: torch.Tensor) -> torch.Tensor:
    """``|grad u|^2``: mean squared forward difference along rows and columns, averaged over both."""
    d_rows = displacement[..., 1:, :] - displacement[..., :-1, :]
    d_cols = displacement[..., :, 1:] - displacement[..., :, :-1]
    return 0.5 * ((d_rows ** 2).mean() + (d_cols ** 2).mean())


def grid_degree(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Degree of every pixel in the 4-neighbour graph of the grid (4 inside, 3 on edges, 2 at corners)."""
    ones = torch.ones(1, 1, height, width, device=device, dtype=dtype)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], device=device, dtype=dtype)
    return F.conv2d(ones, kernel[None, None], padding=1)


def kl_laplacian_prior(mean: torch.Tensor, log_var: torch.Tensor, prior_lambda: float = 10.0,
                       mean_weight: float = 0.5) -> torch.Tensor:
    """``KL[q(z|x,y) || p(z)]`` up to a constant, per latent variable, for the Laplacian prior.

    ``0.5 * [tr(lambda D Sigma) - sum log Sigma] + mean_weight * mu^T (lambda L) mu``, divided by the
    number of latent variables, with ``mu^T L mu`` the sum of squared differences over the 4-neighbour
    edges (each edge once). ``mean_weight`` 0.5 reads Eq. 8 (the 1/2 covers both parts), 1 reads Eq. 15
    (the 1/2 covers the trace only), and 1/8 is what the authors' released training code computes
    (VoxelMorph's ``prec_loss``: a mean over the differences along each axis, halved, averaged over axes).
    """
    degree = grid_degree(*mean.shape[-2:], device=mean.device, dtype=mean.dtype)
    trace = (prior_lambda * degree * torch.exp(log_var)).mean() - log_var.mean()
    edges = ((mean[..., 1:, :] - mean[..., :-1, :]) ** 2).sum() + ((mean[..., :, 1:] - mean[..., :, :-1]) ** 2).sum()
    return 0.5 * trace + mean_weight * prior_lambda * edges / mean.numel()


def frame_pairs(frames: torch.Tensor, pairs: str = "consecutive") -> tuple[torch.Tensor, torch.Tensor]:
    """(moving, fixed) frames of the pairs a configuration registers, from frames (N, 1, H, W):
    frame n and n+1 ("consecutive"), or frame 0 and every later frame ("reference", ablation A1)."""
    moving = frames[:1].expand(len(frames) - 1, -1, -1, -1) if pairs == "reference" else frames[:-1]
    return moving, frames[1:]


class DeepTagLoss:
    """Eq. 12 for one sequence: call with the model and frames (N, 1, H, W); returns the loss and its terms."""

    def __init__(self, config: LossConfig | None = None) -> None:
        self.config = config or LossConfig()

    def similarity(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-log-likelihood of ``image`` given ``target``: gamma * NCC (Eq. 7), or SSD (mean squared
        difference, scaled by ``1 / (2 image_sigma^2)`` when given)."""
        if self.config.similarity == "ssd":
            return self.dissimilarity(image, target)
        return self.config.gamma * local_ncc(image, target, self.config.ncc_window)

    def dissimilarity(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The global term's measure for one frame (Eq. 11): -NCC, or the SSD term."""
        if self.config.similarity == "ssd":
            squared = ((image - target) ** 2).mean()
            sigma = self.config.image_sigma
            return squared if sigma is None else squared / (2.0 * sigma ** 2)
        return -local_ncc(image, target, self.config.ncc_window)

    def __call__(self, model: DeepTagNet, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        moving, fixed = frame_pairs(frames, self.config.pairs)
        terms = self.terms(model(moving, fixed), moving, fixed, frames[self.window_starts(len(frames))])
        total = sum(terms.values())
        return total, {name: float(value.detach()) for name, value in terms.items()}

    def terms(self, out: PairFields, moving: torch.Tensor, fixed: torch.Tensor, origins: torch.Tensor,
              lagrangian: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The terms of Eq. 12, each averaged over the pairs (``moving``, ``fixed``) whose fields are
        ``out``. ``origins``: the frame each pair's Lagrangian field points into (frame 0, or its
        window's first frame), one per pair. ``lagrangian``: those Lagrangian fields when given (``part``
        composes them for a run of pairs that starts later in the sequence), else composed here."""
        c = self.config
        reference = c.pairs == "reference"
        terms: dict[str, torch.Tensor] = {}
        if c.kl:
            kl = kl_laplacian_prior(out.mean, out.log_var, c.prior_lambda, c.kl_mean_weight)
            terms["kl"] = 2 * kl if c.backward else kl  # Eq. 9 adds the same KL for both directions
        terms["sim_forward"] = self.similarity(fields.warp(moving, out.forward), fixed)
        if c.backward:
            terms["sim_backward"] = self.similarity(fields.warp(fixed, out.backward), moving)
        if c.alpha1:
            smooth = gradient_smoothness(out.forward)
            if c.backward:
                smooth = smooth + gradient_smoothness(out.backward)
            terms["smooth_inf"] = c.alpha1 * smooth
        if not reference and (c.alpha2 or c.beta):
            if lagrangian is None:
                lagrangian = self.lagrangian(out.forward)
            if c.alpha2:
                terms["smooth_lagrangian"] = c.alpha2 * gradient_smoothness(lagrangian)
            if c.beta:
                terms["global"] = c.beta * self.dissimilarity(fields.warp(origins, lagrangian), fixed)
        return terms

    def part(self, out: PairFields, frames: torch.Tensor, pairs: slice,
             lagrangian: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the consecutive ``pairs`` of the sequence ``frames`` (N, 1, H, W) add to each term of its
        loss, so that the parts of the runs of a partition of its pairs sum to the loss: every term is a
        mean over pairs, so a run's is its own mean times its share of the pairs. ``out``: the fields of
        those pairs; ``lagrangian``: their Lagrangian fields from frame 0. The adaptation evaluates long
        sequences run by run this way (``adapt.backward_in_runs``); Eq. 12 with its full-sequence global
        term only (consecutive pairs, no window)."""
        if self.config.pairs != "consecutive" or self.config.global_window is not None:
            raise ValueError("runs of pairs need consecutive pairs and the full-sequence global term")
        moving, fixed = frames[pairs.start:pairs.stop], frames[pairs.start + 1:pairs.stop + 1]
        share = len(moving) / (len(frames) - 1)
        terms = self.terms(out, moving, fixed, frames[:1].expand_as(moving), lagrangian)
        return {name: share * value for name, value in terms.items()}

    def window_starts(self, num_frames: int) -> torch.Tensor:
        """Index of the frame each Lagrangian field points into (0, or the start of its window)."""
        window = self.config.global_window
        n = torch.arange(1, num_frames)
        return torch.zeros_like(n) if window is None else ((n - 1) // window) * window

    def lagrangian(self, inf_fields: torch.Tensor) -> torch.Tensor:
        """Compositions of the INF fields from frame 0, or within windows (ablation A5)."""
        window = self.config.global_window
        if window is None:
            return fields.lagrangian_fields(inf_fields)
        return torch.cat([fields.lagrangian_fields(inf_fields[k:k + window])
                          for k in range(0, len(inf_fields), window)])


_A2 = LossConfig(backward=False, alpha1=0.0, alpha2=0.0, beta=0.0)
ABLATIONS: dict[str, LossConfig] = {
    "A1": replace(_A2, pairs="reference"),  # forward Lagrangian tracking: frame 0 to every frame
    "A2": _A2,  # forward INF tracking
    "A3": replace(_A2, backward=True),  # + backward INF registration
    "A4": replace(_A2, backward=True, alpha1=5.0),  # + INF smoothness
    "A5": replace(_A2, backward=True, alpha1=5.0, beta=0.5, global_window=4),  # + Lagrangian term, 4-frame windows
    "A6": replace(_A2, backward=True, alpha1=5.0, beta=0.5),  # + full-sequence Lagrangian term
    "full": LossConfig(),  # + Lagrangian smoothness: the paper's model (Eq. 12)
}

# The VoxelMorph baselines of Table 1 (section 4.3) as configurations of the same network and loss:
# forward-only registration of consecutive pairs, hyper-parameters of the VoxelMorph papers and code.
_VM = LossConfig(backward=False, kl=False, alpha2=0.0, beta=0.0)
VM_CONFIGS: dict[str, tuple[ModelConfig, LossConfig]] = {
    # VM (Balakrishnan et al. 2019): the network's output is the displacement; MSE + 0.01 |grad u|^2
    "vm-ssd": (ModelConfig(integration_steps=0, probabilistic=False), replace(_VM, similarity="ssd", alpha1=0.01)),
    # VM with NCC (9x9 windows): -NCC + 1.0 |grad u|^2
    "vm-ncc": (ModelConfig(integration_steps=0, probabilistic=False), replace(_VM, gamma=-1.0, alpha1=1.0)),
    # VM-DIF (Dalca et al. 2018): diffeomorphic (7 squarings), sampled latent, Laplacian-prior KL with
    # lambda = 10 and the SSD likelihood with sigma = 0.02 (their training script's defaults)
    "vm-dif": (ModelConfig(), replace(_VM, kl=True, alpha1=0.0, prior_lambda=10.0, similarity="ssd", image_sigma=0.02)),
}


# --- Terms of the myocardium-aware adaptation (adapt.TissueLoss, issue 30). Eq. 12 above is unchanged:
# with every weight 1 these reduce to its terms (tests/test_radial_terms.py checks it).

def weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum(w v) / sum(w)`` over everything, ``weight`` broadcast against ``values``; with weights 1
    the plain mean."""
    weight = weight.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1e-8)


def edge_weights(region: torch.Tensor, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of the 4-neighbour edges of a grid from a map ``region`` (B, 1, H, W) in [0, 1]: an
    edge weighs ``weight`` where either of its pixels lies in the region (``region`` > 0.5), else 1.
    Returns the weights of the edges along rows (B, 1, H-1, W) and along columns (B, 1, H, W-1)."""
    inside = (region > 0.5).to(region.dtype)
    along_rows = torch.maximum(inside[..., 1:, :], inside[..., :-1, :])
    along_cols = torch.maximum(inside[..., :, 1:], inside[..., :, :-1])
    return 1.0 + (weight - 1.0) * along_rows, 1.0 + (weight - 1.0) * along_cols


def edge_weighted_smoothness(displacement: torch.Tensor, row_weight: torch.Tensor,
                             col_weight: torch.Tensor) -> torch.Tensor:
    """``gradient_smoothness`` with each squared forward difference weighted by its edge's weight
    (``edge_weights``); with weights 1 it is ``gradient_smoothness``."""
    d_rows = (displacement[..., 1:, :] - displacement[..., :-1, :]) ** 2
    d_cols = (displacement[..., :, 1:] - displacement[..., :, :-1]) ** 2
    return 0.5 * ((d_rows * row_weight).mean() + (d_cols * col_weight).mean())


def edge_weighted_kl_mean(mean: torch.Tensor, row_weight: torch.Tensor, col_weight: torch.Tensor,
                          prior_lambda: float = 10.0, mean_weight: float = KL_MEAN_WEIGHT) -> torch.Tensor:
    """The mean part of ``kl_laplacian_prior`` (``mean_weight * lambda * mu^T L mu / numel``), each edge
    weighted; with weights 1 it is that part exactly."""
    edges = (((mean[..., 1:, :] - mean[..., :-1, :]) ** 2) * row_weight).sum() \
        + (((mean[..., :, 1:] - mean[..., :, :-1]) ** 2) * col_weight).sum()
    return mean_weight * prior_lambda * edges / mean.numel()


def inverse_gradient(displacement: torch.Tensor) -> torch.Tensor:
    """``G = I + grad u`` of pull-back fields (B, 2, H, W), (B, 2, 2, H, W) with ``G[:, i, j] = d(p + u)_i /
    d p_j`` in (row, column) order, by central differences (one-sided at the border, as
    ``fields.jacobian_determinant``)."""
    d_rows = torch.gradient(displacement, dim=-2)[0]
    d_cols = torch.gradient(displacement, dim=-1)[0]
    gradient = torch.stack([torch.stack([d_rows[:, 0], d_cols[:, 0]], 1),
                            torch.stack([d_rows[:, 1], d_cols[:, 1]], 1)], 1)
    eye = torch.eye(2, dtype=displacement.dtype, device=displacement.device)
    return gradient + eye[None, :, :, None, None]


def log_jacobian_penalty(displacement: torch.Tensor, log_target: torch.Tensor, weight: torch.Tensor,
                         min_det: float = 1e-3) -> torch.Tensor:
    """Near-incompressibility: ``(log det(I + grad u) - log_target)^2`` averaged with ``weight``.

    ``displacement`` (B, 2, H, W) pull-back Lagrangian fields (a pixel of frame t to frame 0), so
    ``det(I + grad u)`` is the frame-0 area of a unit of current area, ``1 / J``; for a tissue that keeps
    its volume while stretching by ``lambda_z`` through the plane, ``1 / J = lambda_z``: ``log_target``
    (B,) is ``log lambda_z`` of each field (0: the in-plane area is kept). ``weight`` (B, 1, H, W) or
    (B, H, W): where it counts (the myocardium). Determinants below ``min_det`` count as ``min_det``.
    """
    determinant = fields.jacobian_determinant(displacement).clamp_min(min_det)
    difference = torch.log(determinant) - log_target.reshape(-1, 1, 1)
    return weighted_mean(difference ** 2, weight.reshape(difference.shape))


def log_circumferential_stretch(displacement: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """``log lambda_c`` (B, H, W) of pull-back Lagrangian fields (B, 2, H, W): the stretch of a material
    fibre that now runs circumferentially about ``centre`` (B, 2) as (row, column) at each pixel,
    ``1 / |G c|`` with ``G = I + grad u`` and ``c`` the current unit circumferential direction (a fibre
    now along ``c`` came from ``G c``)."""
    height, width = displacement.shape[-2:]
    grid = fields.identity_grid(height, width, displacement.device, displacement.dtype)
    offset = grid - centre[:, :, None, None]
    radial = offset / offset.norm(dim=1, keepdim=True).clamp_min(1e-6)
    circumferential = torch.stack([-radial[:, 1], radial[:, 0]], 1)  # (B, 2, H, W)
    reference = torch.einsum("bijhw,bjhw->bihw", inverse_gradient(displacement), circumferential)
    return -torch.log(reference.norm(dim=1).clamp_min(1e-6))
